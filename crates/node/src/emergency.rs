//! The emergency summary: allergies, problems, current medications and whom to call (the
//! proxies who act for the patient), readable with the card the patient carries and without the
//! PIN, so a doctor at any clinic of the network can see what matters when the patient cannot
//! speak.
//!
//! The card's secret derives an X25519 key pair (BLAKE3 `derive_key`, domain-separated from the
//! key store's use of the secret); its public half is published with the patient's key store.
//! Whoever holds the full chart in their own right (the writer of an allergy, problem or
//! medication; the clinic of record) seals the summary under a fresh key wrapped for that public
//! key (`EmergencySummary` on the ledger). Breaking the glass with the card opens the latest one;
//! the break-glass and the read are on the ledger, flagged for the patient.

use carelog_chart::AccessLevel;
use carelog_ledger::{Action, ActorId, Payload, authorize};
use carelog_vault::{ActorKeys, DataKey, WrappedKey};
use zeroize::Zeroizing;

use crate::card::Card;
use crate::error::{NodeError, Result};
use crate::{Node, Session, home, keys, patient_file};

/// The keys a card's secret derives for the emergency summary.
pub(crate) fn emergency_keys(card: &Card) -> ActorKeys {
    let mut seed = Zeroizing::new([0u8; 64]);
    let mut hasher = blake3::Hasher::new_derive_key("carelog 2026 emergency summary key v1");
    hasher.update(&card.patient.0);
    hasher.update(card.secret().expose());
    hasher.finalize_xof().fill(seed.as_mut_slice());
    ActorKeys::from_seed(*seed)
}

/// The associated data of a patient's sealed emergency summary.
fn summary_aad(patient: &ActorId) -> Vec<u8> {
    let mut aad = b"carelog emergency summary v1".to_vec();
    aad.extend_from_slice(&patient.0);
    aad
}

impl Node {
    /// Seals the patient's emergency summary as `session` can open the chart now and publishes
    /// it for the card's emergency key. Needs the full chart in one's own right; does nothing
    /// (`Ok(false)`) for a patient who has published no emergency key.
    pub fn publish_emergency_summary(
        &mut self,
        session: &Session,
        patient: ActorId,
    ) -> Result<bool> {
        let state = self.ledger.state();
        authorize(
            state,
            session.user,
            &Action::PublishView,
            Some(patient),
            self.clock(),
        )?;
        let Some((_, emergency)) = self.published_key_store_and_emergency(&patient) else {
            return Ok(false);
        };
        let view = self.current_summary(session, patient)?.view();
        let today = crate::home::rfc3339(self.clock());
        // Whom to call: the parents, guardians or carers who act for the patient.
        let contacts: Vec<String> = state
            .patient(&patient)
            .into_iter()
            .flat_map(|file| file.proxies.keys())
            .filter_map(|proxy| self.proxy_name(session, patient, proxy))
            .map(|name| name.as_str().to_string())
            .collect();
        let summary = serde_json::json!({
            "allergies": view.allergies,
            "problems": view.problems,
            "current_medications": view.current_medications(&today[..10]),
            "emergency_contacts": contacts,
        });
        let plain = Zeroizing::new(serde_json::to_vec(&summary).map_err(|e| {
            NodeError::invalid(format!("the emergency summary does not encode: {e}"))
        })?);
        let key = DataKey::from_bytes(home::random());
        let sealed = carelog_vault::seal(&key, home::random(), &plain, &summary_aad(&patient));
        let key_wrap =
            keys::wrap_for(&key, Default::default(), &patient, patient, &emergency).wrapped;
        let tx = self.sign(
            session,
            Payload::EmergencySummary {
                patient,
                sealed,
                key_wrap,
            },
        );
        self.commit(vec![tx], &[])?;
        Ok(true)
    }

