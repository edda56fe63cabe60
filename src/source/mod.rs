//! Source mappers: a raw record from Sysmon EventID 1, Security 4688 or
//! CrowdStrike ProcessRollup2 becomes a CIM Endpoint.Processes event.
//! Which mapper claims a record is decided by one table, `SOURCES`.

pub mod cim;
pub mod cim_form;
pub mod crowdstrike;
pub mod security_4688;
pub mod sysmon;

pub use cim::CimEvent;

use crate::record::{Fields, RawRecord};
use serde::Serialize;

/// The process-creation sources the detection reads.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, PartialOrd, Ord,
)]
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
    fn claims(&self, record: &dyn Fields) -> bool;
    /// False when `first`, which holds only the members
    /// `FIRST_GATE_FIELDS` names, already says this source cannot claim the
    /// record: `claims` is never true where this is false.
    fn may_claim(&self, first: &dyn Fields) -> bool;
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

/// Every member that a mapper's `claims` or the CrowdStrike host-name table
/// reads: a record holding only these is claimed exactly as the whole record
/// would be (`tests/gate.rs` checks it on every corpus event). Readers build a
/// record of these first and the whole record only when `needs_record` says so.
pub const GATE_FIELDS: &[&str] = &[
    "EventID",
    "EventCode",
    "event_id",
    "Channel",
    "channel",
    "Provider",
    "SourceName",
    "provider_name",
    "ProviderName",
    "ProcessGuid",
    "Image",
    "NewProcessName",
    "event_simpleName",
    "process",
    "process_name",
    "Processes.process",
    "Processes.process_name",
    "aid",
    "ComputerName",
];

/// Every member a mapper's `map` reads, beside `GATE_FIELDS` and the CIM
/// field names (bare or under `Processes.`) that `cim_form` reads: a record
/// holding only these normalises exactly as the whole record (`tests/gate.rs`
/// checks it on every corpus event). The EVTX reader reads a process
/// creation's other fields only when the event matched (its drilldown).
pub const MAPPER_FIELDS: &[&str] = &[
    // Windows: Sysmon, 4688 and what both read of `System`.
    "@timestamp",
    "CommandLine",
    "Computer",
    "ComputerName",
    "CurrentDirectory",
    "EventRecordID",
    "EventTime",
    "Hashes",
    "Hostname",
    "Image",
    "IntegrityLevel",
    "Keywords",
    "NewProcessId",
    "NewProcessName",
    "OriginalFileName",
    "ParentCommandLine",
    "ParentImage",
    "ParentProcessGuid",
    "ParentProcessId",
    "ParentProcessName",
    "ProcessGuid",
    "ProcessId",
    "RecordNumber",
    "SubjectUserName",
    "TargetUserName",
    "TimeCreated",
    "User",
    "UserID",
    "UtcTime",
    "_time",
    "computer_name",
    "host",
    "host.name",
    "record_id",
    // CrowdStrike ProcessRollup2.
    "ImageFileName",
    "ParentBaseFileName",
    "SHA256HashData",
    "TargetProcessId",
    "UID",
    "UserSid",
    "aid_computer_name",
    "device_hostname",
    "event_platform",
    "timestamp",
];

/// Does some mapper read a member called `name` (`MAPPER_FIELDS`)?
pub fn is_mapper_field(name: &str) -> bool {
    is_gate_field(name)
        || MAPPER_FIELDS.contains(&name)
        || cim::Field::from_name(name.strip_prefix("Processes.").unwrap_or(name)).is_some()
}

/// The gate fields that rule most events out on their own: the event id's
/// names (each Windows source claims one id), and those a source or the
/// CrowdStrike host table reads without one. An EVTX record's other gate
/// fields (its channel, provider, image ...) are read only when these leave
/// it possible (`may_need_record`); most records are other event ids.
pub const FIRST_GATE_FIELDS: &[&str] = &[
    "EventID",
    "EventCode",
    "event_id",
    "event_simpleName",
    "aid",
    "ComputerName",
];

/// Is `name` one of `FIRST_GATE_FIELDS`?
pub fn is_first_gate_field(name: &str) -> bool {
    FIRST_GATE_FIELDS.contains(&name)
}

/// Is `name` one of `GATE_FIELDS`?
pub fn is_gate_field(name: &str) -> bool {
    GATE_FIELDS.contains(&name)
}

/// Does the run need this event whole: is it a process creation, or does it
/// name a CrowdStrike host? `gate` may hold only `GATE_FIELDS`.
pub fn needs_record(gate: &dyn Fields) -> bool {
    let gate = EventIdOnce::new(gate);
    crowdstrike::aid_name(&gate).is_some() || SOURCES.iter().any(|m| m.claims(&gate))
}

