//! The parts of Splunk's search language the seed uses: its `tstats` search
//! (aggregations, `where` clause, `by` list), its macros, and the `_filter`
//! macro's expression. Everything the engine evaluates comes from here.

pub mod eval;
pub mod expr;
pub mod glob;

use expr::{Expr, ParseError};
use regex_lite::Regex;

/// The patterns a search is taken apart with, compiled once: a run with
/// hundreds of rules parses hundreds of searches.
struct Patterns {
    fillnull: Regex,
    call: Regex,
    aggregation: Regex,
    datamodel: Regex,
    timeformat: Regex,
}

fn patterns() -> &'static Patterns {
    static PATTERNS: std::sync::OnceLock<Patterns> = std::sync::OnceLock::new();
    PATTERNS.get_or_init(|| {
        let re = |p: &str| Regex::new(p).expect("a fixed pattern");
        Patterns {
            fillnull: re(r"fillnull_value=(\S+)"),
            call: re(r"(\w+)\s*\("),
            aggregation: re(
                r"(?i)\b(count|min|max|values|dc|distinct_count)\b(?:\(\s*([^)]*?)\s*\))?(?:\s+as\s+([\w.]+))?",
            ),
            datamodel: re(r"^\s*datamodel\s*=\s*(\S+)"),
            timeformat: re(r#"timeformat\s*=\s*"([^"]*)""#),
        }
    })
}
use std::collections::BTreeMap;

/// An aggregation of `tstats`: `count`, `min(_time)`, `max(_time)`,
/// `values(field)`, `dc(field)`.
#[derive(Debug, Clone, PartialEq)]
pub enum Aggregation {
    Count {
        alias: String,
    },
    MinTime {
        alias: String,
    },
    MaxTime {
        alias: String,
    },
    /// The distinct values of a field (a multivalue, sorted).
    Values {
        field: String,
        alias: String,
    },
    /// How many distinct values a field has.
    DistinctCount {
        field: String,
        alias: String,
    },
}

impl Aggregation {
    pub fn alias(&self) -> &str {
        match self {
            Aggregation::Count { alias }
            | Aggregation::MinTime { alias }
            | Aggregation::MaxTime { alias }
            | Aggregation::Values { alias, .. }
            | Aggregation::DistinctCount { alias, .. } => alias,
        }
    }

    /// The field a `values` or `dc` reads.
    pub fn field(&self) -> Option<&str> {
        match self {
            Aggregation::Values { field, .. } | Aggregation::DistinctCount { field, .. } => {
                Some(field)
            }
            _ => None,
        }
    }

    /// Renames the output column.
    pub fn rename_alias(&mut self, rename: &dyn Fn(&str) -> String) {
        match self {
            Aggregation::Count { alias }
            | Aggregation::MinTime { alias }
            | Aggregation::MaxTime { alias }
            | Aggregation::Values { alias, .. }
            | Aggregation::DistinctCount { alias, .. } => *alias = rename(alias),
        }
    }

    /// The field a `values` or `dc` reads, to rename it.
    pub fn field_mut(&mut self) -> Option<&mut String> {
        match self {
            Aggregation::Values { field, .. } | Aggregation::DistinctCount { field, .. } => {
                Some(field)
            }
            _ => None,
        }
    }
}

impl TstatsSearch {
    /// The fields whose distinct values a row keeps, once each, in order.
    pub fn set_fields(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for f in self.aggregations.iter().filter_map(Aggregation::field) {
            if !out.iter().any(|o| o == f) {
                out.push(f.to_string());
            }
        }
        out
    }
}

/// The deepest nesting of macros within macros expanded.
const MAX_MACRO_DEPTH: usize = 16;

/// Expands the macros of a text (`` `process_net` ``, `` `m(a, b)` ``), and
/// the macros their bodies call, up to `MAX_MACRO_DEPTH` levels.
fn expand_macros(text: &str, macros: &BTreeMap<String, String>) -> Result<String, ParseError> {
    let mut out = text.to_string();
    for _ in 0..MAX_MACRO_DEPTH {
        if !out.contains('`') {
            return Ok(out);
        }
        let mut next = String::with_capacity(out.len());
        let mut parts = out.split('`');
        next.push_str(parts.next().unwrap_or(""));
        while let Some(call) = parts.next() {
            let Some(after) = parts.next() else {
                return Err(err("unbalanced backtick in the search"));
            };
            let (name, args) = macro_call(&format!("`{call}`"))
                .ok_or_else(|| err(format!("bad macro call `{call}`")))?;
            let body = macro_body(macros, &name, &args)
                .ok_or_else(|| err(format!("unknown macro `{}`", call.trim())))?;
            next.push_str(&body);
            next.push_str(after);
        }
        out = next;
    }
    Err(err(format!(
        "macros nested deeper than {MAX_MACRO_DEPTH} levels"
    )))
}

