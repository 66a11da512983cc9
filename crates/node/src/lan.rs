//! The machines of one clinic find each other on its local network (mDNS / DNS-SD).
//!
//! A serving machine of a clinic that has more than one announces `_carelog._udp.local.` with
//! a tag that only machines of the same clinic recognise (a keyed hash of the network's and the
//! clinic's ids: the LAN learns neither), browses for the same tag, and hands each address found
//! to the sync server, which keeps a connection to it like to a configured peer. Discovery finds
//! addresses, never trust: whoever answers must still pass the handshake as an enrolled machine
//! that was not removed. A machine with a link to other clinics relays for the others, as every
//! machine gossips what it receives.

use std::net::SocketAddr;

use carelog_ledger::{ActorId, Hash};
use carelog_sync::net::SyncHandle;
use mdns_sd::{ServiceDaemon, ServiceEvent, ServiceInfo};

/// The DNS-SD service type every Carelog machine announces.
pub(crate) const SERVICE: &str = "_carelog._udp.local.";

/// Setting it to `0` (or `off`) keeps a machine off the LAN's service discovery.
pub const LAN_DISCOVERY_ENV: &str = "CARELOG_LAN_DISCOVERY";

/// The tag machines of one clinic announce: the same for all of them, meaningless to others.
pub(crate) fn clinic_tag(network: &Hash, clinic: &ActorId) -> String {
    let mut hasher = blake3::Hasher::new_derive_key("carelog lan discovery v1");
    hasher.update(&network.0);
    hasher.update(&clinic.0);
    hex::encode(&hasher.finalize().as_bytes()[..12])
}

/// Whether this machine announces itself and looks for the others.
pub(crate) fn enabled() -> bool {
    !matches!(
        std::env::var(LAN_DISCOVERY_ENV).ok().as_deref(),
        Some("0" | "off" | "false" | "no")
    )
}

/// A running announcement and search; both stop when it is dropped.
pub(crate) struct Lan {
    daemon: ServiceDaemon,
    fullname: String,
}

impl Lan {
    /// Announces this machine (listening on `port`) under its clinic's tag and hands every other
    /// machine with the same tag to `handle`.
    pub(crate) fn start(
        network: &Hash,
        clinic: &ActorId,
        device: &ActorId,
        port: u16,
        handle: SyncHandle,
    ) -> Result<Lan, String> {
        let tag = clinic_tag(network, clinic);
        let daemon = ServiceDaemon::new().map_err(|e| e.to_string())?;
        // The instance name tells machines apart without naming them.
        let instance = hex::encode(&blake3::hash(&device.0).as_bytes()[..6]);
        let host = format!("carelog-{instance}.local.");
        let info = ServiceInfo::new(
            SERVICE,
            &instance,
            &host,
            "",
            port,
            &[("tag", tag.as_str())][..],
        )
        .map_err(|e| e.to_string())?
        .enable_addr_auto();
        let fullname = info.get_fullname().to_string();
        daemon.register(info).map_err(|e| e.to_string())?;
        let found = daemon.browse(SERVICE).map_err(|e| e.to_string())?;
        let own = fullname.clone();
        std::thread::Builder::new()
            .name("carelog-lan".into())
            .spawn(move || {
                // Ends when the daemon shuts down and drops its side of the channel.
                while let Ok(event) = found.recv() {
                    let ServiceEvent::ServiceResolved(service) = event else {
                        continue;
                    };
                    if service.get_fullname() == own
                        || service.get_property_val_str("tag") != Some(tag.as_str())
                    {
                        continue;
                    }
                    for ip in service.get_addresses() {
                        let addr = SocketAddr::new(ip.to_ip_addr(), service.get_port());
                        tracing::debug!(%addr, "a machine of this clinic on the LAN");
                        handle.add_peer(addr);
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        tracing::info!(port, "announced on the LAN to the clinic's other machines");
        Ok(Lan { daemon, fullname })
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        let _ = self.daemon.unregister(&self.fullname);
        let _ = self.daemon.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machines_of_one_clinic_share_a_tag_that_names_neither_network_nor_clinic() {
        let network = Hash([7; 32]);
        let north = ActorId([1; 16]);
        let south = ActorId([2; 16]);
        let tag = clinic_tag(&network, &north);
        assert_eq!(tag, clinic_tag(&network, &north));
        assert_ne!(tag, clinic_tag(&network, &south));
        assert_ne!(tag, clinic_tag(&Hash([8; 32]), &north));
        assert!(!tag.contains(&hex::encode(north.0)) && tag.len() == 24);
    }
}