/// Could the run need this event whole? `first` may hold only
/// `FIRST_GATE_FIELDS`; false only where `needs_record` is false whatever
/// the other gate fields hold (`tests/gate.rs` checks it on every corpus
/// event).
pub fn may_need_record(first: &dyn Fields) -> bool {
    let first = EventIdOnce::new(first);
    crowdstrike::aid_name(&first).is_some() || SOURCES.iter().any(|m| m.may_claim(&first))
}

/// Does some source claim this event as a process creation? `gate` may hold
/// only `GATE_FIELDS`.
pub fn is_process_creation(gate: &dyn Fields) -> bool {
    let gate = EventIdOnce::new(gate);
    SOURCES.iter().any(|m| m.claims(&gate))
}

/// Fields whose event id is read once: each source's claim asks for it, and
/// most events are decided by it alone (the EVTX gate's first step).
struct EventIdOnce<'f> {
    fields: &'f dyn Fields,
    id: Option<u32>,
}

impl<'f> EventIdOnce<'f> {
    fn new(fields: &'f dyn Fields) -> Self {
        EventIdOnce {
            fields,
            id: fields.event_id(),
        }
    }
}

impl Fields for EventIdOnce<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name)
    }

    fn event_id(&self) -> Option<u32> {
        self.id
    }
}

/// Maps a record when some source claims it; `None` for every other event.
pub fn normalize(record: &RawRecord) -> Option<CimEvent> {
    SOURCES.iter().find(|m| m.claims(record)).map(|m| {
        let mut ev = m.map(record);
        ev.apply_defaults();
        ev
    })
}

/// Rule Ns (the Sysmon add-on's file name): the text after the last `\\`
/// when the value has one and that text is a run of ASCII word characters,
/// optionally followed by `.` and more of them (`cmd.exe`, `tool`, `file.`);
/// otherwise the whole value (`C:\\x\\my-tool` stays as it is).
pub fn name_sysmon(path: &str) -> &str {
    let Some(cut) = path.rfind('\\') else {
        return path;
    };
    let tail = &path[cut + 1..];
    let word = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let ok = match tail.rfind('.') {
        Some(dot) => word(&tail[dot + 1..]),
        None => !tail.is_empty() && word(tail),
    };
    if ok { tail } else { path }
}

/// Rule Nw (the Windows add-on's file name): the text after the last `\\`;
/// `None` when that is empty.
pub fn name_windows(path: &str) -> Option<&str> {
    let tail = path.rsplit('\\').next().unwrap_or(path);
    (!tail.is_empty()).then_some(tail)
}

/// Rule Nc (the CrowdStrike add-on's file name): after the last `\\` on
/// Windows, after the last `/` elsewhere; either when the platform is not
/// given.
pub fn name_crowdstrike<'a>(path: &'a str, platform: Option<&str>) -> &'a str {
    let tail = match platform.map(str::trim) {
        Some(p) if p.eq_ignore_ascii_case("win") => path.rsplit('\\').next(),
        Some(_) => path.rsplit('/').next(),
        None => path.rsplit(['\\', '/']).next(),
    };
    tail.unwrap_or(path)
}

/// Rule T: the add-ons cut values out of the rendered XML, where `&`, `<`,
/// `>` are escaped; so a Windows value carries them escaped, whatever
/// container it was read from (quotes stay literal).
pub fn escape_xml_text(value: &str) -> String {
    if !needs_escape(value) {
        return value.to_string();
    }
    escape_owned(value.to_string())
}

/// Whether `value` holds a character rule T escapes (memchr's search: a
/// char-set `contains` was 4% of an EVTX profile).
fn needs_escape(value: &str) -> bool {
    memchr::memchr3(b'&', b'<', b'>', value.as_bytes()).is_some()
}

/// `escape_xml_text` on an owned value: no copy when there is nothing to escape.
pub fn escape_owned(value: String) -> String {
    if !needs_escape(&value) {
        return value;
    }
    let mut out = String::with_capacity(value.len() + 16);
    let mut from = 0;
    for at in memchr::memchr3_iter(b'&', b'<', b'>', value.as_bytes()) {
        out.push_str(&value[from..at]);
        out.push_str(match value.as_bytes()[at] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            _ => "&gt;",
        });
        from = at + 1;
    }
    out.push_str(&value[from..]);
    out
}

/// Case-insensitive field equality for channel and provider names.
fn field_is(record: &dyn Fields, names: &[&str], value: &str) -> bool {
    record
        .first(names)
        .is_some_and(|v| v.eq_ignore_ascii_case(value))
}

/// A Windows event `id` logged to `channel` by `provider`. Records that carry
/// neither name (CSV or flat exports) are recognised by `own_fields`, which
/// only that event has.
struct WindowsEvent {
    id: u32,
    channel: &'static str,
    provider: &'static str,
    own_fields: &'static [&'static str],
}

