//! Events already in CIM form (`process_name`, `process`, `dest`, ...), as a
//! web console may hold them: taken as they are, `Processes.` prefix allowed.

use super::{CimEvent, Source, SourceMapper};
use crate::record::RawRecord;

pub struct CimForm;

fn get<'a>(r: &'a RawRecord, field: &str) -> Option<&'a str> {
    r.get(field)
        .or_else(|| r.get(&format!("Processes.{field}")))
}

impl SourceMapper for CimForm {
    fn source(&self) -> Source {
        Source::Cim
    }

    fn claims(&self, r: &RawRecord) -> bool {
        r.event_id().is_none()
            && r.get("event_simpleName").is_none()
            && (get(r, "process").is_some() || get(r, "process_name").is_some())
    }

    fn map(&self, r: &RawRecord) -> CimEvent {
        let s = |f: &str| get(r, f).unwrap_or("").to_string();
        CimEvent {
            time: get(r, "_time").and_then(crate::time::parse),
            dest: s("dest"),
            user: s("user"),
            process: s("process"),
            command_line: s("process"),
            process_name: s("process_name"),
            process_path: s("process_path"),
            original_file_name: s("original_file_name"),
            parent_process: s("parent_process"),
            parent_process_name: s("parent_process_name"),
            process_id: s("process_id"),
            parent_process_id: s("parent_process_id"),
            process_guid: s("process_guid"),
            vendor_product: s("vendor_product"),
            record_id: None,
            source: Some(Source::Cim),
        }
    }
}
