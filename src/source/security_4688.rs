//! Windows Security 4688 (A new process has been created), as the Splunk
//! Add-on for Windows maps it, command-line rewrite included.

use super::sysmon::{COMPUTER, SYSTEM_TIME, record_id};
use super::{CimEvent, Source, SourceMapper, file_name, windows_event};
use crate::record::RawRecord;

pub struct Security4688;

pub const PROVIDER_NAME: &str = "Microsoft-Windows-Security-Auditing";

/// The Windows add-on's `process`: when the command line's first token has no
/// `\` (a bare `schtasks ...`), it is replaced by `NewProcessName`, keeping the
/// arguments exactly as logged; an empty command line gives `NewProcessName`.
pub fn rewrite_process(command_line: &str, new_process_name: &str) -> String {
    let trimmed = command_line.trim_start();
    let token_end = trimmed
        .find(|c: char| c.is_whitespace())
        .unwrap_or(trimmed.len());
    if trimmed[..token_end].contains('\\') || new_process_name.is_empty() {
        return command_line.to_string();
    }
    format!("{new_process_name}{}", &trimmed[token_end..])
}

impl SourceMapper for Security4688 {
    fn source(&self) -> Source {
        Source::Security4688
    }

    fn claims(&self, r: &RawRecord) -> bool {
        windows_event(r, 4688, "Security", PROVIDER_NAME, &["NewProcessName"])
    }

    fn map(&self, r: &RawRecord) -> CimEvent {
        let s = |names: &[&str]| r.first(names).unwrap_or("").to_string();
        let new_process = s(&["NewProcessName"]);
        let parent = s(&["ParentProcessName"]);
        let command_line = s(&["CommandLine"]);
        let user = match r.first(&["TargetUserName"]) {
            Some(u) if u.trim() != "-" => u.to_string(),
            _ => s(&["SubjectUserName"]),
        };
        CimEvent {
            time: r.first(SYSTEM_TIME).and_then(crate::time::parse),
            dest: s(COMPUTER),
            user,
            process: rewrite_process(&command_line, &new_process),
            command_line,
            process_name: file_name(&new_process).to_string(),
            process_path: new_process,
            original_file_name: String::new(),
            parent_process_name: file_name(&parent).to_string(),
            parent_process: parent,
            process_id: s(&["NewProcessId"]),
            parent_process_id: s(&["ProcessId"]),
            process_guid: String::new(),
            vendor_product: "Microsoft Windows".into(),
            record_id: record_id(r),
            source: Some(Source::Security4688),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::rewrite_process;

    #[test]
    fn rewrites_bare_program_names_only() {
        let np = r"C:\Windows\System32\schtasks.exe";
        assert_eq!(
            rewrite_process("schtasks  /create /s fs02", np),
            r"C:\Windows\System32\schtasks.exe  /create /s fs02"
        );
        assert_eq!(
            rewrite_process(r#""C:\Windows\system32\schtasks.exe" /create"#, np),
            r#""C:\Windows\system32\schtasks.exe" /create"#
        );
        assert_eq!(rewrite_process("", np), np);
        assert_eq!(rewrite_process("schtasks /query", ""), "schtasks /query");
    }
}
