//! Measured values: vitals (fixed LOINC codes) and laboratory results (any LOINC code).

use serde::{Deserialize, Serialize};

use crate::{ChartError, EntryKind};

/// One measured value with its LOINC code, UCUM unit and reference range, as views and HL7/FHIR use it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// LOINC code, e.g. `8480-6`.
    pub loinc: String,
    /// What was measured, in words.
    pub name: String,
    /// The measured value.
    pub value: f64,
    /// UCUM unit, e.g. `mm[Hg]`.
    pub unit: String,
    /// Lower end of the reference range, if known.
    pub low: Option<f64>,
    /// Upper end of the reference range, if known.
    pub high: Option<f64>,
}

/// A set of vital signs taken together; at least one value is present. Body mass index is
/// computed from weight and height when both are taken together (a value given with them is
/// replaced), and may be recorded alone when it was measured elsewhere.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vitals {
    /// Systolic blood pressure, mmHg.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systolic: Option<f64>,
    /// Diastolic blood pressure, mmHg.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diastolic: Option<f64>,
    /// Heart rate, beats per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heart_rate: Option<f64>,
    /// Respiratory rate, breaths per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub respiratory_rate: Option<f64>,
    /// Body temperature, degrees Celsius (`temperature` is read as well).
    #[serde(
        default,
        rename = "temperature_c",
        alias = "temperature",
        skip_serializing_if = "Option::is_none"
    )]
    pub temperature: Option<f64>,
    /// Body weight, kg (`weight` is read as well).
    #[serde(
        default,
        rename = "weight_kg",
        alias = "weight",
        skip_serializing_if = "Option::is_none"
    )]
    pub weight: Option<f64>,
    /// Body height, cm (`height` is read as well).
    #[serde(
        default,
        rename = "height_cm",
        alias = "height",
        skip_serializing_if = "Option::is_none"
    )]
    pub height: Option<f64>,
    /// Oxygen saturation, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spo2: Option<f64>,
    /// Body mass index, kg/m².
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bmi: Option<f64>,
}

/// One vital sign: its JSON field, how clinicians say it, LOINC, UCUM, plausible and normal ranges.
#[derive(Clone, Copy, Debug)]
pub struct VitalSign {
    /// The JSON field name in `--data`.
    pub field: &'static str,
    /// The name used in messages.
    pub label: &'static str,
    /// LOINC code.
    pub loinc: &'static str,
    /// LOINC display name.
    pub name: &'static str,
    /// UCUM unit.
    pub unit: &'static str,
    /// The unit as written in messages.
    pub unit_text: &'static str,
    /// Smallest plausible value; anything lower is a typing error.
    pub min: f64,
    /// Largest plausible value; anything higher is a typing error.
    pub max: f64,
    /// Lower end of the adult reference range, if one is customary.
    pub low: Option<f64>,
    /// Upper end of the adult reference range, if one is customary.
    pub high: Option<f64>,
}

/// The vital signs Carelog records, in display order.
pub const VITAL_SIGNS: [VitalSign; 9] = [
    VitalSign {
        field: "systolic",
        label: "systolic",
        loinc: "8480-6",
        name: "Systolic blood pressure",
        unit: "mm[Hg]",
        unit_text: "mmHg",
        min: 40.0,
        max: 300.0,
        low: Some(90.0),
        high: Some(120.0),
    },
    VitalSign {
        field: "diastolic",
        label: "diastolic",
        loinc: "8462-4",
        name: "Diastolic blood pressure",
        unit: "mm[Hg]",
        unit_text: "mmHg",
        min: 20.0,
        max: 200.0,
        low: Some(60.0),
        high: Some(80.0),
    },
    VitalSign {
        field: "heart_rate",
        label: "heart rate",
        loinc: "8867-4",
        name: "Heart rate",
        unit: "/min",
        unit_text: "/min",
        min: 20.0,
        max: 300.0,
        low: Some(60.0),
        high: Some(100.0),
    },
    VitalSign {
        field: "respiratory_rate",
        label: "respiratory rate",
        loinc: "9279-1",
        name: "Respiratory rate",
        unit: "/min",
        unit_text: "/min",
        min: 2.0,
        max: 80.0,
        low: Some(12.0),
        high: Some(20.0),
    },
    VitalSign {
        field: "temperature_c",
        label: "temperature",
        loinc: "8310-5",
        name: "Body temperature",
        unit: "Cel",
        unit_text: "°C",
        min: 25.0,
        max: 45.0,
        low: Some(36.1),
        high: Some(37.2),
    },
    VitalSign {
        field: "weight_kg",
        label: "weight",
        loinc: "29463-7",
        name: "Body weight",
        unit: "kg",
        unit_text: "kg",
        min: 0.2,
        max: 650.0,
        low: None,
        high: None,
    },
    VitalSign {
        field: "height_cm",
        label: "height",
        loinc: "8302-2",
        name: "Body height",
        unit: "cm",
        unit_text: "cm",
        min: 20.0,
        max: 280.0,
        low: None,
        high: None,
    },
    VitalSign {
        field: "spo2",
        label: "SpO2",
        loinc: "59408-5",
        name: "Oxygen saturation",
        unit: "%",
        unit_text: "%",
        min: 50.0,
        max: 100.0,
        low: Some(95.0),
        high: Some(100.0),
    },
    BMI,
];

