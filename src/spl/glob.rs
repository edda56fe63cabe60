//! Splunk field-value patterns: case-insensitive, `*` is the only wildcard and
//! the pattern is anchored to the whole value (`?` and `[` are literal).

/// A compiled pattern: the literal pieces between `*`s, lower-cased once.
#[derive(Debug, Clone, PartialEq)]
pub struct Glob {
    source: String,
    pieces: Vec<String>,
    anchored_start: bool,
    anchored_end: bool,
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        let lower = pattern.to_lowercase();
        let pieces: Vec<String> = lower
            .split('*')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        Glob {
            source: pattern.to_owned(),
            anchored_start: !lower.starts_with('*'),
            anchored_end: !lower.ends_with('*'),
            pieces,
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// True for a pattern with no wildcard: plain (case-insensitive) equality.
    pub fn is_literal(&self) -> bool {
        self.anchored_start && self.anchored_end
    }

    /// The pattern's literal pieces, lower-cased, in order.
    pub fn pieces(&self) -> &[String] {
        &self.pieces
    }

    /// For `*text*`: the text (lower-cased) the value must contain.
    pub fn contains_only(&self) -> Option<&str> {
        (!self.anchored_start && !self.anchored_end && self.pieces.len() == 1)
            .then(|| self.pieces[0].as_str())
    }

    pub fn is_match(&self, value: &str) -> bool {
        if value.is_ascii() {
            self.match_lower(value.as_bytes(), true)
        } else {
            self.match_lower(value.to_lowercase().as_bytes(), false)
        }
    }

    /// `value` is lower-cased already unless `ascii_fold` asks to fold as we go.
    fn match_lower(&self, value: &[u8], ascii_fold: bool) -> bool {
        let eq = |a: &[u8], b: &[u8]| {
            if ascii_fold {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        };
        let pieces = &self.pieces;
        if pieces.is_empty() {
            // "" matches only "", "*" (or "**") matches anything.
            return !self.anchored_start || value.is_empty();
        }
        let mut pos = 0usize;
        let mut end = value.len();
        let mut first = 0usize;
        let mut last = pieces.len();
        if self.anchored_start {
            let p = pieces[0].as_bytes();
            if value.len() < p.len() || !eq(&value[..p.len()], p) {
                return false;
            }
            pos = p.len();
            first = 1;
        }
        if self.anchored_end && last > first {
            let p = pieces[last - 1].as_bytes();
            if end < pos + p.len() || !eq(&value[end - p.len()..], p) {
                return false;
            }
            end -= p.len();
            last -= 1;
        } else if self.anchored_end && pieces.len() == 1 {
            // A single literal piece anchored at both ends: the whole value.
            return pos == value.len();
        }
        for p in &pieces[first..last] {
            match find(&value[pos..end], p.as_bytes(), ascii_fold) {
                Some(i) => pos += i + p.len(),
                None => return false,
            }
        }
        true
    }
}

fn find(hay: &[u8], needle: &[u8], ascii_fold: bool) -> Option<usize> {
    if needle.len() > hay.len() {
        return None;
    }
    (0..=hay.len() - needle.len()).find(|&i| {
        let w = &hay[i..i + needle.len()];
        if ascii_fold {
            w.eq_ignore_ascii_case(needle)
        } else {
            w == needle
        }
    })
}

#[cfg(test)]
mod tests {
    use super::Glob;

    #[test]
    fn anchored_and_case_insensitive() {
        let g = Glob::new("schtasks.exe");
        assert!(g.is_match("SCHTASKS.EXE"));
        assert!(!g.is_match("schtasks.exe "));
        assert!(!g.is_match("xschtasks.exe"));
        let c = Glob::new("*/s*");
        assert!(c.is_match("schtasks /S host"));
        assert!(c.is_match("/s"));
        assert!(c.is_match("x /sc daily"));
        assert!(!c.is_match("schtasks -s host"));
        assert!(Glob::new("*").is_match(""));
        assert!(Glob::new("").is_match(""));
        assert!(!Glob::new("").is_match("a"));
    }

    #[test]
    fn question_mark_and_bracket_are_literal() {
        assert!(Glob::new("a?c").is_match("A?C"));
        assert!(!Glob::new("a?c").is_match("abc"));
        assert!(Glob::new("[x]*").is_match("[X]yz"));
    }

    #[test]
    fn pieces_in_order_without_overlap() {
        let g = Glob::new("ab*ba");
        assert!(g.is_match("aba_ba"));
        assert!(!g.is_match("aba"));
        assert!(Glob::new("a*b*c").is_match("a-b-c"));
        assert!(!Glob::new("a*b*c").is_match("a-c-b"));
        assert!(Glob::new("*é*").is_match("CAFÉ"));
    }
}
