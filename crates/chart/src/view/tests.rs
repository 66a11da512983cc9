//! What each access level shows, and what it must never show.

use serde_json::json;

use super::*;
use crate::Summary;

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const DAY: i64 = 86_400_000;
const NAME: &str = "Paula Esterhazy";
const SECRET: &str = "ZEBRA-QUOKKA";

fn record(id: &str, kind: EntryKind, time_ms: i64, json: &str) -> ChartRecord {
    ChartRecord {
        entry_id: id.into(),
        kind,
        author: "Dr. Amara Okafor".into(),
        time_ms,
        data: EntryData::parse(kind, json).unwrap(),
        amends: None,
        flagged: None,
        encounter: None,
    }
}

fn chart() -> Vec<ChartRecord> {
    let note_text =
        format!("Dizziness on standing, two falls at home. Relative mentions {SECRET}.");
    let mut amendment = record(
        "v4",
        EntryKind::Vitals,
        T0 + 10 * DAY,
        r#"{"systolic":140}"#,
    );
    amendment.amends = Some("v3".into());
    let mut flagged = record(
        "n2",
        EntryKind::Note,
        T0 + 6 * DAY,
        r#"{"title":"Phone call","text":"Asked about results."}"#,
    );
    flagged.flagged = Some("written while access was being revoked".into());
    vec![
        // Deliberately out of time order: render sorts.
        record(
            "v2",
            EntryKind::Vitals,
            T0 + 2 * DAY,
            r#"{"systolic":130,"diastolic":85}"#,
        ),
        record(
            "d",
            EntryKind::Demographics,
            T0,
            &format!(r#"{{"name":"{NAME}","birth_date":"1980-04-02","sex":"female"}}"#),
        ),
        record(
            "v1",
            EntryKind::Vitals,
            T0 + DAY,
            r#"{"systolic":120,"diastolic":80,"weight":70.5}"#,
        ),
        record("v3", EntryKind::Vitals, T0 + 3 * DAY, r#"{"systolic":141}"#),
        amendment,
        record(
            "l1",
            EntryKind::Lab,
            T0 + DAY,
            r#"{"loinc":"2345-7","name":"Glucose","value":5.4,"unit":"mmol/L","low":3.9,"high":5.6}"#,
        ),
        record(
            "l2",
            EntryKind::Lab,
            T0 + 5 * DAY,
            r#"{"loinc":"2345-7","name":"Glucose","value":7.1,"unit":"mmol/L","low":3.9,"high":5.6}"#,
        ),
        record(
            "n1",
            EntryKind::Note,
            T0 + 2 * DAY,
            &json!({"title": "Follow-up", "text": note_text}).to_string(),
        ),
        flagged,
        record(
            "c",
            EntryKind::Condition,
            T0 + DAY,
            r#"{"icd10":"E11.9","name":"Type 2 diabetes"}"#,
        ),
        record(
            "a",
            EntryKind::Allergy,
            T0 + DAY,
            r#"{"substance":"Penicillin","reaction":"rash"}"#,
        ),
        record(
            "m",
            EntryKind::Medication,
            T0 + DAY,
            r#"{"drug":"Metformin 500 mg","start":"2026-01-10","days_supply":30}"#,
        ),
    ]
}

fn summary(records: &[ChartRecord]) -> SummaryView {
    let mut s = Summary::new();
    for (i, r) in records.iter().enumerate() {
        s.record([i as u8 + 1; 16], &r.entry_id, &r.data);
    }
    s.view()
}

fn rendered(level: AccessLevel) -> (Value, String) {
    let records = chart();
    let view = render(level, &records, Some(&summary(&records)));
    let text = view.to_string();
    (view, text)
}

#[test]
fn none_shows_nothing() {
    let records = chart();
    assert_eq!(
        render(AccessLevel::None, &records, Some(&summary(&records))),
        json!({"level": "none", "entries": []})
    );
}

#[test]
fn full_shows_every_entry_with_authors_and_amendments() {
    let (view, text) = rendered(AccessLevel::Full);
    assert_eq!(view["level"], "full");
    let entries = view["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 12);
    let ids: Vec<&str> = entries
        .iter()
        .map(|e| e["entry_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "d", "a", "c", "l1", "m", "v1", "n1", "v2", "v3", "l2", "n2", "v4"
        ]
    );
    let by_id = |id: &str| entries.iter().find(|e| e["entry_id"] == id).unwrap();
    assert_eq!(by_id("d")["data"]["name"], NAME);
    assert_eq!(by_id("d")["time"], "2026-01-01T00:00:00Z");
    assert_eq!(by_id("d")["author"], "Dr. Amara Okafor");
    assert_eq!(by_id("v3")["amended_by"], json!(["v4"]));
    assert_eq!(by_id("v4")["amends"], "v3");
    assert!(by_id("v1").get("amended_by").is_none() && by_id("v1").get("amends").is_none());
    assert_eq!(
        by_id("n2")["flagged"],
        "written while access was being revoked"
    );
    assert!(text.contains(SECRET));
    assert_eq!(by_id("l1")["data"]["abnormal"], "N");
    assert_eq!(view["summary"]["medications"][0]["days_supply"], 30);
}

#[test]
fn sample_shows_latest_values_and_hides_identity_and_text() {
    let (view, text) = rendered(AccessLevel::Sample);
    assert_eq!(view["level"], "sample");
    for hidden in [
        "Paula",
        "Esterhazy",
        "1980-04-02",
        SECRET,
        "Dr. Amara",
        "E11.9",
        "rash",
        "days_supply",
        "141",
    ] {
        assert!(
            !text.contains(hidden),
            "sample output shows {hidden:?}: {text}"
        );
    }
    assert_eq!(
        view["demographics"],
        json!({"initials": "P. E.", "birth_year": 1980, "sex": "female"})
    );

    let latest = view["latest"].as_array().unwrap();
    let systolic: Vec<&Value> = latest.iter().filter(|o| o["loinc"] == "8480-6").collect();
    assert_eq!(systolic.len(), 1);
    assert_eq!(systolic[0]["value"], 140.0, "the amended value");
    assert_eq!(
        systolic[0]["date"], "2026-01-04",
        "dated when it was measured"
    );
    let value_of = |code: &str| {
        latest
            .iter()
            .find(|o| o["loinc"] == code)
            .map(|o| o["value"].clone())
    };
    assert_eq!(value_of("8462-4"), Some(json!(85.0)));
    assert_eq!(value_of("29463-7"), Some(json!(70.5)));
    assert_eq!(value_of("2345-7"), Some(json!(7.1)));
    assert_eq!(latest.len(), 4);

    let entries = view["entries"].as_array().unwrap();
    let by_id = |id: &str| entries.iter().find(|e| e["entry_id"] == id);
    assert!(by_id("v3").is_none(), "amended away");
    assert!(by_id("l1").is_none(), "an older glucose");
    assert_eq!(by_id("v1").unwrap()["data"], json!({"weight_kg": 70.5}));
    assert_eq!(by_id("v2").unwrap()["data"], json!({"diastolic": 85.0}));
    assert_eq!(by_id("v4").unwrap()["data"], json!({"systolic": 140.0}));
    let note = &by_id("n1").unwrap()["data"];
    assert_eq!(note["title"], "Follow-up");
    let shown = note["text"].as_str().unwrap();
    assert!(
        shown.ends_with('…') && shown.chars().count() <= SAMPLE_TEXT_CHARS + 1,
        "{shown}"
    );
    assert_eq!(
        by_id("n2").unwrap()["data"]["text"],
        "Asked about results.",
        "short text stays whole"
    );
    assert_eq!(
        by_id("c").unwrap()["data"],
        json!({"name": "Type 2 diabetes"})
    );
    assert_eq!(
        by_id("a").unwrap()["data"],
        json!({"substance": "Penicillin"})
    );
    assert_eq!(
        by_id("m").unwrap()["data"],
        json!({"drug": "Metformin 500 mg"})
    );
    assert!(entries.iter().all(|e| e.get("author").is_none()));
    assert_eq!(view["summary"]["problems"], json!(["Type 2 diabetes"]));
}

#[test]
fn information_shows_statistics_only() {
    let (view, text) = rendered(AccessLevel::Information);
    assert_eq!(view["level"], "information");
    assert_eq!(view["entries"], json!([]));
    for hidden in [
        "Paula",
        "Esterhazy",
        "P. E.",
        "1980",
        SECRET,
        "Follow-up",
        "Dizziness",
        "Penicillin",
        "Type 2 diabetes",
        "Metformin",
        "Dr. Amara",
        "141",
    ] {
        assert!(
            !text.contains(hidden),
            "information output shows {hidden:?}: {text}"
        );
    }
    let stats = view["observations"].as_array().unwrap();
    let of = |code: &str| stats.iter().find(|s| s["loinc"] == code).unwrap();
    let systolic = of("8480-6");
    assert_eq!(systolic["count"], 3);
    assert_eq!(systolic["min"], 120.0);
    assert_eq!(systolic["max"], 140.0);
    assert_eq!(systolic["mean"], 130.0);
    assert_eq!(systolic["trend"], "rising");
    assert_eq!(systolic["last_date"], "2026-01-04");
    assert_eq!(systolic["unit"], "mm[Hg]");
    assert!(systolic.get("values").is_none());
    let diastolic = of("8462-4");
    assert_eq!(
        (diastolic["count"].clone(), diastolic["mean"].clone()),
        (json!(2), json!(82.5))
    );
    assert_eq!(of("2345-7")["trend"], "rising");
    assert_eq!(of("29463-7")["trend"], "stable");
    assert_eq!(
        view["counts"],
        json!({"vitals": 3, "lab": 2, "note": 2, "condition": 1, "allergy": 1, "medication": 1,
            "encounter": 0, "order": 0, "immunization": 0})
    );
    assert_eq!(
        view["summary_counts"],
        json!({"problems": 1, "allergies": 1, "medications": 1})
    );
}

#[test]
fn odd_inputs_do_not_break_rendering() {
    // An amendment cycle, a self-amendment, an amendment of a missing entry, times off the calendar.
    let mut a = record("a", EntryKind::Vitals, i64::MIN, r#"{"systolic":120}"#);
    a.amends = Some("b".into());
    let mut b = record("b", EntryKind::Vitals, i64::MAX, r#"{"systolic":121}"#);
    b.amends = Some("a".into());
    let mut c = record("c", EntryKind::Vitals, 0, r#"{"systolic":122}"#);
    c.amends = Some("c".into());
    let mut d = record("d", EntryKind::Vitals, 1, r#"{"systolic":123}"#);
    d.amends = Some("gone".into());
    let records = [a, b, c, d];
    for level in AccessLevel::ALL {
        let view = render(level, &records, None);
        assert_eq!(view["level"], json!(level));
    }
    assert_eq!(
        render(AccessLevel::Full, &records, None)["entries"][0]["time"],
        i64::MIN.to_string()
    );
    assert_eq!(
        render(AccessLevel::Information, &[], None)["observations"],
        json!([])
    );
}
