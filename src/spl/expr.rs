//! Splunk search-language boolean expressions, as used by `tstats ... where`
//! and by the `_filter` macro: `field=value`, `field!=value`, `field<value`
//! (and `<=`, `>`, `>=`), `field IN (a, b)`, `NOT`, `AND`, `OR`, parentheses,
//! and juxtaposition meaning AND.
//!
//! Precedence follows Splunk's documentation for the search command:
//! parentheses, then `NOT`, then `OR`, then `AND` (so `a b OR c` is
//! `a AND (b OR c)`). Operators are recognised in upper case only, as in Splunk.

use super::glob::Glob;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `field=pattern` (or `!=` with `negated`).
    Compare {
        field: String,
        pattern: Glob,
        negated: bool,
    },
    /// `field<value`, `<=`, `>`, `>=`: numeric when both sides are numbers,
    /// else by text, as Splunk's search command compares.
    Order {
        field: String,
        op: OrderOp,
        value: String,
    },
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    /// `*` alone: keeps everything (the default `_filter` body).
    All,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OrderOp {
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    Eq,
    NotEq,
    Order(OrderOp),
    In,
    And,
    Or,
    Not,
    /// A bare or quoted word; `quoted` words are never operators.
    Word(String, bool),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, ParseError> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Tok::Open);
            }
            ')' => {
                chars.next();
                out.push(Tok::Close);
            }
            '=' => {
                chars.next();
                out.push(Tok::Eq);
            }
            '<' | '>' => {
                chars.next();
                let eq = matches!(chars.peek(), Some((_, '=')));
                if eq {
                    chars.next();
                }
                out.push(Tok::Order(match (c, eq) {
                    ('<', false) => OrderOp::Lt,
                    ('<', true) => OrderOp::Le,
                    ('>', false) => OrderOp::Gt,
                    _ => OrderOp::Ge,
                }));
            }
            '!' => {
                chars.next();
                match chars.next() {
                    Some((_, '=')) => out.push(Tok::NotEq),
                    _ => return Err(ParseError(format!("expected '=' after '!' at {i}"))),
                }
            }
            '"' => {
                chars.next();
                let mut word = String::new();
                let mut closed = false;
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' => match chars.next() {
                            Some((_, e @ ('"' | '\\'))) => word.push(e),
                            Some((_, e)) => {
                                word.push('\\');
                                word.push(e);
                            }
                            None => word.push('\\'),
                        },
                        '"' => {
                            closed = true;
                            break;
                        }
                        c => word.push(c),
                    }
                }
                if !closed {
                    return Err(ParseError(format!("unterminated quote starting at {i}")));
                }
                out.push(Tok::Word(word, true));
            }
            _ => {
                let mut word = String::new();
                // A value (after `=`, `!=`, `<`...) may hold balanced
                // parentheses, as `process=*GetCurrent()*` does in ESCU; an
                // unbalanced `)` still closes the group around it.
                let value = matches!(out.last(), Some(Tok::Eq | Tok::NotEq | Tok::Order(_)));
                let mut depth = 0usize;
                while let Some(&(_, c)) = chars.peek() {
                    if value && c == '(' && !word.is_empty() {
                        depth += 1;
                        word.push(c);
                        chars.next();
                        continue;
                    }
                    if value && c == ')' && depth > 0 {
                        depth -= 1;
                        word.push(c);
                        chars.next();
                        continue;
                    }
                    if c.is_whitespace() || matches!(c, '(' | ')' | '=' | '"' | '<' | '>') {
                        break;
                    }
                    if c == '!' {
                        // `a!=b`: the `!` belongs to the operator.
                        let mut look = chars.clone();
                        look.next();
                        if matches!(look.peek(), Some((_, '='))) {
                            break;
                        }
                    }
                    chars.next();
                    // Splunk expands `\\` and `\"` outside quotes too: ESCU's
                    // `process=*\\\\*` means two backslashes.
                    if c == '\\'
                        && let Some(&(_, e @ ('\\' | '"'))) = chars.peek()
                    {
                        word.push(e);
                        chars.next();
                        continue;
                    }
                    word.push(c);
                }
                out.push(match word.as_str() {
                    "AND" => Tok::And,
                    "OR" => Tok::Or,
                    "NOT" => Tok::Not,
                    "IN" => Tok::In,
                    _ => Tok::Word(word, false),
                });
            }
        }
    }
    Ok(out)
}

