//! The command-line tool: files (or stdin) in, the seed's results out as a
//! table for people, JSON for machines, or CSV rows; `--stream` writes one
//! JSON line per matching event as it is read (for pipelines).

use crate::aggregate::MatchedEvent;
use crate::engine::{Detector, Options, Partial, RuleHit};
use crate::input::Resume;
use crate::input::split::{self, Cuts};
use crate::report::Report;
use crate::rule::CompiledRule;
use std::collections::HashSet;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub const USAGE: &str = "\
usage: schtasks-detect [OPTIONS] FILE... | -
       schtasks-detect merge [OPTIONS] PARTIAL...

Finds remote scheduled-task creation (Splunk ESCU 'Schtasks scheduling job on
remote system', T1053.005) in EVTX, Windows event XML, JSON or CSV logs, gzip
or not. Directories are read recursively; '-' reads standard input.
merge combines partial results (--partial) made with the same rule and mode
options, in the order given, into the report one run over all their inputs
gives (or, with --partial, into one partial result).

options:
  --mode parity|precise   parity: Splunk's search exactly (default);
                          precise: /create and /s as whole switches, - or /
  --format table|json|csv table for people (default), one JSON object, CSV rows
  --tz ±HH:MM             offset for firstTime/lastTime (default UTC)
  --filter EXPR           the _filter macro on the rows, Splunk syntax, e.g.
                          'NOT user=SYSTEM dest IN (WKS*, SRV01) count>2' (default *)
  --max-matches N         matched events kept per row for drilldown (default 100)
  --rules SELECTION       ESCU rules to run beside the flagship, a comma list of:
                          flagship (default), all, a rule id or name,
                          story:<analytic story>, mitre:<technique, e.g. T1003>
  --rule-file FILE.yml    also run a rule written in ESCU's YAML form (repeatable)
  --list-rules            list the ESCU catalogue: supported rules, and every
                          unsupported one with why (JSON with --format json)
  --threads N             files read in parallel (default: every core); results
                          are those of one thread. 1 reads them one by one
  --partial               write the partial result (JSON, versioned) instead of
                          the report: what `merge` combines, on this machine
                          or another
  --stream                one JSON line per matching event, as it is read
  --summary               with --stream: end with the aggregated rows (JSON line)
  -h, --help              this text

exit status: 0 read everything, 1 some input could not be read, 2 usage error";

#[derive(Debug, Clone, Copy, PartialEq)]
enum OutFormat {
    Table,
    Json,
    Csv,
}

struct Args {
    options: Options,
    list_rules: bool,
    threads: usize,
    format: OutFormat,
    stream: bool,
    summary: bool,
    /// Write the partial result instead of the report.
    partial: bool,
    /// `merge`: the inputs are partial results to merge.
    merge: bool,
    inputs: Vec<OsString>,
}

fn parse_args(argv: &[OsString]) -> Result<Option<Args>, String> {
    let mut mode = None;
    let mut tz = None;
    let mut filter = None;
    let mut max = None;
    let mut format = OutFormat::Table;
    let mut stream = false;
    let mut summary = false;
    let mut list_rules = false;
    let mut threads = None;
    let mut rules = None;
    let mut rule_files = Vec::new();
    let mut inputs = Vec::new();
    let mut partial = false;
    let merge = argv.first().is_some_and(|a| a == "merge");
    let mut it = argv.iter().skip(usize::from(merge));
    while let Some(raw) = it.next() {
        // File names may be any bytes; options and their values are text.
        let Some(a) = raw.to_str() else {
            if raw.as_encoded_bytes().starts_with(b"-") {
                return Err(format!("option {raw:?} is not valid UTF-8"));
            }
            inputs.push(raw.clone());
            continue;
        };
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a, None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => match it.next() {
                    Some(v) => v
                        .to_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("{name}: value {v:?} is not valid UTF-8")),
                    None => Err(format!("{name} needs a value")),
                },
            }
        };
        match flag {
            "-h" | "--help" => return Ok(None),
            "--mode" => mode = Some(value("--mode")?),
            "--tz" => tz = Some(value("--tz")?),
            "--filter" => filter = Some(value("--filter")?),
            "--max-matches" => {
                let v = value("--max-matches")?;
                max = Some(
                    v.parse()
                        .map_err(|_| format!("--max-matches: not a number: {v}"))?,
                )
            }
            "--format" => {
                format = match value("--format")?.as_str() {
                    "table" => OutFormat::Table,
                    "json" => OutFormat::Json,
                    "csv" => OutFormat::Csv,
                    f => return Err(format!("unknown format {f:?}: expected table, json or csv")),
                }
            }
            "--rules" => rules = Some(value("--rules")?),
            "--rule-file" => rule_files.push(value("--rule-file")?),
            "--list-rules" => list_rules = true,
            "--threads" => {
                let v = value("--threads")?;
                threads = Some(
                    v.parse::<usize>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("--threads: not a positive number: {v}"))?,
                )
            }
            "--stream" => stream = true,
            "--summary" => summary = true,
            "--partial" => partial = true,
            "-" => inputs.push("-".into()),
            f if f.starts_with('-') => return Err(format!("unknown option {f}")),
            _ => inputs.push(raw.clone()),
        }
    }
    if inputs.is_empty() && !list_rules {
        return Err(if merge {
            "merge: no input: give the partial results to merge, in input order".into()
        } else {
            "no input: give files, directories or -".into()
        });
    }
    if partial && stream {
        return Err("--partial and --stream do not go together".into());
    }
    if merge && stream {
        return Err("merge reads partial results: --stream does not apply".into());
    }
    let mut options = Options::parse(mode.as_deref(), tz.as_deref(), filter.as_deref(), max)?;
    if let Some(sel) = &rules {
        options = options.select_rules(sel)?;
    }
    for file in &rule_files {
        let yaml = std::fs::read_to_string(file).map_err(|e| format!("--rule-file {file}: {e}"))?;
        let rule = crate::ruleset::rule_from_yaml(&yaml)
            .map_err(|e| format!("--rule-file {file}: {e}"))?;
        options.rules.push(rule);
    }
    let threads = if cfg!(target_family = "wasm") {
        // WASI preview 1 has no threads.
        1
    } else {
        threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
    };
    Ok(Some(Args {
        options,
        list_rules,
        threads,
        format,
        stream,
        summary,
        partial,
        merge,
        inputs,
    }))
}

