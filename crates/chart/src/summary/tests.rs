//! Summary tests: merging edits from clinics that were offline from each other.

use super::*;
use crate::EntryKind;

fn data(kind: EntryKind, json: &str) -> EntryData {
    EntryData::parse(kind, json).unwrap()
}

fn med(json: &str) -> EntryData {
    data(EntryKind::Medication, json)
}

const METFORMIN: &str = r#"{"drug":"Metformin 500 mg","start":"2026-01-10","days_supply":30}"#;

/// Both replicas take each other's changes.
fn exchange(a: &mut Summary, a_changes: &[Vec<u8>], b: &mut Summary, b_changes: &[Vec<u8>]) {
    a.apply_changes(b_changes.iter().map(Vec::as_slice))
        .unwrap();
    b.apply_changes(a_changes.iter().map(Vec::as_slice))
        .unwrap();
}

#[test]
fn every_replica_starts_from_the_same_base() {
    let (mut a, mut b) = (Summary::new(), Summary::new());
    assert_eq!(a.heads(), b.heads());
    // Pinned: an Automerge upgrade that re-encodes the base would split every patient's summary.
    assert_eq!(a.heads(), [BASE_HEAD]);
    assert_eq!(a.view(), SummaryView::default());
}

const BASE_HEAD: &str = "4278f2d66beafc298a39afedc944e55054c33344871aa5665e17cce984df16ca";

