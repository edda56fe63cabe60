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

/// Where one field lies in its record's text: its name, then its value.
#[derive(Debug, Clone, Copy)]
struct Span {
    name: usize,
    /// The value's start; the name ends here, unless the value was rewritten.
    value: usize,
    name_end: usize,
    end: usize,
}

#[derive(Debug, Clone, Default)]
pub struct RawRecord {
    /// Every name and value, one after another: a record is three
    /// allocations however many fields it has (one per name and value made
    /// a process creation's record some forty).
    text: String,
    /// The fields in the order read.
    fields: Vec<Span>,
    /// `fields`' positions by name, so that adding a field costs the same
    /// whatever the record's size (a linear check made it quadratic); seeded
    /// per record, so that no input can choose names that collide.
    index: hashbrown::HashTable<u32>,
    hasher: foldhash::fast::RandomState,
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
            text: String::with_capacity(fields * 24),
            fields: Vec::with_capacity(fields),
            index: hashbrown::HashTable::with_capacity(fields),
            hasher: Default::default(),
            overflow: 0,
            location,
        }
    }

    fn name_of(&self, span: &Span) -> &str {
        &self.text[span.name..span.name_end]
    }

    fn value_of(&self, span: &Span) -> &str {
        &self.text[span.value..span.end]
    }

    /// Adds a field; the first value given for a name wins.
    pub fn insert(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        use std::hash::BuildHasher;
        let (name, value) = (name.as_ref(), value.as_ref());
        let full = self.fields.len() >= MAX_FIELDS;
        let RawRecord {
            text,
            fields,
            index,
            hasher,
            overflow,
            ..
        } = self;
        let name_is = |i: &u32| {
            let s = fields[*i as usize];
            &text[s.name..s.name_end] == name
        };
        let rehash = |i: &u32| {
            let s = fields[*i as usize];
            hasher.hash_one(&text[s.name..s.name_end])
        };
        match index.entry(hasher.hash_one(name), name_is, rehash) {
            hashbrown::hash_table::Entry::Occupied(_) => {}
            hashbrown::hash_table::Entry::Vacant(_) if full => *overflow += 1,
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert(fields.len() as u32);
                let start = text.len();
                text.push_str(name);
                let name_end = text.len();
                text.push_str(value);
                fields.push(Span {
                    name: start,
                    value: name_end,
                    name_end,
                    end: text.len(),
                });
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

    /// Rewrites the values of the fields `pick` chooses, in place (a new
    /// value is written after the others; the old one's bytes stay unused).
    pub fn rewrite(&mut self, pick: impl Fn(&str) -> bool, f: impl Fn(&str) -> Option<String>) {
        for i in 0..self.fields.len() {
            let span = self.fields[i];
            if pick(self.name_of(&span))
                && let Some(new) = f(self.value_of(&span))
            {
                let start = self.text.len();
                self.text.push_str(&new);
                self.fields[i].value = start;
                self.fields[i].end = self.text.len();
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        use std::hash::BuildHasher;
        let name_is = |i: &u32| self.name_of(&self.fields[*i as usize]) == name;
        let i = self.index.find(self.hasher.hash_one(name), name_is)?;
        Some(self.value_of(&self.fields[*i as usize]))
    }

    /// The first present, non-empty value among `names`.
    pub fn first(&self, names: &[&str]) -> Option<&str> {
        names
            .iter()
            .filter_map(|n| self.get(n))
            .find(|v| !v.is_empty())
    }

    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields
            .iter()
            .map(|s| (self.name_of(s), self.value_of(s)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_their_order_and_the_first_value_of_a_name_wins() {
        let mut r = RawRecord::with_capacity(Location::default(), 2);
        r.insert("EventID", "1");
        r.insert("Image", String::from("C:\\a.exe"));
        r.insert("EventID", "4688");
        r.insert("", "empty name");
        r.insert("Empty", "");
        assert_eq!(r.get("EventID"), Some("1"));
        assert_eq!(r.get("Image"), Some("C:\\a.exe"));
        assert_eq!(r.get(""), Some("empty name"));
        assert_eq!(r.get("Empty"), Some(""));
        assert_eq!(r.get("image"), None);
        assert_eq!(r.first(&["Missing", "Empty", "Image"]), Some("C:\\a.exe"));
        let fields: Vec<_> = r.fields().collect();
        assert_eq!(
            fields,
            [
                ("EventID", "1"),
                ("Image", "C:\\a.exe"),
                ("", "empty name"),
                ("Empty", "")
            ]
        );
        assert_eq!(r.overflowed(), None);
    }

    #[test]
    fn rewritten_values_replace_the_old_in_place() {
        let mut r = RawRecord::new(Location::default());
        r.insert("ProcessGuid", "a");
        r.insert("CommandLine", "x");
        r.insert("ParentProcessGuid", "bb");
        r.rewrite(|n| n.ends_with("Guid"), |v| Some(v.repeat(3)));
        r.rewrite(|n| n == "CommandLine", |_| None);
        let fields: Vec<_> = r.fields().collect();
        assert_eq!(
            fields,
            [
                ("ProcessGuid", "aaa"),
                ("CommandLine", "x"),
                ("ParentProcessGuid", "bbbbbb")
            ]
        );
        assert_eq!(r.get("ProcessGuid"), Some("aaa"));
        // Later fields still land after the rewritten values.
        r.insert("Later", "y");
        assert_eq!(r.get("Later"), Some("y"));
        assert_eq!(r.get("ParentProcessGuid"), Some("bbbbbb"));
    }

    #[test]
    fn a_record_keeps_at_most_max_fields_and_says_how_many_it_was_offered() {
        let mut r = RawRecord::new(Location::default());
        for i in 0..MAX_FIELDS + 5 {
            r.insert(format!("f{i}"), i.to_string());
        }
        // A name already kept is not an overflow.
        r.insert("f0", "again");
        assert_eq!(r.fields().count(), MAX_FIELDS);
        assert_eq!(r.get("f0"), Some("0"));
        assert_eq!(r.get(&format!("f{}", MAX_FIELDS - 1)), Some("4095"));
        assert_eq!(r.get(&format!("f{MAX_FIELDS}")), None);
        let why = r.overflowed().expect("overflowed");
        assert!(why.contains(&format!("{} fields", MAX_FIELDS + 5)), "{why}");
    }
}
