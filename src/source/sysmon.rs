//! Sysmon EventID 1 (Process Create), as the Splunk Add-on for Sysmon maps it.

use super::cim::Field;
use super::{CimEvent, Source, SourceMapper, WindowsEvent, escape_xml_text, name_sysmon};
use crate::record::{Fields, RawRecord};

pub struct Sysmon;

pub const CHANNEL_NAME: &str = "Microsoft-Windows-Sysmon/Operational";
pub const PROVIDER_NAME: &str = "Microsoft-Windows-Sysmon";

/// Process Create.
const EVENT: WindowsEvent = WindowsEvent {
    id: 1,
    channel: CHANNEL_NAME,
    provider: PROVIDER_NAME,
    own_fields: &["ProcessGuid", "Image"],
};

/// Field names of the computer, the system time and the record number across
/// containers (EVTX/XML `Computer`, NXLog/OTRF `Hostname`, Winlogbeat ...).
pub(crate) const COMPUTER: &[&str] = &[
    "Computer",
    "Hostname",
    "computer_name",
    "ComputerName",
    "host.name",
    "host",
];
pub(crate) const SYSTEM_TIME: &[&str] = &["TimeCreated", "@timestamp", "EventTime", "_time"];
pub(crate) const RECORD_ID: &[&str] = &["EventRecordID", "RecordNumber", "record_id"];

pub(crate) fn record_id(record: &RawRecord) -> Option<u64> {
    record.first(RECORD_ID).and_then(|v| v.trim().parse().ok())
}

/// The value of a Windows event field as the add-ons see it: its text with
/// `&`, `<`, `>` escaped (rule T); `None` when absent or empty.
pub(crate) fn windows_text(r: &RawRecord, names: &[&str]) -> Option<String> {
    r.first(names).map(escape_xml_text)
}

/// `Computer` up to its first `.`: the `host` a forwarder gives the event.
pub(crate) fn short_host(computer: &str) -> &str {
    computer.split('.').next().unwrap_or(computer)
}

/// The account that wrote the event (`Security/@UserID`), without quotes.
pub(crate) fn writer_sid(r: &RawRecord) -> Option<String> {
    r.first(&["UserID"])
        .map(|v| v.trim_matches('\'').to_string())
        .filter(|v| !v.is_empty())
        .map(|v| escape_xml_text(&v))
}

/// Rule Us: `User` without its domain; null when absent or `-`.
pub fn user_sysmon(user: &str) -> Option<&str> {
    if user.is_empty() || user == "-" {
        return None;
    }
    // The last `\` that has at least one character after it.
    let cut = user
        .char_indices()
        .rev()
        .find(|&(i, c)| c == '\\' && i + 1 < user.len())
        .map(|(i, _)| i);
    Some(cut.map_or(user, |i| &user[i + 1..]))
}

impl SourceMapper for Sysmon {
    fn source(&self) -> Source {
        Source::Sysmon
    }

    fn claims(&self, r: &dyn Fields) -> bool {
        EVENT.claims(r)
    }

    fn may_claim(&self, first: &dyn Fields) -> bool {
        EVENT.may_claim(first)
    }

    fn map(&self, r: &RawRecord) -> CimEvent {
        let t = |names: &[&str]| windows_text(r, names);
        let image = t(&["Image"]);
        let parent_image = t(&["ParentImage"]);
        let mut ev = CimEvent {
            time: r
                .first(&["UtcTime"])
                .and_then(crate::time::parse)
                .or_else(|| r.first(SYSTEM_TIME).and_then(crate::time::parse)),
            command_line: r.first(&["CommandLine"]).unwrap_or("").to_string(),
            record_id: record_id(r),
            source: Some(Source::Sysmon),
            ..Default::default()
        };
        let dest = t(COMPUTER);
        ev.set(
            Field::Host,
            dest.as_deref().map(|d| short_host(d).to_string()),
        );
        ev.set(Field::Dest, dest);
        ev.set(
            Field::User,
            r.get("User").and_then(user_sysmon).map(escape_xml_text),
        );
        ev.set(Field::UserId, writer_sid(r));
        ev.set(Field::Process, t(&["CommandLine"]));
        let name = image.as_deref().map(|i| name_sysmon(i).to_string());
        ev.set(Field::ProcessName, name.clone());
        ev.set(Field::ProcessExec, name);
        ev.set(Field::ProcessPath, image);
        ev.set(Field::ProcessId, t(&["ProcessId"]));
        ev.set(Field::ProcessGuid, t(&["ProcessGuid"]));
        ev.set(Field::ProcessHash, t(&["Hashes"]));
        ev.set(Field::ProcessIntegrityLevel, t(&["IntegrityLevel"]));
        ev.set(Field::ProcessCurrentDirectory, t(&["CurrentDirectory"]));
        ev.set(
            Field::OriginalFileName,
            t(&["OriginalFileName"]).filter(|v| v != "-"),
        );
        ev.set(Field::ParentProcess, t(&["ParentCommandLine"]));
        let parent_name = parent_image.as_deref().map(|i| name_sysmon(i).to_string());
        ev.set(Field::ParentProcessName, parent_name.clone());
        ev.set(Field::ParentProcessExec, parent_name);
        ev.set(Field::ParentProcessPath, parent_image);
        ev.set(Field::ParentProcessId, t(&["ParentProcessId"]));
        ev.set(Field::ParentProcessGuid, t(&["ParentProcessGuid"]));
        ev.put(Field::Action, "allowed");
        ev.put(Field::VendorProduct, "Microsoft Sysmon");
        ev
    }
}

#[cfg(test)]
mod tests {
    use super::user_sysmon;

    #[test]
    fn users_lose_their_domain() {
        assert_eq!(
            user_sysmon(r"ATTACKRANGE\Administrator"),
            Some("Administrator")
        );
        assert_eq!(user_sysmon(r"NT AUTHORITY\SYSTEM"), Some("SYSTEM"));
        assert_eq!(user_sysmon(r"A\B\"), Some(r"B\"));
        assert_eq!(user_sysmon("bob"), Some("bob"));
        assert_eq!(user_sysmon("-"), None);
        assert_eq!(user_sysmon(""), None);
    }
}
