//! Joining a network: a clinic's signed request, the health authority's approval, the invite.

use std::path::Path;

use carelog_ledger::{ActorId, Block, Check, Ledger, Payload, Role};
use carelog_store::{Origin, Store};
use carelog_vault::{ActorKeys, PublicKeys};
use serde::{Deserialize, Serialize};

use crate::at_rest::{self, AuthorityKeys, HomeSecrets, NodeUnlock};
use crate::error::{CarriedFile, NodeError, Result};
use crate::home::{self, Home};
use crate::{Node, check_node_passphrase, put_block, seal_user_keys, validate_name};

pub(crate) const REQUEST_SETTING: &str = "join_request";

/// A clinic's request to join, signed by its node key and its first admin.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JoinRequest {
    /// Format marker.
    pub format: String,
    /// The clinic's name.
    pub clinic_name: String,
    /// The first admin's name.
    pub admin_name: String,
    /// The clinic node's public keys.
    pub clinic_keys: PublicKeys,
    /// The admin's public keys.
    pub admin_keys: PublicKeys,
    /// The node's signature (hex) over the fields above.
    pub clinic_signature: String,
    /// The admin's signature (hex) over the fields above.
    pub admin_signature: String,
}

/// What the health authority hands back: the network's blocks and where its peers listen.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Invite {
    /// Format marker.
    pub format: String,
    /// The network id.
    pub network_id: String,
    /// The network's name.
    pub network_name: String,
    /// The enrolled clinic.
    pub clinic_id: String,
    /// Peer addresses to sync with.
    pub peers: Vec<String>,
    /// Every block of the approving replica in order (hex), genesis first.
    pub blocks: Vec<String>,
}

const REQUEST_FORMAT: &str = "carelog-join-request-1";
const INVITE_FORMAT: &str = "carelog-invite-1";

impl JoinRequest {
    /// A request for a clinic with these node and admin keys, signed by both.
    pub fn new(
        clinic_name: &str,
        admin_name: &str,
        node_keys: &ActorKeys,
        admin: &ActorKeys,
    ) -> JoinRequest {
        let mut request = JoinRequest {
            format: REQUEST_FORMAT.into(),
            clinic_name: clinic_name.trim().into(),
            admin_name: admin_name.trim().into(),
            clinic_keys: node_keys.public(),
            admin_keys: admin.public(),
            clinic_signature: String::new(),
            admin_signature: String::new(),
        };
        let message = request.signed_bytes();
        request.clinic_signature = hex::encode(node_keys.sign(&message));
        request.admin_signature = hex::encode(admin.sign(&message));
        request
    }

    fn signed_bytes(&self) -> Vec<u8> {
        let fields = (
            &self.format,
            &self.clinic_name,
            &self.admin_name,
            &self.clinic_keys,
            &self.admin_keys,
        );
        let mut bytes = b"carelog join request v1".to_vec();
        bytes.extend(postcard::to_stdvec(&fields).expect("requests always encode"));
        bytes
    }

    /// Reads and checks a request file's contents.
    pub fn parse(bytes: &[u8]) -> Result<JoinRequest> {
        let bad = |why: String| NodeError::not_a(CarriedFile::JoinRequest, why);
        let request: JoinRequest = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if request.format != REQUEST_FORMAT {
            return Err(bad(format!("unknown format `{}`", request.format)));
        }
        let message = request.signed_bytes();
        for (key, sig) in [
            (&request.clinic_keys.signing, &request.clinic_signature),
            (&request.admin_keys.signing, &request.admin_signature),
        ] {
            let mut signature = [0u8; 64];
            hex::decode_to_slice(sig, &mut signature)
                .map_err(|_| bad("a signature is not hex".into()))?;
            carelog_vault::verify_signature(key, &message, &signature)
                .map_err(|_| bad("a signature does not verify".into()))?;
        }
        validate_name("the clinic name", &request.clinic_name)?;
        validate_name("the admin's name", &request.admin_name)?;
        Ok(request)
    }
}