/// The seed's search, taken apart.
#[derive(Debug, Clone)]
pub struct TstatsSearch {
    pub datamodel: String,
    pub aggregations: Vec<Aggregation>,
    pub condition: Expr,
    pub by: Vec<String>,
    /// `fillnull_value` from the expanded options: what a null group-by value becomes.
    pub fillnull_value: Option<String>,
    /// Fields rendered with `convert ctime`, and their strftime format.
    pub ctime: Vec<(String, String)>,
    /// The `_filter` macro's expression (`search *` keeps everything).
    pub filter: Expr,
    pub filter_macro: Option<String>,
    /// `| where` stages on the result rows (the pack's second tier), in order.
    pub wheres: Vec<eval::Eval>,
    /// `span=` of a `_time` by-field, in seconds: rows per time bucket.
    pub span: Option<i64>,
}

/// Splits on `|` outside quotes, backticks and `[...]` subsearches.
pub(crate) fn split_pipeline(search: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quote, mut tick) = (false, false);
    let mut subsearch = 0usize;
    let mut prev = '\0';
    for c in search.chars() {
        match c {
            '"' if !tick && prev != '\\' => quote = !quote,
            '`' if !quote => tick = !tick,
            '[' if !quote && !tick => subsearch += 1,
            ']' if !quote && !tick => subsearch = subsearch.saturating_sub(1),
            '|' if !quote && !tick && subsearch == 0 => {
                out.push(std::mem::take(&mut cur).trim().to_string());
                prev = c;
                continue;
            }
            _ => {}
        }
        cur.push(c);
        prev = c;
    }
    out.push(cur.trim().to_string());
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

/// Byte offsets of whole words equal (case-insensitively) to `word`,
/// outside double quotes and parentheses deeper than `max_depth`.
fn find_words(text: &str, word: &str) -> Vec<usize> {
    let mut hits = Vec::new();
    let bytes = text.as_bytes();
    let mut quote = false;
    let mut prev = b' ';
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'"' && prev != b'\\' {
            quote = !quote;
        }
        if !quote
            && (prev.is_ascii_whitespace() || prev == b')' || i == 0)
            && bytes.len() >= i + word.len()
            && bytes[i..i + word.len()].eq_ignore_ascii_case(word.as_bytes())
            && bytes
                .get(i + word.len())
                .is_none_or(|c| c.is_ascii_whitespace() || *c == b'(')
        {
            hits.push(i);
        }
        prev = b;
    }
    hits
}

fn err(msg: impl Into<String>) -> ParseError {
    ParseError(msg.into())
}

/// A macro call: `` `name` `` or `` `name(arg, ...)` ``.
fn macro_call(stage: &str) -> Option<(String, Vec<String>)> {
    let inner = stage.strip_prefix('`')?.strip_suffix('`')?.trim();
    match inner.find('(') {
        Some(open) if inner.ends_with(')') => {
            let args = inner[open + 1..inner.len() - 1]
                .split(',')
                .map(|a| a.trim().to_string())
                .collect();
            Some((inner[..open].trim().to_string(), args))
        }
        _ => Some((inner.to_string(), Vec::new())),
    }
}

/// A macro's body with its arguments substituted. Macros are keyed `name`,
/// `name(a,b)` (argument names, substituted as `$a$`, `$b$`), or `name(N)`
/// (N arguments, substituted in the order their `$...$` first appear).
fn macro_body(macros: &BTreeMap<String, String>, name: &str, args: &[String]) -> Option<String> {
    if args.is_empty() {
        return macros.get(name).cloned();
    }
    let prefix = format!("{name}(");
    macros
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .find_map(|(key, body)| {
            let inner = key[prefix.len()..].strip_suffix(')')?;
            let names: Vec<String> = match inner.trim().parse::<usize>() {
                Ok(n) if n == args.len() => placeholders(body).into_iter().take(n).collect(),
                Ok(_) => return None,
                Err(_) => inner.split(',').map(|a| a.trim().to_string()).collect(),
            };
            if names.len() != args.len() {
                return None;
            }
            let mut out = body.clone();
            for (n, v) in names.iter().zip(args) {
                out = out.replace(&format!("${n}$"), v);
            }
            Some(out)
        })
}

