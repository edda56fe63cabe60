// The pipeline faces, in real wasm runtimes: the WASI command under node:wasi
// (and PyPI wasmtime when installed), the Fluent Bit filter called exactly as
// filter_wasm calls it. Both are compared with the native CLI on the corpus.
import test from 'node:test';
import assert from 'node:assert/strict';
import { WASI } from 'node:wasi';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { corpus, data, hasData, nativeJson, root } from '../wasm/helpers.mjs';

const wasiModule = new WebAssembly.Module(readFileSync(join(root, 'target/wasm32-wasip1/release/schtasks-detect.wasm')));
const filterBytes = readFileSync(join(root, 'target/wasm32-unknown-unknown/release/schtasks_detect_fluent_bit.wasm'));
const jsonFiles = () => corpus().filter((f) => !f.endsWith('.evtx') && !f.endsWith('.xml'));

/** Runs the WASI CLI with ../shared/data preopened as /data; returns [exit code, stdout]. */
function runWasi(args, stdinPath) {
  const dir = mkdtempSync(join(tmpdir(), 'wasi-'));
  const outPath = join(dir, 'out');
  const out = openSync(outPath, 'w');
  const inp = openSync(stdinPath ?? '/dev/null', 'r');
  const wasi = new WASI({
    version: 'preview1',
    args: ['schtasks-detect', ...args],
    env: {},
    preopens: { '/data': hasData ? data : dir, '/tmp': dir },
    stdin: inp,
    stdout: out,
    returnOnExit: true,
  });
  const instance = new WebAssembly.Instance(wasiModule, wasi.getImportObject());
  const code = wasi.start(instance);
  closeSync(out);
  closeSync(inp);
  return [code, readFileSync(outPath, 'utf8')];
}

/** File names differ only by the /data prefix. */
const normalise = (report) => JSON.parse(JSON.stringify(report).replaceAll('"/data/', '"'));

test('the WASI command gives the native JSON on every JSON file of the corpus', (t) => {
  if (!hasData) return t.skip('../shared/data is absent');
  const files = jsonFiles();
  assert.equal(files.length, 8);
  for (const f of files) {
    const [code, out] = runWasi(['--format', 'json', `/data/${f}`]);
    assert.equal(code, 0, f);
    assert.deepEqual(normalise(JSON.parse(out)), nativeJson([f]), f);
  }
});

test('the WASI command reads stdin and writes table, csv and --stream output like the native one', (t) => {
  if (!hasData) return t.skip('../shared/data is absent');
  const f = 'Security-Datasets/datasets/atomic/windows/lateral_movement/host/schtask_create_2020-12-1907003032.json';
  for (const args of [['--format', 'csv'], ['--format', 'table', '--tz', '+01:00'], ['--stream', '--summary', '--mode', 'precise']]) {
    const [code, out] = runWasi([...args, '-'], join(data, f));
    assert.equal(code, 0);
    const native = execFileSync(join(root, 'target/release/schtasks-detect'), [...args, '-'], { input: readFileSync(join(data, f)) }).toString();
    assert.equal(out, native, args.join(' '));
  }
  const [, stream] = runWasi(['--stream', `/data/${f}`]);
  const lines = stream.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 2);
  assert.equal(lines[0].detection.remote_target, 'WORKSTATION6');
  assert.equal(lines[0].detection.rule_id, '1297fb80-f42a-4b4a-9c8a-88c066237cf6');
});

test('the WASI command under PyPI wasmtime, when installed', (t) => {
  if (!hasData) return t.skip('../shared/data is absent');
  const f = 'attack_data/datasets/attack_techniques/T1053.005/atomic_red_team/attack_data.txt';
  const module = join(root, 'target/wasm32-wasip1/release/schtasks-detect.wasm');
  const r = spawnSync('python3', [join(root, 'tests/pipelines/run_wasmtime.py'), module, data, '--format', 'json', `/data/${f}`], { maxBuffer: 1 << 28 });
  if (r.status === 77) return t.skip('PyPI wasmtime is not installed');
  assert.equal(r.status, 0, r.stderr.toString());
  assert.deepEqual(normalise(JSON.parse(r.stdout.toString())), nativeJson([f]));
});

