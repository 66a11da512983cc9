//! Checks the fuzz targets share: what every decoded value must satisfy, beyond "no panic".

use carelog_chart::EntryData;

/// An entry an importer or the `--data` parser returned is valid and survives the canonical
/// encodings unchanged: the CLI's JSON (`to_json` then `parse`) and the sealed payload bytes.
pub fn check_entry(data: &EntryData) {
    if let Err(e) = data.validate() {
        panic!(
            "a returned {} entry does not validate: {e}\n{data:?}",
            data.kind()
        );
    }
    let json = data.to_json().to_string();
    match EntryData::parse(data.kind(), &json) {
        Ok(again) => assert_eq!(
            &again,
            data,
            "{} entry changed through its JSON {json}",
            data.kind()
        ),
        Err(e) => panic!(
            "a returned {} entry's JSON {json} is refused: {e}",
            data.kind()
        ),
    }
    match EntryData::from_bytes(&data.to_bytes()) {
        Ok(again) => assert_eq!(
            &again,
            data,
            "{} entry changed through its sealed bytes",
            data.kind()
        ),
        Err(e) => panic!(
            "a returned {} entry's sealed bytes are refused: {e}",
            data.kind()
        ),
    }
}
