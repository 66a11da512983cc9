//! The directory the shells list people, clinics and records from: what it shows depends on
//! who asks, through the policy.

use carelog_chart::AccessLevel;
use carelog_ledger::Role;

use super::*;

#[test]
fn staff_doctors_and_clinics_are_listed_with_their_standing() {
    let (mut north, mut south, sam) = two_clinics();
    let sam = south.unlock(sam, PASS).unwrap();
    let heart = south
        .add_user(&sam, Role::Doctor, "Dr Heart", Some("cardiology"), DOC_PASS)
        .unwrap();
    exchange(&mut north.node, &mut south);

    let staff: Vec<String> = north.node.staff().into_iter().map(|p| p.name).collect();
    assert_eq!(staff, ["Ada Admin", "Dr Demo", "Dr Other"]);
    let doctors: Vec<(String, String)> = north
        .node
        .doctors()
        .into_iter()
        .map(|p| (p.clinic_name, p.name))
        .collect();
    assert_eq!(
        doctors,
        [
            ("North".to_string(), "Dr Demo".to_string()),
            ("North".into(), "Dr Other".into()),
            ("South".into(), "Dr Heart".into()),
        ]
    );
    assert_eq!(
        north.node.person(&north.patient),
        None,
        "patients are not staff"
    );
    assert_eq!(north.node.role_of(&north.patient), Some(Role::Patient));
    assert!(north.node.is_person(&heart));

    let admin = north.node.unlock(north.admin, PASS).unwrap();
    north
        .node
        .disable_user(&admin, north.other_doctor, "left the clinic")
        .unwrap();
    let other = north.node.person(&north.other_doctor).unwrap();
    assert_eq!(other.disabled.as_deref(), Some("left the clinic"));

    let clinics = north.node.clinics();
    let names: Vec<(&str, bool)> = clinics.iter().map(|c| (c.name.as_str(), c.here)).collect();
    assert_eq!(names, [("North", true), ("South", false)]);
    assert!(clinics.iter().all(|c| c.suspended.is_none()));
    let authority = north.node.open_authority(AUTHORITY_PASS).unwrap();
    north
        .node
        .suspend_clinic(&authority, south.clinic_id(), true, "server stolen")
        .unwrap();
    let south_entry = north
        .node
        .clinics()
        .into_iter()
        .find(|c| c.id == south.clinic_id())
        .unwrap();
    assert_eq!(south_entry.suspended.as_deref(), Some("server stolen"));
    assert_eq!(north.node.clinic_name(), "North");
    assert_eq!(north.node.network_name(), "Test District");
}

#[test]
fn kept_records_and_current_readers_follow_the_policy() {
    let mut c = clinic();
    let admin = c.node.unlock(c.admin, PASS).unwrap();
    let records = c.node.kept_records(&admin);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].patient, c.patient);
    assert_eq!(records[0].custodian, Some(c.doctor));
    // The clinic's lab lists it too (it posts results for the clinic's patients).
    let lab = c
        .node
        .add_user(&admin, Role::Lab, "North Lab", None, DOC_PASS)
        .unwrap();
    let lab = c.node.unlock(lab, DOC_PASS).unwrap();
    assert_eq!(c.node.kept_records(&lab).len(), 1);
    // A doctor of the clinic with no part in the record lists nothing, and may not see who reads.
    let other = c.node.unlock(c.other_doctor, DOC_PASS).unwrap();
    assert!(c.node.kept_records(&other).is_empty());
    assert!(matches!(
        c.node.current_readers(&other, c.patient),
        Err(NodeError::Denied(_))
    ));

    // The patient grants a reader, then revokes the grant.
    let me = c.node.unlock_patient(c.patient, &c.card, PIN).unwrap();
    c.node
        .grant(&me, c.patient, c.other_doctor, AccessLevel::Sample, None)
        .unwrap();
    let readers = c.node.current_readers(&me, c.patient).unwrap();
    let seen: Vec<(ActorId, ReadBasis, AccessLevel)> =
        readers.iter().map(|r| (r.id, r.basis, r.level)).collect();
    assert_eq!(
        seen,
        [
            (c.doctor, ReadBasis::Custodian, AccessLevel::Full),
            (c.other_doctor, ReadBasis::Grant, AccessLevel::Sample),
        ]
    );
    c.node.revoke(&me, c.patient, c.other_doctor).unwrap();
    let after: Vec<ActorId> = c
        .node
        .current_readers(&me, c.patient)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(after, [c.doctor]);
}

#[test]
fn a_patient_opens_their_own_record_and_a_proxy_the_records_they_act_for() {
    let mut c = clinic();
    let admin = c.node.unlock(c.admin, PASS).unwrap();
    let (proxy, card) = c
        .node
        .add_proxy(&admin, c.patient, "Parent Example", "551903")
        .unwrap();
    let patient = c.node.unlock_patient(c.patient, &c.card, PIN).unwrap();
    assert_eq!(c.node.records_of(&patient), [c.patient]);
    let parent = c.node.unlock_patient(proxy, &card, "551903").unwrap();
    assert_eq!(c.node.records_of(&parent), [c.patient]);
    let doctor = c.node.unlock(c.doctor, DOC_PASS).unwrap();
    assert!(c.node.records_of(&doctor).is_empty());
    assert!(c.node.records_of(&admin).is_empty());
}
