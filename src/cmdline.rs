//! Windows command lines as a program sees them (CommandLineToArgvW), and the
//! switch tests of precise mode: `/create` and `/s` as whole arguments,
//! with `/` or `-` prefixes, and the remote target after `/s`.

/// Splits a command line the way `CommandLineToArgvW` (and the MSVC runtime
/// since 2008) does: the program name ends at the closing quote or the first
/// space/tab; in arguments, `2n` backslashes before `"` give `n` and toggle
/// quoting, `2n+1` give `n` and a literal `"`, other backslashes are literal,
/// and `""` inside quotes is a literal quote.
///
/// Works on bytes: every character it acts on is ASCII, and UTF-8 never uses
/// ASCII bytes inside a multi-byte character, so the text needs no decoding
/// (a `Vec<char>` of it cost four times its size).
pub fn split(cmdline: &str) -> Vec<String> {
    let b = cmdline.as_bytes();
    let text = |bytes: Vec<u8>| {
        String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    };
    let mut args = Vec::new();
    // Program name.
    let mut i = if b.first() == Some(&b'"') {
        let end = b[1..]
            .iter()
            .position(|&c| c == b'"')
            .map_or(b.len(), |p| p + 1);
        args.push(cmdline[1..end].to_string());
        end + 1
    } else {
        let end = b
            .iter()
            .position(|&c| c == b' ' || c == b'\t')
            .unwrap_or(b.len());
        let prog = &cmdline[..end];
        // cmd.exe runs `schtasks/create` as `schtasks` with `/create`.
        match prog.find('/') {
            Some(slash) if slash > 0 => {
                args.push(prog[..slash].to_string());
                args.push(prog[slash..].to_string());
            }
            _ => args.push(prog.to_string()),
        }
        end
    };
    loop {
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let mut arg = Vec::new();
        let mut quoted = false;
        while i < b.len() {
            let c = b[i];
            if c == b'\\' {
                let start = i;
                while i < b.len() && b[i] == b'\\' {
                    i += 1;
                }
                let n = i - start;
                if i < b.len() && b[i] == b'"' {
                    arg.extend(std::iter::repeat_n(b'\\', n / 2));
                    if n % 2 == 1 {
                        arg.push(b'"');
                        i += 1;
                    }
                } else {
                    arg.extend(std::iter::repeat_n(b'\\', n));
                }
                continue;
            }
            if c == b'"' {
                if quoted && b.get(i + 1) == Some(&b'"') {
                    arg.push(b'"');
                    i += 2;
                    continue;
                }
                quoted = !quoted;
                i += 1;
                continue;
            }
            if !quoted && (c == b' ' || c == b'\t') {
                break;
            }
            // Copy the run of ordinary bytes at once.
            let run = b[i..]
                .iter()
                .position(|&c| matches!(c, b'\\' | b'"' | b' ' | b'\t'))
                .map_or(b.len() - i, |p| p.max(1));
            arg.extend_from_slice(&b[i..i + run]);
            i += run;
        }
        args.push(text(arg));
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

/// The flagship's `remote_target` column: the argument after a whole `/s`
/// (or `-s`) switch of a command line, `""` when there is none. One
/// definition for the rows (engine) and the one-event annotations.
pub fn remote_target(process: &str) -> String {
    Args::parse(process)
        .remote_target()
        .unwrap_or("")
        .to_string()
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