impl WindowsEvent {
    fn claims(&self, r: &dyn Fields) -> bool {
        if !self.may_claim(r) {
            return false;
        }
        if r.first(CHANNEL).is_some() || r.first(PROVIDER).is_some() {
            return field_is(r, CHANNEL, self.channel) || field_is(r, PROVIDER, self.provider);
        }
        self.own_fields.iter().all(|f| r.get(f).is_some())
    }

    /// The event id alone (one of `FIRST_GATE_FIELDS`'s names) decides no.
    fn may_claim(&self, first: &dyn Fields) -> bool {
        first.event_id() == Some(self.id)
    }
}

/// The channel and provider fields, under the names the containers give them.
const CHANNEL: &[&str] = &["Channel", "channel"];
const PROVIDER: &[&str] = &["Provider", "SourceName", "provider_name", "ProviderName"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_name_rules_of_the_three_add_ons() {
        // CIM-PROCESSES.md §2.1.
        for (input, want) in [
            (r"C:\Windows\System32\cmd.exe", "cmd.exe"),
            (r"C:\x\tool", "tool"),
            (r"C:\x\my-tool", r"C:\x\my-tool"),
            (r"C:\x\a.b-c", r"C:\x\a.b-c"),
            (r"C:\x\file.", "file."),
            ("cmd.exe", "cmd.exe"),
            (r"C:\x\", r"C:\x\"),
        ] {
            assert_eq!(name_sysmon(input), want, "{input}");
        }
        assert_eq!(name_windows(r"C:\x\my-tool"), Some("my-tool"));
        assert_eq!(name_windows(r"C:\x\"), None);
        assert_eq!(
            name_crowdstrike(
                r"\Device\HarddiskVolume3\Windows\System32\schtasks.exe",
                Some("Win")
            ),
            "schtasks.exe"
        );
        assert_eq!(name_crowdstrike("/usr/bin/curl", Some("Lin")), "curl");
        assert_eq!(
            escape_xml_text(r#"a & b <c> "d""#),
            r#"a &amp; b &lt;c&gt; "d""#
        );
        assert_eq!(escape_xml_text("<é&&日本>"), "&lt;é&amp;&amp;日本&gt;");
        assert_eq!(escape_xml_text("日本 > nul"), "日本 &gt; nul");
        assert_eq!(escape_xml_text("no marks"), "no marks");
    }

    /// The gate's first step rules out only what the whole gate declines,
    /// on shapes the corpus may lack: every event-id name, ids as text with
    /// spaces, CrowdStrike and CIM events with or without an id, host names.
    #[test]
    fn the_first_gate_step_rules_out_only_what_the_gate_declines() {
        let sysmon = [("Channel", sysmon::CHANNEL_NAME), ("Image", "C:\\a.exe")];
        // The fields; whether the gate takes the event; whether the first
        // step leaves it possible.
        type Case<'a> = (&'a [(&'a str, &'a str)], bool, bool);
        let cases: &[Case] = &[
            (&[("EventID", "1"), sysmon[0], sysmon[1]], true, true),
            (&[("EventCode", " 1 "), sysmon[0], sysmon[1]], true, true),
            (
                &[("event_id", "4688"), ("NewProcessName", "C:\\a.exe")],
                true,
                true,
            ),
            (
                &[("EventID", "4688"), ("Channel", "Application")],
                false,
                true,
            ),
            (&[("EventID", "3"), sysmon[0], sysmon[1]], false, false),
            (
                &[("EventID", ""), ("EventCode", "1"), sysmon[0]],
                true,
                true,
            ),
            (&[("EventID", "x"), sysmon[0], sysmon[1]], false, true),
            (
                &[("event_simpleName", "ProcessRollup2"), ("EventID", "7")],
                true,
                true,
            ),
            (
                &[("event_simpleName", "DnsRequest"), ("process", "a.exe")],
                false,
                false,
            ),
            (
                &[("aid", "a1"), ("ComputerName", "h"), ("EventID", "7")],
                true,
                true,
            ),
            (&[("process", "a.exe")], true, true),
            (
                &[("Processes.process_name", "a.exe"), ("EventID", "9")],
                false,
                false,
            ),
            (&[("Channel", sysmon::CHANNEL_NAME)], false, true),
        ];
        for &(fields, needed, may) in cases {
            let mut whole = RawRecord::new(Default::default());
            let mut first = RawRecord::new(Default::default());
            for &(k, v) in fields {
                whole.insert(k, v);
                if is_first_gate_field(k) {
                    first.insert(k, v);
                }
            }
            assert_eq!(needs_record(&whole), needed, "{fields:?}");
            assert_eq!(may_need_record(&first), may, "{fields:?}");
        }
    }
}
