//! Proxies: a parent, guardian or carer who acts for a patient (a child, a dependent) with a
//! card and PIN of their own. The ledger holds who they act for (`AddProxy`, by an admin of the
//! clinic of record); the policy lets them read the record, grant, refuse and revoke as the
//! patient would, and every act is signed with the proxy's own key, so the audit names them.

use carelog_ledger::{Action, ActorId, Payload, authorize};
use zeroize::Zeroizing;

use crate::card::Card;
use crate::error::{NodeError, Result};
use crate::home;
use crate::{Node, Session, current_key, keys, patient_file, seal_patient_keys, validate_name};

/// The associated data a proxy's sealed name is bound to.
fn name_aad(patient: &ActorId, proxy: &ActorId) -> Vec<u8> {
    let mut aad = b"carelog proxy name v1".to_vec();
    aad.extend_from_slice(&patient.0);
    aad.extend_from_slice(&proxy.0);
    aad
}

impl Node {
    /// Adds a proxy for a patient: new keys sealed under a new card and `pin`, every data key
    /// epoch this clinic holds wrapped for them, and their name sealed under the patient's
    /// current data key. Returns the proxy's id and card (printed for them, kept nowhere else).
    pub fn add_proxy(
        &mut self,
        admin: &Session,
        patient: ActorId,
        name: &str,
        pin: &str,
    ) -> Result<(ActorId, Card)> {
        validate_name("the proxy's name", name)?;
        crate::card::check_pin(pin)?;
        let state = self.ledger.state();
        authorize(
            state,
            admin.user,
            &Action::AddProxy,
            Some(patient),
            self.clock(),
        )?;
        let file = patient_file(state, &patient)?;
        let held = admin.opened.open_all(
            file,
            &patient,
            &[(self.sealer, &self.secrets.node), (admin.user, &admin.keys)],
        );
        let current = current_key(file)?.id;
        let Some((_, name_key)) = held.iter().find(|(id, _)| *id == current) else {
            return Err(NodeError::NoKey(
                "this clinic does not hold the patient's current key; add the proxy at the \
                 clinic of record"
                    .into(),
            ));
        };
        let proxy_keys = home::new_keys();
        let proxy = ActorId::from_signing_key(&proxy_keys.public().signing);
        let card = Card::issue(proxy);
        let sealed = seal_patient_keys(&proxy_keys, &card, pin)?;
        let sealed_name = carelog_vault::seal(
            name_key,
            home::random(),
            name.trim().as_bytes(),
            &name_aad(&patient, &proxy),
        );
        let encryption = proxy_keys.public().encryption;
        let key_wraps = held
            .iter()
            .map(|(id, key)| keys::wrap_for(key, *id, &patient, proxy, &encryption))
            .collect();
        let tx = self.sign(
            admin,
            Payload::AddProxy {
                patient,
                proxy,
                keys: proxy_keys.public(),
                sealed_name,
                name_key: current,
                key_wraps,
            },
        );
        self.commit(vec![tx], &[(proxy, sealed)])?;
        tracing::info!(patient = %patient, proxy = %proxy, "proxy added");
        Ok((proxy, card))
    }

    /// The records a person signed in at the kiosk opens: a patient's own; a proxy's, those of
    /// the patients they act for (by id). Staff open none this way.
    pub fn records_of(&self, session: &Session) -> Vec<ActorId> {
        let state = self.ledger.state();
        if state.patients.contains_key(&session.user) {
            return vec![session.user];
        }
        let mut records: Vec<ActorId> = state
            .patients
            .iter()
            .filter(|(_, file)| file.proxies.contains_key(&session.user))
            .map(|(id, _)| *id)
            .collect();
        records.sort();
        records
    }

    /// A proxy's name, if `proxy` acts for `patient` and the session can open the patient's key
    /// it is sealed under (the patient, the proxy, the record's physicians).
    pub fn proxy_name(
        &self,
        session: &Session,
        patient: ActorId,
        proxy: &ActorId,
    ) -> Option<Zeroizing<String>> {
        let state = self.ledger.state();
        let file = state.patient(&patient)?;
        let at = file.proxies.get(proxy)?;
        let block = self.ledger.block(&state.proxy_block(at)?)?;
        let Payload::AddProxy {
            sealed_name,
            name_key,
            ..
        } = &block.txs.get(at.index as usize)?.tx.payload
        else {
            return None;
        };
        let key = session
            .opened
            .open_epoch(file, &patient, name_key, &self.holders(session))?;
        open_name(&key, &patient, proxy, sealed_name)
    }
}

/// A proxy's name opened with the patient's data key.
pub(crate) fn open_name(
    key: &carelog_vault::DataKey,
    patient: &ActorId,
    proxy: &ActorId,
    sealed: &[u8],
) -> Option<Zeroizing<String>> {
    let plain = carelog_vault::open(key, sealed, &name_aad(patient, proxy)).ok()?;
    std::str::from_utf8(&plain)
        .ok()
        .map(|name| Zeroizing::new(name.to_string()))
}
