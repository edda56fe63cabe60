// The Fluent Bit filter in Fluent Bit itself: the real `fluent-bit` binary
// (built from ../shared/vendor by `make fluent-bit`, once, into ~/.cache), its
// `tail` input, `filter_wasm` running the module in WAMR, and its `file` and
// `stdout` outputs. What comes out is compared with the native CLI on the
// same files, record by record.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { cli, corpus, data, hasData, root } from '../wasm/helpers.mjs';
import { hostileLines, nested, processCreation } from './records.mjs';

const filter = join(root, 'target/wasm32-unknown-unknown/release/schtasks_detect_fluent_bit.wasm');
const built = (() => {
  const file = join(root, 'target/fluent-bit.txt');
  const said = existsSync(file) ? readFileSync(file, 'utf8').trim() : 'skipped: `make fluent-bit` has not run';
  return said.startsWith('/') && existsSync(said) ? { bin: said } : { why: said };
})();
const skip = (t) => {
  if (built.why) return t.skip(`Fluent Bit tests ${built.why}`), true;
  return false;
};
const jsonLineFiles = () => corpus().filter((f) => !f.endsWith('.evtx') && !f.endsWith('.xml'));
const FUNCTIONS = ['drop', 'keep', 'drop_precise', 'keep_precise', 'pack_drop', 'pack_keep'].map((f) => `schtasks_detect_${f}`);
/** What README's "Heap and stack" section says the filter needs. */
const README_STACK = '64K';

/** A Fluent Bit YAML configuration: `tail` over `paths` to EOF, then `filterFn` (or none), into one file per input file. */
function tailConfig(dir, paths, filterFn, { stack = README_STACK, heap } = {}) {
  const filterBlock = filterFn ? `
  filters:
    - name: wasm
      match: 'win.*'
      event_format: json
      wasm_path: ${filter}
      function_name: ${filterFn}
      wasm_stack_size: ${stack}${heap ? `\n      wasm_heap_size: ${heap}` : ''}` : '';
  return `service:
  flush: 1
  grace: 1
  log_level: warn
parsers:
  - name: json
    format: json
pipeline:
  inputs:
    - name: tail
      path: ${paths.join(',')}
      parser: json
      read_from_head: true
      exit_on_eof: true
      buffer_chunk_size: 1M
      buffer_max_size: 16M
      skip_long_lines: on
      tag: win.*${filterBlock}
  outputs:
    - name: file
      match: '*'
      path: ${join(dir, 'out')}
      format: plain
`;
}

/** Runs Fluent Bit over `paths` to their end; returns each input file's records (by base name) and the log. */
function runTail(paths, filterFn, options) {
  const dir = mkdtempSync(join(tmpdir(), 'fluent-bit-'));
  mkdirSync(join(dir, 'out'));
  writeFileSync(join(dir, 'fluent-bit.yaml'), tailConfig(dir, paths, filterFn, options));
  const r = spawnSync(built.bin, ['-c', join(dir, 'fluent-bit.yaml')], { timeout: 600_000, maxBuffer: 1 << 26 });
  const log = `${r.stdout}${r.stderr}`;
  assert.equal(r.status, 0, `fluent-bit exited ${r.status} (${r.signal}):\n${log}`);
  const records = new Map();
  for (const name of readdirSync(join(dir, 'out'))) {
    const lines = readFileSync(join(dir, 'out', name), 'utf8').split('\n').filter((l) => l !== '');
    // The output file is named by the tag: `win.` and the input's path, '/' as '.'.
    const source = paths.find((p) => name === `win.${p.replace(/^\//, '').replaceAll('/', '.')}`);
    assert.ok(source, `an output ${name} for no input`);
    records.set(source, lines.map((l) => JSON.parse(l)));
  }
  rmSync(dir, { recursive: true, force: true });
  return { records, log };
}

/** The native CLI's `--stream` lines for one file. */
function nativeStream(file, args) {
  const out = execFileSync(cli, ['--stream', ...args, file], { maxBuffer: 1 << 28 }).toString();
  return out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
}

const argsOf = (fn) => (fn.includes('pack') ? ['--rules', 'all'] : fn.includes('precise') ? ['--mode', 'precise'] : []);

