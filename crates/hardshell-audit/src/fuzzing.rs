//! Entry points for the fuzz targets in `fuzz/`. Not part of this crate's API.

use crate::Record;

/// A stored line that is not a valid record: the `seq` still readable from it,
/// and why it was refused.
#[derive(Debug)]
pub struct Refused {
    pub seq: Option<u64>,
    pub fault: String,
}

/// The line reader `verify`, `Tail` and the writer's recovery all use: one
/// stored line, without its newline, checked for hash and canonical form.
pub fn read_record(line: &[u8]) -> Result<Record, Refused> {
    Record::read(line).map_err(|bad| Refused {
        seq: bad.seq(),
        fault: bad.fault.to_string(),
    })
}
