//! Recognising vital signs in incoming results, shared by the HL7 and FHIR readers.

use carelog_chart::{VITAL_SIGNS, VitalSign, Vitals};

/// The vital sign a LOINC code and unit stand for; `None` for another code or another unit
/// (a temperature in `[degF]` stays a lab result rather than being misread as Celsius).
pub(crate) fn vital_sign(loinc: &str, unit: &str) -> Option<VitalSign> {
    VITAL_SIGNS.into_iter().find(|s| {
        s.loinc == loinc
            && (s.unit.eq_ignore_ascii_case(unit) || s.unit_text.eq_ignore_ascii_case(unit))
    })
}

/// Sets one vital sign's value; `false` when the entry already holds one for that sign.
pub(crate) fn set_vital(v: &mut Vitals, sign: &VitalSign, value: f64) -> bool {
    let Some(slot) = v.slot_mut(sign.field) else {
        return false;
    };
    if slot.is_some() {
        return false;
    }
    *slot = Some(value);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sign_has_its_own_slot() {
        let mut v = Vitals::default();
        for (i, sign) in VITAL_SIGNS.iter().enumerate() {
            assert!(set_vital(&mut v, sign, i as f64));
            assert!(!set_vital(&mut v, sign, 0.0));
            assert_eq!(v.value_of(sign.loinc), Some(i as f64));
        }
        assert!(vital_sign("8310-5", "Cel").is_some());
        assert!(vital_sign("8310-5", "°C").is_some());
        assert!(vital_sign("8310-5", "[degF]").is_none());
        assert!(vital_sign("2345-7", "mmol/L").is_none());
    }
}
