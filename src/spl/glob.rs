//! Splunk field-value patterns: case-insensitive, `*` is the only wildcard and
//! the pattern is anchored to the whole value (`?` and `[` are literal).

/// A compiled pattern: the literal pieces between `*`s, lower-cased once,
/// each with a substring finder, so that a match costs time linear in the
/// value whatever the pattern (a naive scan was O(value × piece)).
#[derive(Debug, Clone)]
pub struct Glob {
    source: String,
    pieces: Vec<String>,
    finders: Vec<memchr::memmem::Finder<'static>>,
    anchored_start: bool,
    anchored_end: bool,
}

impl PartialEq for Glob {
    fn eq(&self, other: &Glob) -> bool {
        self.source == other.source
    }
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        let lower = pattern.to_lowercase();
        let pieces: Vec<String> = lower
            .split('*')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        let finders = pieces
            .iter()
            .map(|p| memchr::memmem::Finder::new(p.as_bytes()).into_owned())
            .collect();
        Glob {
            source: pattern.to_owned(),
            anchored_start: !lower.starts_with('*'),
            anchored_end: !lower.ends_with('*'),
            pieces,
            finders,
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
        if !value.is_ascii() {
            return self.match_lower(value.to_lowercase().as_bytes());
        }
        if value.bytes().any(|b| b.is_ascii_uppercase()) {
            return self.match_lower(value.to_ascii_lowercase().as_bytes());
        }
        self.match_lower(value.as_bytes())
    }

    /// `value` is lower-cased already.
    fn match_lower(&self, value: &[u8]) -> bool {
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
            if !value.starts_with(pieces[0].as_bytes()) {
                return false;
            }
            pos = pieces[0].len();
            first = 1;
        }
        if self.anchored_end && last > first {
            let p = pieces[last - 1].as_bytes();
            if end < pos + p.len() || !value.ends_with(p) {
                return false;
            }
            end -= p.len();
            last -= 1;
        } else if self.anchored_end && pieces.len() == 1 {
            // A single literal piece anchored at both ends: the whole value.
            return pos == value.len();
        }
        // Leftmost placement of each piece in turn: never needs backtracking.
        for (p, finder) in pieces[first..last].iter().zip(&self.finders[first..last]) {
            match finder.find(&value[pos..end]) {
                Some(i) => pos += i + p.len(),
                None => return false,
            }
        }
        true
    }
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

    #[test]
    fn long_literal_against_long_value_is_linear() {
        // 10,000-character piece against a 7 MiB value of near-misses: a
        // naive scan does ~7e10 comparisons; a substring finder, ~1e7.
        let piece = format!("{}b", "a".repeat(9_999));
        let g = Glob::new(&format!("*{piece}*"));
        let value = "A".repeat(7 << 20);
        let t = std::time::Instant::now();
        assert!(!g.is_match(&value));
        let mut hit = value.clone();
        hit.push('B');
        assert!(g.is_match(&hit));
        // Generous bound (debug builds, a loaded machine): the naive scan took minutes.
        assert!(t.elapsed().as_secs() < 20, "{:?}", t.elapsed());
    }
}
