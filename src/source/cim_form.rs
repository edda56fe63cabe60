//! Events already in CIM form (`process_name`, `process`, `dest`, ...), as a
//! web console may hold them: taken as they are, `Processes.` prefix allowed.

use super::cim::Field;
use super::{CimEvent, Source, SourceMapper};
use crate::record::{Fields, RawRecord};

pub struct CimForm;

fn get<'a, F: Fields + ?Sized>(r: &'a F, field: &str) -> Option<&'a str> {
    r.get(field)
        .or_else(|| r.get(&format!("Processes.{field}")))
}

impl SourceMapper for CimForm {
    fn source(&self) -> Source {
        Source::Cim
    }

    fn claims(&self, r: &dyn Fields) -> bool {
        self.may_claim(r) && (get(r, "process").is_some() || get(r, "process_name").is_some())
    }

    /// Events of a source's own shape are not in CIM form.
    fn may_claim(&self, first: &dyn Fields) -> bool {
        first.event_id().is_none() && first.get("event_simpleName").is_none()
    }

    fn map(&self, r: &RawRecord) -> CimEvent {
        let mut ev = CimEvent {
            time: get(r, "_time").and_then(crate::time::parse),
            command_line: get(r, "process").unwrap_or("").to_string(),
            record_id: None,
            source: Some(Source::Cim),
            ..Default::default()
        };
        for &f in Field::ALL {
            ev.set(f, get(r, f.name()).map(str::to_string));
        }
        ev
    }
}
