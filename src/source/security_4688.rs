//! Windows Security 4688 (A new process has been created), as the Splunk
//! Add-on for Windows maps it, command-line rewrite included.

use super::cim::Field;
use super::sysmon::{COMPUTER, SYSTEM_TIME, record_id, short_host, windows_text, writer_sid};
use super::{
    CimEvent, Source, SourceMapper, WindowsEvent, escape_owned, escape_xml_text, name_windows,
};
use crate::record::{Fields, RawRecord};

pub struct Security4688;

pub const PROVIDER_NAME: &str = "Microsoft-Windows-Security-Auditing";

/// A new process has been created.
const EVENT: WindowsEvent = WindowsEvent {
    id: 4688,
    channel: "Security",
    provider: PROVIDER_NAME,
    own_fields: &["NewProcessName"],
};

/// Rule Pw, the Windows add-on's `process`: a command line whose first token
/// holds a `\\` is kept whole; otherwise `NewProcessName` (quoted when it
/// holds whitespace) replaces that token, followed by one space and the
/// arguments up to the first line feed; an empty command line, or one with
/// no arguments, gives `NewProcessName`.
pub fn process_4688(command_line: Option<&str>, new_process_name: Option<&str>) -> Option<String> {
    let Some(cl) = command_line.filter(|c| !c.is_empty()) else {
        return new_process_name.map(str::to_string);
    };
    let start = cl.len() - cl.trim_start().len();
    let rest = &cl[start..];
    let first_len = match rest.strip_prefix('"').and_then(|r| r.find('"')) {
        Some(close) if close > 0 => close + 2,
        _ => rest.find(char::is_whitespace).unwrap_or(rest.len()),
    };
    let first = &rest[..first_len];
    if first.contains('\\') {
        return Some(cl.to_string());
    }
    let args = rest[first_len..].trim_start();
    let args = &args[..args.find('\n').unwrap_or(args.len())];
    let np = new_process_name?;
    if args.is_empty() {
        return Some(np.to_string());
    }
    let quoted = if np.contains(char::is_whitespace) {
        format!("\"{np}\"")
    } else {
        np.to_string()
    };
    Some(format!("{quoted} {args}"))
}

/// Rule Uw: `TargetUserName`, else `SubjectUserName`, neither when `-`.
fn user_4688(r: &RawRecord) -> Option<&str> {
    ["TargetUserName", "SubjectUserName"]
        .iter()
        .filter_map(|n| r.get(n))
        .find(|v| !v.is_empty() && *v != "-")
}

/// Audit failure: the one keyword that would make `action` other than `allowed`.
const AUDIT_FAILURE: &str = "0x8010000000000000";

impl SourceMapper for Security4688 {
    fn source(&self) -> Source {
        Source::Security4688
    }

    fn claims(&self, r: &dyn Fields) -> bool {
        EVENT.claims(r)
    }

    fn may_claim(&self, first: &dyn Fields) -> bool {
        EVENT.may_claim(first)
    }

    fn map(&self, r: &RawRecord) -> CimEvent {
        let t = |names: &[&str]| windows_text(r, names);
        let new_process = t(&["NewProcessName"]);
        let parent = t(&["ParentProcessName"]);
        let mut ev = CimEvent {
            time: r.first(SYSTEM_TIME).and_then(crate::time::parse),
            command_line: r.first(&["CommandLine"]).unwrap_or("").to_string(),
            record_id: record_id(r),
            source: Some(Source::Security4688),
            ..Default::default()
        };
        let dest = t(COMPUTER);
        ev.set(
            Field::Host,
            dest.as_deref().map(|d| short_host(d).to_string()),
        );
        ev.set(Field::Dest, dest);
        ev.set(Field::User, user_4688(r).map(escape_xml_text));
        ev.set(Field::UserId, writer_sid(r));
        // The rewrite reads only whitespace, quotes and `\`, which escaping
        // leaves alone: rewrite the text as logged, then escape once.
        ev.set(
            Field::Process,
            process_4688(r.first(&["CommandLine"]), r.first(&["NewProcessName"])).map(escape_owned),
        );
        let name = new_process
            .as_deref()
            .and_then(name_windows)
            .map(str::to_string);
        ev.set(Field::ProcessName, name.clone());
        ev.set(Field::ProcessExec, name);
        ev.set(Field::ProcessPath, new_process);
        ev.set(Field::ProcessId, t(&["NewProcessId"]));
        ev.set(
            Field::ParentProcessName,
            parent.as_deref().and_then(name_windows).map(str::to_string),
        );
        ev.set(Field::ParentProcessPath, parent.clone());
        ev.set(Field::ParentProcess, parent);
        ev.set(Field::ParentProcessId, t(&["ProcessId"]));
        let failed = r
            .get("Keywords")
            .is_some_and(|k| k.trim().eq_ignore_ascii_case(AUDIT_FAILURE));
        if !failed {
            ev.put(Field::Action, "allowed");
        }
        ev.put(Field::VendorProduct, "Microsoft Windows");
        ev
    }
}

#[cfg(test)]
mod tests {
    use super::process_4688;

    #[test]
    fn rule_pw_vectors() {
        // CIM-PROCESSES.md §2.1.
        let np = r"C:\Windows\System32\schtasks.exe";
        let p = |cl: &str, np: &str| process_4688(Some(cl), Some(np));
        assert_eq!(
            p("schtasks  /create /s srv", np).as_deref(),
            Some(r"C:\Windows\System32\schtasks.exe /create /s srv")
        );
        let quoted = r#""C:\Windows\System32\schtasks.exe" /create"#;
        assert_eq!(p(quoted, np).as_deref(), Some(quoted));
        assert_eq!(
            p("tool.exe -a", r"C:\Program Files\T\tool.exe").as_deref(),
            Some(r#""C:\Program Files\T\tool.exe" -a"#)
        );
        assert_eq!(
            p(r#""tool.exe" -a"#, r"C:\T\tool.exe").as_deref(),
            Some(r"C:\T\tool.exe -a")
        );
        assert_eq!(p("schtasks", np).as_deref(), Some(np));
        assert_eq!(process_4688(None, Some(np)).as_deref(), Some(np));
        assert_eq!(p("", np).as_deref(), Some(np));
        assert_eq!(
            p("cmd /c a\nb", r"C:\Windows\System32\cmd.exe").as_deref(),
            Some(r"C:\Windows\System32\cmd.exe /c a")
        );
        assert_eq!(process_4688(Some("schtasks /query"), None), None);
    }
}