/** An annotated record says what the native stream line for the same event says. */
function assertSameDetection(record, line, where) {
  const { cim, ...detection } = record.schtasks_detect;
  assert.deepEqual(detection, line.detection, `${where}: detection`);
  for (const [field, value] of Object.entries(cim)) assert.deepEqual(value, line[field], `${where}: ${field}`);
}

const withoutAnnotation = (record) => {
  const { schtasks_detect: _, ...rest } = record;
  return rest;
};

test('Fluent Bit: tail, filter_wasm and the file output give the native CLI\'s matches, record by record, with every function', (t) => {
  if (skip(t)) return;
  if (!hasData) return t.skip('../shared/data is absent');
  const files = jsonLineFiles().map((f) => join(data, f));
  assert.equal(files.length, 8);
  // Without the filter: every record tail reads, the reference for keep mode.
  const plain = runTail(files, null).records;
  assert.deepEqual([...plain.keys()].sort(), [...files].sort(), 'every file comes out unfiltered');
  let seen = 0;
  for (const fn of FUNCTIONS) {
    const { records } = runTail(files, fn);
    for (const file of files) {
      const where = `${fn} ${basename(file)}`;
      const native = nativeStream(file, argsOf(fn));
      const out = records.get(file) ?? [];
      const hits = out.filter((r) => r.schtasks_detect);
      assert.equal(hits.length, native.length, `${where}: as many annotated records as native matches`);
      hits.forEach((r, i) => assertSameDetection(r, native[i], `${where} #${i}`));
      if (fn.includes('keep')) {
        // Every record comes out, unchanged but for the annotation.
        assert.deepEqual(out.map(withoutAnnotation), plain.get(file), `${where}: keep mode passes every record`);
      } else {
        assert.equal(out.length, hits.length, `${where}: nothing else comes out in drop mode`);
      }
      seen += hits.length;
    }
  }
  assert.ok(seen > 16, `the corpus has matches to compare (${seen})`);
});

/** The first YAML block after `marker` in the README, verbatim. */
function readmeConfig(marker = '**Fluent Bit filter.**') {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const at = readme.indexOf(marker);
  const block = readme.slice(at).match(/```yaml\n([\s\S]*?)```/);
  assert.ok(at >= 0 && block, `README has the configuration after ${marker}`);
  return block[1];
}

/** Runs Fluent Bit with `config` (it never exits by itself) until stdout has `count` JSON lines and 3 s more; returns them. */
async function runUntil(config, env, count) {
  const dir = mkdtempSync(join(tmpdir(), 'fluent-bit-readme-'));
  writeFileSync(join(dir, 'fluent-bit.yaml'), config);
  const child = spawn(built.bin, ['-c', join(dir, 'fluent-bit.yaml')], { env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const lines = () => stdout.split('\n').filter((l) => l.startsWith('{'));
  try {
    await new Promise((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`${lines().length} of ${count} lines after 120 s:\n${stderr}`)), 120_000);
      child.stdout.on('data', (d) => {
        stdout += d;
        if (lines().length >= count) {
          clearTimeout(deadline);
          setTimeout(resolve, 3000);
        }
      });
      child.on('exit', (code) => reject(new Error(`fluent-bit exited ${code}:\n${stderr}`)));
    });
  } finally {
    child.removeAllListeners('exit');
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
  return { records: lines().map((l) => JSON.parse(l)), stderr };
}

test('Fluent Bit: README\'s configuration runs verbatim and prints the hits', async (t) => {
  if (skip(t)) return;
  if (!hasData) return t.skip('../shared/data is absent');
  const dir = mkdtempSync(join(tmpdir(), 'fluent-bit-readme-'));
  const logs = join(dir, 'winlogbeat');
  mkdirSync(logs);
  const want = [];
  for (const [i, f] of jsonLineFiles().entries()) {
    symlinkSync(join(data, f), join(logs, `${i}.ndjson`));
    want.push(...nativeStream(join(data, f), []).map((l) => l.command_line));
  }
  const { records: got } = await runUntil(readmeConfig(), { WINLOG_DIR: logs, SCHTASKS_DETECT_FILTER: filter }, want.length);
  assert.ok(want.length >= 8, `the corpus has hits (${want.length})`);
  assert.deepEqual(got.map((r) => r.schtasks_detect.cim.command_line).sort(), want.sort());
  for (const r of got) assert.equal(r.schtasks_detect.rule_id, '1297fb80-f42a-4b4a-9c8a-88c066237cf6');
  rmSync(dir, { recursive: true, force: true });
});

