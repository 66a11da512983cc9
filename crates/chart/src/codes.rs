//! Code lookup for the entry form: small offline subsets of ICD-10, LOINC, CVX and a drug list,
//! searched as the clinician types.
//!
//! Where each table comes from (docs/codes.md says the same for people installing Carelog):
//! - ICD-10: codes and short titles of ICD-10-CM (CDC/NCHS, public domain), chosen from the
//!   conditions a primary-care clinic records most;
//! - LOINC: codes and short names of common laboratory tests and vital signs (LOINC is © Regenstrief
//!   Institute, used under the LOINC licence, which allows this use with this notice);
//! - CVX: CDC's vaccine codes (public domain);
//! - drugs: international non-proprietary names with their WHO ATC codes.
//!
//! The tables are a few kilobytes, kept small for the installer; codes outside them can always be
//! typed (their shape is checked as before).

use serde::Serialize;

/// Which table to search.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CodeSystem {
    /// ICD-10 diagnoses.
    Icd10,
    /// LOINC tests and measurements.
    Loinc,
    /// CVX vaccines.
    Cvx,
    /// Drugs with ATC codes.
    Drug,
}

/// One entry of a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Code {
    /// The code (for drugs, the ATC code).
    pub code: &'static str,
    /// Its name.
    pub display: &'static str,
}

const fn c(code: &'static str, display: &'static str) -> Code {
    Code { code, display }
}

/// ICD-10 diagnoses common in primary care.
pub const ICD10: &[Code] = &[
    c("A09", "Infectious gastroenteritis and colitis, unspecified"),
    c("B34.9", "Viral infection, unspecified"),
    c("D50.9", "Iron deficiency anemia, unspecified"),
    c("E03.9", "Hypothyroidism, unspecified"),
    c("E05.90", "Thyrotoxicosis, unspecified"),
    c("E11.9", "Type 2 diabetes mellitus without complications"),
    c("E10.9", "Type 1 diabetes mellitus without complications"),
    c("E66.9", "Obesity, unspecified"),
    c("E78.5", "Hyperlipidemia, unspecified"),
    c(
        "F32.9",
        "Major depressive disorder, single episode, unspecified",
    ),
    c("F41.1", "Generalized anxiety disorder"),
    c("G43.909", "Migraine, unspecified"),
    c("H66.9", "Otitis media, unspecified"),
    c("I10", "Essential (primary) hypertension"),
    c(
        "I25.10",
        "Atherosclerotic heart disease of native coronary artery",
    ),
    c("I48.91", "Atrial fibrillation, unspecified"),
    c("I50.9", "Heart failure, unspecified"),
    c("J02.9", "Acute pharyngitis, unspecified"),
    c("J06.9", "Acute upper respiratory infection, unspecified"),
    c("J18.9", "Pneumonia, unspecified organism"),
    c("J20.9", "Acute bronchitis, unspecified"),
    c("J30.9", "Allergic rhinitis, unspecified"),
    c("J45.909", "Asthma, unspecified, uncomplicated"),
    c(
        "J44.9",
        "Chronic obstructive pulmonary disease, unspecified",
    ),
    c(
        "K21.9",
        "Gastro-esophageal reflux disease without esophagitis",
    ),
    c("K29.70", "Gastritis, unspecified"),
    c("K59.00", "Constipation, unspecified"),
    c("L20.9", "Atopic dermatitis, unspecified"),
    c("M54.5", "Low back pain"),
    c("M17.9", "Osteoarthritis of knee, unspecified"),
    c("M81.0", "Age-related osteoporosis without current fracture"),
    c("N18.9", "Chronic kidney disease, unspecified"),
    c("N39.0", "Urinary tract infection, site not specified"),
    c("O80", "Encounter for full-term uncomplicated delivery"),
    c("R05.9", "Cough, unspecified"),
    c("R50.9", "Fever, unspecified"),
    c("R51.9", "Headache, unspecified"),
    c("R10.9", "Unspecified abdominal pain"),
    c("R42", "Dizziness and giddiness"),
    c(
        "S93.409A",
        "Sprain of unspecified ligament of ankle, initial encounter",
    ),
    c(
        "Z00.00",
        "General adult medical examination without abnormal findings",
    ),
    c(
        "Z00.129",
        "Routine child health examination without abnormal findings",
    ),
    c("Z23", "Encounter for immunization"),
    c("Z34.90", "Supervision of normal pregnancy, unspecified"),
];