/// The `$name$` placeholders of a macro body, in order of first appearance.
fn placeholders(body: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut parts = body.split('$');
    parts.next();
    while let Some(name) = parts.next() {
        if !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            if !out.iter().any(|o| o == name) {
                out.push(name.to_string());
            }
            parts.next();
        }
    }
    out
}

impl TstatsSearch {
    pub fn parse(search: &str, macros: &BTreeMap<String, String>) -> Result<Self, ParseError> {
        let stages = split_pipeline(search);
        let first = stages.first().ok_or_else(|| err("empty search"))?;
        let tstats = first
            .strip_prefix("tstats")
            .ok_or_else(|| err("the search must start with tstats"))?;

        // Expand macros inside the tstats stage (`security_content_summariesonly`,
        // `process_net`, and those they call).
        let expanded = expand_macros(tstats, macros)?;
        let fillnull_value = patterns()
            .fillnull
            .captures(&expanded)
            .map(|c| c[1].trim_matches('"').to_string());

        let from = *find_words(&expanded, "from")
            .first()
            .ok_or_else(|| err("tstats without 'from'"))?;
        let head = &expanded[..from];
        // Every function call of the head must be one the engine computes:
        // an aggregation it does not know is an error, never silently dropped.
        for c in patterns().call.captures_iter(head) {
            let name = c[1].to_ascii_lowercase();
            if !matches!(
                name.as_str(),
                "count" | "min" | "max" | "values" | "dc" | "distinct_count"
            ) {
                return Err(err(format!("unsupported aggregation {}(...)", &c[1])));
            }
        }
        let mut aggregations = Vec::new();
        for c in patterns().aggregation.captures_iter(head) {
            let func = c[1].to_ascii_lowercase();
            let arg = c.get(2).map(|m| m.as_str()).unwrap_or("");
            let alias = c.get(3).map(|m| m.as_str().to_string());
            aggregations.push(match (func.as_str(), arg) {
                ("count", "") => Aggregation::Count {
                    alias: alias.unwrap_or_else(|| "count".into()),
                },
                ("min", "_time") => Aggregation::MinTime {
                    alias: alias.unwrap_or_else(|| "min(_time)".into()),
                },
                ("max", "_time") => Aggregation::MaxTime {
                    alias: alias.unwrap_or_else(|| "max(_time)".into()),
                },
                ("values", f) if !f.is_empty() => Aggregation::Values {
                    field: f.to_string(),
                    alias: alias.unwrap_or_else(|| format!("values({f})")),
                },
                ("dc" | "distinct_count", f) if !f.is_empty() => Aggregation::DistinctCount {
                    field: f.to_string(),
                    alias: alias.unwrap_or_else(|| format!("{func}({f})")),
                },
                _ => return Err(err(format!("unsupported aggregation {}", &c[0]))),
            });
        }
        if aggregations.is_empty() {
            return Err(err("tstats without aggregations"));
        }

        let rest = &expanded[from + 4..];
        let datamodel = patterns()
            .datamodel
            .captures(rest)
            .map(|c| c[1].to_string())
            .ok_or_else(|| err("tstats without 'from datamodel='"))?;
        let where_at = *find_words(rest, "where")
            .first()
            .ok_or_else(|| err("tstats without 'where'"))?;
        let after_where = &rest[where_at + 5..];
        let by_at = find_words(after_where, "by").last().copied();
        let (cond_text, by_text) = match by_at {
            Some(b) => (&after_where[..b], &after_where[b + 2..]),
            None => (after_where, ""),
        };
        let mut condition = expr::parse(cond_text)?;
        let mut span = None;
        let mut by: Vec<String> = Vec::new();
        for token in by_text
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|f| !f.is_empty())
        {
            match token.strip_prefix("span=") {
                Some(s) => span = Some(parse_span(s)?),
                None => by.push(token.to_string()),
            }
        }
        if span.is_some() && !by.iter().any(|b| b == "_time") {
            return Err(err("span= without _time in the by-list"));
        }

