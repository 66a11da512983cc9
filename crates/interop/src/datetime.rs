//! Times as HL7 v2 `DTM` and FHIR `dateTime` text, to and from Unix milliseconds (UTC).
//!
//! Carelog keeps times as Unix milliseconds; both formats are written in UTC with milliseconds only
//! when they are not zero, so an exported time reads back to the same millisecond. Incoming times
//! without a UTC offset are taken as UTC: this crate has no clock and no time zone to guess from.

use carelog_chart::date_string;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// The UTC calendar time of `ms`, if it falls within years 0–9999.
fn utc(ms: i64) -> Option<OffsetDateTime> {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    (0..=9999).contains(&t.year()).then_some(t)
}

/// `ms` as HL7 `YYYYMMDDHHMMSS[.mmm]+0000`; `None` outside years 0–9999.
pub(crate) fn hl7_time(ms: i64) -> Option<String> {
    let t = utc(ms)?;
    let mut text = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if t.millisecond() != 0 {
        text.push_str(&format!(".{:03}", t.millisecond()));
    }
    text.push_str("+0000");
    Some(text)
}

/// A date as HL7 `YYYYMMDD`.
pub(crate) fn hl7_date(date: Date) -> String {
    format!(
        "{:04}{:02}{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// `ms` as FHIR `YYYY-MM-DDThh:mm:ss[.mmm]Z`; `None` outside years 0–9999.
pub(crate) fn fhir_time(ms: i64) -> Option<String> {
    let t = utc(ms)?;
    let mut text = format!(
        "{}T{:02}:{:02}:{:02}",
        date_string(t.date()),
        t.hour(),
        t.minute(),
        t.second()
    );
    if t.millisecond() != 0 {
        text.push_str(&format!(".{:03}", t.millisecond()));
    }
    text.push('Z');
    Some(text)
}

/// The digits of `text[range]` as a number, if they are all ASCII digits.
fn digits(text: &str, from: usize, len: usize) -> Option<u32> {
    let part = text.get(from..from + len)?;
    if !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

/// Builds the Unix ms of a calendar time, checking every part.
fn unix_ms(
    (year, month, day): (u32, u32, u32),
    (hour, minute, second, millis): (u32, u32, u32, u32),
    offset_minutes: i32,
) -> Option<i64> {
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date =
        Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
    let time = Time::from_hms_milli(
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
        u16::try_from(millis).ok()?,
    )
    .ok()?;
    let offset = UtcOffset::from_whole_seconds(offset_minutes.checked_mul(60)?).ok()?;
    let t = PrimitiveDateTime::new(date, time).assume_offset(offset);
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Milliseconds from a fraction's digits (`1` → 100, `1234` → 123); extra precision is cut.
fn fraction_ms(fraction: &str) -> Option<u32> {
    if fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut padded: String = fraction.chars().take(3).collect();
    while padded.len() < 3 {
        padded.push('0');
    }
    padded.parse().ok()
}

/// Minutes east of UTC from `+hhmm` / `-hhmm` (HL7) or `+hh:mm` / `-hh:mm` / `Z` (FHIR).
fn offset_minutes(text: &str) -> Option<i32> {
    if text == "Z" {
        return Some(0);
    }
    let sign = match text.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let rest = text.get(1..)?.replace(':', "");
    if rest.len() != 4 {
        return None;
    }
    let hours = i32::try_from(digits(&rest, 0, 2)?).ok()?;
    let minutes = i32::try_from(digits(&rest, 2, 2)?).ok()?;
    if hours > 14 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 60 + minutes))
}

/// Parses HL7 `YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]` into Unix ms (no offset: UTC).
pub(crate) fn parse_hl7_time(text: &str) -> Result<i64, String> {
    let bad = || format!("`{text}` is not an HL7 date/time; expected YYYYMMDDHHMMSS[.SSSS][+ZZZZ]");
    let text_trim = text.trim();
    if !text_trim.is_ascii() {
        return Err(bad());
    }
    let (stamp, offset) = match text_trim.find(['+', '-']) {
        Some(at) => (
            &text_trim[..at],
            offset_minutes(&text_trim[at..]).ok_or_else(bad)?,
        ),
        None => (text_trim, 0),
    };
    let (whole, fraction) = match stamp.split_once('.') {
        Some((w, f)) if w.len() == 14 && f.len() <= 4 => (w, fraction_ms(f).ok_or_else(bad)?),
        Some(_) => return Err(bad()),
        None => (stamp, 0),
    };
    if ![4, 6, 8, 10, 12, 14].contains(&whole.len()) {
        return Err(bad());
    }
    let part = |from: usize, len: usize, absent: u32| {
        if whole.len() > from {
            digits(whole, from, len).ok_or_else(bad)
        } else {
            Ok(absent)
        }
    };
    let date = (part(0, 4, 0)?, part(4, 2, 1)?, part(6, 2, 1)?);
    let clock = (part(8, 2, 0)?, part(10, 2, 0)?, part(12, 2, 0)?, fraction);
    unix_ms(date, clock, offset).ok_or_else(bad)
}

/// Parses HL7 `YYYYMMDD` (longer stamps are cut to their date).
pub(crate) fn parse_hl7_date(text: &str) -> Result<Date, String> {
    let bad = || format!("`{text}` is not an HL7 date; expected YYYYMMDD");
    let t = text.trim();
    let (y, m, d) = (
        digits(t, 0, 4).ok_or_else(bad)?,
        digits(t, 4, 2).ok_or_else(bad)?,
        digits(t, 6, 2).ok_or_else(bad)?,
    );
    let month = u8::try_from(m)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or_else(bad)?;
    Date::from_calendar_date(
        i32::try_from(y).map_err(|_| bad())?,
        month,
        u8::try_from(d).map_err(|_| bad())?,
    )
    .map_err(|_| bad())
}

/// Parses FHIR `YYYY`, `YYYY-MM`, `YYYY-MM-DD` or `YYYY-MM-DDThh:mm[:ss[.f]][Z|±hh:mm]` into Unix ms.
pub(crate) fn parse_fhir_time(text: &str) -> Result<i64, String> {
    let bad = || {
        format!("`{text}` is not a FHIR dateTime; expected e.g. 2026-01-10T09:30:00Z or 2026-01-10")
    };
    if !text.is_ascii() {
        return Err(bad());
    }
    let (day, clock) = match text.split_once('T') {
        Some((d, c)) => (d, Some(c)),
        None => (text, None),
    };
    let date = match day.len() {
        4 => (digits(day, 0, 4), Some(1), Some(1)),
        7 if &day[4..5] == "-" => (digits(day, 0, 4), digits(day, 5, 2), Some(1)),
        10 if &day[4..5] == "-" && &day[7..8] == "-" => {
            (digits(day, 0, 4), digits(day, 5, 2), digits(day, 8, 2))
        }
        _ => return Err(bad()),
    };
    let date = match date {
        (Some(y), Some(m), Some(d)) => (y, m, d),
        _ => return Err(bad()),
    };
    let Some(clock) = clock else {
        return unix_ms(date, (0, 0, 0, 0), 0).ok_or_else(bad);
    };
    let (clock, offset) = match clock.find(['Z', '+', '-']) {
        Some(at) => (&clock[..at], offset_minutes(&clock[at..]).ok_or_else(bad)?),
        None => (clock, 0),
    };
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, f)) => (hms, fraction_ms(f).ok_or_else(bad)?),
        None => (clock, 0),
    };
    let hms_ok =
        matches!(hms.len(), 5 | 8) && &hms[2..3] == ":" && (hms.len() == 5 || &hms[5..6] == ":");
    if !hms_ok {
        return Err(bad());
    }
    let second = if hms.len() == 8 {
        digits(hms, 6, 2).ok_or_else(bad)?
    } else {
        0
    };
    let hour = digits(hms, 0, 2).ok_or_else(bad)?;
    let minute = digits(hms, 3, 2).ok_or_else(bad)?;
    unix_ms(date, (hour, minute, second, fraction), offset).ok_or_else(bad)
}