/// LOINC codes of common tests and measurements.
pub const LOINC: &[Code] = &[
    c(
        "2345-7",
        "Glucose [Mass or Moles/volume] in Serum or Plasma",
    ),
    c(
        "1558-6",
        "Fasting glucose [Mass or Moles/volume] in Serum or Plasma",
    ),
    c("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"),
    c("718-7", "Hemoglobin [Mass/volume] in Blood"),
    c("4544-3", "Hematocrit [Volume Fraction] of Blood"),
    c("6690-2", "Leukocytes [#/volume] in Blood"),
    c("777-3", "Platelets [#/volume] in Blood"),
    c("2160-0", "Creatinine [Mass/volume] in Serum or Plasma"),
    c(
        "33914-3",
        "Glomerular filtration rate/1.73 sq M.predicted (MDRD)",
    ),
    c("3094-0", "Urea nitrogen [Mass/volume] in Serum or Plasma"),
    c("2951-2", "Sodium [Moles/volume] in Serum or Plasma"),
    c("2823-3", "Potassium [Moles/volume] in Serum or Plasma"),
    c("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma"),
    c(
        "2085-9",
        "Cholesterol in HDL [Mass/volume] in Serum or Plasma",
    ),
    c(
        "13457-7",
        "Cholesterol in LDL [Mass/volume] in Serum or Plasma by calculation",
    ),
    c("2571-8", "Triglyceride [Mass/volume] in Serum or Plasma"),
    c(
        "1742-6",
        "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
    ),
    c(
        "1920-8",
        "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
    ),
    c("1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma"),
    c("3016-3", "Thyrotropin [Units/volume] in Serum or Plasma"),
    c(
        "1988-5",
        "C reactive protein [Mass/volume] in Serum or Plasma",
    ),
    c("30341-2", "Erythrocyte sedimentation rate"),
    c("5902-2", "Prothrombin time (PT)"),
    c("6301-6", "INR in Platelet poor plasma by Coagulation assay"),
    c(
        "2106-3",
        "Choriogonadotropin (pregnancy test) [Presence] in Urine",
    ),
    c("5811-5", "Specific gravity of Urine by Test strip"),
    c("8480-6", "Systolic blood pressure"),
    c("8462-4", "Diastolic blood pressure"),
    c("8867-4", "Heart rate"),
    c("9279-1", "Respiratory rate"),
    c("8310-5", "Body temperature"),
    c(
        "59408-5",
        "Oxygen saturation in Arterial blood by Pulse oximetry",
    ),
    c("29463-7", "Body weight"),
    c("8302-2", "Body height"),
    c("39156-5", "Body mass index (BMI) [Ratio]"),
];

/// A laboratory test's customary UCUM unit and adult reference range, so that a result form
/// starts filled in; the lab changes them when its own method differs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LabReference {
    /// LOINC code of the test.
    pub loinc: &'static str,
    /// UCUM unit of the value.
    pub unit: &'static str,
    /// Lower end of the adult reference range, when one range fits adults of either sex.
    pub low: Option<f64>,
    /// Upper end of the adult reference range, when one range fits adults of either sex.
    pub high: Option<f64>,
}

const fn r(
    loinc: &'static str,
    unit: &'static str,
    low: Option<f64>,
    high: Option<f64>,
) -> LabReference {
    LabReference {
        loinc,
        unit,
        low,
        high,
    }
}

/// Units and adult reference ranges (SI) of common tests in the LOINC table; tests whose range
/// differs by sex (haemoglobin, haematocrit, creatinine) carry the unit only.
pub const LAB_REFERENCES: &[LabReference] = &[
    r("2345-7", "mmol/L", Some(3.9), Some(5.6)),
    r("1558-6", "mmol/L", Some(3.9), Some(5.6)),
    r("4548-4", "%", Some(4.0), Some(5.6)),
    r("718-7", "g/L", None, None),
    r("4544-3", "%", None, None),
    r("6690-2", "10*9/L", Some(4.0), Some(11.0)),
    r("777-3", "10*9/L", Some(150.0), Some(400.0)),
    r("2160-0", "umol/L", None, None),
    r("2951-2", "mmol/L", Some(135.0), Some(145.0)),
    r("2823-3", "mmol/L", Some(3.5), Some(5.0)),
    r("2093-3", "mmol/L", None, Some(5.2)),
    r("2571-8", "mmol/L", None, Some(1.7)),
    r("3016-3", "m[IU]/L", Some(0.4), Some(4.0)),
    r("1988-5", "mg/L", None, Some(5.0)),
    r("6301-6", "{INR}", Some(0.8), Some(1.2)),
];