        let mut ctime = Vec::new();
        let mut filter = Expr::All;
        let mut filter_macro = None;
        let mut wheres: Vec<eval::Eval> = Vec::new();
        let mut dropped_prefix: Option<String> = None;
        for stage in &stages[1..] {
            if let Some(cond) = stage.strip_prefix("where ") {
                wheres.push(eval::Eval::parse(&expand_macros(cond, macros)?)?);
                continue;
            }
            let (name, args) =
                macro_call(stage).ok_or_else(|| err(format!("unsupported stage '{stage}'")))?;
            match name.as_str() {
                "drop_dm_object_name" => {
                    let object = args.first().map(|a| a.trim_matches('"')).unwrap_or("");
                    let prefix = format!("{object}.");
                    dropped_prefix = Some(prefix.clone());
                    let strip = |f: &str| f.strip_prefix(&prefix).unwrap_or(f).to_string();
                    condition.map_fields(&strip);
                    for b in &mut by {
                        *b = strip(b);
                    }
                    // The field an aggregation reads; its output name stays as
                    // Splunk gives it (`values(Processes.process)`).
                    for a in &mut aggregations {
                        if let Some(f) = a.field_mut() {
                            *f = strip(f);
                        }
                        // `values(...) AS Processes.process` is renamed too;
                        // an unnamed `values(Processes.process)` is not.
                        a.rename_alias(&|alias: &str| {
                            if alias.contains('(') {
                                alias.to_string()
                            } else {
                                strip(alias)
                            }
                        });
                    }
                }
                _ => {
                    let body = macro_body(macros, &name, &args)
                        .ok_or_else(|| err(format!("unknown macro `{name}`")))?;
                    let body = body.as_str();
                    if let Some(conv) = body.trim().strip_prefix("convert") {
                        let fmt = patterns()
                            .timeformat
                            .captures(conv)
                            .map(|c| c[1].to_string())
                            .unwrap_or_else(|| "%m/%d/%Y %H:%M:%S".into());
                        let field = args.first().cloned().unwrap_or_default();
                        ctime.push((field, fmt));
                    } else if let Some(s) = body.trim().strip_prefix("search") {
                        filter = expr::parse(s)?;
                        filter_macro = Some(name.clone());
                    } else {
                        return Err(err(format!("unsupported macro body for `{name}`: {body}")));
                    }
                }
            }
        }
        // A `where` reads the rows as the renamed columns name them.
        if let Some(prefix) = dropped_prefix {
            for w in &mut wheres {
                w.map_fields(&|f: &str| f.strip_prefix(&prefix).unwrap_or(f).to_string());
            }
        }
        Ok(TstatsSearch {
            datamodel,
            aggregations,
            condition,
            by,
            fillnull_value,
            ctime,
            filter,
            filter_macro,
            wheres,
            span,
        })
    }
}

