//! The CIM Endpoint.Processes event and the data model's defaults.

use super::Source;
use crate::time::Micros;
use serde::Serialize;

/// CIM's value for a missing field.
pub const UNKNOWN: &str = "unknown";

/// Prefix of a `dest` still waiting for its CrowdStrike `aid` to be named by
/// another record of the same run (resolved before results are built).
const PENDING_AID: &str = "\u{0}aid:";

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CimEvent {
    #[serde(skip)]
    pub time: Option<Micros>,
    pub dest: String,
    pub user: String,
    pub process: String,
    pub process_name: String,
    pub process_path: String,
    pub original_file_name: String,
    pub parent_process: String,
    pub parent_process_name: String,
    pub process_id: String,
    pub parent_process_id: String,
    pub process_guid: String,
    pub vendor_product: String,
    /// The command line exactly as logged (before any add-on rewrite).
    pub command_line: String,
    /// The event's own record number (EventRecordID, RecordNumber), if any.
    #[serde(skip)]
    pub record_id: Option<u64>,
    #[serde(skip)]
    pub source: Option<Source>,
}

/// The fields the matcher, the aggregator and the filter can name.
pub const FIELDS: &[&str] = &[
    "dest",
    "user",
    "process",
    "process_name",
    "process_path",
    "original_file_name",
    "parent_process",
    "parent_process_name",
    "process_id",
    "parent_process_id",
    "process_guid",
    "vendor_product",
];

impl CimEvent {
    pub fn field(&self, name: &str) -> Option<&str> {
        Some(match name {
            "dest" => &self.dest,
            "user" => &self.user,
            "process" => &self.process,
            "process_name" => &self.process_name,
            "process_path" => &self.process_path,
            "original_file_name" => &self.original_file_name,
            "parent_process" => &self.parent_process,
            "parent_process_name" => &self.parent_process_name,
            "process_id" => &self.process_id,
            "parent_process_id" => &self.parent_process_id,
            "process_guid" => &self.process_guid,
            "vendor_product" => &self.vendor_product,
            _ => return None,
        })
    }

    /// The CIM data model's defaults: empty `dest`, `user`, `process`,
    /// `original_file_name`, `parent_process` become `unknown`; an empty
    /// `process_name` / `parent_process_name` becomes the first
    /// whitespace-delimited token of `process` / `parent_process`, else `unknown`.
    pub fn apply_defaults(&mut self) {
        fn first_token(s: &str) -> Option<String> {
            s.split_whitespace().next().map(str::to_string)
        }
        if self.process_name.trim().is_empty() {
            self.process_name = first_token(&self.process).unwrap_or_else(|| UNKNOWN.into());
        }
        if self.parent_process_name.trim().is_empty() {
            self.parent_process_name =
                first_token(&self.parent_process).unwrap_or_else(|| UNKNOWN.into());
        }
        for f in [
            &mut self.dest,
            &mut self.user,
            &mut self.process,
            &mut self.original_file_name,
            &mut self.parent_process,
        ] {
            if f.trim().is_empty() {
                *f = UNKNOWN.into();
            }
        }
    }

    /// Marks `dest` as the name another record gives this CrowdStrike `aid`.
    pub fn set_pending_aid(&mut self, aid: &str) {
        self.dest = format!("{PENDING_AID}{aid}");
    }
}

/// Resolves a pending `dest` through `lookup` (aid → ComputerName), else `unknown`.
pub fn resolve_dest(dest: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let aid = dest.strip_prefix(PENDING_AID)?;
    Some(lookup(aid).unwrap_or_else(|| UNKNOWN.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_data_model() {
        let mut e = CimEvent {
            process: "schtasks /create /s h".into(),
            parent_process: "".into(),
            ..Default::default()
        };
        e.apply_defaults();
        assert_eq!(e.process_name, "schtasks");
        assert_eq!(e.parent_process_name, "unknown");
        assert_eq!(e.dest, "unknown");
        assert_eq!(e.user, "unknown");
        assert_eq!(e.original_file_name, "unknown");
        assert_eq!(e.parent_process, "unknown");
        let mut empty = CimEvent::default();
        empty.apply_defaults();
        assert_eq!(empty.process_name, "unknown");
        assert_eq!(empty.process, "unknown");
    }

    #[test]
    fn pending_aid_resolves_or_becomes_unknown() {
        let mut e = CimEvent::default();
        e.set_pending_aid("abc");
        let names = |a: &str| (a == "abc").then(|| "HOST1".to_string());
        assert_eq!(resolve_dest(&e.dest, &names).as_deref(), Some("HOST1"));
        e.set_pending_aid("zzz");
        assert_eq!(resolve_dest(&e.dest, &names).as_deref(), Some("unknown"));
        assert_eq!(resolve_dest("plain", &names), None);
    }
}
