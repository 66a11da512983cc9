//! The front desk: finding a patient by part of the name and the birth date, the duplicate
//! check before a registration, and proxies (a parent, guardian or carer) for a patient. Every
//! question goes to the node, which asks the policy; nothing here is logged.

use carelog_desktop_api::{DuplicateCheck, FindPatients, FoundPatient, NewProxy, RegisteredProxy};
use tauri::State;

use crate::commands::{Answer, invalid, patient};
use crate::desk::{Desk, failure};

/// Today's date, `YYYY-MM-DD` (UTC).
pub(crate) fn today() -> String {
    carelog_node::rfc3339(carelog_node::now_ms())
        .get(..10)
        .unwrap_or_default()
        .to_string()
}

/// Whole years from `birth_date` to `today` (both `YYYY-MM-DD`); `None` if either does not read
/// as a date or the birth is after today.
pub(crate) fn age_on(birth_date: &str, today: &str) -> Option<u32> {
    fn parts(date: &str) -> Option<(u32, u32, u32)> {
        let mut it = date.trim().splitn(3, '-').map(|p| p.parse::<u32>().ok());
        Some((it.next()??, it.next()??, it.next()??))
    }
    let (by, bm, bd) = parts(birth_date)?;
    let (ty, tm, td) = parts(today)?;
    let years = ty.checked_sub(by)?;
    if (tm, td) < (bm, bd) {
        years.checked_sub(1)
    } else {
        Some(years)
    }
}

/// A patient found by the node, as the window lists them.
pub(crate) fn found(p: carelog_node::FoundPatient, today: &str) -> FoundPatient {
    FoundPatient {
        age: age_on(&p.birth_date, today),
        patient_id: p.patient_id,
        name: p.name,
        birth_date: p.birth_date,
        sex: p.sex,
        card_number: p.card_number,
    }
}

/// The birth date as typed, or none when the field was left empty.
fn typed_date(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|t| !t.is_empty())
}

/// Patients whose names this clinic may read, best match first (the clinic's staff).
#[tauri::command]
pub async fn find_patients(desk: State<'_, Desk>, args: FindPatients) -> Answer<Vec<FoundPatient>> {
    let date = typed_date(args.birth_date.as_deref());
    if args.name.trim().is_empty() && date.is_none() {
        return Err(invalid("type part of the name, or the birth date"));
    }
    let today = today();
    desk.with_session(|node, session| {
        Ok(node
            .find_patients(session, args.name.trim(), date)
            .map_err(failure)?
            .into_iter()
            .map(|p| found(p, &today))
            .collect())
    })
}

/// Patients already registered with this birth date and a similar name (an admin, before a
/// registration).
#[tauri::command]
pub async fn possible_duplicates(
    desk: State<'_, Desk>,
    args: DuplicateCheck,
) -> Answer<Vec<FoundPatient>> {
    if args.name.trim().is_empty() || args.birth_date.trim().is_empty() {
        return Err(invalid("enter the full name and the birth date"));
    }
    let today = today();
    desk.with_session(|node, session| {
        Ok(node
            .possible_duplicates(session, args.name.trim(), args.birth_date.trim())
            .map_err(failure)?
            .into_iter()
            .map(|p| found(p, &today))
            .collect())
    })
}

/// Refuses a registration while someone registered here may be the same person, unless the
/// desk confirmed it is someone else.
pub(crate) fn refuse_duplicate(
    node: &mut carelog_node::Node,
    admin: &carelog_node::Session,
    name: &str,
    birth_date: &str,
) -> Answer<()> {
    let Some(existing) = node
        .possible_duplicates(admin, name.trim(), birth_date.trim())
        .map_err(failure)?
        .into_iter()
        .next()
    else {
        return Ok(());
    };
    Err(invalid(format!(
        "{} (born {}, card number {}) is already registered with the same birth date and a \
         similar name: open that record, or confirm that this is someone else. Nothing was \
         registered.",
        existing.name, existing.birth_date, existing.card_number
    )))
}

/// Adds a proxy for a patient (an admin of the clinic of record); returns their card.
#[tauri::command]
pub async fn add_proxy(desk: State<'_, Desk>, args: NewProxy) -> Answer<RegisteredProxy> {
    if args.name.trim().is_empty() {
        return Err(invalid("enter the proxy's name"));
    }
    desk.with_session(|node, session| {
        let id = patient(node, &args.patient_id)?;
        let (proxy, card) = node
            .add_proxy(session, id, &args.name, &args.pin)
            .map_err(failure)?;
        Ok(RegisteredProxy {
            proxy_id: proxy.to_string(),
            card: card.content().to_string(),
            card_number: card.number(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_age_counts_whole_years_up_to_the_birthday() {
        assert_eq!(age_on("1958-04-12", "2026-04-11"), Some(67));
        assert_eq!(age_on("1958-04-12", "2026-04-12"), Some(68));
        assert_eq!(age_on("2019-03-30", "2026-12-07"), Some(7));
        assert_eq!(age_on("2026-12-08", "2026-12-07"), None);
        assert_eq!(age_on("12/04/1958", "2026-12-07"), None);
        assert_eq!(age_on("", "2026-12-07"), None);
    }

    #[test]
    fn an_empty_birth_date_field_is_no_birth_date() {
        assert_eq!(typed_date(Some("  ")), None);
        assert_eq!(typed_date(Some(" 1958-04-12 ")), Some("1958-04-12"));
        assert_eq!(typed_date(None), None);
    }
}