/** The filter module, called as Fluent Bit's filter_wasm calls it. */
class FluentBitHost {
  constructor() {
    const module = new WebAssembly.Module(filterBytes);
    assert.deepEqual(WebAssembly.Module.imports(module), [], 'a filter imports nothing (no wasm-bindgen placeholders)');
    this.x = new WebAssembly.Instance(module, {}).exports;
  }
  /** Copies bytes + NUL into module memory through its malloc (as wasm_runtime_module_dup_data does). */
  dup(bytes) {
    const p = this.x.malloc(bytes.length + 1);
    assert.ok(p !== 0);
    const mem = new Uint8Array(this.x.memory.buffer, p, bytes.length + 1);
    mem.set(bytes);
    mem[bytes.length] = 0;
    return p;
  }
  call(fn, tag, record) {
    const enc = new TextEncoder();
    const t = enc.encode(tag);
    const r = typeof record === 'string' ? enc.encode(record) : record;
    const tp = this.dup(t);
    const rp = this.dup(r);
    const out = this.x[fn](tp, t.length, 1700000000, 5, rp, r.length);
    const mem = new Uint8Array(this.x.memory.buffer);
    let end = out;
    while (mem[end] !== 0) end++;
    const text = new TextDecoder().decode(mem.subarray(out, end)); // strdup, as the host does
    this.x.free(tp);
    this.x.free(rp);
    return text;
  }
}

test('the Fluent Bit filter finds exactly what the native CLI finds, record by record', (t) => {
  if (!hasData) return t.skip('../shared/data is absent');
  const host = new FluentBitHost();
  for (const f of jsonFiles()) {
    const native = nativeJson([f]);
    for (const [fn, mode] of [['schtasks_detect_drop', 'parity'], ['schtasks_detect_drop_precise', 'precise']]) {
      const found = [];
      for (const line of readFileSync(join(data, f), 'utf8').split('\n')) {
        if (!line.trim()) continue;
        const out = host.call(fn, 'winlog.security', line);
        if (out === '') continue;
        const rec = JSON.parse(out);
        assert.ok(rec.schtasks_detect, out);
        found.push(rec.schtasks_detect.cim.command_line);
      }
      const want = mode === 'parity' ? native.matches.map((m) => m.command_line) : nativeJson(['--mode', 'precise', f]).matches.map((m) => m.command_line);
      assert.deepEqual(found.sort(), want.sort(), `${f} (${mode})`);
    }
  }
});

test('the Fluent Bit filter: annotation, keep mode, a 64 KiB event, malformed JSON, 100,000 calls in one instance', () => {
  const host = new FluentBitHost();
  const hit = {
    EventID: 4688, Channel: 'Security', Computer: 'ws1', NewProcessName: 'C:\\Windows\\System32\\schtasks.exe',
    CommandLine: 'schtasks /create /s FS02 /tn t /tr x', SubjectUserName: 'bob', TargetUserName: '-',
  };
  const out = JSON.parse(host.call('schtasks_detect_drop', 'win', JSON.stringify(hit)));
  assert.equal(out.Computer, 'ws1');
  const d = out.schtasks_detect;
  assert.equal(d.rule_name, 'Schtasks scheduling job on remote system');
  assert.equal(d.rule_id, '1297fb80-f42a-4b4a-9c8a-88c066237cf6');
  assert.equal(d.risk_score, 63);
  assert.deepEqual(d.mitre_attack_id, ['T1053.005', 'T1053']);
  assert.equal(d.remote_target, 'FS02');
  assert.match(d.risk_message, /^A schedule task process schtasks\.exe with remote job command-line C:\\Windows\\System32\\schtasks\.exe \/create \/s FS02 .* in host ws1 by bob\.$/);

  const miss = { EventID: 4688, Channel: 'Security', NewProcessName: 'C:\\x.exe', CommandLine: 'x' };
  assert.equal(host.call('schtasks_detect_drop', 'win', JSON.stringify(miss)), '');
  assert.deepEqual(JSON.parse(host.call('schtasks_detect_keep', 'win', JSON.stringify(miss))), miss);

  const big = { ...hit, CommandLine: `schtasks /create /s BIG /tn t /tr "${'A'.repeat(64 * 1024)}"` };
  const bigOut = JSON.parse(host.call('schtasks_detect_drop', 'win', JSON.stringify(big)));
  assert.equal(bigOut.schtasks_detect.remote_target, 'BIG');
  assert.equal(bigOut.CommandLine.length, big.CommandLine.length);

  for (const bad of ['{"EventID": 1, "Image": ', 'not json', '', '[1,2', '\u0000\u0001\u0002', '{"a":"\\ud800"}']) {
    assert.equal(host.call('schtasks_detect_drop', 'win', bad), '', bad);
    const kept = JSON.parse(host.call('schtasks_detect_keep', 'win', bad) || '{}');
    assert.ok(typeof kept === 'object');
  }

  const records = [JSON.stringify(hit), JSON.stringify(miss), '{"broken":', JSON.stringify({ ...hit, CommandLine: 'schtasks -create -s X' })];
  for (let i = 0; i < 1000; i++) host.call('schtasks_detect_keep', 'win', records[i % 4]);
  const before = host.x.memory.buffer.byteLength;
  for (let i = 0; i < 100000; i++) host.call(i % 2 ? 'schtasks_detect_keep' : 'schtasks_detect_drop_precise', 'win', records[i % 4]);
  assert.equal(host.x.memory.buffer.byteLength, before, 'memory does not grow over 100,000 calls');
});

