//! The `| where` stage of the ESCU pack's second tier: Splunk eval
//! expressions on result rows. What those rules use: comparisons (`=`, `==`,
//! `!=`, `<`, `<=`, `>`, `>=`) between fields, numbers and strings, `AND`,
//! `OR`, `NOT`, parentheses, and the functions `match(field, "regex")`,
//! `len(x)`, `lower(x)`, `upper(x)`, `isnull(x)`, `isnotnull(x)`.
//!
//! Eval's logic has three values: a comparison with a null field is null,
//! `NOT null` is null, and `where` keeps a row only when the whole
//! expression is true. Numbers compare as numbers when both sides are
//! numeric, strings byte-wise and case-sensitively (eval's `==`). A
//! multivalue field (a `values()` column) satisfies a comparison or a
//! `match` when any of its values does (our choice; the pack's second-tier
//! rules test single-valued fields).

use super::expr::ParseError;
use regex_lite::Regex;

#[derive(Debug, Clone)]
pub enum Eval {
    Field(String),
    Num(f64),
    Str(String),
    Compare(Box<Eval>, CmpOp, Box<Eval>),
    And(Box<Eval>, Box<Eval>),
    Or(Box<Eval>, Box<Eval>),
    Not(Box<Eval>),
    Match(Box<Eval>, Regex),
    Call(Func, Box<Eval>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Func {
    Len,
    Lower,
    Upper,
    IsNull,
    IsNotNull,
}

/// A value as eval sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Multi(Vec<String>),
}

fn err(m: impl Into<String>) -> ParseError {
    ParseError(m.into())
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Num(f64),
    Str(String),
    Op(CmpOp),
    LParen,
    RParen,
    Comma,
    And,
    Or,
    Not,
}

fn tokens(text: &str) -> Result<Vec<Tok>, ParseError> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            '"' => {
                // Splunk expands `\\` and `\"` in quoted strings; other escapes stay.
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(err("unterminated string in where")),
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') if matches!(chars.get(i + 1), Some('\\' | '"')) => {
                            s.push(chars[i + 1]);
                            i += 2;
                        }
                        Some(&c) => {
                            s.push(c);
                            i += 1
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            '=' | '!' | '<' | '>' => {
                let next = chars.get(i + 1).copied();
                let (op, len) = match (c, next) {
                    ('=', Some('=')) => (CmpOp::Eq, 2),
                    ('=', _) => (CmpOp::Eq, 1),
                    ('!', Some('=')) => (CmpOp::Ne, 2),
                    ('<', Some('=')) => (CmpOp::Le, 2),
                    ('<', _) => (CmpOp::Lt, 1),
                    ('>', Some('=')) => (CmpOp::Ge, 2),
                    ('>', _) => (CmpOp::Gt, 1),
                    _ => return Err(err(format!("unexpected '{c}' in where"))),
                };
                out.push(Tok::Op(op));
                i += len;
            }
            c if c.is_ascii_digit() => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let s: String = chars[start..i].iter().collect();
                out.push(Tok::Num(
                    s.parse().map_err(|_| err(format!("bad number {s}")))?,
                ));
            }
            c if c.is_alphanumeric() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.'))
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                out.push(match word.as_str() {
                    "AND" => Tok::And,
                    "OR" => Tok::Or,
                    "NOT" => Tok::Not,
                    _ => Tok::Ident(word),
                });
            }
            c => return Err(err(format!("unsupported character '{c}' in where"))),
        }
    }
    Ok(out)
}

