//! Windows command lines as a program sees them (CommandLineToArgvW), and the
//! switch tests of precise mode: `/create` and `/s` as whole arguments,
//! with `/` or `-` prefixes, and the remote target after `/s`.

/// Splits a command line the way `CommandLineToArgvW` (and the MSVC runtime
/// since 2008) does: the program name ends at the closing quote or the first
/// space/tab; in arguments, `2n` backslashes before `"` give `n` and toggle
/// quoting, `2n+1` give `n` and a literal `"`, other backslashes are literal,
/// and `""` inside quotes is a literal quote.
pub fn split(cmdline: &str) -> Vec<String> {
    let mut args = Vec::new();
    let chars: Vec<char> = cmdline.chars().collect();
    let mut i = 0;
    // Program name.
    let mut prog = String::new();
    if chars.first() == Some(&'"') {
        i = 1;
        while i < chars.len() && chars[i] != '"' {
            prog.push(chars[i]);
            i += 1;
        }
        i += 1;
        args.push(prog);
    } else {
        while i < chars.len() && chars[i] != ' ' && chars[i] != '\t' {
            prog.push(chars[i]);
            i += 1;
        }
        // cmd.exe runs `schtasks/create` as `schtasks` with `/create`.
        match prog.find('/') {
            Some(slash) if slash > 0 => {
                let rest = prog.split_off(slash);
                args.push(prog);
                args.push(rest);
            }
            _ => args.push(prog),
        }
    }
    loop {
        while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t') {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        let mut arg = String::new();
        let mut quoted = false;
        while i < chars.len() {
            let c = chars[i];
            if c == '\\' {
                let start = i;
                while i < chars.len() && chars[i] == '\\' {
                    i += 1;
                }
                let n = i - start;
                if i < chars.len() && chars[i] == '"' {
                    arg.extend(std::iter::repeat_n('\\', n / 2));
                    if n % 2 == 1 {
                        arg.push('"');
                        i += 1;
                    }
                } else {
                    arg.extend(std::iter::repeat_n('\\', n));
                }
                continue;
            }
            if c == '"' {
                if quoted && chars.get(i + 1) == Some(&'"') {
                    arg.push('"');
                    i += 2;
                    continue;
                }
                quoted = !quoted;
                i += 1;
                continue;
            }
            if !quoted && (c == ' ' || c == '\t') {
                break;
            }
            arg.push(c);
            i += 1;
        }
        args.push(arg);
    }
    args
}

/// The name of a switch argument (`/S`, `-create`), without its prefix.
fn switch_name(arg: &str) -> Option<&str> {
    arg.strip_prefix('/')
        .or_else(|| arg.strip_prefix('-'))
        .filter(|n| !n.is_empty())
}

/// The program's arguments parsed once, for the switch tests.
#[derive(Debug, Clone)]
pub struct Args {
    argv: Vec<String>,
}

impl Args {
    pub fn parse(cmdline: &str) -> Args {
        Args {
            argv: split(cmdline),
        }
    }

    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// True when some argument after the program name is the switch `name`.
    pub fn has_switch(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.argv
            .iter()
            .enumerate()
            .skip(1)
            .find(|(_, a)| switch_name(a).is_some_and(|n| n.eq_ignore_ascii_case(name)))
            .map(|(i, _)| i)
    }

    /// The argument after the first `/s` switch, unless that is a switch too.
    pub fn remote_target(&self) -> Option<&str> {
        let i = self.position("s")?;
        self.argv
            .get(i + 1)
            .map(String::as_str)
            .filter(|t| switch_name(t).is_none() && !t.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_as_windows_does() {
        assert_eq!(
            split(r#""C:\Program Files\x.exe" /a "b c" d\\"e f" g\"h"#),
            vec![r"C:\Program Files\x.exe", "/a", "b c", r#"d\e f"#, r#"g"h"#]
        );
        assert_eq!(split("a \"x\"\"y\""), vec!["a", "x\"y"]);
        assert_eq!(split("C:\\dir\\ /s\thost"), vec!["C:\\dir\\", "/s", "host"]);
        assert_eq!(
            split("schtasks/create /s H"),
            vec!["schtasks", "/create", "/s", "H"]
        );
        assert_eq!(split(""), vec![""]);
    }

    #[test]
    fn finds_switches_and_the_remote_target() {
        let a = Args::parse("schtasks /create /tn x /tr \"cmd /s /c y\" /sc once");
        assert!(a.has_switch("create"));
        assert!(!a.has_switch("s"));
        assert_eq!(a.remote_target(), None);
        let b = Args::parse("schtasks -CREATE -S host01 -tn x");
        assert!(b.has_switch("create"));
        assert_eq!(b.remote_target(), Some("host01"));
        let c = Args::parse("schtasks /create /s /tn x");
        assert_eq!(c.remote_target(), None);
    }
}