test('the Fluent Bit filter needs a bounded multiple of a matching record in heap (README rule)', () => {
  const hit = {
    EventID: 4688, Channel: 'Security', Computer: 'ws1', NewProcessName: 'C:\\Windows\\System32\\schtasks.exe',
    SubjectUserName: 'bob', TargetUserName: '-',
  };
  const ratios = [];
  for (const mib of [1, 2, 4]) {
    const host = new FluentBitHost(); // a fresh instance: its memory only grows, so its size is the peak
    host.call('schtasks_detect_drop', 'win', JSON.stringify({ ...hit, CommandLine: 'schtasks /create /s W /tn t' }));
    const before = host.x.memory.buffer.byteLength;
    const record = JSON.stringify({ ...hit, CommandLine: `schtasks /create /s BIG /tn t /tr "${'A'.repeat(mib << 20)}"` });
    const out = JSON.parse(host.call('schtasks_detect_drop', 'win', record));
    assert.equal(out.schtasks_detect.remote_target, 'BIG');
    ratios.push((host.x.memory.buffer.byteLength - before) / record.length);
  }
  console.log(`filter heap growth per record byte: ${ratios.map((r) => r.toFixed(1)).join(', ')}`);
  // README: the module's memory is about 15 times the largest matching record (it was about 23x).
  for (const r of ratios) assert.ok(r <= 16, `heap grew ${r.toFixed(1)}x the record`);
});

test('the Fluent Bit filter\'s pack functions annotate a record with every ESCU rule it matches', () => {
  const host = new FluentBitHost();
  const rec = JSON.stringify({
    EventID: 1, Channel: 'Microsoft-Windows-Sysmon/Operational', Hostname: 'h', UtcTime: '2024-01-01 00:00:00.000',
    Image: 'C:\\Windows\\System32\\vssadmin.exe', CommandLine: 'vssadmin.exe delete shadows /all /quiet', User: 'D\\u',
    ParentImage: 'C:\\Windows\\System32\\cmd.exe',
  });
  assert.equal(host.call('schtasks_detect_drop', 'win', rec), '', 'the flagship alone drops it');
  const out = JSON.parse(host.call('schtasks_detect_pack_drop', 'win', rec));
  const names = out.schtasks_detect.rules.map((r) => r.rule_name);
  assert.ok(names.includes('Deleting Shadow Copies'), names.join('; '));
  // The CLI's stream says the same of the same event.
  const dir = mkdtempSync(join(tmpdir(), 'pack-'));
  writeFileSync(join(dir, 'e.json'), `${rec}\n`);
  const line = JSON.parse(execFileSync(join(root, 'target/release/schtasks-detect'), ['--stream', '--rules', 'all', join(dir, 'e.json')]).toString());
  assert.deepEqual(line.detection.rules.map((r) => r.rule_name), names);
  // And the WASI command, the same code: the same line.
  const wasi = spawnSync(process.execPath, ['--no-warnings', join(root, 'tests/pipelines/run_node_wasi.mjs'),
    join(root, 'target/wasm32-wasip1/release/schtasks-detect.wasm'), dir, '--stream', '--rules', 'all', '/data/e.json']);
  assert.equal(wasi.status, 0, String(wasi.stderr));
  const wasiLine = JSON.parse(wasi.stdout.toString());
  assert.deepEqual(wasiLine.detection, line.detection);
  const kept = JSON.parse(host.call('schtasks_detect_pack_keep', 'win', '{"EventID":4624}'));
  assert.equal(kept.EventID, 4624);
});

