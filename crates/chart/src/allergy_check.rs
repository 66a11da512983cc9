//! Allergy safety: does a drug about to be prescribed match an allergy on the patient's summary?
//!
//! A match is the same ingredient, or another member of the same drug class, from a small bundled
//! table of the classes that cause most drug allergies (grouped as the WHO ATC classification
//! groups them; ingredient names are the international non-proprietary names, which are not
//! subject to copyright). It works offline and never replaces the clinician's judgement: a match
//! is a warning the prescriber may override with a recorded reason.

use serde::Serialize;

use crate::{AllergyItem, Medication};

/// A drug class of the bundled table.
#[derive(Clone, Copy, Debug)]
pub struct DrugClass {
    /// The class in words, as warnings name it.
    pub name: &'static str,
    /// ATC code prefixes of the class.
    pub atc: &'static [&'static str],
    /// Words an allergy entry may use for the whole class.
    pub aliases: &'static [&'static str],
    /// Ingredients of the class, lower case.
    pub members: &'static [&'static str],
}

/// The bundled classes.
pub const DRUG_CLASSES: &[DrugClass] = &[
    DrugClass {
        name: "penicillins",
        atc: &["J01C"],
        aliases: &[
            "penicillin",
            "penicillins",
            "penicilina",
            "penicilinas",
            "pénicilline",
        ],
        members: &[
            "penicillin",
            "benzylpenicillin",
            "phenoxymethylpenicillin",
            "amoxicillin",
            "amoxicilina",
            "amoxicilline",
            "ampicillin",
            "ampicilina",
            "piperacillin",
            "dicloxacillin",
            "flucloxacillin",
            "cloxacillin",
            "oxacillin",
            "nafcillin",
            "ticarcillin",
            "co-amoxiclav",
            "augmentin",
        ],
    },
    DrugClass {
        name: "cephalosporins",
        atc: &["J01DB", "J01DC", "J01DD", "J01DE"],
        aliases: &[
            "cephalosporin",
            "cephalosporins",
            "cefalosporina",
            "cefalosporinas",
        ],
        members: &[
            "cefalexin",
            "cephalexin",
            "cefazolin",
            "cefadroxil",
            "cefaclor",
            "cefuroxime",
            "cefixime",
            "cefpodoxime",
            "cefotaxime",
            "ceftriaxone",
            "ceftazidime",
            "cefepime",
        ],
    },
    DrugClass {
        name: "sulfonamide antibiotics",
        atc: &["J01E"],
        aliases: &["sulfa", "sulpha", "sulfonamide", "sulfonamides", "sulfas"],
        members: &[
            "sulfamethoxazole",
            "co-trimoxazole",
            "cotrimoxazole",
            "trimethoprim-sulfamethoxazole",
            "sulfadiazine",
            "sulfasalazine",
        ],
    },
    DrugClass {
        name: "macrolides",
        atc: &["J01FA"],
        aliases: &["macrolide", "macrolides"],
        members: &[
            "erythromycin",
            "azithromycin",
            "clarithromycin",
            "roxithromycin",
        ],
    },
    DrugClass {
        name: "tetracyclines",
        atc: &["J01AA"],
        aliases: &["tetracyclines"],
        members: &["tetracycline", "doxycycline", "minocycline"],
    },
    DrugClass {
        name: "fluoroquinolones",
        atc: &["J01MA"],
        aliases: &[
            "quinolone",
            "quinolones",
            "fluoroquinolone",
            "fluoroquinolones",
        ],
        members: &[
            "ciprofloxacin",
            "levofloxacin",
            "moxifloxacin",
            "ofloxacin",
            "norfloxacin",
        ],
    },
    DrugClass {
        name: "NSAIDs",
        atc: &["M01A", "N02BA"],
        aliases: &["nsaid", "nsaids", "aine", "aines"],
        members: &[
            "aspirin",
            "acetylsalicylic",
            "ibuprofen",
            "naproxen",
            "diclofenac",
            "ketorolac",
            "indometacin",
            "indomethacin",
            "meloxicam",
            "piroxicam",
            "ketoprofen",
            "celecoxib",
            "metamizole",
        ],
    },
    DrugClass {
        name: "opioids",
        atc: &["N02A"],
        aliases: &[
            "opioid", "opioids", "opiate", "opiates", "opioide", "opioides",
        ],
        members: &[
            "morphine",
            "codeine",
            "tramadol",
            "oxycodone",
            "hydromorphone",
            "hydrocodone",
            "fentanyl",
            "pethidine",
            "meperidine",
        ],
    },
    DrugClass {
        name: "ACE inhibitors",
        atc: &["C09A", "C09B"],
        aliases: &["ace inhibitor", "ace inhibitors", "ieca"],
        members: &[
            "captopril",
            "enalapril",
            "lisinopril",
            "ramipril",
            "perindopril",
            "quinapril",
        ],
    },
    DrugClass {
        name: "statins",
        atc: &["C10AA"],
        aliases: &["statin", "statins", "estatina", "estatinas"],
        members: &[
            "atorvastatin",
            "simvastatin",
            "rosuvastatin",
            "pravastatin",
            "lovastatin",
        ],
    },
];