/// The unit and reference range the table gives for a LOINC code, if it knows the test.
pub fn lab_reference(loinc: &str) -> Option<LabReference> {
    let loinc = loinc.trim();
    LAB_REFERENCES.iter().find(|r| r.loinc == loinc).copied()
}

/// CDC CVX vaccine codes.
pub const CVX: &[Code] = &[
    c("03", "MMR (measles, mumps and rubella)"),
    c("08", "Hepatitis B, adolescent or pediatric"),
    c("10", "IPV (poliovirus, inactivated)"),
    c("19", "BCG"),
    c("20", "DTaP"),
    c("21", "Varicella"),
    c("33", "Pneumococcal polysaccharide PPV23"),
    c("43", "Hepatitis B, adult"),
    c("49", "Hib (PRP-OMP)"),
    c("62", "HPV, quadrivalent"),
    c("83", "Hepatitis A, pediatric/adolescent, 2 dose"),
    c("88", "Influenza, unspecified formulation"),
    c("94", "MMRV"),
    c("110", "DTaP-Hep B-IPV"),
    c("115", "Tdap"),
    c("116", "Rotavirus, pentavalent"),
    c("119", "Rotavirus, monovalent"),
    c("133", "Pneumococcal conjugate PCV13"),
    c("139", "Td (adult), unspecified formulation"),
    c("141", "Influenza, seasonal, injectable"),
    c("165", "HPV9"),
    c("187", "Zoster vaccine recombinant"),
    c("208", "COVID-19, mRNA, LNP-S, PF, 30 mcg/0.3 mL dose"),
];

/// Drugs by international non-proprietary name, with their ATC codes.
pub const DRUGS: &[Code] = &[
    c("N02BE01", "Paracetamol (acetaminophen)"),
    c("M01AE01", "Ibuprofen"),
    c("M01AE02", "Naproxen"),
    c("M01AB05", "Diclofenac"),
    c("N02BA01", "Acetylsalicylic acid (aspirin)"),
    c("N02AX02", "Tramadol"),
    c("J01CA04", "Amoxicillin"),
    c("J01CR02", "Amoxicillin and clavulanic acid"),
    c("J01CE02", "Phenoxymethylpenicillin (penicillin V)"),
    c("J01DB01", "Cefalexin"),
    c("J01DD04", "Ceftriaxone"),
    c("J01FA10", "Azithromycin"),
    c("J01FA09", "Clarithromycin"),
    c("J01AA02", "Doxycycline"),
    c("J01MA02", "Ciprofloxacin"),
    c("J01EE01", "Sulfamethoxazole and trimethoprim"),
    c("J01XE01", "Nitrofurantoin"),
    c("P01AB01", "Metronidazole"),
    c("A10BA02", "Metformin"),
    c("A10BB09", "Gliclazide"),
    c("A10AE04", "Insulin glargine"),
    c("C09AA02", "Enalapril"),
    c("C09AA03", "Lisinopril"),
    c("C09CA01", "Losartan"),
    c("C08CA01", "Amlodipine"),
    c("C03AA03", "Hydrochlorothiazide"),
    c("C03CA01", "Furosemide"),
    c("C07AB02", "Metoprolol"),
    c("C07AB07", "Bisoprolol"),
    c("C10AA05", "Atorvastatin"),
    c("C10AA01", "Simvastatin"),
    c("B01AC06", "Acetylsalicylic acid (low dose)"),
    c("B01AA03", "Warfarin"),
    c("B03AA07", "Ferrous sulfate"),
    c("B03BB01", "Folic acid"),
    c("H03AA01", "Levothyroxine sodium"),
    c("R03AC02", "Salbutamol"),
    c("R03BA02", "Budesonide"),
    c("R06AE07", "Cetirizine"),
    c("R06AX13", "Loratadine"),
    c("A02BC01", "Omeprazole"),
    c("A03FA01", "Metoclopramide"),
    c("A07CA", "Oral rehydration salts"),
    c("H02AB06", "Prednisolone"),
    c("N06AB06", "Sertraline"),
    c("N06AB03", "Fluoxetine"),
    c("N03AX12", "Gabapentin"),
];

