//! The CIM Endpoint.Processes event and the data model's calculated fields
//! (`CIM-PROCESSES.md` §1.3). A field is null (`None`) when no add-on sets it,
//! as in Splunk: `F!=v` is then false, `NOT F=v` true, and a by-list turns it
//! into the `fillnull_value`.

use super::Source;
use crate::time::Micros;
use serde::ser::{Serialize, SerializeMap, Serializer};

/// CIM's value for a missing field.
pub const UNKNOWN: &str = "unknown";

/// Prefix of a `dest` still waiting for its CrowdStrike `aid` to be named by
/// another record of the same run (resolved before results are built).
const PENDING_AID: &str = "\u{0}aid:";

macro_rules! cim_fields {
    ($($variant:ident => $name:literal,)*) => {
        /// Every Endpoint.Processes field a Windows process creation can carry.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Field { $($variant,)* }

        /// The field names, in `Field` order.
        pub const FIELDS: &[&str] = &[$($name,)*];

        impl Field {
            pub const ALL: &[Field] = &[$(Field::$variant,)*];

            pub fn name(self) -> &'static str {
                FIELDS[self as usize]
            }

            /// The field called `name` (after `drop_dm_object_name`).
            pub fn from_name(name: &str) -> Option<Field> {
                match name {
                    $($name => Some(Field::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

cim_fields! {
    Dest => "dest",
    Host => "host",
    User => "user",
    UserId => "user_id",
    Process => "process",
    ProcessName => "process_name",
    ProcessExec => "process_exec",
    ProcessPath => "process_path",
    ProcessId => "process_id",
    ProcessGuid => "process_guid",
    ProcessHash => "process_hash",
    ProcessIntegrityLevel => "process_integrity_level",
    ProcessCurrentDirectory => "process_current_directory",
    OriginalFileName => "original_file_name",
    ParentProcess => "parent_process",
    ParentProcessName => "parent_process_name",
    ParentProcessExec => "parent_process_exec",
    ParentProcessPath => "parent_process_path",
    ParentProcessId => "parent_process_id",
    ParentProcessGuid => "parent_process_guid",
    Action => "action",
    VendorProduct => "vendor_product",
    DestCategory => "dest_category",
    UserCategory => "user_category",
    UserBunit => "user_bunit",
}

const FIELD_COUNT: usize = FIELDS.len();

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CimEvent {
    pub time: Option<Micros>,
    pub(super) values: [Option<String>; FIELD_COUNT],
    /// The command line exactly as logged (before any add-on rewrite or
    /// entity escaping): what a stream consumer greps for.
    pub command_line: String,
    /// The event's own record number (EventRecordID, RecordNumber), if any.
    pub record_id: Option<u64>,
    pub source: Option<Source>,
}

/// A CIM event as a partial result stores it: every field it holds, by
/// name, so that a stored event reads back exactly (null and empty apart).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StoredEvent {
    time: Option<Micros>,
    fields: Vec<(String, String)>,
    command_line: String,
    record_id: Option<u64>,
    source: Option<Source>,
}

impl CimEvent {
    pub fn stored(&self) -> StoredEvent {
        StoredEvent {
            time: self.time,
            fields: Field::ALL
                .iter()
                .filter_map(|&f| Some((f.name().to_string(), self.get(f)?.to_string())))
                .collect(),
            command_line: self.command_line.clone(),
            record_id: self.record_id,
            source: self.source,
        }
    }

    /// The event a `StoredEvent` holds; a field name this build does not
    /// know is an error (a partial from another version).
    pub fn from_stored(s: StoredEvent) -> Result<CimEvent, String> {
        let mut ev = CimEvent {
            time: s.time,
            command_line: s.command_line,
            record_id: s.record_id,
            source: s.source,
            ..Default::default()
        };
        for (name, value) in s.fields {
            let f = Field::ALL
                .iter()
                .copied()
                .find(|f| f.name() == name)
                .ok_or_else(|| format!("unknown CIM field {name:?}"))?;
            ev.set(f, Some(value));
        }
        Ok(ev)
    }
    pub fn get(&self, field: Field) -> Option<&str> {
        self.values[field as usize].as_deref()
    }

    /// The value, or `""` for a null field.
    pub fn text(&self, field: Field) -> &str {
        self.get(field).unwrap_or("")
    }

    /// Sets a field; `None` makes it null.
    pub fn set(&mut self, field: Field, value: Option<String>) {
        self.values[field as usize] = value;
    }

    /// Sets a field to a value.
    pub fn put(&mut self, field: Field, value: impl Into<String>) {
        self.values[field as usize] = Some(value.into());
    }

    /// A field by its CIM name; `None` when it is null or no such field exists
    /// (Splunk treats both alike: a field no add-on defines is always null).
    pub fn field(&self, name: &str) -> Option<&str> {
        Field::from_name(name).and_then(|f| self.get(f))
    }

    /// The non-null fields, in `Field` order.
    pub fn present(&self) -> impl Iterator<Item = (Field, &str)> {
        Field::ALL
            .iter()
            .filter_map(|&f| self.get(f).map(|v| (f, v)))
    }

    /// Every value, for bounding kept copies.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut String> {
        self.values
            .iter_mut()
            .flatten()
            .chain(std::iter::once(&mut self.command_line))
    }

    /// The data model's calculated fields, in CIM's order (§1.3): empty
    /// `dest`, `original_file_name`, `parent_process`, `process`, `user`
    /// become `unknown`; an empty `parent_process_name` / `process_name`
    /// becomes the first token of `parent_process` / `process` (already
    /// defaulted, so possibly `unknown`); `vendor_product` is always set.
    /// "Empty" is null or `""`: a value of spaces is kept as it is.
    pub fn apply_defaults(&mut self) {
        let empty = |v: &Option<String>| v.as_deref().is_none_or(str::is_empty);
        if let Some(level) = &mut self.values[Field::ProcessIntegrityLevel as usize] {
            *level = level.to_lowercase();
        }
        for f in [Field::Dest, Field::OriginalFileName, Field::ParentProcess] {
            if empty(&self.values[f as usize]) {
                self.put(f, UNKNOWN);
            }
        }
        if empty(&self.values[Field::ParentProcessName as usize]) {
            let name = first_token(self.text(Field::ParentProcess));
            self.put(Field::ParentProcessName, name);
        }
        for f in [Field::Process, Field::User] {
            if empty(&self.values[f as usize]) {
                self.put(f, UNKNOWN);
            }
        }
        if empty(&self.values[Field::ProcessName as usize]) {
            let name = first_token(self.text(Field::Process));
            self.put(Field::ProcessName, name);
        }
        if empty(&self.values[Field::VendorProduct as usize]) {
            self.put(Field::VendorProduct, UNKNOWN);
        }
    }

    /// Marks `dest` as the name another record gives this CrowdStrike `aid`.
    pub fn set_pending_aid(&mut self, aid: &str) {
        self.put(Field::Dest, format!("{PENDING_AID}{aid}"));
    }
}

/// CIM's `process_name` from `process`: `^\s*(\S+).*` replaced by the token,
/// where `.` stops at a line break, so text after the first line survives;
/// `unknown` when there is no token.
pub fn first_token(value: &str) -> String {
    let start = value.len() - value.trim_start().len();
    let rest = &value[start..];
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    if end == 0 {
        return UNKNOWN.into();
    }
    let after = &rest[end..];
    match after.find('\n') {
        Some(nl) => format!("{}{}", &rest[..end], &after[nl..]),
        None => rest[..end].to_string(),
    }
}

/// Serialised as an object of the non-null fields (by CIM name) and the
/// command line as logged.
impl Serialize for CimEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (f, v) in self.present() {
            map.serialize_entry(f.name(), v)?;
        }
        map.serialize_entry("command_line", &self.command_line)?;
        map.end()
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
        let mut e = CimEvent::default();
        e.put(Field::Process, "schtasks /create /s h");
        e.put(Field::ParentProcess, "");
        e.apply_defaults();
        assert_eq!(e.get(Field::ProcessName), Some("schtasks"));
        assert_eq!(e.get(Field::ParentProcessName), Some("unknown"));
        assert_eq!(e.get(Field::Dest), Some("unknown"));
        assert_eq!(e.get(Field::User), Some("unknown"));
        assert_eq!(e.get(Field::OriginalFileName), Some("unknown"));
        assert_eq!(e.get(Field::ParentProcess), Some("unknown"));
        // No calculated field for these: they stay null.
        assert_eq!(e.get(Field::ProcessPath), None);
        assert_eq!(e.get(Field::UserCategory), None);
        let mut empty = CimEvent::default();
        empty.apply_defaults();
        assert_eq!(empty.get(Field::ProcessName), Some("unknown"));
        assert_eq!(empty.get(Field::Process), Some("unknown"));
        assert_eq!(empty.get(Field::VendorProduct), Some("unknown"));
    }

    #[test]
    fn spaces_are_not_empty_and_the_first_token_keeps_quotes_and_later_lines() {
        let mut e = CimEvent::default();
        e.put(Field::User, "  ");
        e.put(Field::Process, "  \"C:\\Program Files\\x.exe\" -a");
        e.put(Field::ProcessIntegrityLevel, "AppContainer");
        e.apply_defaults();
        assert_eq!(e.get(Field::User), Some("  "));
        assert_eq!(e.get(Field::ProcessName), Some("\"C:\\Program"));
        assert_eq!(e.get(Field::ProcessIntegrityLevel), Some("appcontainer"));
        assert_eq!(first_token("cmd /c a\nb c"), "cmd\nb c");
        assert_eq!(first_token("\n  x"), "x");
        assert_eq!(first_token("   "), "unknown");
    }

    #[test]
    fn every_field_has_a_name_and_back() {
        for &f in Field::ALL {
            assert_eq!(Field::from_name(f.name()), Some(f));
        }
        assert_eq!(Field::from_name("orig_process_name"), None);
    }

    #[test]
    fn pending_aid_resolves_or_becomes_unknown() {
        let mut e = CimEvent::default();
        e.set_pending_aid("abc");
        let names = |a: &str| (a == "abc").then(|| "HOST1".to_string());
        assert_eq!(
            resolve_dest(e.text(Field::Dest), &names).as_deref(),
            Some("HOST1")
        );
        e.set_pending_aid("zzz");
        assert_eq!(
            resolve_dest(e.text(Field::Dest), &names).as_deref(),
            Some("unknown")
        );
        assert_eq!(resolve_dest("plain", &names), None);
    }
}