/// Parses a FHIR `date` (or the date part of a `dateTime`) as a calendar date.
pub(crate) fn parse_fhir_date(text: &str) -> Result<Date, String> {
    let day = text.get(..10).unwrap_or(text);
    carelog_chart::parse_date(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_768_037_400_123; // 2026-01-10T09:30:00.123Z

    #[test]
    fn hl7_times_round_trip_to_the_millisecond() {
        assert_eq!(hl7_time(T).unwrap(), "20260110093000.123+0000");
        assert_eq!(parse_hl7_time("20260110093000.123+0000"), Ok(T));
        assert_eq!(hl7_time(T - 123).unwrap(), "20260110093000+0000");
        assert_eq!(parse_hl7_time("20260110103000.123+0100"), Ok(T));
        assert_eq!(parse_hl7_time("202601100930"), Ok(T - 123));
        assert_eq!(parse_hl7_time("20260110"), Ok(T - 123 - 34_200_000));
        assert_eq!(parse_hl7_time("2026"), parse_hl7_time("20260101"));
        assert_eq!(parse_hl7_time("20260110093000.1234"), Ok(T));
        assert_eq!(hl7_time(-1).unwrap(), "19691231235959.999+0000");
        assert_eq!(hl7_time(i64::MAX), None);
    }

    #[test]
    fn malformed_hl7_times_are_refused() {
        for bad in [
            "",
            "2026x",
            "2026011",
            "20261310",
            "20260230",
            "2026011009300",
            "20260110093000.",
            "20260110+01",
            "20260110250000",
            "２０２６0110",
            "20260110093000.12345",
            "20260110+9999",
        ] {
            assert!(parse_hl7_time(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_hl7_time("202601"), parse_hl7_time("20260101"));
        assert!(parse_hl7_date("19800402").is_ok());
        assert!(parse_hl7_date("1980").is_err());
    }

    #[test]
    fn fhir_times_round_trip_and_accept_partial_dates() {
        assert_eq!(fhir_time(T).unwrap(), "2026-01-10T09:30:00.123Z");
        assert_eq!(parse_fhir_time("2026-01-10T09:30:00.123Z"), Ok(T));
        assert_eq!(parse_fhir_time("2026-01-10T10:30:00.123+01:00"), Ok(T));
        assert_eq!(parse_fhir_time("2026-01-10T09:30:00.1234567Z"), Ok(T));
        assert_eq!(parse_fhir_time("2026-01-10T09:30Z"), Ok(T - 123));
        assert_eq!(parse_fhir_time("2026-01"), parse_fhir_time("2026-01-01"));
        for bad in [
            "",
            "2026-1-10",
            "2026-01-10T9:30Z",
            "2026-01-10T09:30:00+1",
            "x",
            "2026-02-30",
        ] {
            assert!(parse_fhir_time(bad).is_err(), "{bad}");
        }
        assert_eq!(
            date_string(parse_fhir_date("2026-01-10T08:00:00Z").unwrap()),
            "2026-01-10"
        );
    }
}