/// A recorded allergy that a drug matches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AllergyWarning {
    /// The allergy's summary item.
    pub allergy_item: String,
    /// The substance the patient reacts to.
    pub substance: String,
    /// The class they share, or `None` for the same ingredient.
    pub class: Option<&'static str>,
    /// In words: "Amoxicillin 500 mg is a penicillin; the patient is allergic to Penicillin (rash)".
    pub message: String,
}

/// Lower-case words of a name, split on anything but letters, digits and dashes.
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Whether the name holds `term` (one word, or several in a row).
fn holds(words: &[String], term: &str) -> bool {
    let wanted: Vec<&str> = term.split(' ').collect();
    words
        .windows(wanted.len())
        .any(|w| w.iter().zip(&wanted).all(|(a, b)| a == b))
}

/// The classes a drug belongs to, by ingredient or ATC code.
fn classes_of_drug(med: &Medication) -> Vec<&'static DrugClass> {
    let drug = words(&med.drug);
    DRUG_CLASSES
        .iter()
        .filter(|c| {
            c.members.iter().any(|m| holds(&drug, m))
                || med
                    .atc
                    .as_deref()
                    .is_some_and(|atc| c.atc.iter().any(|p| atc.starts_with(p)))
        })
        .collect()
}

/// The classes an allergy names, as a class or through one of its members.
fn classes_of_allergy(substance: &[String]) -> Vec<&'static DrugClass> {
    DRUG_CLASSES
        .iter()
        .filter(|c| {
            c.aliases.iter().any(|a| holds(substance, a))
                || c.members.iter().any(|m| holds(substance, m))
        })
        .collect()
}

/// Every recorded allergy the drug matches: the same ingredient named in both, or a shared class.
pub fn allergy_warnings(med: &Medication, allergies: &[AllergyItem]) -> Vec<AllergyWarning> {
    let drug_words = words(&med.drug);
    let drug_classes = classes_of_drug(med);
    let mut out = Vec::new();
    for allergy in allergies {
        let substance = words(&allergy.substance);
        let reaction = allergy
            .reaction
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        let same_ingredient = !substance.is_empty()
            && substance
                .iter()
                .filter(|w| w.chars().count() >= 4 && !w.chars().all(|c| c.is_ascii_digit()))
                .any(|w| drug_words.contains(w));
        let shared = classes_of_allergy(&substance)
            .into_iter()
            .find(|c| drug_classes.iter().any(|d| std::ptr::eq(*d, *c)));
        let class = match (same_ingredient, shared) {
            (true, _) => None,
            (false, Some(c)) => Some(c.name),
            (false, None) => continue,
        };
        let message = match class {
            None => format!(
                "{} contains {}, to which the patient is allergic{reaction}",
                med.drug, allergy.substance
            ),
            Some(c) => format!(
                "{} belongs to the {c}; the patient is allergic to {}{reaction}",
                med.drug, allergy.substance
            ),
        };
        out.push(AllergyWarning {
            allergy_item: allergy.item.clone(),
            substance: allergy.substance.clone(),
            class,
            message,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EntryData, EntryKind};

    fn med(json: &str) -> Medication {
        match EntryData::parse(EntryKind::Medication, json).unwrap() {
            EntryData::Medication(m) => m,
            _ => unreachable!("parsed as a medication"),
        }
    }

    fn allergy(substance: &str) -> AllergyItem {
        AllergyItem {
            item: format!("item-{substance}"),
            substance: substance.into(),
            reaction: Some("rash".into()),
            ..AllergyItem::default()
        }
    }

    #[test]
    fn amoxicillin_for_a_penicillin_allergy_warns_by_class() {
        let w = allergy_warnings(
            &med(r#"{"drug":"Amoxicillin 500 mg capsule","start":"2026-03-01"}"#),
            &[allergy("Penicillin"), allergy("Latex")],
        );
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].class, Some("penicillins"));
        assert_eq!(
            w[0].message,
            "Amoxicillin 500 mg capsule belongs to the penicillins; the patient is allergic to Penicillin (rash)"
        );
    }

    #[test]
    fn the_same_ingredient_warns_even_outside_the_table() {
        let w = allergy_warnings(
            &med(r#"{"drug":"Metformin 850 mg","start":"2026-03-01"}"#),
            &[allergy("metformin")],
        );
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].class, None);
    }

    #[test]
    fn an_atc_code_places_a_brand_name_in_its_class() {
        let w = allergy_warnings(
            &med(r#"{"drug":"Brufen 400 mg","atc":"M01AE01","start":"2026-03-01"}"#),
            &[allergy("NSAIDs")],
        );
        assert_eq!(w[0].class, Some("NSAIDs"));
    }

    #[test]
    fn unrelated_drugs_and_short_words_do_not_warn() {
        let none = allergy_warnings(
            &med(r#"{"drug":"Metformin 500 mg tablet","start":"2026-03-01"}"#),
            &[allergy("Penicillin"), allergy("mg"), allergy("500")],
        );
        assert!(none.is_empty(), "{none:?}");
        let cef = allergy_warnings(
            &med(r#"{"drug":"Ceftriaxone 1 g","start":"2026-03-01"}"#),
            &[allergy("Penicillin")],
        );
        assert!(cef.is_empty(), "a different class is not a match: {cef:?}");
    }
}
