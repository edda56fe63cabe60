//! CrowdStrike Falcon ProcessRollup2 / SyntheticProcessRollup2, mapped as
//! security_content's data-source definition does (`ImageFileName` for the
//! process name, the command line unchanged; see the README's deviations).

use super::{CimEvent, Source, SourceMapper, file_name};
use crate::record::RawRecord;

pub struct CrowdStrike;

pub const PROCESS_EVENTS: &[&str] = &["ProcessRollup2", "SyntheticProcessRollup2"];

/// The `aid` → `ComputerName` pair a Falcon record carries, if any: any event
/// type (AgentOnline, HostInfo, aidmaster rows ...) can name its host.
pub fn aid_name(r: &RawRecord) -> Option<(&str, &str)> {
    let aid = r.first(&["aid"])?;
    let name = r.first(&["ComputerName"])?;
    Some((aid, name))
}

impl SourceMapper for CrowdStrike {
    fn source(&self) -> Source {
        Source::Crowdstrike
    }

    fn claims(&self, r: &RawRecord) -> bool {
        r.get("event_simpleName")
            .is_some_and(|n| PROCESS_EVENTS.contains(&n.trim()))
    }

    fn map(&self, r: &RawRecord) -> CimEvent {
        let s = |names: &[&str]| r.first(names).unwrap_or("").to_string();
        let image = s(&["ImageFileName"]);
        let command_line = s(&["CommandLine"]);
        let mut ev = CimEvent {
            time: r.first(&["timestamp"]).and_then(crate::time::parse),
            dest: s(&["ComputerName"]),
            user: s(&["UserName", "UserSid"]),
            process: command_line.clone(),
            command_line,
            process_name: file_name(&image).to_string(),
            process_path: image,
            original_file_name: s(&["OriginalFilename"]),
            parent_process: String::new(),
            parent_process_name: s(&["ParentBaseFileName"]),
            process_id: s(&["RawProcessId"]),
            parent_process_id: s(&["ParentProcessId"]),
            process_guid: s(&["TargetProcessId"]),
            vendor_product: "CrowdStrike Falcon".into(),
            record_id: None,
            source: Some(Source::Crowdstrike),
        };
        if ev.dest.is_empty()
            && let Some(aid) = r.first(&["aid"])
        {
            ev.set_pending_aid(aid);
        }
        ev
    }
}
