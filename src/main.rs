//! `schtasks-detect`: the command-line face of the library (see `cli`).

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let code =
        schtasks_detect::cli::run(&argv, &mut stdin.lock(), &mut out, &mut std::io::stderr());
    drop(out);
    std::process::exit(code);
}