/// Body mass index, computed from weight and height taken together.
pub const BMI: VitalSign = VitalSign {
    field: "bmi",
    label: "BMI",
    loinc: "39156-5",
    name: "Body mass index (BMI) [Ratio]",
    unit: "kg/m2",
    unit_text: "kg/m²",
    min: 8.0,
    max: 120.0,
    low: Some(18.5),
    high: Some(25.0),
};

impl Vitals {
    /// The value slots in `VITAL_SIGNS` order.
    fn slots(&self) -> [Option<f64>; 9] {
        [
            self.systolic,
            self.diastolic,
            self.heart_rate,
            self.respiratory_rate,
            self.temperature,
            self.weight,
            self.height,
            self.spo2,
            self.bmi,
        ]
    }

    /// The value slot of the sign whose `--data` field is `field` (the `VITAL_SIGNS` names).
    pub fn slot_mut(&mut self, field: &str) -> Option<&mut Option<f64>> {
        Some(match field {
            "systolic" => &mut self.systolic,
            "diastolic" => &mut self.diastolic,
            "heart_rate" => &mut self.heart_rate,
            "respiratory_rate" => &mut self.respiratory_rate,
            "temperature_c" => &mut self.temperature,
            "weight_kg" => &mut self.weight,
            "height_cm" => &mut self.height,
            "spo2" => &mut self.spo2,
            "bmi" => &mut self.bmi,
            _ => return None,
        })
    }

    /// The values in `VITAL_SIGNS` order, paired with their sign.
    pub fn signs(&self) -> [(VitalSign, Option<f64>); 9] {
        let values = self.slots();
        std::array::from_fn(|i| (VITAL_SIGNS[i], values[i]))
    }

    /// Body mass index (kg/m²) from weight and height taken together, to one decimal.
    pub fn computed_bmi(&self) -> Option<f64> {
        let (weight, height) = (self.weight?, self.height?);
        let metres = height / 100.0;
        let bmi = weight / (metres * metres);
        bmi.is_finite().then(|| (bmi * 10.0).round() / 10.0)
    }

    /// The value recorded for a LOINC code, if any.
    pub fn value_of(&self, loinc: &str) -> Option<f64> {
        self.signs()
            .into_iter()
            .find(|(sign, _)| sign.loinc == loinc)
            .and_then(|(_, value)| value)
    }

    /// A copy holding only the values whose LOINC codes `keep` accepts.
    pub fn only(&self, keep: impl Fn(&str) -> bool) -> Vitals {
        let mut out = Vitals::default();
        for (sign, value) in self.signs() {
            if let Some(slot) = out.slot_mut(sign.field) {
                *slot = value.filter(|_| keep(sign.loinc));
            }
        }
        out
    }

    /// One observation per present value, with LOINC code, UCUM unit and adult reference range.
    pub fn observations(&self) -> Vec<Observation> {
        self.signs()
            .into_iter()
            .filter_map(|(sign, value)| {
                value.map(|value| Observation {
                    loinc: sign.loinc.to_string(),
                    name: sign.name.to_string(),
                    value,
                    unit: sign.unit.to_string(),
                    low: sign.low,
                    high: sign.high,
                })
            })
            .collect()
    }

    /// A copy with the BMI computed from weight and height when both are present.
    pub fn with_bmi(&self) -> Vitals {
        Vitals {
            bmi: self.computed_bmi().or(self.bmi),
            ..self.clone()
        }
    }

