//! `schtasks-detect`: the command-line face of the library (see `cli`).

fn main() {
    // args_os: a file name need not be UTF-8 (args() would panic on it).
    let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let code =
        schtasks_detect::cli::run(&argv, &mut stdin.lock(), &mut out, &mut std::io::stderr());
    drop(out);
    std::process::exit(code);
}
