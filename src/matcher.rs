//! Applies the search's `where` clause to CIM events, in either mode.
//!
//! Parity mode is Splunk's semantics exactly. Precise mode reads the same
//! clause, but gives a `process="*/NAME*"` comparison its intended meaning:
//! the command line, split as Windows splits it, holds the switch `NAME` as a
//! whole argument, written `/NAME` or `-NAME`.

use crate::cmdline::Args;
use crate::source::CimEvent;
use crate::source::cim::Field;
use crate::spl::expr::Expr;
use crate::spl::glob::Glob;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Parity,
    Precise,
}

impl Mode {
    pub fn parse(s: &str) -> Result<Mode, String> {
        match s {
            "parity" => Ok(Mode::Parity),
            "precise" => Ok(Mode::Precise),
            _ => Err(format!("unknown mode {s:?}: expected parity or precise")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Parity => "parity",
            Mode::Precise => "precise",
        }
    }
}

/// The switch a precise-mode comparison stands for: `*/create*` → `create`.
fn switch_of(field: &str, pattern: &Glob) -> Option<String> {
    if field != "process" {
        return None;
    }
    let inner = pattern.contains_only()?;
    let name = inner.strip_prefix('/')?;
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric())).then(|| name.to_string())
}

/// A rule's condition applied to events: a view of the compiled rule's
/// expression, free to make per event.
#[derive(Clone, Copy)]
pub struct Matcher<'a> {
    condition: &'a Expr,
}

impl<'a> Matcher<'a> {
    pub fn new(condition: &'a Expr) -> Matcher<'a> {
        Matcher { condition }
    }

    pub fn matches(&self, ev: &CimEvent, mode: Mode) -> bool {
        let mut args: Option<Args> = None;
        self.condition.eval_with(&mut |leaf| {
            if mode == Mode::Precise
                && let Expr::Compare {
                    field,
                    pattern,
                    negated,
                } = leaf
                && let Some(name) = switch_of(field, pattern)
            {
                let a = args.get_or_insert_with(|| Args::parse(ev.text(Field::Process)));
                return a.has_switch(&name) != *negated;
            }
            leaf.eval_leaf(leaf.leaf_field().and_then(|f| ev.field(f)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::CompiledRule;

    /// Spec §5's test vectors: (command line, parity, precise, remote_target).
    const VECTORS: &[(&str, bool, bool, &str)] = &[
        (
            "schtasks /create /s HOST01 /tn t /tr c:\\x.exe /sc once /st 00:00",
            true,
            true,
            "HOST01",
        ),
        (
            "SCHTASKS /Create /S localhost /RU DOMAIN\\user /TN \"Atomic task\" /TR \"C:\\windows\\system32\\cmd.exe\" /SC daily /ST 20:10",
            true,
            true,
            "localhost",
        ),
        ("schtasks /create /sc daily /tn x /tr y", true, false, ""),
        (
            "schtasks /create /tn x /tr \"cmd /s /c y\" /sc once",
            true,
            false,
            "",
        ),
        ("schtasks /create /xml t.xml /tn x", false, false, ""),
        (
            "schtasks /create /xml t.xml /tn x /s host01",
            true,
            true,
            "host01",
        ),
        ("schtasks /create /s\thost /tn x", true, true, "host"),
        (
            "schtasks -create -s host01 -tn x -tr y -sc once",
            false,
            true,
            "host01",
        ),
        (
            "schtasks /create /s \\\\FS02 /tn x /tr y",
            true,
            true,
            "\\\\FS02",
        ),
        (
            "\"C:\\Windows\\System32\\schtasks.exe\" /create /s 10.0.0.5 /tn x /tr y",
            true,
            true,
            "10.0.0.5",
        ),
        ("schtasks/create /s HOST /tn x", true, true, "HOST"),
        (
            "schtasks /delete /s host01 /tn x /f",
            false,
            false,
            "host01",
        ),
        ("schtasks /query /s host01", false, false, "host01"),
        ("schtasks /create /st 10:00 /tn x /sc once", true, false, ""),
    ];

    fn event(cmd: &str, name: &str, ofn: &str) -> CimEvent {
        let mut e = CimEvent::default();
        e.put(Field::Process, cmd);
        e.put(Field::ProcessName, name);
        e.put(Field::OriginalFileName, ofn);
        e.apply_defaults();
        e
    }

    #[test]
    fn truth_table_of_spec_sections_1_and_5() {
        let rule = CompiledRule::seed();
        let m = Matcher::new(&rule.search.condition);
        for &(cmd, parity, precise, target) in VECTORS {
            let e = event(cmd, "schtasks.exe", "");
            assert_eq!(m.matches(&e, Mode::Parity), parity, "parity: {cmd}");
            assert_eq!(m.matches(&e, Mode::Precise), precise, "precise: {cmd}");
            assert_eq!(
                Args::parse(cmd).remote_target().unwrap_or(""),
                target,
                "target: {cmd}"
            );
        }
    }

    #[test]
    fn process_name_or_original_file_name_case_insensitive() {
        let rule = CompiledRule::seed();
        let m = Matcher::new(&rule.search.condition);
        let cmd = "x /create /s h";
        assert!(m.matches(&event(cmd, "SCHTASKS.EXE", ""), Mode::Parity));
        assert!(m.matches(&event(cmd, "renamed.exe", "schtasks.exe"), Mode::Parity));
        // Server 2016 / Win7 Sysmon logs OriginalFileName "sctasks.exe": only the name matches.
        assert!(!m.matches(&event(cmd, "renamed.exe", "sctasks.exe"), Mode::Parity));
        assert!(!m.matches(&event(cmd, "schtasks.exe.bak", ""), Mode::Parity));
        assert!(!m.matches(&event(cmd, "at.exe", ""), Mode::Precise));
    }
}