/// Splunk's `match` takes PCRE; the pack's patterns escape punctuation PCRE
/// takes literally (`\/`, `\_`, `\#`) that regex-lite refuses: those lose
/// the backslash; every other escape is kept.
pub fn pcre_to_rust(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(e)
                if (e.is_ascii_punctuation() || e == '_') && !r"\.+*?()|[]{}^$-".contains(e) =>
            {
                out.push(e)
            }
            Some(e) => {
                out.push('\\');
                out.push(e);
            }
            None => out.push('\\'),
        }
    }
    out
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<Eval, ParseError> {
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            left = Eval::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Eval, ParseError> {
        let mut left = self.not()?;
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            left = Eval::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Eval, ParseError> {
        if self.peek() == Some(&Tok::Not) {
            self.pos += 1;
            return Ok(Eval::Not(Box::new(self.not()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Eval, ParseError> {
        let left = self.term()?;
        if let Some(Tok::Op(op)) = self.peek().cloned() {
            self.pos += 1;
            let right = self.term()?;
            return Ok(Eval::Compare(Box::new(left), op, Box::new(right)));
        }
        Ok(left)
    }

    fn term(&mut self) -> Result<Eval, ParseError> {
        match self.next() {
            Some(Tok::Num(n)) => Ok(Eval::Num(n)),
            Some(Tok::Str(s)) => Ok(Eval::Str(s)),
            Some(Tok::LParen) => {
                let e = self.or()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(e),
                    _ => Err(err("missing ')' in where")),
                }
            }
            Some(Tok::Ident(name)) if self.peek() == Some(&Tok::LParen) => {
                self.pos += 1;
                let arg = self.or()?;
                let lower = name.to_ascii_lowercase();
                let call = if lower == "match" {
                    if self.next() != Some(Tok::Comma) {
                        return Err(err("match() takes a field and a regular expression"));
                    }
                    let Some(Tok::Str(re)) = self.next() else {
                        return Err(err(
                            "match(): the regular expression must be a quoted string",
                        ));
                    };
                    let regex = Regex::new(&pcre_to_rust(&re))
                        .map_err(|e| err(format!("match(): regular expression {re:?}: {e}")))?;
                    Eval::Match(Box::new(arg), regex)
                } else {
                    let f = match lower.as_str() {
                        "len" => Func::Len,
                        "lower" => Func::Lower,
                        "upper" => Func::Upper,
                        "isnull" => Func::IsNull,
                        "isnotnull" => Func::IsNotNull,
                        _ => return Err(err(format!("unsupported eval function {name}()"))),
                    };
                    Eval::Call(f, Box::new(arg))
                };
                match self.next() {
                    Some(Tok::RParen) => Ok(call),
                    _ => Err(err(format!("missing ')' after {name}(...)"))),
                }
            }
            Some(Tok::Ident(name)) => Ok(Eval::Field(name)),
            t => Err(err(format!("unexpected {t:?} in where"))),
        }
    }
}

impl Eval {
    pub fn parse(text: &str) -> Result<Eval, ParseError> {
        let mut p = Parser {
            toks: tokens(text)?,
            pos: 0,
        };
        let e = p.or()?;
        if p.pos < p.toks.len() {
            return Err(err(format!("unexpected {:?} in where", p.toks[p.pos])));
        }
        Ok(e)
    }

    /// Renames fields (`Processes.process` → `process`).
    pub fn map_fields(&mut self, f: &dyn Fn(&str) -> String) {
        match self {
            Eval::Field(name) => *name = f(name),
            Eval::Compare(a, _, b) | Eval::And(a, b) | Eval::Or(a, b) => {
                a.map_fields(f);
                b.map_fields(f);
            }
            Eval::Not(a) | Eval::Match(a, _) | Eval::Call(_, a) => a.map_fields(f),
            Eval::Num(_) | Eval::Str(_) => {}
        }
    }

    fn value(&self, get: &dyn Fn(&str) -> Val) -> Val {
        match self {
            Eval::Field(name) => get(name),
            Eval::Num(n) => Val::Num(*n),
            Eval::Str(s) => Val::Str(s.clone()),
            Eval::Call(f, a) => {
                let v = a.value(get);
                match (f, v) {
                    (Func::IsNull, v) => Val::Bool(v == Val::Null),
                    (Func::IsNotNull, v) => Val::Bool(v != Val::Null),
                    (_, Val::Null) => Val::Null,
                    (Func::Len, v) => Val::Num(text(&v).chars().count() as f64),
                    (Func::Lower, v) => Val::Str(text(&v).to_lowercase()),
                    (Func::Upper, v) => Val::Str(text(&v).to_uppercase()),
                }
            }
            logical => match logical.truth(get) {
                Some(b) => Val::Bool(b),
                None => Val::Null,
            },
        }
    }

    /// True, false, or null (`None`).
    pub fn truth(&self, get: &dyn Fn(&str) -> Val) -> Option<bool> {
        match self {
            Eval::And(a, b) => match (a.truth(get), b.truth(get)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Eval::Or(a, b) => match (a.truth(get), b.truth(get)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            Eval::Not(a) => a.truth(get).map(|b| !b),
            Eval::Match(a, re) => match a.value(get) {
                Val::Null => None,
                Val::Multi(vs) => Some(vs.iter().any(|v| re.is_match(v))),
                v => Some(re.is_match(&text(&v))),
            },
            Eval::Compare(a, op, b) => compare(&a.value(get), *op, &b.value(get)),
            other => match other.value(get) {
                Val::Bool(b) => Some(b),
                Val::Null => None,
                _ => Some(true),
            },
        }
    }

    /// Whether `where` keeps the row.
    pub fn keeps(&self, get: &dyn Fn(&str) -> Val) -> bool {
        self.truth(get) == Some(true)
    }
}

fn text(v: &Val) -> String {
    match v {
        Val::Null => String::new(),
        Val::Bool(b) => b.to_string(),
        Val::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
        Val::Num(n) => n.to_string(),
        Val::Str(s) => s.clone(),
        Val::Multi(v) => v.first().cloned().unwrap_or_default(),
    }
}

fn number(v: &Val) -> Option<f64> {
    match v {
        Val::Num(n) => Some(*n),
        Val::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn compare(a: &Val, op: CmpOp, b: &Val) -> Option<bool> {
    if *a == Val::Null || *b == Val::Null {
        return None;
    }
    if let Val::Multi(vs) = a {
        return Some(
            vs.iter()
                .any(|v| compare(&Val::Str(v.clone()), op, b) == Some(true)),
        );
    }
    if let Val::Multi(vs) = b {
        return Some(
            vs.iter()
                .any(|v| compare(a, op, &Val::Str(v.clone())) == Some(true)),
        );
    }
    let ord = match (number(a), number(b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y)?,
        _ => text(a).as_bytes().cmp(text(b).as_bytes()),
    };
    Some(match op {
        CmpOp::Eq => ord.is_eq(),
        CmpOp::Ne => ord.is_ne(),
        CmpOp::Lt => ord.is_lt(),
        CmpOp::Le => ord.is_le(),
        CmpOp::Gt => ord.is_gt(),
        CmpOp::Ge => ord.is_ge(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(pairs: &'a [(&'a str, Val)]) -> impl Fn(&str) -> Val + 'a {
        move |f: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == f)
                .map(|(_, v)| v.clone())
                .unwrap_or(Val::Null)
        }
    }

    #[test]
    fn counts_fields_and_nulls() {
        let r = [
            ("count", Val::Num(12.0)),
            ("process_name", Val::Str("a.exe".into())),
            ("parent_process_name", Val::Str("b.exe".into())),
        ];
        let get = row(&r);
        assert!(Eval::parse("count >=10").unwrap().keeps(&get));
        assert!(!Eval::parse("count > 12").unwrap().keeps(&get));
        assert!(
            Eval::parse("parent_process_name != process_name")
                .unwrap()
                .keeps(&get)
        );
        assert!(!Eval::parse("missing > 1").unwrap().keeps(&get));
        // NOT null is null: the row goes.
        assert!(!Eval::parse("NOT missing > 1").unwrap().keeps(&get));
        assert!(
            Eval::parse("count >= 10 AND (missing > 1 OR len(process_name) = 5)")
                .unwrap()
                .keeps(&get)
        );
        assert!(Eval::parse("isnull(missing)").unwrap().keeps(&get));
    }

    #[test]
    fn match_takes_the_pack_patterns() {
        let cmd = r"cmd.exe /Q /c echo cd ^> \\127.0.0.1\C$\__output 2^>^&1 > C:\Windows\ABCD.bat";
        let r = [("process", Val::Str(cmd.into()))];
        let get = row(&r);
        for re in [
            r#"match(process, "(?i)cmd\.exe\s+\/Q\s+\/c")"#,
            r#"match(process,"(?i)echo\s+cd")"#,
            r#"match(process, "(?i)\\__output")"#,
            r#"match(process, "(?i)C:\\\\Windows\\\\[a-zA-Z]{1,8}\\.bat")"#,
            r#"match(process, "\\\\127\.0\.0\.1\\.*")"#,
        ] {
            assert!(Eval::parse(re).unwrap().keeps(&get), "{re}");
        }
        let ordinal = Eval::parse(r#"match(process,"rundll32.+\#\d+")"#).unwrap();
        assert!(ordinal.keeps(&row(&[(
            "process",
            Val::Str("rundll32.exe x.dll,#12".into())
        )])));
        let enc = Eval::parse(r#"match(process,"(?i)[\-|\/|–|—|―][Ee^]{1,2}[NnCcOoDdEeMmAa^]+\s+[\"]?[A-Za-z0-9+/=]{5,}[\"]?")"#).unwrap();
        assert!(enc.keeps(&row(&[(
            "process",
            Val::Str("powershell -enc SQBFAFgAIAA=".into())
        )])));
        assert!(!enc.keeps(&row(&[(
            "process",
            Val::Str("powershell -File x.ps1".into())
        )])));
        assert!(Eval::parse("nope(process)").is_err());
    }
}