/// The table of a system.
pub fn table(system: CodeSystem) -> &'static [Code] {
    match system {
        CodeSystem::Icd10 => ICD10,
        CodeSystem::Loinc => LOINC,
        CodeSystem::Cvx => CVX,
        CodeSystem::Drug => DRUGS,
    }
}

/// Lower case without accents, for matching as people type.
fn folded(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ä' | 'ã' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            other => other,
        })
        .collect()
}

/// Up to `limit` codes matching what was typed, best first: the code itself, then codes that
/// start with it, then names with a word that starts with each typed word.
pub fn lookup(system: CodeSystem, typed: &str, limit: usize) -> Vec<Code> {
    let query = folded(typed.trim());
    if query.is_empty() {
        return Vec::new();
    }
    let words: Vec<&str> = query.split_whitespace().collect();
    let mut ranked: Vec<(u8, usize, Code)> = table(system)
        .iter()
        .enumerate()
        .filter_map(|(i, code)| {
            let id = folded(code.code);
            let name = folded(code.display);
            let name_words: Vec<&str> = name
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .collect();
            let rank = if id == query {
                0
            } else if id.starts_with(&query) {
                1
            } else if words
                .iter()
                .all(|w| name_words.iter().any(|n| n.starts_with(w)))
            {
                2
            } else {
                return None;
            };
            Some((rank, i, *code))
        })
        .collect();
    ranked.sort_by_key(|(rank, i, _)| (*rank, *i));
    ranked.into_iter().take(limit).map(|(_, _, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{check_atc, check_icd10, check_loinc};

    #[test]
    fn every_lab_reference_is_a_test_of_the_table_and_makes_a_valid_result() {
        for reference in LAB_REFERENCES {
            let test = LOINC
                .iter()
                .find(|c| c.code == reference.loinc)
                .unwrap_or_else(|| panic!("{} is not in the LOINC table", reference.loinc));
            let value = reference.low.or(reference.high).unwrap_or(1.0);
            let result = crate::LabResult::new(
                reference.loinc,
                test.display,
                value,
                reference.unit,
                reference.low,
                reference.high,
            );
            assert!(result.is_ok(), "{}: {result:?}", reference.loinc);
        }
        assert_eq!(lab_reference(" 2345-7 ").map(|r| r.unit), Some("mmol/L"));
        assert_eq!(lab_reference("718-7").and_then(|r| r.low), None);
        assert_eq!(
            lab_reference("8480-6"),
            None,
            "a vital sign is not a lab test"
        );
    }

    #[test]
    fn every_bundled_code_has_a_valid_shape() {
        for c in ICD10 {
            assert_eq!(check_icd10(c.code), Ok(()), "{}", c.code);
        }
        for c in LOINC {
            assert_eq!(check_loinc(c.code), Ok(()), "{}", c.code);
        }
        for c in DRUGS {
            assert_eq!(check_atc(c.code), Ok(()), "{}", c.code);
        }
        for c in CVX {
            assert!(c.code.len() <= 3 && c.code.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn typing_finds_by_code_and_by_words_of_the_name() {
        let codes = |s, q| lookup(s, q, 5).iter().map(|c| c.code).collect::<Vec<_>>();
        assert_eq!(codes(CodeSystem::Icd10, "e11")[0], "E11.9");
        assert_eq!(codes(CodeSystem::Icd10, "diab type 2"), ["E11.9"]);
        assert_eq!(codes(CodeSystem::Loinc, "gluc")[0], "2345-7");
        assert_eq!(codes(CodeSystem::Cvx, "measles"), ["03"]);
        assert_eq!(codes(CodeSystem::Drug, "AMOXI"), ["J01CA04", "J01CR02"]);
        assert_eq!(codes(CodeSystem::Drug, "paracétamol"), ["N02BE01"]);
        assert!(codes(CodeSystem::Icd10, "  ").is_empty());
        assert!(codes(CodeSystem::Icd10, "zzz unknown").is_empty());
        assert_eq!(lookup(CodeSystem::Loinc, "in", 3).len(), 3);
    }
}
