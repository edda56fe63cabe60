//! What a container reader hands on: one event as flat `name → value` fields,
//! with where it came from. System fields use the names of the Windows event
//! schema (`EventID`, `Channel`, `Computer`, `TimeCreated`, `EventRecordID`,
//! `Provider`), whatever the container called them.

use serde::Serialize;
use std::borrow::Cow;

/// Read access to an event's fields by name: a whole record, or the few
/// members a reader glanced at before deciding to build one (`Gate`).
pub trait Fields {
    fn get(&self, name: &str) -> Option<&str>;

    /// The first present, non-empty value among `names`.
    fn first(&self, names: &[&str]) -> Option<&str> {
        names
            .iter()
            .filter_map(|n| self.get(n))
            .find(|v| !v.is_empty())
    }

    /// The numeric event id, from whichever field carried it.
    fn event_id(&self) -> Option<u32> {
        self.first(&["EventID", "EventCode", "event_id"])
            .and_then(|v| v.trim().parse().ok())
    }
}

/// The members of an event named by `source::GATE_FIELDS`, borrowed from
/// the reader's text where they need no unescaping; the first value of a
/// name wins, as in a record.
#[derive(Debug, Default)]
pub struct Gate<'a> {
    fields: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Gate<'a> {
    pub fn push(&mut self, name: Cow<'a, str>, value: Cow<'a, str>) {
        self.fields.push((name, value));
    }
}

impl Fields for Gate<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
    }
}

/// Gate fields written into one buffer that is reused from record to record
/// (the EVTX reader's): no allocation per field for the many records that
/// are read only to be passed over.
#[derive(Debug, Default)]
pub struct GateBuffer {
    text: String,
    /// Each field's name start, value start (its name's end) and value end.
    fields: Vec<(usize, usize, usize)>,
}

impl GateBuffer {
    pub fn clear(&mut self) {
        self.text.clear();
        self.fields.clear();
    }

    pub fn push(&mut self, name: &str, value: &str) {
        let start = self.text.len();
        self.text.push_str(name);
        let middle = self.text.len();
        self.text.push_str(value);
        self.fields.push((start, middle, self.text.len()));
    }
}

impl Fields for GateBuffer {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|&&(start, middle, _)| &self.text[start..middle] == name)
            .map(|&(_, middle, end)| &self.text[middle..end])
    }
}

impl Fields for RawRecord {
    fn get(&self, name: &str) -> Option<&str> {
        RawRecord::get(self, name)
    }
}

/// Where a record or an error sits in its file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Location {
    /// 1-based line of the record's first byte (text containers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// EVTX record id (EventRecordID), or a text event's own record number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<u64>,
    /// EVTX chunk number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk: Option<u64>,
    /// Byte offset in the (decompressed) input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

/// The most fields one record keeps. Real Windows events carry a few dozen;
/// beyond this a record is refused (see [`RawRecord::overflowed`]), so that a
/// small input of empty elements cannot become millions of fields.
pub const MAX_FIELDS: usize = 4096;

type FieldMap = indexmap::IndexMap<String, String, foldhash::fast::RandomState>;

#[derive(Debug, Clone, Default)]
pub struct RawRecord {
    /// Fields in the order read; hashed, so that adding a field costs the
    /// same whatever the record's size (a linear check made it quadratic).
    fields: FieldMap,
    /// Fields offered beyond `MAX_FIELDS` and not kept.
    overflow: usize,
    pub location: Location,
}

impl RawRecord {
    pub fn new(location: Location) -> Self {
        Self::with_capacity(location, 32)
    }

    /// A record expected to hold about `fields` fields.
    pub fn with_capacity(location: Location, fields: usize) -> Self {
        RawRecord {
            fields: FieldMap::with_capacity_and_hasher(fields, Default::default()),
            overflow: 0,
            location,
        }
    }

    /// Adds a field; the first value given for a name wins.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let full = self.fields.len() >= MAX_FIELDS;
        match self.fields.entry(name.into()) {
            indexmap::map::Entry::Occupied(_) => {}
            indexmap::map::Entry::Vacant(_) if full => self.overflow += 1,
            indexmap::map::Entry::Vacant(slot) => {
                slot.insert(value.into());
            }
        }
    }

    /// Why the record cannot be used whole, if it cannot: more than
    /// `MAX_FIELDS` fields were offered.
    pub fn overflowed(&self) -> Option<String> {
        (self.overflow > 0).then(|| {
            format!(
                "event has {} fields, more than the {MAX_FIELDS} a record may hold: skipped",
                MAX_FIELDS + self.overflow
            )
        })
    }

    /// Rewrites the values of the fields `pick` chooses, in place.
    pub fn rewrite(&mut self, pick: impl Fn(&str) -> bool, f: impl Fn(&str) -> Option<String>) {
        for (k, v) in self.fields.iter_mut() {
            if pick(k)
                && let Some(new) = f(v)
            {
                *v = new;
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// The first present, non-empty value among `names`.
    pub fn first(&self, names: &[&str]) -> Option<&str> {
        names
            .iter()
            .filter_map(|n| self.get(n))
            .find(|v| !v.is_empty())
    }

    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The numeric event id, from whichever field carried it.
    pub fn event_id(&self) -> Option<u32> {
        self.first(&["EventID", "EventCode", "event_id"])
            .and_then(|v| v.trim().parse().ok())
    }
}
