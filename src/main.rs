//! `schtasks-detect`: the command-line face of the library (see `cli`).

use std::ffi::OsString;

#[cfg(not(target_family = "wasm"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let argv = arguments();
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let code =
        schtasks_detect::cli::run(&argv, &mut stdin.lock(), &mut out, &mut std::io::stderr());
    drop(out);
    std::process::exit(code);
}

/// The arguments after the program's name.
fn arguments() -> Vec<OsString> {
    #[cfg(target_os = "wasi")]
    if std::env::args_os().len() == 0 {
        return exec_wasi::arguments();
    }
    // args_os: a file name need not be UTF-8 (args() would panic on it).
    std::env::args_os().skip(1).collect()
}

/// Fluent Bit's `exec_wasi` input starts a module with no arguments at all,
/// not even a program name (a shell or a WASI runtime always gives one), and
/// with the directories of its `accessible_paths` preopened. Started that way,
/// the command reads those directories and prints each hit as a JSON line for
/// Fluent Bit to parse: `--stream` over every preopened directory.
#[cfg(target_os = "wasi")]
mod exec_wasi {
    use std::ffi::OsString;

    #[cfg(not(target_family = "wasm"))]
    #[global_allocator]
    static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

    pub fn arguments() -> Vec<OsString> {
        let mut args = vec![OsString::from("--stream")];
        args.extend(preopened_directories().into_iter().map(OsString::from));
        args
    }

    /// The names of the preopened directories, in descriptor order: WASI
    /// numbers preopens from 3 up, and the first descriptor that is not one
    /// ends the list.
    fn preopened_directories() -> Vec<String> {
        let mut names = Vec::new();
        for fd in 3u32.. {
            // SAFETY: a plain WASI call; an fd that is not a preopen gives an error.
            let Ok(prestat) = (unsafe { wasi::fd_prestat_get(fd) }) else {
                break;
            };
            if prestat.tag != wasi::PREOPENTYPE_DIR.raw() {
                continue;
            }
            // SAFETY: the tag says this is the directory variant.
            let len = unsafe { prestat.u.dir.pr_name_len };
            let mut name = vec![0u8; len];
            // SAFETY: `name` has room for the `len` bytes the call writes.
            if unsafe { wasi::fd_prestat_dir_name(fd, name.as_mut_ptr(), len) }.is_ok() {
                // Some runtimes count a closing NUL in the length.
                while name.last() == Some(&0) {
                    name.pop();
                }
                names.push(String::from_utf8_lossy(&name).into_owned());
            }
        }
        names
    }
}
