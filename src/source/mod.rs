//! Source mappers: a raw record from Sysmon EventID 1, Security 4688 or
//! CrowdStrike ProcessRollup2 becomes a CIM Endpoint.Processes event.
//! Which mapper claims a record is decided by one table, `SOURCES`.

pub mod cim;
pub mod cim_form;
pub mod crowdstrike;
pub mod security_4688;
pub mod sysmon;

pub use cim::CimEvent;

use crate::record::RawRecord;
use serde::Serialize;

/// The process-creation sources the detection reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Sysmon,
    #[serde(rename = "security_4688")]
    Security4688,
    Crowdstrike,
    /// Events handed over already in CIM form.
    Cim,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Sysmon => "sysmon",
            Source::Security4688 => "security_4688",
            Source::Crowdstrike => "crowdstrike",
            Source::Cim => "cim",
        }
    }
}

/// One source's mapping to CIM.
pub trait SourceMapper: Sync {
    fn source(&self) -> Source;
    /// True when the record is this source's process-creation event.
    fn claims(&self, record: &RawRecord) -> bool;
    /// The CIM fields as the source's Splunk add-on extracts them, before the
    /// data model's defaults (`CimEvent::apply_defaults`).
    fn map(&self, record: &RawRecord) -> CimEvent;
}

/// Fields whose whole value an attacker can choose (a process's command
/// line, a script's text). A raw `<Event>` found in one of them is that
/// field's value, never an event that replaces its record: otherwise a
/// process launched with event XML as its command line could forge a hit.
pub const FREE_TEXT_FIELDS: &[&str] = &[
    "CommandLine",
    "ParentCommandLine",
    "command_line",
    "parent_command_line",
    "process",
    "parent_process",
    "ScriptBlockText",
    "Payload",
    "ContextInfo",
];

/// Can a member called `name` carry a whole raw event?
pub fn may_carry_raw_event(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    !FREE_TEXT_FIELDS
        .iter()
        .any(|f| f.eq_ignore_ascii_case(last))
}

/// Every mapper, tried in order.
pub static SOURCES: &[&dyn SourceMapper] = &[
    &sysmon::Sysmon,
    &security_4688::Security4688,
    &crowdstrike::CrowdStrike,
    &cim_form::CimForm,
];

/// Maps a record when some source claims it; `None` for every other event.
pub fn normalize(record: &RawRecord) -> Option<CimEvent> {
    SOURCES.iter().find(|m| m.claims(record)).map(|m| {
        let mut ev = m.map(record);
        ev.apply_defaults();
        ev
    })
}

/// The file name of a Windows, NT or POSIX path (`\Device\...\x.exe`, `/bin/sh`).
pub fn file_name(path: &str) -> &str {
    let p = path.trim().trim_matches('"');
    p.rsplit(['\\', '/']).next().unwrap_or(p)
}

/// `DOMAIN\user` → `user`.
pub fn strip_domain(user: &str) -> &str {
    user.rsplit('\\').next().unwrap_or(user)
}

/// Case-insensitive field equality for channel and provider names.
fn field_is(record: &RawRecord, names: &[&str], value: &str) -> bool {
    record
        .first(names)
        .is_some_and(|v| v.eq_ignore_ascii_case(value))
}

/// A Windows event `id` logged to `channel` by `provider`. Records that carry
/// neither name (CSV or flat exports) are recognised by `own_fields`, which
/// only that event has.
fn windows_event(
    r: &RawRecord,
    id: u32,
    channel: &str,
    provider: &str,
    own_fields: &[&str],
) -> bool {
    if r.event_id() != Some(id) {
        return false;
    }
    if r.first(CHANNEL).is_some() || r.first(PROVIDER).is_some() {
        return field_is(r, CHANNEL, channel) || field_is(r, PROVIDER, provider);
    }
    own_fields.iter().all(|f| r.get(f).is_some())
}

/// The channel and provider fields, under the names the containers give them.
const CHANNEL: &[&str] = &["Channel", "channel"];
const PROVIDER: &[&str] = &["Provider", "SourceName", "provider_name", "ProviderName"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_of_every_path_form() {
        assert_eq!(
            file_name(r"C:\Windows\System32\schtasks.exe"),
            "schtasks.exe"
        );
        assert_eq!(
            file_name(r"\Device\HarddiskVolume3\Windows\System32\schtasks.exe"),
            "schtasks.exe"
        );
        assert_eq!(file_name("/bin/sh"), "sh");
        assert_eq!(file_name("schtasks.exe"), "schtasks.exe");
        assert_eq!(strip_domain(r"THESHIRE\pgustavo"), "pgustavo");
        assert_eq!(strip_domain("bob"), "bob");
    }
}
