//! The lab's worklist: the orders its clinic's records wait on, opened with the clinic's key,
//! each look recorded for the patient; results entered against them take them off the list.

use super::*;

#[test]
fn the_lab_lists_outstanding_orders_and_a_result_against_one_takes_it_off() {
    let mut c = clinic();
    let admin = c.node.unlock(c.admin, PASS).unwrap();
    let lab = c
        .node
        .add_user(&admin, Role::Lab, "North Lab", None, DOC_PASS)
        .unwrap();
    let lab = c.node.unlock(lab, DOC_PASS).unwrap();
    // Nothing ordered yet: an empty list, and no read is recorded.
    let before = c.node.stats().unwrap().txs;
    assert_eq!(c.node.worklist(&lab).unwrap(), []);
    assert_eq!(c.node.stats().unwrap().txs, before);

    let doc = c.node.unlock(c.doctor, DOC_PASS).unwrap();
    let glucose = c
        .node
        .add_entry(
            &doc,
            c.patient,
            "order",
            r#"{"loinc":"2345-7","name":"Glucose","note":"fasting"}"#,
            None,
        )
        .unwrap();
    let potassium = c
        .node
        .add_entry(
            &doc,
            c.patient,
            "order",
            r#"{"loinc":"2823-3","name":"Potassium","priority":"stat"}"#,
            None,
        )
        .unwrap();
    c.node
        .add_entry(
            &doc,
            c.patient,
            "note",
            r#"{"title":"Private","text":"not for the lab"}"#,
            None,
        )
        .unwrap();

    let list = c.node.worklist(&lab).unwrap();
    let tests: Vec<(&str, &str)> = list
        .iter()
        .map(|o| (o.entry_id.as_str(), o.name.as_str()))
        .collect();
    let (glucose, potassium) = (glucose.to_string(), potassium.to_string());
    assert_eq!(
        tests,
        [
            (potassium.as_str(), "Potassium"),
            (glucose.as_str(), "Glucose")
        ],
        "stat first"
    );
    let order = &list[1];
    assert_eq!(order.patient_id, c.patient.to_string());
    assert_eq!(order.patient_name.as_deref(), Some("Zelda Quimby"));
    assert_eq!(order.birth_date.as_deref(), Some("1980-02-29"));
    assert_eq!(order.sex.as_deref(), Some("female"));
    assert_eq!(order.loinc, "2345-7");
    assert_eq!(order.note.as_deref(), Some("fasting"));
    assert_eq!(order.priority, carelog_chart::Priority::Routine);
    assert_eq!(order.ordered_by, "Dr Demo");
    assert!(!format!("{list:?}").contains("not for the lab"));
    // The patient sees that the lab looked at the orders, and the lab still reads no chart.
    let me = c.node.unlock_patient(c.patient, &c.card, PIN).unwrap();
    let audit = c.node.audit(&me, c.patient).unwrap();
    let looked: Vec<&AuditLine> = audit.iter().filter(|l| l.action == "read orders").collect();
    assert_eq!(looked.len(), 1, "{audit:?}");
    assert_eq!(looked[0].actor_name, "North Lab");
    assert!(matches!(
        c.node.chart(&lab, c.patient, "test"),
        Err(NodeError::Denied(_))
    ));

    // The result names the order: it leaves the list, and the doctor's chart links it.
    c.node
        .add_entry(
            &lab,
            c.patient,
            "lab",
            &format!(
                r#"{{"loinc":"2345-7","name":"Glucose","value":7.9,"unit":"mmol/L","low":3.9,"high":5.6,"order":"{glucose}"}}"#
            ),
            None,
        )
        .unwrap();
    let list = c.node.worklist(&lab).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].entry_id, potassium);
    let chart = c.node.chart(&doc, c.patient, "test").unwrap();
    let waiting: Vec<&str> = chart["outstanding_orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert_eq!(waiting, ["Potassium"]);

    // Not a lab: refused, and nothing is recorded.
    let before = c.node.stats().unwrap().txs;
    for user in [&doc, &admin] {
        assert!(matches!(c.node.worklist(user), Err(NodeError::Denied(_))));
    }
    assert_eq!(c.node.stats().unwrap().txs, before);
}

#[test]
fn another_clinics_lab_sees_none_of_this_clinics_orders() {
    let (mut north, mut south, sam) = two_clinics();
    let admin = south.unlock(sam, PASS).unwrap();
    let south_lab = south
        .add_user(&admin, Role::Lab, "South Lab", None, DOC_PASS)
        .unwrap();
    let doc = north.node.unlock(north.doctor, DOC_PASS).unwrap();
    north
        .node
        .add_entry(
            &doc,
            north.patient,
            "order",
            r#"{"loinc":"2345-7","name":"Glucose"}"#,
            None,
        )
        .unwrap();
    exchange(&mut north.node, &mut south);
    let lab = south.unlock(south_lab, DOC_PASS).unwrap();
    assert_eq!(south.worklist(&lab).unwrap(), []);
    assert!(
        !north
            .node
            .ledger()
            .state()
            .patient(&north.patient)
            .unwrap()
            .audit()
            .any(|e| e.actor == south_lab),
        "South's lab read nothing of North's record"
    );
}
