//! Reading FHIR JSON members with their paths, so every type error names where it is.

use serde_json::Value;

use crate::InteropError;
use crate::datetime::parse_fhir_time;

/// One coding of a CodeableConcept: (system, code, display).
pub(super) type Coding<'v> = (&'v str, &'v str, Option<&'v str>);

/// The (system, code, display) of each coding of a CodeableConcept.
pub(super) fn codings<'v>(concept: &'v Value, path: &str) -> Result<Vec<Coding<'v>>, InteropError> {
    if !(concept.is_object() || concept.is_null()) {
        return Err(InteropError::fhir(
            path,
            "expected a CodeableConcept object",
        ));
    }
    let mut out = Vec::new();
    for (i, coding) in array(concept, "coding", path)?.iter().enumerate() {
        let at = format!("{path}.coding[{i}]");
        if let (system, Some(code)) = (text(coding, "system", &at)?, text(coding, "code", &at)?) {
            out.push((
                system.unwrap_or(""),
                code.trim(),
                text(coding, "display", &at)?,
            ));
        }
    }
    Ok(out)
}

/// A CodeableConcept in words: its text, else the first coding's display, else its code.
pub(super) fn concept_text(
    concept: Option<&Value>,
    path: &str,
) -> Result<Option<String>, InteropError> {
    let Some(concept) = concept else {
        return Ok(None);
    };
    if let Some(t) = text(concept, "text", path)?.filter(|t| !t.trim().is_empty()) {
        return Ok(Some(t.to_string()));
    }
    let first = codings(concept, path)?.into_iter().next();
    Ok(first
        .map(|(_, code, display)| display.unwrap_or(code).to_string())
        .filter(|t| !t.trim().is_empty()))
}

/// The member at a dotted path such as `effectivePeriod.start`.
pub(super) fn lookup<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(v, |v, key| v.get(key))
}

/// A string member; an error when present but not a string.
pub(super) fn text<'v>(
    v: &'v Value,
    key: &str,
    path: &str,
) -> Result<Option<&'v str>, InteropError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(InteropError::fhir(
            format!("{path}.{key}"),
            "expected a string",
        )),
    }
}

/// An array member (empty when absent); an error when present but not an array.
pub(super) fn array<'v>(v: &'v Value, key: &str, path: &str) -> Result<&'v [Value], InteropError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(list)) => Ok(list.as_slice()),
        Some(_) => Err(InteropError::fhir(
            format!("{path}.{key}"),
            "expected an array",
        )),
    }
}

/// A finite JSON number.
pub(super) fn number(v: &Value, path: &str) -> Result<f64, InteropError> {
    v.as_f64()
        .filter(|x| x.is_finite())
        .ok_or_else(|| InteropError::fhir(path, format!("`{v}` is not a number")))
}

/// A dateTime string as Unix ms.
pub(super) fn time_value(v: &Value, path: &str) -> Result<i64, InteropError> {
    let s = v
        .as_str()
        .ok_or_else(|| InteropError::fhir(path, "expected a dateTime string"))?;
    parse_fhir_time(s).map_err(|m| InteropError::fhir(path, m))
}