/// A file's identity, so that no file or directory is read twice whatever
/// the links leading to it.
#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata, _: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn file_id(_: &std::fs::Metadata, path: &Path) -> Option<(u64, u64)> {
    use std::hash::{Hash, Hasher};
    let real = std::fs::canonicalize(path).ok()?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    real.hash(&mut h);
    Some((0, h.finish()))
}

/// What an argument stands for: the files to read, in order, and the paths
/// met and not read (with why).
///
/// The walk follows symbolic links, but enters no directory and reads no
/// file twice (by device and inode), so a link loop ends; it reads regular
/// files only, noting FIFOs, sockets and devices (which may never end). An
/// argument that is itself not a directory is read as given, even a FIFO.
fn expand(arg: &Path, seen: &mut HashSet<(u64, u64)>) -> (Vec<Found>, Vec<(String, String)>) {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let meta = std::fs::metadata(arg).ok();
    if !meta.as_ref().is_some_and(|m| m.is_dir()) {
        if let Some(id) = meta.as_ref().and_then(|m| file_id(m, arg))
            && !seen.insert(id)
        {
            skipped.push((
                show(arg),
                "already read (the same file by another path)".into(),
            ));
        } else {
            files.push(Found {
                path: arg.to_path_buf(),
                len: meta.map_or(0, |m| m.len()),
            });
        }
        return (files, skipped);
    }
    let walk_skips = std::cell::RefCell::new(Vec::new());
    let walker = walkdir::WalkDir::new(arg)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            if !e.file_type().is_dir() {
                return true;
            }
            match e.metadata().ok().and_then(|m| file_id(&m, e.path())) {
                Some(id) if !seen.insert(id) => {
                    walk_skips.borrow_mut().push((
                        show(e.path()),
                        "directory already walked (a link loop, or a second link to it)".into(),
                    ));
                    false
                }
                _ => true,
            }
        });
    let mut found = Vec::new();
    for entry in walker {
        match entry {
            Ok(e) if e.file_type().is_dir() => {}
            Ok(e) => found.push(e),
            Err(err) => {
                let path = err.path().map(show).unwrap_or_else(|| show(arg));
                let why = match err.loop_ancestor() {
                    Some(_) => "directory already walked (a link loop)".to_string(),
                    None => format!("cannot walk: {err}"),
                };
                walk_skips.borrow_mut().push((path, why));
            }
        }
    }
    skipped.append(&mut walk_skips.borrow_mut());
    for e in found {
        let meta = e.metadata().ok();
        if !meta.as_ref().is_some_and(|m| m.is_file()) {
            skipped.push((
                show(e.path()),
                "not a regular file (a FIFO, socket or device may never end)".into(),
            ));
            continue;
        }
        let len = meta.as_ref().map_or(0, |m| m.len());
        match meta.and_then(|m| file_id(&m, e.path())) {
            Some(id) if !seen.insert(id) => skipped.push((
                show(e.path()),
                "already read (the same file by another path)".into(),
            )),
            _ => files.push(Found {
                path: e.into_path(),
                len,
            }),
        }
    }
    (files, skipped)
}

/// A file to read, with its length when it was found (the threads' jobs are
/// sized from it, without asking the file system again).
struct Found {
    path: PathBuf,
    len: u64,
}