    /// The patient's latest emergency summary, opened with their card, for a doctor who has
    /// broken the glass; the read is recorded on the ledger. `None` when none was published
    /// for this card.
    pub fn read_emergency_summary(
        &mut self,
        session: &Session,
        patient: ActorId,
        card: &Card,
    ) -> Result<Option<serde_json::Value>> {
        if card.patient != patient {
            return Err(NodeError::invalid(format!(
                "the card in $CARELOG_CARD belongs to patient {}, not to {patient}",
                card.patient
            )));
        }
        let state = self.ledger.state();
        let permit = authorize(
            state,
            session.user,
            &Action::Read,
            Some(patient),
            self.clock(),
        )?;
        let file = patient_file(state, &patient)?;
        let Some(at) = file.emergency else {
            return Ok(None);
        };
        let block = state
            .key_store_block(&at)
            .and_then(|hash| self.ledger.block(&hash))
            .ok_or_else(|| NodeError::Damaged("the emergency summary's block is missing".into()))?;
        let Some(Payload::EmergencySummary {
            sealed, key_wrap, ..
        }) = block.txs.get(at.index as usize).map(|stx| &stx.tx.payload)
        else {
            return Err(NodeError::Damaged(
                "the emergency summary's transaction is missing".into(),
            ));
        };
        let ekeys = emergency_keys(card);
        let Some(key) = postcard::from_bytes::<WrappedKey>(key_wrap)
            .ok()
            .and_then(|w| {
                carelog_vault::unwrap_key(&w, &ekeys, &keys::wrap_context(&patient)).ok()
            })
        else {
            // Sealed for another card (the patient was given new keys since).
            return Ok(None);
        };
        let plain = carelog_vault::open(&key, sealed, &summary_aad(&patient))
            .map_err(|_| NodeError::Unopenable("the emergency summary does not open".into()))?;
        let summary: serde_json::Value = serde_json::from_slice(&plain)
            .map_err(|_| NodeError::Unopenable("the emergency summary does not decode".into()))?;
        let read = self.sign(
            session,
            Payload::AuditRead {
                patient,
                level: permit.level.max(AccessLevel::Information),
                purpose: "emergency summary, opened with the patient's card".into(),
            },
        );
        self.commit(vec![read], &[])?;
        Ok(Some(summary))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::tests::{DOC_PASS, clinic};

    #[test]
    fn the_summary_follows_what_the_shared_writer_charts_and_opens_only_with_the_card() {
        let c = clinic();
        let (patient, card) = (c.patient, c.card.clone());
        let doctor = Arc::new(c.node.unlock(c.doctor, DOC_PASS).unwrap());
        let other = c.node.unlock(c.other_doctor, DOC_PASS).unwrap();
        // Her mother acts for her: she is whom to call.
        let mut node = c.node;
        let admin = node.unlock(c.admin, crate::tests::PASS).unwrap();
        node.add_proxy(&admin, patient, "Maria Marsh", "551903")
            .unwrap();
        let shared = crate::SharedNode::new(node);
        shared
            .add_entry(
                &doctor,
                patient,
                "allergy",
                r#"{"substance":"Latex","reaction":"hives"}"#,
                None,
            )
            .unwrap();
        shared
            .add_entry(&doctor, patient, "vitals", r#"{"heart_rate":71}"#, None)
            .unwrap();
        shared.with_node(|node| {
            // Without break-glass the other doctor may not read at all.
            assert!(node.read_emergency_summary(&other, patient, &card).is_err());
            node.break_glass(&other, patient, "collapsed in the waiting room")
                .unwrap();
            let summary = node
                .read_emergency_summary(&other, patient, &card)
                .unwrap()
                .expect("a summary for this card");
            assert_eq!(summary["allergies"][0]["substance"], "Latex", "{summary}");
            assert_eq!(summary["emergency_contacts"][0], "Maria Marsh", "{summary}");
            // Another card's emergency key opens nothing.
            let stranger = Card::issue(patient);
            assert_eq!(
                node.read_emergency_summary(&other, patient, &stranger)
                    .unwrap(),
                None
            );
            // A break-glass reader may not publish one (it is not their chart to summarise).
            assert!(matches!(
                node.publish_emergency_summary(&other, patient),
                Err(NodeError::Denied(_))
            ));
        });
    }

    #[test]
    fn the_emergency_key_depends_on_the_card_and_the_patient() {
        let card = Card::issue(ActorId([1; 16]));
        let same = emergency_keys(&card).public().encryption;
        assert_eq!(same, emergency_keys(&card.clone()).public().encryption);
        let other_patient = Card::new(ActorId([2; 16]), card.secret().clone());
        assert_ne!(same, emergency_keys(&other_patient).public().encryption);
        assert_ne!(
            same,
            emergency_keys(&Card::issue(ActorId([1; 16])))
                .public()
                .encryption
        );
    }
}