    /// Checks that at least one value is present, each is plausible, and diastolic < systolic.
    pub fn validate(&self) -> Result<(), ChartError> {
        let bad = |m: String| ChartError::invalid(EntryKind::Vitals, m);
        if let Some(bmi) = self.computed_bmi()
            && !(BMI.min..=BMI.max).contains(&bmi)
        {
            return Err(bad(format!(
                "weight {} kg and height {} cm give a BMI of {bmi}, outside {}–{}; please recheck both",
                self.weight.unwrap_or_default(),
                self.height.unwrap_or_default(),
                BMI.min,
                BMI.max
            )));
        }
        let mut any = false;
        for (sign, value) in self.signs() {
            let Some(value) = value else { continue };
            any = true;
            if !(sign.min..=sign.max).contains(&value) {
                return Err(bad(format!(
                    "{} {} {} is outside {}–{}",
                    sign.label, value, sign.unit_text, sign.min, sign.max
                )));
            }
        }
        if !any {
            return Err(bad(
                "no values; give at least one of systolic, diastolic, heart_rate, respiratory_rate, temperature_c, spo2, weight_kg, height_cm"
                    .into(),
            ));
        }
        if let (Some(sys), Some(dia)) = (self.systolic, self.diastolic)
            && dia >= sys
        {
            return Err(bad(format!(
                "diastolic {dia} mmHg must be lower than systolic {sys} mmHg"
            )));
        }
        Ok(())
    }
}

/// HL7 table 0078 abnormal flags Carelog accepts.
pub const ABNORMAL_FLAGS: [&str; 7] = ["L", "H", "N", "LL", "HH", "A", "AA"];

/// One laboratory result.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabResult {
    /// LOINC code with its check digit, e.g. `2345-7`.
    pub loinc: String,
    /// Test name, e.g. `Glucose`.
    pub name: String,
    /// The result value.
    pub value: f64,
    /// UCUM unit, e.g. `mmol/L` (`1` for unitless results).
    pub unit: String,
    /// Lower end of the reference range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<f64>,
    /// Upper end of the reference range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<f64>,
    /// HL7 abnormal flag (`L`, `H`, `N`, …); computed from the range when the lab gave none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abnormal: Option<String>,
    /// The order entry this result answers, if it answers one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
}

impl LabResult {
    /// A result whose abnormal flag is computed from its range; validated.
    pub fn new(
        loinc: &str,
        name: &str,
        value: f64,
        unit: &str,
        low: Option<f64>,
        high: Option<f64>,
    ) -> Result<LabResult, ChartError> {
        let mut lab = LabResult {
            loinc: loinc.to_string(),
            name: name.to_string(),
            value,
            unit: unit.to_string(),
            low,
            high,
            abnormal: None,
            order: None,
        };
        lab.normalize();
        lab.validate()?;
        Ok(lab)
    }

    /// The HL7 flag the reference range implies: `L` below, `H` above, `N` within, none without a range.
    pub fn flag_from_range(&self) -> Option<&'static str> {
        if self.low.is_none() && self.high.is_none() {
            return None;
        }
        if self.low.is_some_and(|low| self.value < low) {
            Some("L")
        } else if self.high.is_some_and(|high| self.value > high) {
            Some("H")
        } else {
            Some("N")
        }
    }

    /// Trims text, upper-cases the flag and fills it from the range when absent.
    pub(crate) fn normalize(&mut self) {
        self.loinc = self.loinc.trim().to_string();
        self.name = self.name.trim().to_string();
        self.unit = self.unit.trim().to_string();
        self.abnormal = match self.abnormal.take() {
            Some(flag) => Some(flag.trim().to_ascii_uppercase()),
            None => self.flag_from_range().map(str::to_string),
        };
        self.order = self.order.take().map(|o| o.trim().to_ascii_lowercase());
    }

    /// Checks the LOINC code, name, unit, value, range and flag.
    pub fn validate(&self) -> Result<(), ChartError> {
        let bad = |m: String| ChartError::invalid(EntryKind::Lab, m);
        check_loinc(&self.loinc).map_err(bad)?;
        if self.name.trim().is_empty() {
            return Err(bad(
                "name is empty; give the test name, e.g. \"Glucose\"".into()
            ));
        }
        if self.unit.trim().is_empty() {
            return Err(bad(
                "unit is empty; give the UCUM unit, or \"1\" for unitless results".into(),
            ));
        }
        for (what, v) in [
            ("value", Some(self.value)),
            ("low", self.low),
            ("high", self.high),
        ] {
            if v.is_some_and(|v| !v.is_finite()) {
                return Err(bad(format!("{what} is not a finite number")));
            }
        }
        if let (Some(low), Some(high)) = (self.low, self.high)
            && low > high
        {
            return Err(bad(format!(
                "reference range low {low} is above high {high}"
            )));
        }
        if let Some(order) = &self.order {
            crate::visit::check_entry_ref(EntryKind::Lab, "order", order)?;
        }
        if let Some(flag) = &self.abnormal
            && !ABNORMAL_FLAGS.contains(&flag.as_str())
        {
            return Err(bad(format!(
                "abnormal flag `{flag}` is not one of {}",
                ABNORMAL_FLAGS.join(", ")
            )));
        }
        Ok(())
    }

    /// The result as a generic observation.
    pub fn observation(&self) -> Observation {
        Observation {
            loinc: self.loinc.clone(),
            name: self.name.clone(),
            value: self.value,
            unit: self.unit.clone(),
            low: self.low,
            high: self.high,
        }
    }
}

