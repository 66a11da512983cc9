//! Entry kinds and access levels, from `carelog-vocab` (the ledger shares them without the
//! clinical model), and which kinds a clinician may add.

pub use carelog_vocab::{AccessLevel, EntryKind, UnknownWord};

use crate::ChartError;

/// Parses a kind a clinician may add; demographics are refused with a reason.
pub fn parse_chartable(text: &str) -> Result<EntryKind, ChartError> {
    let kind = text.parse::<EntryKind>()?;
    if kind.is_chartable() {
        Ok(kind)
    } else {
        Err(ChartError::NotChartable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demographics_are_not_chartable() {
        assert_eq!(
            parse_chartable("demographics"),
            Err(ChartError::NotChartable)
        );
        assert_eq!(parse_chartable("Lab"), Ok(EntryKind::Lab));
        assert!(matches!(
            parse_chartable("xray"),
            Err(ChartError::Word(UnknownWord::Kind(_)))
        ));
    }
}