impl Node {
    /// In an empty home: makes node and admin keys and writes a signed join request. The home's
    /// keys are sealed as [`NodeUnlock::from_env`] says.
    pub fn request_join(
        root: &Path,
        clinic_name: &str,
        admin_name: &str,
        admin_passphrase: &str,
        out: &Path,
    ) -> Result<(ActorId, ActorId)> {
        Node::request_join_with(
            root,
            clinic_name,
            admin_name,
            admin_passphrase,
            out,
            &NodeUnlock::from_env()?,
        )
    }

    /// [`Node::request_join`], sealing the home's keys with `unlock`.
    pub fn request_join_with(
        root: &Path,
        clinic_name: &str,
        admin_name: &str,
        admin_passphrase: &str,
        out: &Path,
        unlock: &NodeUnlock,
    ) -> Result<(ActorId, ActorId)> {
        validate_name("the clinic name", clinic_name)?;
        validate_name("the admin's name", admin_name)?;
        let home = Home::new(root);
        let node_keys = home::new_keys();
        let admin = home::new_keys();
        let context = [admin_name, clinic_name];
        let sealed_admin = seal_user_keys(&admin, admin_passphrase, &context)?;
        check_node_passphrase(unlock, &context)?;
        let request = JoinRequest::new(clinic_name, admin_name, &node_keys, &admin);
        let json = serde_json::to_vec_pretty(&request).expect("requests always encode");
        home.prepare_new()?;
        let clinic_id = ActorId::from_signing_key(&node_keys.public().signing);
        let secrets = HomeSecrets::new(node_keys);
        at_rest::seal_node_key(&home, &secrets, unlock)?;
        let admin_id = ActorId::from_signing_key(&admin.public().signing);
        home.mirror_sealed_keys(&secrets, &admin_id, &sealed_admin)?;
        let mut store = Store::create(&home.database(), secrets.database.expose())?;
        store.write(|w| {
            w.put_sealed_keys(&admin_id.0, &sealed_admin)?;
            w.set_setting(REQUEST_SETTING, &json)
        })?;
        std::fs::write(out, &json).map_err(crate::error::io_err(out))?;
        Ok((clinic_id, admin_id))
    }

    /// Opens the health authority's key with its passphrase (`$CARELOG_AUTHORITY_PASSPHRASE`),
    /// on the home that founded the network: what enrolling, suspending and reinstating clinics
    /// sign with. Refuses, in words, on any other home, with a wrong passphrase, or when the key
    /// is not the network's. An authority key that an older home kept in the clear is sealed
    /// under `passphrase` now.
    pub fn open_authority(&self, passphrase: &str) -> Result<AuthorityKeys> {
        if !self.home.is_authority() {
            return Err(NodeError::invalid(
                "only the home that created the network holds the health authority key",
            ));
        }
        let keys = at_rest::open_authority_key(&self.home, &self.secrets, passphrase)?;
        let authority_id = ActorId::from_signing_key(&keys.public().signing);
        if self.ledger.state().authority() != Some(authority_id) {
            return Err(NodeError::Damaged(
                "the authority key file does not match the network".into(),
            ));
        }
        Ok(AuthorityKeys(keys))
    }

    /// On the founding home: enrolls a requesting clinic and its first admin, signed by the
    /// health authority ([`Node::open_authority`]), and returns the invite (this replica's
    /// blocks and the given peer addresses).
    pub fn approve(
        &mut self,
        authority: &AuthorityKeys,
        request: &[u8],
        peers: &[String],
    ) -> Result<(ActorId, Vec<u8>)> {
        let request = JoinRequest::parse(request)?;
        let authority = &authority.0;
        let authority_id = ActorId::from_signing_key(&authority.public().signing);
        if self.ledger.state().authority() != Some(authority_id) {
            return Err(NodeError::Damaged(
                "the authority key does not match the network".into(),
            ));
        }
        let clinic = ActorId::from_signing_key(&request.clinic_keys.signing);
        if self.ledger.state().is_actor(&clinic) {
            return Err(NodeError::invalid(format!(
                "clinic {clinic} is already enrolled"
            )));
        }
        let txs = vec![
            self.sign_as_authority(
                authority,
                Payload::EnrollClinic {
                    clinic,
                    name: request.clinic_name.clone(),
                    keys: request.clinic_keys,
                },
            ),
            self.sign_as_authority(
                authority,
                Payload::EnrollUser {
                    user: ActorId::from_signing_key(&request.admin_keys.signing),
                    clinic,
                    name: request.admin_name.clone(),
                    role: Role::Admin,
                    specialty: None,
                    keys: request.admin_keys,
                },
            ),
        ];
        self.commit(txs, &[])?;
        Ok((clinic, self.invite(clinic, peers)))
    }