/// Checks a LOINC code's shape (`NNNNN-C`) and its mod-10 check digit.
pub fn check_loinc(code: &str) -> Result<(), String> {
    let shape =
        || format!("LOINC code `{code}` is not of the form 2345-7 (digits, dash, check digit)");
    let (body, check) = code.split_once('-').ok_or_else(shape)?;
    if body.is_empty()
        || body.len() > 7
        || check.len() != 1
        || !body.bytes().all(|b| b.is_ascii_digit())
        || !check.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(shape());
    }
    // LOINC's check digit is Luhn's: double every other digit from the right, starting with the last.
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let twice = d * 2;
                twice / 10 + twice % 10
            } else {
                d
            }
        })
        .sum();
    let expected = (10 - sum % 10) % 10;
    let given = u32::from(check.as_bytes()[0] - b'0');
    if expected == given {
        Ok(())
    } else {
        Err(format!(
            "LOINC code `{code}` has check digit {given}, but {body}- needs {expected}; please recheck the code"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_loinc_codes_pass_the_check_digit() {
        for code in [
            "8480-6", "8462-4", "8867-4", "8310-5", "29463-7", "8302-2", "59408-5", "2345-7",
            "4548-4",
        ] {
            assert_eq!(check_loinc(code), Ok(()), "{code}");
        }
        assert!(check_loinc("2345-8").unwrap_err().contains("needs 7"));
        assert!(check_loinc("2345").is_err());
        assert!(check_loinc("ab-1").is_err());
        assert!(check_loinc("-1").is_err());
        assert!(check_loinc("12345678-1").is_err());
    }

    #[test]
    fn vitals_observations_carry_loinc_codes() {
        let v = Vitals {
            systolic: Some(128.0),
            diastolic: Some(82.0),
            spo2: Some(97.0),
            ..Vitals::default()
        };
        let obs = v.observations();
        let codes: Vec<&str> = obs.iter().map(|o| o.loinc.as_str()).collect();
        assert_eq!(codes, ["8480-6", "8462-4", "59408-5"]);
        assert_eq!(obs[0].unit, "mm[Hg]");
        assert_eq!(obs[0].value, 128.0);
        assert_eq!(v.value_of("8462-4"), Some(82.0));
        assert_eq!(v.value_of("8867-4"), None);
        let only = v.only(|c| c == "59408-5");
        assert_eq!(only.observations().len(), 1);
    }

    #[test]
    fn implausible_vitals_are_refused_with_the_range() {
        let v = Vitals {
            systolic: Some(400.0),
            ..Vitals::default()
        };
        assert_eq!(
            v.validate().unwrap_err().to_string(),
            "vitals: systolic 400 mmHg is outside 40–300"
        );
        let v = Vitals {
            systolic: Some(80.0),
            diastolic: Some(90.0),
            ..Vitals::default()
        };
        assert!(
            v.validate()
                .unwrap_err()
                .to_string()
                .contains("lower than systolic")
        );
        assert!(
            Vitals::default()
                .validate()
                .unwrap_err()
                .to_string()
                .contains("no values")
        );
        let v = Vitals {
            temperature: Some(f64::NAN),
            ..Vitals::default()
        };
        assert!(v.validate().is_err());
    }

    #[test]
    fn lab_flag_follows_the_range() {
        let lab =
            |v| LabResult::new("2345-7", "Glucose", v, "mmol/L", Some(3.9), Some(5.6)).unwrap();
        assert_eq!(lab(5.4).abnormal.as_deref(), Some("N"));
        assert_eq!(lab(7.0).abnormal.as_deref(), Some("H"));
        assert_eq!(lab(3.0).abnormal.as_deref(), Some("L"));
        let none = LabResult::new("2345-7", "Glucose", 5.0, "mmol/L", None, None).unwrap();
        assert_eq!(none.abnormal, None);
        let upside = LabResult::new("2345-7", "Glucose", 5.0, "mmol/L", Some(6.0), Some(4.0));
        assert!(upside.unwrap_err().to_string().contains("above high"));
    }
}
