//! CrowdStrike Falcon ProcessRollup2 / SyntheticProcessRollup2, mapped as
//! security_content's data-source definition does (`ImageFileName` for the
//! process name, the command line unchanged; see the README's deviations).

use super::cim::Field;
use super::{CimEvent, Source, SourceMapper, name_crowdstrike};
use crate::record::{Fields, RawRecord};

pub struct CrowdStrike;

pub const PROCESS_EVENTS: &[&str] = &["ProcessRollup2", "SyntheticProcessRollup2"];

/// The `aid` → `ComputerName` pair a Falcon record carries, if any: any event
/// type (AgentOnline, HostInfo, aidmaster rows ...) can name its host.
pub fn aid_name<F: Fields + ?Sized>(r: &F) -> Option<(&str, &str)> {
    let aid = r.first(&["aid"])?;
    let name = r.first(&["ComputerName"])?;
    Some((aid, name))
}

/// Rule IL-CS: the Falcon integrity level's number, named as the add-on's
/// lookup names it; any other value stays as written.
pub fn integrity_level(value: &str) -> &str {
    match value.trim() {
        "0" => "untrusted",
        "4096" => "low",
        "8192" => "medium",
        "8448" => "medium_plus",
        "12288" => "high",
        "16384" => "system",
        "20480" => "protected",
        _ => value,
    }
}

impl SourceMapper for CrowdStrike {
    fn source(&self) -> Source {
        Source::Crowdstrike
    }

    fn claims(&self, r: &dyn Fields) -> bool {
        r.get("event_simpleName")
            .is_some_and(|n| PROCESS_EVENTS.contains(&n.trim()))
    }

    /// `event_simpleName` is one of `FIRST_GATE_FIELDS`: this is `claims`.
    fn may_claim(&self, first: &dyn Fields) -> bool {
        self.claims(first)
    }

    /// The CrowdStrike FDR add-on's mapping (CIM-PROCESSES.md §2), except the
    /// image and command-line trio, read as security_content's data-source
    /// definition reads them (the README's deviations).
    fn map(&self, r: &RawRecord) -> CimEvent {
        let s = |names: &[&str]| r.first(names).map(str::to_string);
        let image = s(&["ImageFileName"]);
        let synthetic = r
            .get("event_simpleName")
            .is_some_and(|n| n.trim() == "SyntheticProcessRollup2");
        let mut ev = CimEvent {
            time: r.first(&["timestamp"]).and_then(crate::time::parse),
            command_line: r.first(&["CommandLine"]).unwrap_or("").to_string(),
            record_id: None,
            source: Some(Source::Crowdstrike),
            ..Default::default()
        };
        match s(&["device_hostname", "aid_computer_name", "ComputerName"]) {
            Some(d) => ev.put(Field::Dest, d),
            None => {
                if let Some(aid) = r.first(&["aid"]) {
                    ev.set_pending_aid(aid);
                }
            }
        }
        let sid = s(&["UserSid", "UID"]);
        ev.set(Field::User, sid.clone());
        ev.set(Field::UserId, sid);
        ev.set(Field::Process, s(&["CommandLine"]));
        let platform = r.first(&["event_platform"]);
        let name = image
            .as_deref()
            .map(|i| name_crowdstrike(i, platform).to_string())
            .filter(|n| !n.is_empty());
        ev.set(Field::ProcessName, name.clone());
        ev.set(Field::ProcessExec, name);
        ev.set(Field::ProcessPath, image);
        ev.set(Field::ProcessId, s(&["TargetProcessId"]));
        ev.set(Field::ProcessHash, s(&["SHA256HashData"]));
        ev.set(
            Field::ProcessIntegrityLevel,
            r.first(&["IntegrityLevel"])
                .map(|v| integrity_level(v).to_string()),
        );
        if !synthetic {
            let parent = s(&["ParentBaseFileName"]);
            ev.set(Field::ParentProcessName, parent.clone());
            ev.set(Field::ParentProcessExec, parent);
        }
        ev.set(Field::ParentProcessId, s(&["ParentProcessId"]));
        ev.put(Field::Action, "allowed");
        ev.put(Field::VendorProduct, "CrowdStrike FDR");
        ev
    }
}

#[cfg(test)]
mod tests {
    use super::integrity_level;

    #[test]
    fn integrity_levels_by_number() {
        assert_eq!(integrity_level("12288"), "high");
        assert_eq!(integrity_level("8448"), "medium_plus");
        assert_eq!(integrity_level("99"), "99");
    }
}