    /// The invite for a clinic's machine: this replica's blocks and where its peers listen.
    pub(crate) fn invite(&self, clinic: ActorId, peers: &[String]) -> Vec<u8> {
        let network = self
            .ledger
            .state()
            .network
            .as_ref()
            .map(|n| n.name.clone())
            .unwrap_or_default();
        let invite = Invite {
            format: INVITE_FORMAT.into(),
            network_id: self.ledger.network_id().to_string(),
            network_name: network,
            clinic_id: clinic.to_string(),
            peers: peers.to_vec(),
            blocks: self
                .ledger
                .blocks_in_order()
                .map(|b| hex::encode(b.to_bytes()))
                .collect(),
        };
        serde_json::to_vec_pretty(&invite).expect("invites always encode")
    }

    /// In a home that made a join request: checks the invite's blocks as any replica would and
    /// stores them. Returns the opened node. The home's keys open as [`NodeUnlock::from_env`]
    /// says.
    pub fn join(root: &Path, invite: &[u8]) -> Result<Node> {
        Node::join_with(root, invite, &NodeUnlock::from_env()?)
    }

    /// [`Node::join`], opening the home's keys with `unlock`.
    pub fn join_with(root: &Path, invite: &[u8], unlock: &NodeUnlock) -> Result<Node> {
        let bad = |why: String| NodeError::not_a(CarriedFile::Invite, why);
        let invite: Invite = serde_json::from_slice(invite).map_err(|e| bad(e.to_string()))?;
        if invite.format != INVITE_FORMAT {
            return Err(bad(format!("unknown format `{}`", invite.format)));
        }
        let home = Home::new(root);
        let secrets = std::sync::Arc::new(Node::open_secrets(root, unlock)?);
        let mut store = Store::open(&home.database(), secrets.database.expose())
            .map_err(|_| NodeError::NoHome(root.to_path_buf()))?;
        if store.setting(REQUEST_SETTING)?.is_none() {
            return Err(NodeError::invalid(
                "this home did not ask to join a network",
            ));
        }
        if !store.blocks()?.is_empty() {
            return Err(NodeError::invalid("this home has already joined a network"));
        }
        let mut blocks = Vec::with_capacity(invite.blocks.len());
        for (i, text) in invite.blocks.iter().enumerate() {
            let bytes = hex::decode(text).map_err(|_| bad(format!("block {i} is not hex")))?;
            blocks.push(Block::from_bytes(&bytes)?);
        }
        let mut blocks = blocks.into_iter();
        let genesis = blocks
            .next()
            .ok_or_else(|| bad("it carries no blocks".into()))?;
        let mut ledger = Ledger::new(genesis)?;
        ledger
            .insert_batch(blocks, Check::Full)
            .map_err(|f| NodeError::Ledger(*f.error))?;
        if ledger.network_id().to_string() != invite.network_id {
            return Err(bad("its blocks belong to another network".into()));
        }
        let Some(sealer) = crate::clinic_of_key(ledger.state(), &secrets.node) else {
            return Err(bad("it does not enroll this clinic's key".into()));
        };
        let clinic = ledger.state().clinic_of(&sealer);
        let ordered: Vec<Block> = ledger
            .blocks_in_order()
            .map(std::sync::Arc::unwrap_or_clone)
            .collect();
        home.keep_genesis(ledger.genesis())?;
        store.write(|w| {
            for block in &ordered {
                put_block(w, block, Origin::Peer)?;
            }
            invite.peers.iter().try_for_each(|p| w.add_peer(p))
        })?;
        crate::read_bodies_from_store(&mut ledger, &store)?;
        let loaded_seq = store.blocks()?.last().map_or(0, |b| b.seq);
        Ok(Node {
            home,
            store,
            ledger,
            secrets,
            clinic,
            sealer,
            loaded_seq,
            saved_txs: 0,
        })
    }
}
