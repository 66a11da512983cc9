//! TLS 1.3 for QUIC with certificates tied to enrolled clinic keys.
//!
//! Each node presents a self-signed X.509 certificate for its Ed25519 node key, signed by that
//! key (the secret never leaves [`ActorKeys`]: rcgen and rustls sign through it). Both sides
//! authenticate: a verifier parses the peer's end-entity certificate, takes its Ed25519 public
//! key, accepts it only if that key is an enrolled clinic's in the [`AllowList`], and checks the
//! TLS 1.3 handshake signature with it. Certificate names and validity dates are not used: the
//! key is the identity, and clinics' clocks may be wrong while offline.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use carelog_ledger::{ActorId, Ledger, State};
use carelog_vault::ActorKeys;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, SignatureAlgorithm,
    SignatureScheme,
};
use x509_parser::oid_registry::OID_SIG_ED25519;

use super::NetError;

/// The ALPN protocol id both sides must offer.
pub const ALPN: &[u8] = b"carelog/1";

/// The server name clients put in their ClientHello; certificates are checked by key, not name.
pub(crate) const SERVER_NAME: &str = "carelog";

/// The clinics a node accepts connections from and to: each enrolled clinic's current
/// Ed25519 key → its id (a key the health authority replaced, or a suspended clinic's, is not
/// on it).
///
/// Cheap to clone (shared); the node refreshes it from its ledger (the sync driver also does so
/// after accepting blocks), and a refresh takes effect for the next handshake.
#[derive(Clone, Default)]
pub struct AllowList {
    clinics: Arc<RwLock<BTreeMap<[u8; 32], ActorId>>>,
    /// Admit any key that proves possession in the handshake (see [`AllowList::any_key`]).
    any_key: bool,
}

impl fmt::Debug for AllowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllowList")
            .field("clinics", &self.len())
            .finish()
    }
}

impl AllowList {
    /// An empty list: every peer is refused.
    pub fn new() -> AllowList {
        AllowList::default()
    }

    /// A list that admits any peer key that proves possession in the handshake, for one
    /// outgoing fetch by a replica that holds no ledger beyond its genesis yet (recovery).
    ///
    /// Authentication still binds the connection to one key; the caller must then check that
    /// key against the ledger it fetched and discard everything if it is not an enrolled clinic.
    /// Never use it for an endpoint that serves incoming connections.
    pub fn any_key() -> AllowList {
        AllowList {
            any_key: true,
            ..AllowList::default()
        }
    }

    /// The clinics enrolled in a replica's state.
    pub fn from_state(state: &State) -> AllowList {
        let list = AllowList::new();
        list.refresh(state);
        list
    }

    /// The clinics enrolled in a ledger.
    pub fn from_ledger(ledger: &Ledger) -> AllowList {
        AllowList::from_state(ledger.state())
    }

    /// Replaces the list with the clinics enrolled in `state` and not suspended, and the
    /// devices of those clinics not removed.
    pub fn refresh(&self, state: &State) {
        let fresh: BTreeMap<[u8; 32], ActorId> = state
            .clinics
            .iter()
            .filter(|(id, _)| state.may_seal(id))
            .map(|(id, clinic)| (clinic.keys.signing, *id))
            .collect();
        let mut clinics = self.clinics.write().unwrap_or_else(|e| e.into_inner());
        if *clinics != fresh {
            *clinics = fresh;
        }
    }

    /// Adds one clinic's signing key (e.g. in tests, or before its enrollment block arrives).
    pub fn insert(&self, signing_key: [u8; 32]) {
        let id = ActorId::from_signing_key(&signing_key);
        self.clinics
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(signing_key, id);
    }

    /// The clinic a signing key belongs to, if that clinic is enrolled, not suspended, and this
    /// is its current key.
    pub fn clinic_of(&self, signing_key: &[u8; 32]) -> Option<ActorId> {
        if self.any_key {
            return Some(ActorId::from_signing_key(signing_key));
        }
        let clinics = self.clinics.read().unwrap_or_else(|e| e.into_inner());
        clinics.get(signing_key).copied()
    }