fn show(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Reads of 64 KiB: each stays in the cache while it is read.
const READ_SIZE: usize = 64 << 10;

/// The first read of an input: 4 KiB, an EVTX file's header, so that an
/// EVTX file's later reads each hold one whole chunk, which its reader reads
/// where it lies instead of gathering it from two reads. Other formats do
/// not mind.
const FIRST_READ: usize = 4 << 10;

/// The smallest job the threads share: about 0.05 ms of reading, so that
/// the last jobs end within that of each other, while a job's own cost (a
/// detector, its partial result and their merge: a few microseconds; its
/// file opened again) stays small beside it.
const MIN_JOB: u64 = 128 << 10;

/// Files this small are read whole, whatever the pieces' size: two jobs'
/// worth at the least.
const MIN_SPLIT: u64 = 2 * MIN_JOB;

/// Reads one input into the detector; `after` runs after each piece (stream
/// output) and returns `false` when the output is gone. Reading stops then,
/// and once the content is known to be unreadable, so an endless stream
/// (`/dev/zero`, a FIFO of junk, `tail -F` into a closed pipe) ends.
fn read_into(
    det: &mut Detector,
    name: &str,
    reader: &mut dyn Read,
    after: &mut dyn FnMut() -> bool,
) {
    det.begin_file(name);
    let mut buf = vec![0u8; READ_SIZE];
    let mut size = FIRST_READ;
    loop {
        match reader.read(&mut buf[..size]) {
            Ok(0) => break,
            Ok(n) => {
                size = READ_SIZE;
                det.push(&buf[..n]);
                if !after() || !det.wants_more() {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let offset = det.progress().bytes;
                det.push_error(
                    crate::record::Location {
                        offset: Some(offset),
                        ..Default::default()
                    },
                    format!("read error: {e}"),
                );
                break;
            }
        }
    }
    det.end_file();
    after();
}

/// What a worker reads: a file whole, or a piece of one.
enum Unit {
    /// A file read whole (small, or of a format that is not cut).
    Whole(PathBuf),
    /// A piece of a large file, read by the worker itself from `at` on:
    /// `len` bytes, or to the end (the last piece, or the rest once no cut
    /// was found in `split::MAX_CARRY` bytes).
    Piece {
        path: PathBuf,
        at: Resume,
        len: Option<u64>,
        cut: bool,
    },
}

impl Unit {
    fn read(self, d: &mut Detector) {
        match self {
            Unit::Whole(path) => {
                let name = path.to_string_lossy().to_string();
                match std::fs::File::open(&path) {
                    Ok(mut f) => read_into(d, &name, &mut f, &mut || true),
                    Err(e) => d.fail_file(&name, format!("cannot open: {e}")),
                }
            }
            Unit::Piece { path, at, len, cut } => {
                use std::io::{Seek, SeekFrom};
                let name = path.to_string_lossy().to_string();
                d.begin_piece(&name, at, cut);
                let reopened = std::fs::File::open(&path)
                    .and_then(|mut f| f.seek(SeekFrom::Start(at.offset)).map(|_| f));
                // A piece of EVTX starts at a chunk, or at the file's
                // header (the first piece): reads stay chunk-aligned.
                let first_read = if at.offset == 0 {
                    FIRST_READ
                } else {
                    READ_SIZE
                };
                let error = match reopened {
                    Ok(f) => match len {
                        Some(len) => {
                            let read = push_all(d, &mut f.take(len), first_read);
                            // The cuts were found in these bytes; a file that shrank
                            // since is said to, not read as if it ended there.
                            (read < len && d.wants_more()).then(|| {
                                (at.offset + read, "the file shrank while it was read".into())
                            })
                        }
                        None => {
                            push_all(d, &mut { f }, first_read);
                            None
                        }
                    },
                    Err(e) => Some((at.offset, format!("read error: {e}"))),
                };
                if let Some((offset, message)) = error {
                    d.push_error(
                        crate::record::Location {
                            offset: Some(offset),
                            ..Default::default()
                        },
                        message,
                    );
                }
            }
        }
    }
}

/// One worker's task: units read in order by one detector, whose partial
/// is merged in input order. Small files go together, so that a folder of
/// small logs is not a detector, a partial, a merge and two wake-ups each.
struct Job(Vec<Unit>);

impl Job {
    /// A panic here (the engine catches those of its readers) is an error
    /// like any other: the run stops and says so, and no thread is left
    /// waiting for this job's result.
    fn run(self, options: &Options) -> Result<Partial, String> {
        let run = || {
            let mut d = Detector::new(options.clone())?;
            for unit in self.0 {
                unit.read(&mut d);
            }
            Ok(d.into_partial())
        };
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
            .unwrap_or_else(|_| Err("internal error: a reading thread failed".into()))
    }
}

/// Feeds `reader` to the end (a read error is reported where it happened);
/// returns the bytes read.
fn push_all(det: &mut Detector, reader: &mut dyn Read, first_read: usize) -> u64 {
    let mut buf = vec![0u8; READ_SIZE];
    let mut read = 0;
    loop {
        let size = if read == 0 { first_read } else { READ_SIZE };
        match reader.read(&mut buf[..size]) {
            Ok(0) => break,
            Ok(n) => {
                read += n as u64;
                det.push(&buf[..n]);
                if !det.wants_more() {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let offset = det.progress().bytes;
                det.push_error(
                    crate::record::Location {
                        offset: Some(offset),
                        ..Default::default()
                    },
                    format!("read error: {e}"),
                );
                break;
            }
        }
    }
    read
}

/// One file's pieces, cut as they are asked for (see `input::split`): a
/// small or unsplittable file is one piece, read whole. Only the bounds are
/// found here, and only the bytes around them are read: each worker reads
/// its own piece, in small reads that stay in its cache. EVTX is cut at
/// chunks, from the length alone; JSON at the first cut past each piece's
/// worth of bytes, its pieces' lines counted by their workers from their own
/// start (merging puts them in place: `Detector::begin_piece`).
struct FilePieces {
    path: PathBuf,
    /// Pieces found and not yet given, with their sizes.
    found: std::collections::VecDeque<(Unit, u64)>,
    cutting: Cutting,
}

/// How the rest of a file's bounds are found.
enum Cutting {
    Json {
        file: std::fs::File,
        block: Vec<u8>,
        cuts: split::SeekingCuts,
    },
    Evtx {
        /// Bytes whose bounds are still to be found.
        rest: u64,
        cuts: Cuts,
    },
    /// Every piece is found (a file read whole is found at once).
    Done,
}

impl FilePieces {
    /// `path`, of `len` bytes, in pieces of about `target` bytes (to begin with).
    fn new(path: &Path, len: u64, target: u64) -> FilePieces {
        let mut pieces = FilePieces {
            path: path.to_path_buf(),
            found: Default::default(),
            cutting: Cutting::Done,
        };
        let opened = (len > target.max(MIN_SPLIT))
            .then(|| std::fs::File::open(path).ok())
            .flatten();
        let Some(mut file) = opened else {
            pieces
                .found
                .push_back((Unit::Whole(pieces.path.clone()), len));
            return pieces;
        };
        let mut block = vec![0u8; READ_SIZE];
        let n = read_full(&mut file, &mut block).unwrap_or(0);
        pieces.cutting = match split::splittable(&block[..n]) {
            Some(crate::input::Format::Json) => Cutting::Json {
                file,
                block,
                cuts: split::SeekingCuts::new(len, target as usize),
            },
            Some(format) => Cutting::Evtx {
                rest: len,
                cuts: Cuts::new(format, target as usize),
            },
            None => {
                pieces
                    .found
                    .push_back((Unit::Whole(pieces.path.clone()), len));
                Cutting::Done
            }
        };
        pieces
    }

    /// The next piece and its size; those not yet searched for aimed at
    /// `target` bytes (smaller as the work ends, so that the last pieces of
    /// a large file are small too).
    fn next(&mut self, target: u64) -> Option<(Unit, u64)> {
        loop {
            if let Some(piece) = self.found.pop_front() {
                return Some(piece);
            }
            let mut bounds = Vec::new();
            let more = match &mut self.cutting {
                Cutting::Done => return None,
                Cutting::Json { file, block, cuts } => {
                    cuts.set_target(target as usize);
                    let read = cuts.wants().map(|at| {
                        use std::io::{Seek, SeekFrom};
                        file.seek(SeekFrom::Start(at))
                            .and_then(|_| read_full(file, block))
                    });
                    // At the end, or after a read error, the rest is one
                    // piece: its worker meets the error where it is.
                    read.and_then(Result::ok)
                        .map(|n| cuts.push(&block[..n], &mut bounds))
                        .is_some()
                }
                Cutting::Evtx { rest, cuts } => {
                    cuts.set_target(target as usize);
                    let step = (*rest).min(READ_SIZE as u64);
                    if step > 0 {
                        cuts.skip(step, &mut bounds);
                        *rest -= step;
                    }
                    step > 0
                }
            };
            if !more {
                match std::mem::replace(&mut self.cutting, Cutting::Done) {
                    Cutting::Json { cuts, .. } => bounds.push(cuts.finish()),
                    Cutting::Evtx { cuts, .. } => bounds.push(cuts.finish()),
                    Cutting::Done => {}
                }
            }
            for b in bounds {
                let unit = Unit::Piece {
                    path: self.path.clone(),
                    at: b.at,
                    len: b.cut.then_some(b.len),
                    cut: b.cut,
                };
                self.found.push_back((unit, b.len));
            }
        }
    }
}

/// Reads until `buf` is full or the input ends.
fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The jobs of a parallel run, cut as readers ask for them: readers never
/// wait for a thread to hand them work (a reader woken by another thread was
/// often queued behind a busy one for milliseconds). Jobs are about a
/// quarter of each thread's share of what is left, so that they get smaller
/// towards the end and the last ones end together (the cost of a byte
/// varies: a log dense in process creations costs more); not under
/// `MIN_JOB`, where a job's own cost starts to show, nor over `PIECE_BYTES`.
/// Small files go together, so that a folder of small logs is not a
/// detector, a partial, a merge and a wake-up each.
struct JobSource<'f> {
    files: std::slice::Iter<'f, Found>,
    /// The file being cut.
    current: Option<FilePieces>,
    /// Bytes not yet in a job.
    left: u64,
    threads: u64,
    /// The next job's number, and how many were merged.
    next: usize,
    merged: usize,
    /// No more jobs: a merge failed.
    stopped: bool,
}

impl<'f> JobSource<'f> {
    fn new(files: &'f [Found], threads: usize) -> JobSource<'f> {
        JobSource {
            files: files.iter(),
            current: None,
            left: files.iter().map(|f| f.len).sum(),
            threads: threads.max(1) as u64,
            next: 0,
            merged: 0,
            stopped: false,
        }
    }

    /// Jobs a reader may take past the last merged one: the partial results
    /// waiting to be merged in order stay few, whatever the input size.
    fn ahead(&self) -> usize {
        self.threads as usize * 4
    }

    fn share(&self) -> u64 {
        (self.left / (self.threads * 4)).clamp(MIN_JOB, split::PIECE_BYTES as u64)
    }

    /// The next job and its number; `None` once there is none.
    fn next_job(&mut self) -> Option<(usize, Job)> {
        if self.stopped {
            return None;
        }
        let share = self.share();
        let (mut units, mut held) = (Vec::new(), 0);
        while held < share {
            if let Some((unit, bytes)) = self.current.as_mut().and_then(|p| p.next(share)) {
                units.push(unit);
                held += bytes;
                continue;
            }
            let Some(file) = self.files.next() else {
                break;
            };
            self.current = Some(FilePieces::new(&file.path, file.len, share));
        }
        if units.is_empty() {
            return None;
        }
        self.left = self.left.saturating_sub(held);
        self.next += 1;
        Some((self.next - 1, Job(units)))
    }
}

/// Reads `files` on up to `threads` threads, this one among them: small
/// files whole, larger EVTX and JSON files in pieces cut at record
/// boundaries (`input::split`), each job with a detector of its own; what
/// they gathered is merged in input order as it comes, so the results are
/// those of one detector reading the files one by one, byte for byte. Jobs
/// hold bounds, not bytes, and no thread takes a job more than
/// `JobSource::ahead` past the merged ones, so memory stays bounded
/// whatever the input size. A thread that cannot start leaves its share to
/// the others.
fn read_parallel(
    det: &mut Detector,
    options: &Options,
    files: &[Found],
    threads: usize,
) -> Result<(), String> {
    let threads = threads.max(1);
    let jobs = std::sync::Mutex::new(JobSource::new(files, threads));
    // Signalled when a merge lets readers that were too far ahead go on.
    let merged = std::sync::Condvar::new();
    let (send, receive) = std::sync::mpsc::channel::<(usize, Result<Partial, String>)>();
    // Named, for debuggers and profilers (perf's `comm`).
    let thread = |name: &str| std::thread::Builder::new().name(name.into());
    // Readers that began to run, counted (see below).
    let started = (std::sync::Mutex::new(0), std::sync::Condvar::new());
    std::thread::scope(|scope| {
        let mut readers = 0;
        for n in 1..threads {
            let send = send.clone();
            let (jobs, merged, started) = (&jobs, &merged, &started);
            let reader = thread(&format!("reader-{n}")).spawn_scoped(scope, move || {
                if let Ok(mut count) = started.0.lock() {
                    *count += 1;
                }
                started.1.notify_one();
                loop {
                    let next = jobs.lock().and_then(|mut source| {
                        while !source.stopped && source.next >= source.merged + source.ahead() {
                            source = merged.wait(source)?;
                        }
                        Ok(source.next_job())
                    });
                    let Ok(Some((i, job))) = next else { break };
                    if send.send((i, job.run(options))).is_err() {
                        break;
                    }
                }
            });
            match reader {
                Ok(_) => readers += 1,
                Err(_) => break,
            }
        }
        drop(send);
        // Before its first job, this thread waits for the readers to run: a
        // new thread can be queued behind the one that started it (on a
        // 2-core machine, for milliseconds in one run of three) when that
        // one goes straight on to read.
        if let Ok(count) = started.0.lock() {
            drop(started.1.wait_while(count, |count| *count < readers));
        }
        // This thread reads too (a thread it woke to read could wait for a
        // CPU for milliseconds), and merges between its jobs, in input
        // order: a piece read early waits for those before it. After a
        // failure, no more jobs are taken and the rest is drained.
        let mut waiting = std::collections::BTreeMap::new();
        let mut turn = 0;
        let mut outcome = Ok(());
        let mut merge_ready = |waiting: &mut std::collections::BTreeMap<_, _>| {
            if outcome.is_err() {
                waiting.clear();
            }
            while let Some(p) = waiting.remove(&turn) {
                turn += 1;
                if let Err(e) = Result::and_then(p, |p| det.merge(p)) {
                    outcome = Err(e);
                    break;
                }
            }
            if let Ok(mut source) = jobs.lock() {
                source.merged = turn;
                source.stopped |= outcome.is_err();
            }
            merged.notify_all();
        };
        loop {
            waiting.extend(receive.try_iter());
            merge_ready(&mut waiting);
            let next = jobs.lock().map(|mut source| {
                if source.next >= source.merged + source.ahead() {
                    Err(())
                } else {
                    Ok(source.next_job())
                }
            });
            match next {
                Ok(Ok(Some((i, job)))) => {
                    waiting.insert(i, job.run(options));
                }
                // Too far ahead: the job to merge next is another thread's.
                Ok(Err(())) => match receive.recv() {
                    Ok((i, p)) => {
                        waiting.insert(i, p);
                    }
                    Err(_) => break,
                },
                Ok(Ok(None)) | Err(_) => break,
            }
        }
        for (i, p) in receive {
            waiting.insert(i, p);
            merge_ready(&mut waiting);
        }
        merge_ready(&mut waiting);
        outcome
    })
}

/// One matching event as a JSON line, annotated with every rule it matched
/// (`detection` is the first, the flagship when it matched; `detection.rules` all).
pub fn stream_line(m: &MatchedEvent, hits: &[RuleHit], several: bool, tz: i32) -> String {
    let ev = &m.event;
    let detection = crate::annotate::detections(
        hits.iter().map(|h| (h.rule, h.parity, h.precise)),
        ev,
        several,
    );
    let mut obj = serde_json::json!({
        "file": &*m.file,
        "source": m.source,
        "_time": ev.time.map(|t| crate::time::format_iso(t, tz)).unwrap_or_default(),
        "detection": detection,
    });
    if let (Some(o), Ok(serde_json::Value::Object(loc))) =
        (obj.as_object_mut(), serde_json::to_value(&m.location))
    {
        o.extend(loc);
    }
    if let (Some(o), Ok(serde_json::Value::Object(e))) =
        (obj.as_object_mut(), serde_json::to_value(ev))
    {
        o.extend(e);
    }
    obj.to_string()
}

/// The catalogue, for `--list-rules`.
fn write_rule_list(json: bool, out: &mut dyn Write) -> std::io::Result<()> {
    let m = crate::ruleset::manifest();
    if json {
        serde_json::to_writer(&mut *out, m).map_err(std::io::Error::other)?;
        return writeln!(out);
    }
    writeln!(
        out,
        "ESCU @ {}: {} supported, {} second tier, {} unsupported",
        m.escu_commit,
        m.supported.len(),
        m.second_tier.len(),
        m.unsupported.len()
    )?;
    writeln!(out, "\nsupported:")?;
    for e in &m.supported {
        writeln!(out, "  {}  {}", e.id, e.name)?;
    }
    writeln!(out, "\nsecond tier (| where on the rows):")?;
    for e in &m.second_tier {
        writeln!(out, "  {}  {}", e.id, e.name)?;
    }
    writeln!(out, "\nunsupported:")?;
    for e in &m.unsupported {
        writeln!(
            out,
            "  {}  {}: {}",
            e.id,
            e.name,
            e.reason.as_deref().unwrap_or("")
        )?;
    }
    Ok(())
}

/// Runs the CLI; returns the exit status.
pub fn run(
    argv: &[OsString],
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let args = match parse_args(argv) {
        Ok(Some(a)) => a,
        Ok(None) => {
            let _ = writeln!(out, "{USAGE}");
            return 0;
        }
        Err(e) => {
            let _ = writeln!(err, "schtasks-detect: {e}\n\n{USAGE}");
            return 2;
        }
    };
    if args.list_rules {
        return match write_rule_list(args.format == OutFormat::Json, out) {
            Ok(()) => 0,
            Err(e) => {
                let _ = writeln!(err, "schtasks-detect: cannot write output: {e}");
                1
            }
        };
    }
    let mut det = match Detector::new(args.options.clone()) {
        Ok(d) => d,
        Err(e) => {
            let _ = writeln!(err, "schtasks-detect: {e}");
            return 2;
        }
    };
    let lines: std::rc::Rc<std::cell::RefCell<Vec<String>>> = Default::default();
    if args.stream {
        let sink = lines.clone();
        let tz = args.options.tz_offset;
        let several = args.options.rules.len() > 1;
        det.on_match(Box::new(move |m, hits| {
            sink.borrow_mut().push(stream_line(m, hits, several, tz))
        }));
    }
    // Stream lines go out as soon as their event is read (a pipeline may never
    // end); the first write that fails (the reader went away) ends the run.
    let mut write_error: Option<std::io::Error> = None;
    let mut flush = || {
        let mut pending = lines.borrow_mut();
        if write_error.is_none() && !pending.is_empty() {
            let written = pending
                .drain(..)
                .try_for_each(|l| writeln!(out, "{l}"))
                .and_then(|()| out.flush());
            if let Err(e) = written {
                write_error = Some(e);
            }
        }
        write_error.is_none()
    };
    let mut seen = HashSet::new();
    // Files on several threads when the output waits for the end anyway.
    if args.merge {
        for input in &args.inputs {
            let name = input.to_string_lossy();
            let merged = std::fs::read_to_string(input)
                .map_err(|e| e.to_string())
                .and_then(|text| det.merge_json(&text));
            if let Err(e) = merged {
                let _ = writeln!(err, "schtasks-detect merge: {name}: {e}");
                return 2;
            }
        }
    }
    let parallel =
        !args.merge && args.threads > 1 && !args.stream && !args.inputs.iter().any(|i| i == "-");
    if parallel {
        let mut files = Vec::new();
        for input in &args.inputs {
            let (found, skipped) = expand(Path::new(input), &mut seen);
            for (path, why) in skipped {
                det.skip(&path, why);
            }
            files.extend(found);
        }
        if let Err(e) = read_parallel(&mut det, &args.options, &files, args.threads) {
            let _ = writeln!(err, "schtasks-detect: {e}");
            return 1;
        }
    }
    for input in args.inputs.iter().filter(|_| !parallel && !args.merge) {
        if !flush() {
            break;
        }
        if input == "-" {
            read_into(&mut det, "-", stdin, &mut flush);
            continue;
        }
        let (files, skipped) = expand(Path::new(input), &mut seen);
        for (path, why) in skipped {
            det.skip(&path, why);
        }
        for Found { path, .. } in files {
            let name = path.to_string_lossy().to_string();
            match std::fs::File::open(&path) {
                Ok(mut f) => read_into(&mut det, &name, &mut f, &mut flush),
                Err(e) => det.fail_file(&name, format!("cannot open: {e}")),
            }
        }
    }
    if let Some(e) = write_error {
        let _ = writeln!(err, "schtasks-detect: cannot write output, stopped: {e}");
        return 1;
    }
    if args.partial {
        let partial = det.into_partial();
        let unreadable: Vec<_> = partial.files.iter().filter(|f| !f.readable).collect();
        for f in &unreadable {
            let why = f
                .errors
                .first()
                .map_or("unreadable", |e| e.message.as_str());
            let _ = writeln!(err, "schtasks-detect: {}: {why}", f.file);
        }
        if let Err(e) = writeln!(out, "{}", partial.to_json()) {
            let _ = writeln!(err, "schtasks-detect: cannot write output: {e}");
            return 1;
        }
        return i32::from(!unreadable.is_empty());
    }
    let report = det.finish();
    let status = if report.stats.files.iter().all(|f| f.readable) {
        0
    } else {
        1
    };
    for f in report.stats.files.iter().filter(|f| !f.readable) {
        let why = f
            .errors
            .first()
            .map(|e| e.message.as_str())
            .unwrap_or("unreadable");
        let _ = writeln!(err, "schtasks-detect: {}: {why}", f.file);
    }
    let written = if args.stream {
        if args.summary {
            let summary = serde_json::json!({"summary": {"rows": report.rows, "risk_events": report.risk_events, "results": report.results, "risk_view": report.risk_view, "stats": report.stats}});
            writeln!(out, "{summary}")
        } else {
            Ok(())
        }
    } else {
        match args.format {
            OutFormat::Json => serde_json::to_writer(&mut *out, &report)
                .map_err(std::io::Error::other)
                .and_then(|_| writeln!(out)),
            OutFormat::Csv => write_csv(&report, out),
            OutFormat::Table => write_table(&report, det.rule(), out),
        }
    };
    if let Err(e) = written {
        let _ = writeln!(err, "schtasks-detect: cannot write output: {e}");
        return 1;
    }
    status
}

/// The pack's rules that returned rows, and the risk view across every rule.
fn write_rule_results(report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    let others: Vec<_> = report.results.iter().filter(|r| !r.rule.flagship).collect();
    if report.stats.rules <= 1 {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "ESCU rules: {} run, {} returned rows",
        report.stats.rules, report.stats.rules_with_rows
    )?;
    for r in others {
        writeln!(
            out,
            "  {:>4} row(s)  {:<7} score {:>3}  {}",
            r.rows.len(),
            r.rule.kind,
            r.rule.risk_score,
            r.rule.name
        )?;
    }
    if !report.risk_view.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "Risk by object, across rules (total score, events, rules):"
        )?;
        for o in report.risk_view.iter().take(20) {
            writeln!(
                out,
                "  {:>5} {:>5} {:>3}  [{}] {}  {} .. {}",
                o.risk_score,
                o.count,
                o.rule_count,
                o.risk_object_type,
                o.normalized_risk_object,
                o.first_time,
                o.last_time
            )?;
        }
    }
    Ok(())
}

pub fn write_csv(report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    let Some(first) = report.rows.first() else {
        return writeln!(
            out,
            "process_name,process,parent_process_name,dest,user,count,firstTime,lastTime,remote_target"
        );
    };
    let header: Vec<&str> = first.columns.iter().map(|(k, _)| k.as_str()).collect();
    writeln!(out, "{}", header.join(","))?;
    for row in &report.rows {
        let line: Vec<String> = row
            .columns
            .iter()
            .map(|(_, v)| crate::report::csv_cell(&v.as_string()).into_owned())
            .collect();
        writeln!(out, "{}", line.join(","))?;
    }
    Ok(())
}

fn write_table(report: &Report, rule: &CompiledRule, out: &mut dyn Write) -> std::io::Result<()> {
    let s = &report.stats;
    writeln!(
        out,
        "{} ({} mode, times {}): {} row(s) from {} matched event(s)",
        rule.rule.name,
        s.mode,
        s.tz,
        report.rows.len(),
        s.matched
    )?;
    for (i, row) in report.rows.iter().enumerate() {
        writeln!(out)?;
        writeln!(
            out,
            "#{}  count={}  firstTime={}  lastTime={}",
            i + 1,
            row.text("count"),
            row.text("firstTime"),
            row.text("lastTime")
        )?;
        for (k, v) in &row.columns {
            if matches!(k.as_str(), "count" | "firstTime" | "lastTime") {
                continue;
            }
            let v = v.as_string();
            let shown = if k == "remote_target" && v.is_empty() {
                "(none: no whole /s switch)".to_string()
            } else {
                v
            };
            writeln!(out, "    {k:<20} {shown}")?;
        }
    }
    let c = &s.comparison;
    writeln!(out)?;
    writeln!(
        out,
        "Modes: parity {} row(s), precise {} row(s); parity only: {}; precise only: {}",
        c.parity_rows,
        c.precise_rows,
        c.parity_only.len(),
        c.precise_only.len()
    )?;
    if !report.risk_events.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "Risk ({} risk events, score {} each):",
            report.risk_events.len(),
            rule.rule.risk_score
        )?;
        for r in &report.risk_events {
            writeln!(
                out,
                "  [{} {}] {}",
                r.risk_object_type, r.risk_object, r.risk_message
            )?;
        }
    }
    write_rule_results(report, out)?;
    writeln!(out)?;
    writeln!(
        out,
        "Files: {} read, {} bytes, {} events, {} errors",
        s.files.len(),
        s.bytes,
        s.events,
        s.errors
    )?;
    writeln!(
        out,
        "  {:>7} {:>7} {:>6} {:>6} {:>6} {:>7} {:>6} {:>5}  file",
        "format", "events", "sysmon", "4688", "cs", "other", "errors", "hits"
    )?;
    for f in &s.files {
        let fmt = f
            .format
            .map(|f| format!("{f:?}").to_lowercase())
            .unwrap_or_else(|| "?".into());
        let fmt = if f.compressed {
            format!("{fmt}.gz")
        } else {
            fmt
        };
        writeln!(
            out,
            "  {:>7} {:>7} {:>6} {:>6} {:>6} {:>7} {:>6} {:>5}  {}",
            fmt,
            f.events,
            f.process_creation.sysmon,
            f.process_creation.security_4688,
            f.process_creation.crowdstrike,
            f.other,
            f.error_count,
            f.matched,
            f.file
        )?;
        for e in f.errors.iter().take(5) {
            let mut at = Vec::new();
            if let Some(l) = e.location.line {
                at.push(format!("line {l}"));
            }
            if let Some(c) = e.location.chunk {
                at.push(format!("chunk {c}"));
            }
            if let Some(r) = e.location.record {
                at.push(format!("record {r}"));
            }
            if let Some(o) = e.location.offset {
                at.push(format!("offset {o}"));
            }
            writeln!(out, "          error at {}: {}", at.join(", "), e.message)?;
        }
        if f.error_count > 5 {
            writeln!(
                out,
                "          ... {} more error(s) (see --format json)",
                f.error_count - 5
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("schtasks-detect-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// The pieces `FilePieces` cuts a file into: (offset, length, cut).
    fn json_pieces(path: &Path, target: u64) -> Vec<(u64, u64, bool)> {
        let len = std::fs::metadata(path).unwrap().len();
        let mut got = Vec::new();
        let mut pieces = FilePieces::new(path, len, target);
        while let Some((unit, bytes)) = pieces.next(target) {
            match unit {
                Unit::Piece { at, len, cut, .. } => {
                    assert_eq!(at.line, 0, "lines are the workers' to count");
                    assert_eq!(len.is_some(), cut);
                    got.push((at.offset, bytes, cut));
                }
                Unit::Whole(_) => panic!("cut expected"),
            }
        }
        got
    }

    /// Every job of a run, in order: each file's bytes covered once, in
    /// order; the jobs get smaller towards the end, the last pieces of a
    /// large file too.
    #[test]
    fn jobs_cover_every_byte_once_in_order_and_get_smaller_towards_the_end() {
        let mut json = Vec::new();
        while json.len() < 6 << 20 {
            json.extend_from_slice(format!("{{\"n\":{}}}\n", json.len()).as_bytes());
        }
        let mut evtx = b"ElfFile\0".to_vec();
        evtx.resize(4096 + 40 * 65536, 0);
        let small = temp_file("small.json", b"{}\n");
        let files: Vec<Found> = [
            small.clone(),
            temp_file("big.evtx", &evtx),
            small,
            temp_file("big.json", &json),
        ]
        .into_iter()
        .map(|path| Found {
            len: std::fs::metadata(&path).unwrap().len(),
            path,
        })
        .collect();
        let mut source = JobSource::new(&files, 2);
        let (mut sizes, mut covered) = (Vec::new(), Vec::<(PathBuf, u64)>::new());
        while let Some((i, Job(units))) = source.next_job() {
            assert_eq!(i, sizes.len());
            let mut size = 0;
            for unit in units {
                let (path, at, len) = match unit {
                    Unit::Whole(path) => (path, 0, None),
                    Unit::Piece { path, at, len, .. } => (path, at.offset, len),
                };
                let file_len = std::fs::metadata(&path).unwrap().len();
                // A piece starts where the one before it in that file ended.
                let from = match covered.last() {
                    Some((p, end)) if *p == path && *end < file_len => *end,
                    _ => 0,
                };
                assert_eq!(at, from, "{}", path.display());
                let end = len.map_or(file_len, |l| at + l);
                size += end - at;
                covered.push((path, end));
            }
            sizes.push(size);
        }
        let ends: Vec<u64> = covered.iter().map(|c| c.1).collect();
        let files_ends: Vec<u64> = covered
            .iter()
            .enumerate()
            .filter(|(i, c)| covered.get(i + 1).is_none_or(|n| n.0 != c.0 || n.1 <= c.1))
            .map(|(_, c)| c.1)
            .collect();
        assert_eq!(
            files_ends,
            files.iter().map(|f| f.len).collect::<Vec<_>>(),
            "{ends:?}"
        );
        assert_eq!(
            sizes.iter().sum::<u64>(),
            files.iter().map(|f| f.len).sum::<u64>()
        );
        eprintln!("job sizes: {sizes:?}");
        // Shrinking: the first job is the largest share, the last ones small.
        assert!(sizes.len() > 12, "{sizes:?}");
        assert!(sizes[0] > 2 * sizes[sizes.len() - 2], "{sizes:?}");
        assert!(sizes[sizes.len() - 2] < 2 * MIN_JOB + 65536, "{sizes:?}");
        assert!(source.next_job().is_none());
    }

    /// A job that fails stops the run with its error, whatever the threads
    /// are doing: none is left waiting (here every job fails, on threads
    /// that are ahead of the merge and behind it).
    #[test]
    fn a_failing_job_ends_the_run_with_its_error() {
        let line = b"{\"EventID\":\"4688\",\"Channel\":\"Security\"}\n".repeat(8000);
        let files: Vec<Found> = (0..40)
            .map(|i| {
                let path = temp_file(&format!("fail-{i}.json"), &line);
                Found {
                    len: line.len() as u64,
                    path,
                }
            })
            .collect();
        let mut det = Detector::new(Options::default()).unwrap();
        let broken = Options {
            filter: Some("((".into()),
            ..Options::default()
        };
        for threads in [2, 3, 7] {
            let got = read_parallel(&mut det, &broken, &files, threads);
            assert!(
                got.as_ref().is_err_and(|e| e.contains("invalid filter")),
                "{got:?}"
            );
        }
    }

    #[test]
    fn json_is_cut_at_the_first_line_opening_an_object_past_each_target() {
        // Lines of every length (some far longer than a read), some opening
        // objects, some not: cuts fall on either side of the 64 KiB reads.
        let mut text = Vec::new();
        let mut i = 0u64;
        while text.len() < 3 << 20 {
            let open = if i.is_multiple_of(3) { "{" } else { "  x" };
            let fill = "a".repeat((i * 7919 % 150_000) as usize);
            text.extend_from_slice(format!("{open}\"{fill}\"\n").as_bytes());
            i += 1;
        }
        let path = temp_file("cuts.json", &text);
        for target in [1 << 10, 65535, 65536, 300_000] {
            let pieces = json_pieces(&path, target);
            assert!(pieces.len() > 3, "{target}: {pieces:?}");
            let mut next = 0;
            for (k, &(offset, len, cut)) in pieces.iter().enumerate() {
                assert_eq!(offset, next, "contiguous");
                let o = offset as usize;
                assert!(o == 0 || (text[o - 1] == b'\n' && text[o] == b'{'));
                if cut {
                    // The first cut at or past a target's worth of bytes.
                    let end = (offset + len) as usize;
                    let first = split::first_json_cut(None, &text[o + target as usize - 1..])
                        .map(|i| o + target as usize - 1 + i);
                    assert_eq!(first, Some(end), "{target}: piece {k}");
                } else {
                    assert_eq!(k, pieces.len() - 1);
                }
                next = offset + len;
            }
            assert_eq!(next, text.len() as u64);
        }
    }

    #[test]
    fn json_without_a_cut_for_too_long_is_read_on_as_one_piece() {
        let mut text = b"{\"a\":1}\n{\"b\":\"".to_vec();
        text.resize(split::MAX_CARRY + (2 << 20), b'x');
        text.extend_from_slice(b"\"}\n{\"c\":2}\n");
        let path = temp_file("nocut.json", &text);
        let pieces = json_pieces(&path, 1 << 20);
        assert_eq!(pieces, vec![(0, text.len() as u64, false)]);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_piece_past_the_end_of_a_file_that_shrank_is_an_error_where_it_ended() {
        let line = b"{\"EventID\":4688,\"NewProcessName\":\"C:\\\\x.exe\"}\n";
        let path = temp_file("shrank.json", line);
        let mut d = Detector::new(Options::default()).unwrap();
        let at = Resume {
            format: crate::input::Format::Json,
            offset: 0,
            line: 0,
        };
        let piece = |len| Unit::Piece {
            path: path.clone(),
            at,
            len,
            cut: true,
        };
        piece(Some(line.len() as u64 + 100)).read(&mut d);
        let report = d.finish();
        let file = &report.stats.files[0];
        // Records reconcile: the event read, and the error.
        assert_eq!((file.records, file.events, file.error_count), (2, 1, 1));
        assert_eq!(file.errors[0].message, "the file shrank while it was read");
        assert_eq!(file.errors[0].location.offset, Some(line.len() as u64));
        // Read to its end, or to a length it has, the same piece is no error.
        for len in [None, Some(line.len() as u64)] {
            let mut d = Detector::new(Options::default()).unwrap();
            piece(len).read(&mut d);
            assert_eq!(d.finish().stats.files[0].error_count, 0);
        }
        let _ = std::fs::remove_file(&path);
    }
}
