//! The command-line tool: files (or stdin) in, the seed's results out as a
//! table for people, JSON for machines, or CSV rows; `--stream` writes one
//! JSON line per matching event as it is read (for pipelines).

use crate::aggregate::MatchedEvent;
use crate::engine::{Detector, Options};
use crate::report::Report;
use crate::rule::CompiledRule;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub const USAGE: &str = "\
usage: schtasks-detect [OPTIONS] FILE... | -

Finds remote scheduled-task creation (Splunk ESCU 'Schtasks scheduling job on
remote system', T1053.005) in EVTX, Windows event XML, JSON or CSV logs, gzip
or not. Directories are read recursively; '-' reads standard input.

options:
  --mode parity|precise   parity: Splunk's search exactly (default);
                          precise: /create and /s as whole switches, - or /
  --format table|json|csv table for people (default), one JSON object, CSV rows
  --tz ±HH:MM             offset for firstTime/lastTime (default UTC)
  --filter EXPR           the _filter macro on the rows, Splunk syntax, e.g.
                          'NOT user=SYSTEM dest IN (WKS*, SRV01) count>2' (default *)
  --max-matches N         matched events kept per row for drilldown (default 100)
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
    format: OutFormat,
    stream: bool,
    summary: bool,
    inputs: Vec<String>,
}

fn parse_args(argv: &[String]) -> Result<Option<Args>, String> {
    let mut mode = None;
    let mut tz = None;
    let mut filter = None;
    let mut max = None;
    let mut format = OutFormat::Table;
    let mut stream = false;
    let mut summary = false;
    let mut inputs = Vec::new();
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{name} needs a value"))
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
            "--stream" => stream = true,
            "--summary" => summary = true,
            "-" => inputs.push("-".into()),
            f if f.starts_with('-') => return Err(format!("unknown option {f}")),
            f => inputs.push(f.to_string()),
        }
    }
    if inputs.is_empty() {
        return Err("no input: give files, directories or -".into());
    }
    let options = Options::parse(mode.as_deref(), tz.as_deref(), filter.as_deref(), max)?;
    Ok(Some(Args {
        options,
        format,
        stream,
        summary,
        inputs,
    }))
}

/// Files under a directory, sorted, recursively.
fn expand(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = match std::fs::read_dir(path) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(_) => {
                out.push(path.to_path_buf());
                return;
            }
        };
        entries.sort();
        for e in entries {
            expand(&e, out);
        }
    } else {
        out.push(path.to_path_buf());
    }
}

/// Reads one input into the detector; `after` runs after each piece (stream output).
fn read_into(det: &mut Detector, name: &str, reader: &mut dyn Read, after: &mut dyn FnMut()) {
    det.begin_file(name);
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                det.push(&buf[..n]);
                after();
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

/// One matching event as a JSON line, annotated with the detection.
pub fn stream_line(m: &MatchedEvent, rule: &CompiledRule, tz: i32) -> String {
    let ev = &m.event;
    let mut obj = serde_json::json!({
        "file": &*m.file,
        "source": m.source,
        "_time": ev.time.map(|t| crate::time::format_iso(t, tz)).unwrap_or_default(),
        "detection": crate::annotate::detection(rule, ev, m.parity, m.precise),
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

/// Runs the CLI; returns the exit status.
pub fn run(argv: &[String], stdin: &mut dyn Read, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
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
        det.on_match(Box::new(move |m, rule| {
            sink.borrow_mut().push(stream_line(m, rule, tz))
        }));
    }
    // Stream lines go out as soon as their event is read (a pipeline may never end).
    let mut flush = || {
        let mut pending = lines.borrow_mut();
        if !pending.is_empty() {
            for l in pending.drain(..) {
                let _ = writeln!(out, "{l}");
            }
            let _ = out.flush();
        }
    };
    for input in &args.inputs {
        if input == "-" {
            read_into(&mut det, "-", stdin, &mut flush);
            continue;
        }
        let mut files = Vec::new();
        expand(Path::new(input), &mut files);
        for path in files {
            let name = path.to_string_lossy().to_string();
            match std::fs::File::open(&path) {
                Ok(mut f) => read_into(&mut det, &name, &mut f, &mut flush),
                Err(e) => det.fail_file(&name, format!("cannot open: {e}")),
            }
        }
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
            let summary = serde_json::json!({"summary": {"rows": report.rows, "risk_events": report.risk_events, "stats": report.stats}});
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

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
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
            .map(|(_, v)| csv_field(&v.as_string()))
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
