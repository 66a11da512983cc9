//! A device of a clinic opens what the clinic holds with its own key, until it is removed.

use carelog_ledger::DeviceRole;

use super::*;
use crate::keys::{OpenedEntries, OpenedKeys};

/// (entries a machine's own node key opens, entries sealed away from it) in a patient's chart.
fn opened_by_machine(node: &Node, patient: ActorId) -> (usize, usize) {
    let file = node.ledger().state().patient(&patient).unwrap();
    let chart = node
        .open_entries_with(
            &[(node.sealer, &node.secrets.node)],
            &OpenedKeys::default(),
            &OpenedEntries::default(),
            patient,
            file,
        )
        .unwrap();
    (chart.opened.len(), chart.sealed_away)
}

#[test]
fn a_device_opens_its_clinics_records_with_its_own_key_until_it_is_removed() {
    let mut north = clinic();
    let admin = north.node.unlock(north.admin, PASS).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("laptop");
    let request = dir.path().join("laptop.request");
    let unlock = NodeUnlock::passphrase(NODE_PASS);
    let (device, code) = Node::request_device(&root, "Laptop", &request, &unlock).unwrap();
    let pairing = north
        .node
        .approve_device(
            &admin,
            &std::fs::read(&request).unwrap(),
            DeviceRole::Staff,
            &[],
        )
        .unwrap();
    assert_eq!(
        (pairing.device, pairing.code.as_str()),
        (device, code.as_str())
    );
    let mut laptop = Node::join_with(&root, &pairing.invite, &unlock).unwrap();
    assert_eq!(laptop.clinic_id(), north.node.clinic_id());
    assert_eq!(laptop.device_id(), device);
    assert_ne!(device, laptop.clinic_id());

    // Its own key opens every entry the clinic holds, registered before it was paired.
    let (opened, sealed_away) = opened_by_machine(&laptop, north.patient);
    assert!(opened >= 1, "{opened}");
    assert_eq!(sealed_away, 0);
    // A patient registered on it belongs to the clinic, and the office opens it too.
    let at_laptop = laptop.unlock(north.admin, PASS).unwrap();
    let (newcomer, _) = laptop
        .register_patient(&at_laptop, "Nils Newcomer", "1990-05-05", "male", PIN)
        .unwrap();
    north.node.accept_blocks(blocks_of(&laptop)).unwrap();
    assert_eq!(
        north
            .node
            .ledger()
            .state()
            .patient(&newcomer)
            .unwrap()
            .clinic,
        north.node.clinic_id()
    );
    assert_eq!(opened_by_machine(&north.node, newcomer).1, 0);

    // Removed, it opens nothing written afterwards, even holding every block.
    let rotated = north
        .node
        .remove_device(&admin, device, "stolen from the ward")
        .unwrap();
    assert!(rotated >= 2, "both records get new keys: {rotated}");
    let doctor = north.node.unlock(north.doctor, DOC_PASS).unwrap();
    north
        .node
        .add_entry(
            &doctor,
            north.patient,
            "note",
            r#"{"title":"After","text":"written after the theft"}"#,
            None,
        )
        .unwrap();
    laptop.accept_blocks(blocks_of(&north.node)).unwrap();
    assert_eq!(
        opened_by_machine(&laptop, north.patient),
        (opened, 1),
        "the new entry stays sealed to the removed laptop"
    );
    // And nobody works on it any more.
    let refused = laptop.unlock(north.doctor, DOC_PASS).err().unwrap();
    assert!(refused.to_string().contains("removed"), "{refused}");
}