    /// How many clinics are allowed.
    pub fn len(&self) -> usize {
        self.clinics.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no clinic is allowed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The Ed25519 public key of a DER certificate, parsed as X.509 (refuses anything else).
pub fn certificate_key(der: &[u8]) -> Result<[u8; 32], String> {
    let (rest, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("the certificate does not parse as X.509: {e}"))?;
    if !rest.is_empty() {
        return Err(format!(
            "{} bytes follow the certificate's DER encoding",
            rest.len()
        ));
    }
    let spki = cert.public_key();
    if spki.algorithm.algorithm != OID_SIG_ED25519 {
        return Err(format!(
            "the certificate's key is not Ed25519 (algorithm {})",
            spki.algorithm.algorithm
        ));
    }
    if spki.algorithm.parameters.is_some() {
        return Err("the certificate's Ed25519 key has algorithm parameters".into());
    }
    if spki.subject_public_key.unused_bits != 0 {
        return Err("the certificate's Ed25519 key is not a whole number of bytes".into());
    }
    <[u8; 32]>::try_from(spki.subject_public_key.data.as_ref())
        .map_err(|_| "the certificate's Ed25519 key is not 32 bytes".to_string())
}

/// The node key as a signer for rcgen (the certificate) and rustls (the handshake).
#[derive(Clone)]
struct NodeSigner {
    keys: Arc<ActorKeys>,
    public: [u8; 32],
}

impl fmt::Debug for NodeSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeSigner")
            .field("clinic", &ActorId::from_signing_key(&self.public))
            .finish_non_exhaustive()
    }
}

impl rcgen::PublicKeyData for NodeSigner {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ED25519
    }
}

impl rcgen::SigningKey for NodeSigner {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok(self.keys.sign(msg).to_vec())
    }
}

impl rustls::sign::SigningKey for NodeSigner {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn rustls::sign::Signer>> {
        offered
            .contains(&SignatureScheme::ED25519)
            .then(|| Box::new(self.clone()) as Box<dyn rustls::sign::Signer>)
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::ED25519
    }
}

impl rustls::sign::Signer for NodeSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        Ok(self.keys.sign(message).to_vec())
    }

    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::ED25519
    }
}

/// A self-signed X.509 certificate (DER) for the node key, signed by it.
pub fn node_certificate(node_key: &ActorKeys) -> Result<CertificateDer<'static>, NetError> {
    let signer = NodeSigner {
        keys: Arc::new(copy_keys(node_key)),
        public: node_key.public().signing,
    };
    certificate_for(&signer)
}

fn copy_keys(keys: &ActorKeys) -> ActorKeys {
    ActorKeys::from_seed(*keys.seed())
}

fn certificate_for(signer: &NodeSigner) -> Result<CertificateDer<'static>, NetError> {
    let clinic = ActorId::from_signing_key(&signer.public);
    let mut params = rcgen::CertificateParams::new(vec![SERVER_NAME.to_string()])
        .map_err(|e| NetError::Tls(format!("certificate parameters: {e}")))?;
    // A positive serial derived from the clinic id: one certificate per key, reproducible.
    let mut serial = clinic.0;
    serial[0] = (serial[0] & 0x7f) | 0x40;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("carelog clinic {clinic}"),
    );
    let cert = params
        .self_signed(signer)
        .map_err(|e| NetError::Tls(format!("self-signing the node certificate: {e}")))?;
    Ok(cert.der().clone())
}

/// The ring provider, TLS 1.3 only.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Checks peers' certificates and handshake signatures against the allow-list.
#[derive(Debug)]
struct ClinicVerifier {
    allow: AllowList,
    algorithms: WebPkiSupportedAlgorithms,
}

/// Why a certificate was refused, carried through rustls' error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refusal(String);

fn refuse(reason: String) -> rustls::Error {
    tracing::info!(%reason, "refused a peer certificate");
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(Refusal(
        reason,
    )))))
}

impl ClinicVerifier {
    fn check(&self, end_entity: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        let key = certificate_key(end_entity).map_err(refuse)?;
        match self.allow.clinic_of(&key) {
            Some(_) => Ok(()),
            None => Err(refuse(format!(
                "the peer's key belongs to {}, which is not an enrolled clinic here",
                ActorId::from_signing_key(&key)
            ))),
        }
    }

    fn signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if dss.scheme != SignatureScheme::ED25519 {
            return Err(rustls::Error::PeerMisbehaved(
                rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
            ));
        }
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn tls12() -> rustls::Error {
        rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls12NotOffered)
    }
}

impl ServerCertVerifier for ClinicVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(Self::tls12())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

impl ClientCertVerifier for ClinicVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(Self::tls12())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// The rustls configurations of one node: its certificate and the allow-list verifier.
pub(crate) struct TlsConfigs {
    pub server: rustls::ServerConfig,
    pub client: rustls::ClientConfig,
}

/// Builds both configurations for a node key and allow-list.
pub(crate) fn configs(node_key: &ActorKeys, allow: &AllowList) -> Result<TlsConfigs, NetError> {
    let signer = NodeSigner {
        keys: Arc::new(copy_keys(node_key)),
        public: node_key.public().signing,
    };
    let cert = certificate_for(&signer)?;
    let certified = Arc::new(SingleCertAndKey::from(CertifiedKey::new(
        vec![cert],
        Arc::new(signer),
    )));
    let server = server_config(certified.clone(), allow)?;
    let client = client_config(certified, allow)?;
    Ok(TlsConfigs { server, client })
}