/** Writes `lines` to a new file; returns its path. */
function writeLines(lines, name = 'input.ndjson') {
  const path = join(mkdtempSync(join(tmpdir(), 'fluent-bit-in-')), name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

const targetsOf = (records) => records.filter((r) => r.schtasks_detect).map((r) => r.schtasks_detect.remote_target);

test('Fluent Bit: a malformed line, a 64 KiB event, a 5 MB match and the deepest nesting, with README\'s stack, in every function', (t) => {
  if (skip(t)) return;
  const { lines, targets } = hostileLines();
  const file = writeLines(lines);
  const plain = runTail([file], null).records.get(file);
  // What Fluent Bit itself makes of them: the malformed line as {"log": ...}; nothing lost.
  assert.equal(plain.length, lines.length, 'tail passes every line on');
  assert.deepEqual(plain[1], { log: lines[1] });
  for (const fn of FUNCTIONS) {
    const { records, log } = runTail([file], fn);
    const out = records.get(file) ?? [];
    assert.doesNotMatch(log, /exception/i, `${fn}: no trap`);
    if (fn.includes('precise') || !fn.includes('pack')) assert.deepEqual(targetsOf(out), targets, fn);
    else assert.deepEqual(targetsOf(out).filter((x) => x), targets, fn);
    if (fn.includes('keep')) assert.deepEqual(out.map(withoutAnnotation), plain, `${fn}: every record comes out`);
    else assert.equal(out.length, targets.length, `${fn}: only the matches come out`);
    const big = out.find((r) => r.schtasks_detect?.remote_target === 'BIG5');
    assert.equal(big.CommandLine.length, JSON.parse(lines[3]).CommandLine.length, `${fn}: the 5 MB event whole`);
  }
});

test('Fluent Bit: its default stack (8K) overflows on a nested record; the trap costs that record, not the next ones', (t) => {
  if (skip(t)) return;
  const lines = [
    JSON.stringify(processCreation('schtasks /create /s NESTED /tn t', { Nested: nested(40) })),
    JSON.stringify(processCreation('schtasks /create /s AFTER1 /tn t')),
    JSON.stringify(processCreation('schtasks /create /s AFTER2 /tn t')),
  ];
  const file = writeLines(lines);
  for (const fn of ['schtasks_detect_keep', 'schtasks_detect_pack_drop']) {
    const { records, log } = runTail([file], fn, { stack: '8K' });
    assert.match(log, /wasm operand stack overflow/, `${fn}: the README's warning holds`);
    assert.deepEqual(targetsOf(records.get(file) ?? []), ['AFTER1', 'AFTER2'], `${fn}: the filter goes on after a trap`);
    const fine = runTail([file], fn);
    assert.deepEqual(targetsOf(fine.records.get(file)), ['NESTED', 'AFTER1', 'AFTER2'], `${fn} with ${README_STACK}`);
  }
});

/** Runs Fluent Bit over `paths` as runTail does, sampling its RSS every `everyMs`; resolves to { records, samples, seconds, outputAtExit }. */
async function runTailMeasured(paths, filterFn, options = {}, everyMs = 50) {
  const dir = mkdtempSync(join(tmpdir(), 'fluent-bit-'));
  mkdirSync(join(dir, 'out'));
  writeFileSync(join(dir, 'fluent-bit.yaml'), tailConfig(dir, paths, filterFn, options));
  const started = process.hrtime.bigint();
  const child = spawn(built.bin, ['-c', join(dir, 'fluent-bit.yaml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => { log += d; });
  const samples = []; // [seconds, RSS KiB, peak RSS KiB, output bytes so far]
  const status = `/proc/${child.pid}/status`;
  const outputBytes = () => readdirSync(join(dir, 'out')).reduce((n, f) => n + statSync(join(dir, 'out', f)).size, 0);
  const timer = setInterval(() => {
    try {
      const text = readFileSync(status, 'utf8');
      const kib = (key) => Number(text.match(new RegExp(`${key}:\\s+(\\d+)`))[1]);
      samples.push([Number(process.hrtime.bigint() - started) / 1e9, kib('VmRSS'), kib('VmHWM'), outputBytes()]);
    } catch { /* it has just exited */ }
  }, everyMs);
  const code = await new Promise((resolve) => child.on('exit', resolve));
  clearInterval(timer);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  assert.equal(code, 0, log);
  // What Fluent Bit flushes while shutting down lands after the last sample could see it.
  const outputAtExit = outputBytes();
  const records = new Map();
  for (const name of readdirSync(join(dir, 'out'))) {
    const source = paths.find((p) => name === `win.${p.replace(/^\//, '').replaceAll('/', '.')}`);
    records.set(source, readFileSync(join(dir, 'out', name), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l)));
  }
  rmSync(dir, { recursive: true, force: true });
  return { records, samples, seconds, outputAtExit, log };
}

const peakKiB = (samples) => Math.max(...samples.map((s) => s[2]));

test('Fluent Bit: wasm_heap_size does not bind this module; its peak RSS grows by a bounded multiple of the largest match (README rule)', async (t) => {
  if (skip(t)) return;
  const small = writeLines([JSON.stringify(processCreation('schtasks /create /s SMALL /tn t'))]);
  // Fluent Bit's smallest heap (8K): the module allocates in its own memory (it exports malloc and free,
  // so WAMR makes no app heap), and a 4 MB match still passes.
  const base = peakKiB((await runTailMeasured([small], 'schtasks_detect_drop', { heap: '8K' })).samples);
  const ratios = [];
  for (const mib of [1, 2, 4]) {
    const line = JSON.stringify(processCreation(`schtasks /create /s BIG /tn t /tr "${'A'.repeat(mib << 20)}"`));
    const file = writeLines([line]);
    const run = await runTailMeasured([file], 'schtasks_detect_drop', { heap: '8K' });
    assert.deepEqual(targetsOf(run.records.get(file)), ['BIG'], `${mib} MiB`);
    ratios.push(((peakKiB(run.samples) - base) * 1024) / line.length);
  }
  console.log(`Fluent Bit peak RSS over a small record's, per byte of the matching record: ${ratios.map((r) => r.toFixed(1)).join(', ')} (base ${(base / 1024).toFixed(0)} MiB)`);
  // README: plan for Fluent Bit's own RSS to peak at its base plus 40 times the largest matching record.
  for (const r of ratios) assert.ok(r <= 40, `RSS grew ${r.toFixed(1)}x the record`);
});

test('Fluent Bit: 1 GB of logs with three hostile blocks through the filter: every match out, RSS flat (measured), records/s', async (t) => {
  if (skip(t)) return;
  if (!hasData) return t.skip('../shared/data is absent');
  const seed = join(data, 'attack_data/datasets/attack_techniques/T1053.005/atomic_red_team/attack_data.txt');
  const seedText = readFileSync(seed, 'utf8').replace(/\n*$/, '\n');
  const seedLines = seedText.split('\n').length - 1;
  const seedHits = nativeStream(seed, []).map((l) => l.detection.remote_target);
  const copies = Math.ceil((1 << 30) / Buffer.byteLength(seedText));
  const hostileAt = new Set([1, Math.floor(copies / 2), copies - 1]);
  const path = join(mkdtempSync(join(tmpdir(), 'fluent-bit-1gb-')), 'big.ndjson');
  const want = [];
  let records = 0;
  const out = createWriteStream(path);
  const write = (text) => new Promise((resolve) => (out.write(text) ? resolve() : out.once('drain', resolve)));
  for (let i = 0; i < copies; i++) {
    await write(seedText);
    want.push(...seedHits);
    records += seedLines;
    if (hostileAt.has(i)) {
      const { lines, targets } = hostileLines(`-${i}`);
      await write(`${lines.join('\n')}\n`);
      want.push(...targets);
      records += lines.length;
    }
  }
  await new Promise((resolve) => out.end(resolve));
  const bytes = statSync(path).size;

  const run = await runTailMeasured([path], 'schtasks_detect_drop', {}, 250);
  const got = targetsOf(run.records.get(path) ?? []);
  assert.equal(got.length, want.length, 'every match comes out');
  assert.deepEqual(got, want, 'in order');
  const rssAt = (fraction) => run.samples.filter((x) => x[0] <= run.seconds * fraction).at(-1)[1];
  const mib = (kib) => `${(kib / 1024).toFixed(0)} MiB`;
  mkdirSync(join(root, 'test-output'), { recursive: true });
  writeFileSync(join(root, 'test-output/fluent-bit-1gb-rss.csv'), `seconds,rss_kib,peak_kib\n${run.samples.map((x) => x.join(',')).join('\n')}\n`);
  console.log(`Fluent Bit, 1 GB through schtasks_detect_drop: ${(bytes / 1e6).toFixed(0)} MB, ${records} records in ${run.seconds.toFixed(1)} s = `
    + `${Math.round(records / run.seconds)} records/s, ${(bytes / 1e6 / run.seconds).toFixed(1)} MB/s; RSS by tenths of the run: `
    + `${[1, 2, 3, 4, 5, 6, 7, 8, 9].map((k) => mib(rssAt(k / 10))).join(', ')}; peak ${mib(peakKiB(run.samples))} `
    + '(samples in test-output/fluent-bit-1gb-rss.csv)');
  // Flat: between the hostile blocks, hundreds of MB add nothing that stays. Where the run is, is read
  // from the output: each block writes over 20 MB of matches (its 5 MB event, annotated), the seed's
  // copies a few KB; a stretch runs from 5 s after one jump of the output to 5 s before the next (a
  // block's record is read a second or two before its output is flushed). The last block is one copy
  // from the end, so its output may be flushed at shutdown, after the last sample: the output's size at
  // exit is the last point.
  const output = [...run.samples.map((x) => [x[0], x[3]]), [run.seconds, run.outputAtExit]];
  const jumps = output.filter((x, i) => i > 0 && x[1] - output[i - 1][1] > 1 << 20).map((x) => x[0]);
  assert.ok(jumps.length >= hostileAt.size, `the output shows the ${hostileAt.size} blocks (${jumps.length} jumps)`);
  const edges = [0, ...jumps, run.seconds];
  let checked = 0;
  for (let i = 1; i < edges.length; i++) {
    const stretch = run.samples.filter((x) => x[0] > edges[i - 1] + 5 && x[0] < edges[i] - 5);
    if (stretch.length < 40) continue; // under 10 s: nothing to judge
    const rss = stretch.map((x) => x[1]);
    const growth = Math.max(...rss) - rss[0];
    checked += stretch.at(-1)[0] - stretch[0][0];
    assert.ok(growth <= 8 * 1024, `RSS grew by ${mib(growth)} from ${stretch[0][0].toFixed(0)} s to ${stretch.at(-1)[0].toFixed(0)} s, between blocks`);
  }
  assert.ok(checked > run.seconds * 0.6, `flat stretches cover ${checked.toFixed(0)} of ${run.seconds.toFixed(0)} s`);
  rmSync(path, { force: true });
});

test('Fluent Bit: README\'s exec_wasi configuration runs the WASI command over its directories: the native --stream lines', async (t) => {
  if (skip(t)) return;
  if (!hasData) return t.skip('../shared/data is absent');
  // Every JSON-lines, EVTX and XML file of the corpus, in a directory of their own.
  const dir = mkdtempSync(join(tmpdir(), 'fluent-bit-wasi-'));
  const logs = join(dir, 'logs');
  mkdirSync(logs);
  for (const [i, f] of corpus().entries()) copyFileSync(join(data, f), join(logs, `${i}-${basename(f)}`));
  const native = nativeStream(logs, []);
  assert.ok(native.length >= 10, `the corpus has hits (${native.length})`);
  const { records } = await runUntil(readmeConfig('**Fluent Bit exec_wasi.**'), {
    WINLOG_DIR: logs, SCHTASKS_DETECT_WASI: join(root, 'target/wasm32-wasip1/release/schtasks-detect.wasm'),
  }, native.length);
  const key = (l) => `${l.file}:${l.offset}`;
  assert.deepEqual(records.map(key).sort(), native.map(key).sort(), 'the same hits');
  const byKey = new Map(native.map((l) => [key(l), l]));
  for (const r of records) {
    const { date, ...line } = r;
    assert.deepEqual(line, byKey.get(key(r)), key(r));
    // The parser takes the record's time from _time.
    assert.equal(Math.round(date * 1000), Date.parse(r._time), key(r));
  }
  rmSync(dir, { recursive: true, force: true });
});
