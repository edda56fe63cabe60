//! Sysmon EventID 1 (Process Create), as the Splunk Add-on for Sysmon maps it.

use super::{CimEvent, Source, SourceMapper, file_name, strip_domain, windows_event};
use crate::record::RawRecord;

pub struct Sysmon;

pub const CHANNEL_NAME: &str = "Microsoft-Windows-Sysmon/Operational";
pub const PROVIDER_NAME: &str = "Microsoft-Windows-Sysmon";

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

impl SourceMapper for Sysmon {
    fn source(&self) -> Source {
        Source::Sysmon
    }

    fn claims(&self, r: &RawRecord) -> bool {
        windows_event(r, 1, CHANNEL_NAME, PROVIDER_NAME, &["ProcessGuid", "Image"])
    }

    fn map(&self, r: &RawRecord) -> CimEvent {
        let s = |names: &[&str]| r.first(names).unwrap_or("").to_string();
        let image = s(&["Image"]);
        let parent_image = s(&["ParentImage"]);
        let command_line = s(&["CommandLine"]);
        CimEvent {
            time: r
                .first(&["UtcTime"])
                .and_then(crate::time::parse)
                .or_else(|| r.first(SYSTEM_TIME).and_then(crate::time::parse)),
            dest: s(COMPUTER),
            user: strip_domain(r.first(&["User"]).unwrap_or("")).to_string(),
            process: command_line.clone(),
            command_line,
            process_name: file_name(&image).to_string(),
            process_path: image,
            original_file_name: s(&["OriginalFileName"]),
            parent_process: s(&["ParentCommandLine"]),
            parent_process_name: file_name(&parent_image).to_string(),
            process_id: s(&["ProcessId"]),
            parent_process_id: s(&["ParentProcessId"]),
            process_guid: s(&["ProcessGuid"]),
            vendor_product: "Microsoft Sysmon".into(),
            record_id: record_id(r),
            source: Some(Source::Sysmon),
        }
    }
}