/// `30s`, `1m`, `20m`, `1h`, `1d` in seconds.
fn parse_span(s: &str) -> Result<i64, ParseError> {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let n: i64 = digits.parse().map_err(|_| err(format!("bad span={s}")))?;
    let unit = match &s[digits.len()..] {
        "s" | "sec" | "" => 1,
        "m" | "min" => 60,
        "h" | "hr" => 3600,
        "d" => 86_400,
        u => return Err(err(format!("unsupported span unit {u:?}"))),
    };
    if n <= 0 {
        return Err(err(format!("bad span={s}")));
    }
    Ok(n * unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn macros() -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert(
            "security_content_summariesonly".into(),
            "summariesonly=false allow_old_summaries=true fillnull_value=null".into(),
        );
        m.insert(
            "security_content_ctime(1)".into(),
            "convert timeformat=\"%Y-%m-%dT%H:%M:%S\" ctime($field$)".into(),
        );
        m.insert("x_filter".into(), "search *".into());
        m
    }

    #[test]
    fn takes_the_search_apart() {
        let s = "| tstats `security_content_summariesonly` count min(_time) as firstTime max(_time) as lastTime from datamodel=Endpoint.Processes where (Processes.process_name = a.exe OR Processes.original_file_name=a.exe) Processes.process=\"*by*\" by Processes.process_name Processes.dest | `drop_dm_object_name(Processes)` | `security_content_ctime(firstTime)` | `x_filter`";
        let t = TstatsSearch::parse(s, &macros()).unwrap();
        assert_eq!(t.datamodel, "Endpoint.Processes");
        assert_eq!(t.by, vec!["process_name", "dest"]);
        assert_eq!(t.fillnull_value.as_deref(), Some("null"));
        assert_eq!(
            t.aggregations,
            vec![
                Aggregation::Count {
                    alias: "count".into()
                },
                Aggregation::MinTime {
                    alias: "firstTime".into()
                },
                Aggregation::MaxTime {
                    alias: "lastTime".into()
                },
            ]
        );
        let mut fields = Vec::new();
        t.condition.fields(&mut fields);
        assert_eq!(
            fields,
            vec!["process_name", "original_file_name", "process"]
        );
        assert_eq!(
            t.ctime,
            vec![("firstTime".into(), "%Y-%m-%dT%H:%M:%S".into())]
        );
        assert_eq!(t.filter, Expr::All);
    }

    #[test]
    fn nested_macros_values_dc_and_comma_by_lists() {
        let mut m = macros();
        m.insert(
            "process_x".into(),
            "(Processes.process_name=x.exe OR `process_y`)".into(),
        );
        m.insert(
            "process_y".into(),
            "Processes.original_file_name=y.exe".into(),
        );
        let s = "| tstats `security_content_summariesonly` count values(Processes.process) dc(Processes.user) as users min(_time) as firstTime from datamodel=Endpoint.Processes where `process_x` by Processes.dest, Processes.user | `drop_dm_object_name(\"Processes\")` | `x_filter`";
        let t = TstatsSearch::parse(s, &m).unwrap();
        assert_eq!(t.by, ["dest", "user"]);
        let mut fields = Vec::new();
        t.condition.fields(&mut fields);
        assert_eq!(fields, ["process_name", "original_file_name"]);
        assert_eq!(
            t.aggregations[1],
            Aggregation::Values {
                field: "process".into(),
                alias: "values(Processes.process)".into()
            }
        );
        assert_eq!(
            t.aggregations[2],
            Aggregation::DistinctCount {
                field: "user".into(),
                alias: "users".into()
            }
        );
    }

    #[test]
    fn macros_with_arguments_by_name_and_by_count() {
        let mut m = macros();
        m.insert(
            "proc_is(name,other)".into(),
            "(Processes.process_name=$name$ OR Processes.original_file_name=$name$) Processes.process=$other$".into(),
        );
        m.insert("by_count(1)".into(), "Processes.user=$u$".into());
        let s = "| tstats count from datamodel=Endpoint.Processes where `proc_is(cmd.exe, \"*/c*\")` `by_count(bob)` by Processes.dest | `drop_dm_object_name(Processes)`";
        let t = TstatsSearch::parse(s, &m).unwrap();
        let ev = |name: &str, process: &str, user: &str| {
            t.condition.eval(&|f| match f {
                "process_name" => Some(name.to_string()),
                "process" => Some(process.to_string()),
                "user" => Some(user.to_string()),
                _ => None,
            })
        };
        assert!(ev("CMD.EXE", "cmd /c x", "bob"));
        assert!(!ev("cmd.exe", "cmd /k x", "bob"));
        assert!(!ev("cmd.exe", "cmd /c x", "eve"));
        let wrong = s.replace("`by_count(bob)`", "`by_count(bob, eve)`");
        assert!(
            TstatsSearch::parse(&wrong, &m)
                .unwrap_err()
                .0
                .contains("unknown macro")
        );
    }

    #[test]
    fn rejects_what_it_cannot_run() {
        assert!(TstatsSearch::parse("| stats count", &macros()).is_err());
        assert!(
            TstatsSearch::parse(
                "| tstats count from datamodel=X where a=1 | `nope`",
                &macros()
            )
            .is_err()
        );
        assert!(
            TstatsSearch::parse("| tstats sum(x) from datamodel=X where a=1", &macros()).is_err()
        );
        assert!(
            TstatsSearch::parse("| tstats values() from datamodel=X where a=1", &macros()).is_err()
        );
        assert!(
            TstatsSearch::parse(
                "| tstats count from datamodel=X where `nope` a=1",
                &macros()
            )
            .is_err()
        );
        let mut looped = macros();
        looped.insert("a".into(), "`b`".into());
        looped.insert("b".into(), "`a`".into());
        let e =
            TstatsSearch::parse("| tstats count from datamodel=X where `a`", &looped).unwrap_err();
        assert!(e.0.contains("nested deeper"), "{e}");
    }
}