/// The deepest nesting of parentheses and `NOT`s an expression may have.
/// The parser, evaluator and destructor recurse once per level: bounding it
/// keeps any input from overflowing the stack (natively or in wasm).
pub const MAX_DEPTH: usize = 64;

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
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

    /// and := or (AND? or)*
    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut items = vec![self.or()?];
        loop {
            match self.peek() {
                None | Some(Tok::Close) => break,
                Some(Tok::And) => {
                    self.pos += 1;
                    items.push(self.or()?);
                }
                Some(_) => items.push(self.or()?),
            }
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Expr::All)
        } else {
            Expr::And(items)
        })
    }

    /// or := not (OR not)*
    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut items = vec![self.not()?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Expr::All)
        } else {
            Expr::Or(items)
        })
    }

    /// Enters one more level of nesting, or refuses to.
    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, ParseError>,
    ) -> Result<T, ParseError> {
        if self.depth >= MAX_DEPTH {
            return Err(ParseError(format!(
                "expression nested deeper than {MAX_DEPTH} levels (parentheses and NOTs)"
            )));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn not(&mut self) -> Result<Expr, ParseError> {
        if self.peek() == Some(&Tok::Not) {
            self.pos += 1;
            return self.nested(|p| Ok(Expr::Not(Box::new(p.not()?))));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Expr, ParseError> {
        match self.next() {
            Some(Tok::Open) => self.nested(|p| {
                let e = p.and()?;
                match p.next() {
                    Some(Tok::Close) => Ok(e),
                    _ => Err(ParseError("missing ')'".into())),
                }
            }),
            Some(Tok::Word(w, quoted)) => {
                let negated = match self.peek() {
                    Some(Tok::Eq) => false,
                    Some(Tok::NotEq) => true,
                    Some(Tok::Order(op)) => {
                        let op = *op;
                        self.pos += 1;
                        return match self.next() {
                            Some(Tok::Word(value, _)) => Ok(Expr::Order {
                                field: w,
                                op,
                                value,
                            }),
                            _ => Err(ParseError(format!(
                                "missing value after {w} and its comparison"
                            ))),
                        };
                    }
                    Some(Tok::In) => {
                        self.pos += 1;
                        return self.in_list(w);
                    }
                    _ if !quoted && w == "*" => return Ok(Expr::All),
                    _ => {
                        return Err(ParseError(format!(
                            "expected field=value, found bare term {w:?} (free-text search is not supported)"
                        )));
                    }
                };
                self.pos += 1;
                let value = match self.next() {
                    Some(Tok::Word(v, _)) => v,
                    // Bare operator words are values here: `field=OR` is legal.
                    Some(Tok::And) => "AND".into(),
                    Some(Tok::Or) => "OR".into(),
                    Some(Tok::Not) => "NOT".into(),
                    _ => return Err(ParseError(format!("missing value after {w}="))),
                };
                Ok(Expr::Compare {
                    field: w,
                    pattern: Glob::new(&value),
                    negated,
                })
            }
            Some(t) => Err(ParseError(format!("unexpected {t:?}"))),
            None => Err(ParseError("unexpected end of expression".into())),
        }
    }
}

impl Parser {
    /// `field IN (a, "b c", d*)`: any of the values.
    fn in_list(&mut self, field: String) -> Result<Expr, ParseError> {
        if self.next() != Some(Tok::Open) {
            return Err(ParseError(format!("expected ( after {field} IN")));
        }
        let mut items = Vec::new();
        loop {
            match self.next() {
                Some(Tok::Close) => break,
                Some(Tok::Word(v, true)) => items.push(v),
                // Unquoted values are separated by commas, spaces or both.
                Some(Tok::Word(v, false)) => {
                    items.extend(v.split(',').filter(|p| !p.is_empty()).map(str::to_string))
                }
                _ => return Err(ParseError(format!("unterminated IN list for {field}"))),
            }
        }
        let compares: Vec<Expr> = items
            .into_iter()
            .map(|v| Expr::Compare {
                field: field.clone(),
                pattern: Glob::new(v.trim_end_matches(',')),
                negated: false,
            })
            .collect();
        Ok(match compares.len() {
            0 => Expr::Not(Box::new(Expr::All)),
            1 => compares.into_iter().next().unwrap_or(Expr::All),
            _ => Expr::Or(compares),
        })
    }
}

/// Parses an expression; an empty text is `All`.
pub fn parse(text: &str) -> Result<Expr, ParseError> {
    let toks = tokenize(text)?;
    if toks.is_empty() {
        return Ok(Expr::All);
    }
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let e = p.and()?;
    if p.pos < p.toks.len() {
        return Err(ParseError(format!("unexpected {:?}", p.toks[p.pos])));
    }
    Ok(e)
}

impl Expr {
    /// Evaluates against a record; `get` returns a field's value, `None` when
    /// absent. A comparison on an absent field is false (`!=` too, as in Splunk).
    pub fn eval(&self, get: &dyn Fn(&str) -> Option<String>) -> bool {
        self.eval_with(&mut |leaf| {
            let value = leaf.leaf_field().and_then(get);
            leaf.eval_leaf(value.as_deref())
        })
    }

    /// Evaluates with a caller-supplied test of each leaf (`Compare`, `Order`),
    /// so that a mode can give a comparison another meaning (see `matcher`).
    pub fn eval_with(&self, leaf: &mut dyn FnMut(&Expr) -> bool) -> bool {
        match self {
            Expr::All => true,
            Expr::Compare { .. } | Expr::Order { .. } => leaf(self),
            Expr::Not(e) => !e.eval_with(leaf),
            Expr::And(items) => items.iter().all(|e| e.eval_with(leaf)),
            Expr::Or(items) => items.iter().any(|e| e.eval_with(leaf)),
        }
    }

    /// The field a leaf reads.
    pub fn leaf_field(&self) -> Option<&str> {
        match self {
            Expr::Compare { field, .. } | Expr::Order { field, .. } => Some(field),
            _ => None,
        }
    }

    /// A leaf's verdict for the field's value (`None`: the field is absent).
    pub fn eval_leaf(&self, value: Option<&str>) -> bool {
        let Some(v) = value else { return false };
        match self {
            Expr::Compare {
                pattern, negated, ..
            } => pattern.is_match(v) != *negated,
            Expr::Order { op, value: rhs, .. } => {
                let ord = match (v.trim().parse::<f64>(), rhs.trim().parse::<f64>()) {
                    (Ok(a), Ok(b)) => a.partial_cmp(&b),
                    _ => Some(v.cmp(rhs.as_str())),
                };
                let Some(ord) = ord else { return false };
                match op {
                    OrderOp::Lt => ord.is_lt(),
                    OrderOp::Le => ord.is_le(),
                    OrderOp::Gt => ord.is_gt(),
                    OrderOp::Ge => ord.is_ge(),
                }
            }
            _ => false,
        }
    }

    /// Every field the expression reads.
    pub fn fields(&self, out: &mut Vec<String>) {
        match self {
            Expr::All => {}
            Expr::Compare { field, .. } | Expr::Order { field, .. } => {
                if !out.contains(field) {
                    out.push(field.clone())
                }
            }
            Expr::Not(e) => e.fields(out),
            Expr::And(v) | Expr::Or(v) => v.iter().for_each(|e| e.fields(out)),
        }
    }

    /// Renames fields, e.g. strips a data-model prefix (`drop_dm_object_name`).
    pub fn map_fields(&mut self, f: &dyn Fn(&str) -> String) {
        match self {
            Expr::All => {}
            Expr::Compare { field, .. } | Expr::Order { field, .. } => *field = f(field),
            Expr::Not(e) => e.map_fields(f),
            Expr::And(v) | Expr::Or(v) => v.iter_mut().for_each(|e| e.map_fields(f)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(e: &Expr, kv: &[(&str, &str)]) -> bool {
        e.eval(&|f| kv.iter().find(|(k, _)| *k == f).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn backslash_escapes_outside_quotes_too() {
        let e = parse(r"process=*\\\\* OR process=*HKLM\\SAM* OR process=*C:\Windows\*").unwrap();
        let hit = |v: &str| e.eval(&|_| Some(v.to_string()));
        assert!(hit(r"sc.exe \\fs02 create"));
        assert!(!hit(r"sc.exe \fs02 create"));
        assert!(hit(r"reg save HKLM\sam x"));
        assert!(hit(r"C:\Windows\x.exe"));
    }

    #[test]
    fn juxtaposition_is_and_and_or_binds_tighter() {
        let e = parse("a=1 b=2 OR c=3").unwrap();
        assert!(eval(&e, &[("a", "1"), ("c", "3")]));
        assert!(!eval(&e, &[("b", "2"), ("c", "3")]));
        let e = parse("a=1 OR b=2 AND c=3").unwrap();
        // (a OR b) AND c
        assert!(!eval(&e, &[("a", "1")]));
        assert!(eval(&e, &[("a", "1"), ("c", "3")]));
    }

    #[test]
    fn not_negation_and_quotes() {
        let e = parse("NOT user=\"sys*\" process!=x").unwrap();
        assert!(eval(&e, &[("user", "admin"), ("process", "y")]));
        assert!(!eval(&e, &[("user", "SYSTEM"), ("process", "y")]));
        assert!(!eval(&e, &[("user", "admin"), ("process", "X")]));
        // != on a missing field is false, NOT field= on a missing field is true.
        assert!(!eval(&parse("process!=x").unwrap(), &[]));
        assert!(eval(&parse("NOT process=x").unwrap(), &[]));
    }

    #[test]
    fn ordering_and_in_lists() {
        let e = parse("count>=2 count<10").unwrap();
        assert!(eval(&e, &[("count", "2")]));
        assert!(!eval(&e, &[("count", "10")]));
        assert!(
            eval(&parse("count>9").unwrap(), &[("count", "10")]),
            "numeric, not text"
        );
        assert!(eval(
            &parse("firstTime<2021-01-01").unwrap(),
            &[("firstTime", "2020-12-19T07:00:22")]
        ));
        let e = parse("dest IN (ws1, \"ws 2\",srv*) NOT user IN (system)").unwrap();
        assert!(eval(&e, &[("dest", "WS1"), ("user", "bob")]));
        assert!(eval(&e, &[("dest", "ws 2"), ("user", "bob")]));
        assert!(eval(&e, &[("dest", "srv9"), ("user", "bob")]));
        assert!(!eval(&e, &[("dest", "srv9"), ("user", "SYSTEM")]));
        assert!(!eval(&e, &[("dest", "ws3"), ("user", "bob")]));
        assert!(parse("dest IN ws1").is_err());
        assert!(parse("count >").is_err());
    }

    #[test]
    fn values_may_hold_balanced_parentheses() {
        let e = parse("(a=x (b=*GetCurrent()* OR b=y))").unwrap();
        assert!(eval(&e, &[("a", "x"), ("b", "[x]::GetCurrent().Name")]));
        assert!(!eval(&e, &[("a", "x"), ("b", "GetCurrent")]));
        assert!(eval(&parse("NOT(a=1)").unwrap(), &[("a", "2")]));
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = format!("{}a=1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
        for deep in [
            format!("{}a=1{}", "(".repeat(6000), ")".repeat(6000)),
            format!("{}a=1", "NOT ".repeat(6000)),
            "(".repeat(100_000),
        ] {
            let e = parse(&deep).unwrap_err();
            assert!(e.0.contains("nested deeper"), "{e}");
        }
    }

    #[test]
    fn lowercase_and_is_a_term_and_errors_are_reported() {
        assert!(parse("a=1 and").is_err());
        assert!(parse("(a=1").is_err());
        assert!(parse("a=").is_err());
        assert!(parse("a=\"x").is_err());
        assert_eq!(parse("*").unwrap(), Expr::All);
        assert_eq!(parse("").unwrap(), Expr::All);
    }
}