#[test]
fn only_summary_kinds_make_changes() {
    let mut s = Summary::new();
    let vitals = data(EntryKind::Vitals, r#"{"systolic":120}"#);
    let note = data(EntryKind::Note, r#"{"title":"t","text":"x"}"#);
    assert_eq!(s.record([1; 16], "v", &vitals), None);
    assert_eq!(s.record([1; 16], "n", &note), None);
    assert_eq!(s.record_amend([1; 16], "n", &note), None);
    let cond = data(
        EntryKind::Condition,
        r#"{"icd10":"E11.9","name":"Type 2 diabetes"}"#,
    );
    let allergy = data(
        EntryKind::Allergy,
        r#"{"substance":"Penicillin","reaction":"rash"}"#,
    );
    assert!(s.record([1; 16], "c", &cond).is_some());
    assert!(s.record([2; 16], "a", &allergy).is_some());
    assert!(s.record([3; 16], "m", &med(METFORMIN)).is_some());
    let view = s.view();
    assert_eq!(
        view.problems,
        [ProblemItem {
            item: "c".into(),
            icd10: "E11.9".into(),
            name: "Type 2 diabetes".into(),
            status: "active".into(),
            ..ProblemItem::default()
        }]
    );
    assert_eq!(view.allergies[0].reaction.as_deref(), Some("rash"));
    assert_eq!(
        view.medications,
        [MedicationItem {
            item: "metformin 500 mg|2026-01-10".into(),
            drug: "Metformin 500 mg".into(),
            start: "2026-01-10".into(),
            end: None,
            days_supply: Some(30),
            stop_reason: None,
            ..MedicationItem::default()
        }]
    );
    assert!(view.conflicts.is_empty());
}

#[test]
fn changes_load_in_any_order_and_wait_for_missing_ones() {
    let mut origin = Summary::new();
    let changes: Vec<Vec<u8>> = vec![
        origin.record([1; 16], "m", &med(METFORMIN)).unwrap(),
        origin
            .record_amend(
                [2; 16],
                "m",
                &med(r#"{"drug":"Metformin 500 mg","start":"2026-01-10","days_supply":60}"#),
            )
            .unwrap(),
        origin
            .record(
                [3; 16],
                "c",
                &data(
                    EntryKind::Condition,
                    r#"{"icd10":"I10","name":"Hypertension"}"#,
                ),
            )
            .unwrap(),
    ];
    let reversed = Summary::load_changes(changes.iter().rev().map(Vec::as_slice)).unwrap();
    assert_eq!(reversed.view(), origin.view());
    assert_eq!(reversed.view().medications[0].days_supply, Some(60));

    // The amendment arrives before the change it builds on: it waits, then applies.
    let mut waiting = Summary::load_changes([changes[1].as_slice()]).unwrap();
    assert_eq!(waiting.missing_changes().len(), 1);
    assert!(waiting.view().medications.is_empty());
    waiting
        .apply_changes([changes[0].as_slice(), changes[0].as_slice()])
        .unwrap();
    assert!(waiting.missing_changes().is_empty());
    assert_eq!(waiting.view().medications[0].days_supply, Some(60));
}

#[test]
fn two_offline_clinics_stop_the_same_medication_differently() {
    let mut origin = Summary::new();
    let base = origin.record([1; 16], "m", &med(METFORMIN)).unwrap();

    let mut north = Summary::load_changes([base.as_slice()]).unwrap();
    let mut south = Summary::load_changes([base.as_slice()]).unwrap();
    let n = north
        .record_amend(
            [2; 16],
            "m",
            &med(r#"{"drug":"Metformin 500 mg","start":"2026-01-10","days_supply":30,"end":"2026-02-01","stop_reason":"nausea"}"#),
        )
        .unwrap();
    let s = south
        .record_amend(
            [3; 16],
            "m",
            &med(r#"{"drug":"Metformin 500 mg","start":"2026-01-10","days_supply":30,"end":"2026-02-03","stop_reason":"eGFR below 30"}"#),
        )
        .unwrap();
    exchange(&mut north, &[n], &mut south, &[s]);

    let view = north.view();
    assert_eq!(view, south.view(), "both clinics see the same summary");
    assert_eq!(view.medications.len(), 1);
    let fields: Vec<&str> = view.conflicts.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["end", "stop_reason"]);
    let end = &view.conflicts[0];
    assert_eq!(end.section, "medications");
    assert_eq!(end.item, "metformin 500 mg|2026-01-10");
    assert_eq!(end.label, "Metformin 500 mg from 2026-01-10");
    assert_eq!(
        end.values,
        [
            serde_json::json!("2026-02-01"),
            serde_json::json!("2026-02-03")
        ]
    );
    assert_eq!(
        view.conflicts[1].values,
        [
            serde_json::json!("eGFR below 30"),
            serde_json::json!("nausea")
        ]
    );
    let shown = view.medications[0].end.clone().unwrap();
    assert!(
        end.values.contains(&serde_json::json!(shown)),
        "the shown value is one of the conflicting ones"
    );

    // A clinician settles it with one more amendment; the conflict is gone everywhere.
    let settle = north
        .record_amend(
            [4; 16],
            "m",
            &med(r#"{"drug":"Metformin 500 mg","start":"2026-01-10","end":"2026-02-01","stop_reason":"nausea"}"#),
        )
        .unwrap();
    south.apply_changes([settle.as_slice()]).unwrap();
    assert!(south.view().conflicts.is_empty());
    assert_eq!(south.view(), north.view());
    assert_eq!(
        south.view().medications[0].days_supply,
        None,
        "the amendment left it out"
    );
}

#[test]
fn edits_to_different_fields_and_items_merge_cleanly() {
    let mut origin = Summary::new();
    let base = origin.record([1; 16], "m", &med(METFORMIN)).unwrap();
    let mut north = Summary::load_changes([base.as_slice()]).unwrap();
    let mut south = Summary::load_changes([base.as_slice()]).unwrap();
    // North records the stop as a new entry about the same exposure; south adds an allergy and a problem.
    let n = north
        .record(
            [2; 16],
            "m2",
            &med(r#"{"drug":"metformin 500 mg","start":"2026-01-10","end":"2026-03-01"}"#),
        )
        .unwrap();
    let s1 = south
        .record(
            [3; 16],
            "a",
            &data(EntryKind::Allergy, r#"{"substance":"Penicillin"}"#),
        )
        .unwrap();
    let s2 = south
        .record(
            [4; 16],
            "c",
            &data(
                EntryKind::Condition,
                r#"{"icd10":"E11.9","name":"Type 2 diabetes"}"#,
            ),
        )
        .unwrap();
    exchange(&mut north, &[n], &mut south, &[s1, s2]);
    let view = north.view();
    assert_eq!(view, south.view());
    assert!(view.conflicts.is_empty(), "{:?}", view.conflicts);
    let m = &view.medications[0];
    assert_eq!(
        (m.end.as_deref(), m.days_supply),
        (Some("2026-03-01"), Some(30))
    );
    assert_eq!(view.allergies.len(), 1);
    assert_eq!(view.problems.len(), 1);
    assert!(!m.is_current("2026-03-02"));
    assert!(m.is_current("2026-02-15"));
    assert_eq!(view.current_medications("2026-02-15").len(), 1);
}

#[test]
fn the_same_exposure_started_at_two_clinics_shows_one_item() {
    let mut north = Summary::new();
    let mut south = Summary::new();
    let n = north.record([2; 16], "n1", &med(METFORMIN)).unwrap();
    let s = south
        .record(
            [3; 16],
            "s1",
            &med(r#"{"drug":"Metformin 500 mg","start":"2026-01-10","days_supply":90}"#),
        )
        .unwrap();
    exchange(&mut north, &[n], &mut south, &[s]);
    let view = north.view();
    assert_eq!(view, south.view());
    assert_eq!(view.medications.len(), 1);
    assert_eq!(view.conflicts.len(), 1);
    assert_eq!(view.conflicts[0].field, "days_supply");
    assert_eq!(
        view.conflicts[0].values,
        [serde_json::json!(30), serde_json::json!(90)]
    );

    // A later entry that states the supply writes it into both copies: settled.
    let fix = north
        .record(
            [4; 16],
            "n2",
            &med(r#"{"drug":"Metformin 500 mg","start":"2026-01-10","days_supply":90}"#),
        )
        .unwrap();
    south.apply_changes([fix.as_slice()]).unwrap();
    assert!(south.view().conflicts.is_empty());
    assert_eq!(south.view().medications[0].days_supply, Some(90));
}

#[test]
fn amendments_replace_or_move_the_item() {
    let mut s = Summary::new();
    s.record([1; 16], "m", &med(METFORMIN)).unwrap();
    s.record_amend(
        [2; 16],
        "m",
        &med(r#"{"drug":"Metformin 500 mg","start":"2026-01-12"}"#),
    )
    .unwrap();
    let view = s.view();
    assert_eq!(view.medications.len(), 1, "moved, not copied");
    assert_eq!(view.medications[0].start, "2026-01-12");
    s.record_amend(
        [3; 16],
        "m",
        &med(r#"{"drug":"Metformin 850 mg","start":"2026-01-12"}"#),
    )
    .unwrap();
    let view = s.view();
    assert_eq!(view.medications.len(), 1);
    assert_eq!(view.medications[0].drug, "Metformin 850 mg");

    s.record(
        [4; 16],
        "a",
        &data(
            EntryKind::Allergy,
            r#"{"substance":"Penicillin","reaction":"rash"}"#,
        ),
    )
    .unwrap();
    s.record_amend(
        [5; 16],
        "a",
        &data(EntryKind::Allergy, r#"{"substance":"Amoxicillin"}"#),
    )
    .unwrap();
    assert_eq!(
        s.view().allergies,
        [AllergyItem {
            item: "a".into(),
            substance: "Amoxicillin".into(),
            reaction: None,
            ..AllergyItem::default()
        }]
    );
    // Amending to identical content changes nothing.
    assert_eq!(
        s.record_amend(
            [6; 16],
            "a",
            &data(EntryKind::Allergy, r#"{"substance":"Amoxicillin"}"#)
        ),
        None
    );
}

#[test]
fn unreadable_changes_are_refused_or_skipped() {
    let err = Summary::load_changes([b"not a change".as_slice()]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("patient summary: a summary change is unreadable"),
        "{err}"
    );
    let mut origin = Summary::new();
    let good = origin.record([1; 16], "m", &med(METFORMIN)).unwrap();
    let (summary, skipped) = Summary::load_changes_lossy([b"junk".as_slice(), good.as_slice()]);
    assert_eq!(skipped.len(), 1);
    assert_eq!(summary.view(), origin.view());
}