test('node:wasi: a 3 MB matching record streams out under --no-turbo-fast-api-calls (README limit)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wasi-big-'));
  const cmd = `schtasks /create /s BIG3 /tn t /tr ${'A'.repeat(3 << 20)}`;
  writeFileSync(join(dir, 'big.json'), `${JSON.stringify({
    EventID: 1, Channel: 'Microsoft-Windows-Sysmon/Operational', Hostname: 'h', UtcTime: '2020-01-01 00:00:00.000',
    Image: 'C:\\Windows\\System32\\schtasks.exe', CommandLine: cmd, User: 'D\\u', ParentImage: 'C:\\x\\cmd.exe',
  })}\n`);
  const module = join(root, 'target/wasm32-wasip1/release/schtasks-detect.wasm');
  const r = spawnSync(process.execPath, ['--no-warnings', '--no-turbo-fast-api-calls', join(root, 'tests/pipelines/run_node_wasi.mjs'),
    module, dir, '--stream', '/data/big.json'], { maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, `status ${r.status} signal ${r.signal}: ${r.stderr}`);
  const line = JSON.parse(r.stdout.toString());
  assert.equal(line.detection.remote_target, 'BIG3');
  assert.equal(line.command_line, cmd);
});

test('the WASI command started with no arguments at all (as Fluent Bit\'s exec_wasi starts it) streams the hits of its preopened directories', (t) => {
  if (!hasData) return t.skip('../shared/data is absent');
  const run = (preopens) => {
    const dir = mkdtempSync(join(tmpdir(), 'wasi-noargs-'));
    const out = openSync(join(dir, 'out'), 'w');
    const err = openSync(join(dir, 'err'), 'w');
    // args: [] is argc 0, not even a program name.
    const wasi = new WASI({ version: 'preview1', args: [], env: {}, preopens, stdout: out, stderr: err, returnOnExit: true });
    const code = wasi.start(new WebAssembly.Instance(wasiModule, wasi.getImportObject()));
    closeSync(out);
    closeSync(err);
    return [code, readFileSync(join(dir, 'out'), 'utf8'), readFileSync(join(dir, 'err'), 'utf8')];
  };
  const a = 'Security-Datasets/datasets/atomic/windows/lateral_movement/host';
  const b = 'attack_data/datasets/attack_techniques/T1053.005/atomic_red_team';
  const [code, out, errors] = run({ '/a': join(data, a), '/b': join(data, b) });
  // Exit status 1, as natively: /b holds a YAML file that is not a log, said on stderr.
  assert.equal(code, 1);
  assert.match(errors, /\/b\/atomic_red_team\.yml: unrecognised content/);
  const lines = out.trim().split('\n').map((l) => JSON.parse(l));
  const native = (dir) => spawnSync(join(root, 'target/release/schtasks-detect'), ['--stream', dir]).stdout.toString().trim().split('\n').map((l) => JSON.parse(l));
  // Both directories, in preopen order, each line as the native --stream gives it (paths differ by prefix).
  const strip = (l, prefix) => ({ ...l, file: l.file.slice(prefix.length) });
  assert.deepEqual(lines.map((l) => strip(l, l.file.startsWith('/a') ? '/a' : '/b')),
    [...native(join(data, a)).map((l) => strip(l, join(data, a))), ...native(join(data, b)).map((l) => strip(l, join(data, b)))]);
  assert.equal(lines.length, 6);
  // Nothing preopened: nothing to read, said as usual.
  const [none, , err] = run({});
  assert.equal(none, 2);
  assert.match(err, /no input/);
});