fn verifier(provider: &CryptoProvider, allow: &AllowList) -> Arc<ClinicVerifier> {
    Arc::new(ClinicVerifier {
        allow: allow.clone(),
        algorithms: provider.signature_verification_algorithms,
    })
}

fn tls_error(e: rustls::Error) -> NetError {
    NetError::Tls(e.to_string())
}

fn server_config(
    certified: Arc<SingleCertAndKey>,
    allow: &AllowList,
) -> Result<rustls::ServerConfig, NetError> {
    let provider = provider();
    let verifier = verifier(&provider, allow);
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_error)?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(certified);
    server.alpn_protocols = vec![ALPN.to_vec()];
    Ok(server)
}

fn client_config(
    certified: Arc<dyn rustls::client::ResolvesClientCert>,
    allow: &AllowList,
) -> Result<rustls::ClientConfig, NetError> {
    let provider = provider();
    let verifier = verifier(&provider, allow);
    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_cert_resolver(certified);
    client.alpn_protocols = vec![ALPN.to_vec()];
    Ok(client)
}

/// Misbehaving clients for tests: no certificate at all, or `cert_of`'s (public) certificate
/// presented with `signs_with`'s key.
#[cfg(test)]
pub(crate) fn rogue_client(
    cert_of: &ActorKeys,
    signs_with: Option<&ActorKeys>,
    allow: &AllowList,
) -> rustls::ClientConfig {
    #[derive(Debug)]
    struct NoCertificate;
    impl rustls::client::ResolvesClientCert for NoCertificate {
        fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
            None
        }
        fn has_certs(&self) -> bool {
            false
        }
    }
    let resolver: Arc<dyn rustls::client::ResolvesClientCert> = match signs_with {
        None => Arc::new(NoCertificate),
        Some(keys) => {
            let cert = node_certificate(cert_of).unwrap();
            let signer = NodeSigner {
                keys: Arc::new(copy_keys(keys)),
                public: keys.public().signing,
            };
            Arc::new(SingleCertAndKey::from(CertifiedKey::new(
                vec![cert],
                Arc::new(signer),
            )))
        }
    };
    client_config(resolver, allow).unwrap()
}

/// The clinic a connection's peer authenticated as: its certificate's key, looked up again.
pub(crate) fn peer_clinic(
    identity: Option<Box<dyn std::any::Any>>,
    allow: &AllowList,
) -> Result<(ActorId, [u8; 32]), String> {
    let certs = identity
        .and_then(|any| any.downcast::<Vec<CertificateDer<'static>>>().ok())
        .ok_or_else(|| "the peer presented no certificate".to_string())?;
    let first = certs
        .first()
        .ok_or_else(|| "the peer presented no certificate".to_string())?;
    let key = certificate_key(first)?;
    // The verifier allowed the key during the handshake; the id is derived from it.
    let clinic = allow
        .clinic_of(&key)
        .unwrap_or_else(|| ActorId::from_signing_key(&key));
    Ok((clinic, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_carries_the_node_key_and_parses() {
        let keys = ActorKeys::from_seed([42; 64]);
        let cert = node_certificate(&keys).unwrap();
        assert_eq!(certificate_key(&cert).unwrap(), keys.public().signing);
        // webpki reads it too (rustls checks handshake signatures through it).
        let ee = rustls::server::ParsedCertificate::try_from(&cert);
        assert!(ee.is_ok());
    }

    #[test]
    fn garbage_and_other_key_types_are_refused() {
        assert!(certificate_key(b"not a certificate").is_err());
        let keys = ActorKeys::from_seed([42; 64]);
        let mut cert = node_certificate(&keys).unwrap().to_vec();
        cert.push(0);
        assert!(certificate_key(&cert).unwrap_err().contains("follow"));
    }

    #[test]
    fn the_allow_list_needs_the_enrolled_key() {
        let keys = ActorKeys::from_seed([42; 64]);
        let other = ActorKeys::from_seed([43; 64]);
        let list = AllowList::new();
        assert!(list.clinic_of(&keys.public().signing).is_none());
        list.insert(keys.public().signing);
        assert_eq!(
            list.clinic_of(&keys.public().signing),
            Some(ActorId::from_signing_key(&keys.public().signing))
        );
        assert!(list.clinic_of(&other.public().signing).is_none());
        assert_eq!(list.len(), 1);
    }

    #[test]
    fn an_any_key_list_admits_every_key_and_survives_a_refresh() {
        let keys = ActorKeys::from_seed([42; 64]);
        let list = AllowList::any_key();
        let id = ActorId::from_signing_key(&keys.public().signing);
        assert_eq!(list.clinic_of(&keys.public().signing), Some(id));
        list.refresh(&State::default());
        assert_eq!(list.clinic_of(&keys.public().signing), Some(id));
        assert!(AllowList::new().clinic_of(&keys.public().signing).is_none());
    }
}
