// make bench: the same input through every face, in one run. Native CLI,
// wasm detectBytes, wasm Detector (4 KiB, then 64 KiB pushes), WASI command (node:wasi),
// Fluent Bit filter (one call per JSON record). Prints MB/s and events/s;
// best of three runs each. Then the EVTX floor against the engine in wasm.
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WASI } from 'node:wasi';
import { cli, corpus, data, hasData, root, wasm } from '../tests/wasm/helpers.mjs';

if (!hasData) {
  console.log('bench: ../shared/data is absent, nothing to measure');
  process.exit(0);
}
const all = corpus();
const jsonFiles = all.filter((f) => !f.endsWith('.evtx') && !f.endsWith('.xml'));
const load = (files) => files.map((f) => [f, readFileSync(join(data, f))]);
const capture = 'attack_data/datasets/attack_techniques/T1053.005/atomic_red_team/attack_data.txt';
const sets = {
  'seed capture': load([capture]),
  'EVTX folder': load(all.filter((f) => f.endsWith('.evtx'))),
  'all corpus': load(all),
  'JSON files': load(jsonFiles),
};

function best(fn) {
  let t = Infinity;
  let r;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    r = fn();
    t = Math.min(t, (performance.now() - t0) / 1000);
  }
  return [t, r];
}

const wasiModule = new WebAssembly.Module(readFileSync(join(root, 'target/wasm32-wasip1/release/schtasks-detect.wasm')));
function wasiRun(files) {
  const out = openSync('/dev/null', 'w');
  const w = new WASI({ version: 'preview1', args: ['schtasks-detect', '--format', 'json', ...files.map((f) => `/data/${f}`)], env: {}, preopens: { '/data': data }, stdout: out, returnOnExit: true });
  w.start(new WebAssembly.Instance(wasiModule, w.getImportObject()));
  closeSync(out);
}

const filter = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(join(root, 'target/wasm32-unknown-unknown/release/schtasks_detect_fluent_bit.wasm'))), {}).exports;
function filterRun(inputs) {
  let records = 0;
  const tag = filter.malloc(8);
  for (const [, bytes] of inputs) {
    let start = 0;
    while (start < bytes.length) {
      let end = bytes.indexOf(10, start);
      if (end < 0) end = bytes.length;
      if (end > start + 1) {
        const len = end - start;
        const p = filter.malloc(len + 1);
        const mem = new Uint8Array(filter.memory.buffer);
        mem.set(bytes.subarray(start, end), p);
        mem[p + len] = 0;
        filter.schtasks_detect_drop(tag, 3, 0, 0, p, len);
        filter.free(p);
        records++;
      }
      start = end + 1;
    }
  }
  return records;
}

const rows = [];
for (const [name, inputs] of Object.entries(sets)) {
  const files = inputs.map(([f]) => f);
  const mb = inputs.reduce((n, [, b]) => n + b.length, 0) / 1e6;
  // The native CLI on one thread: the figure wasm (one thread) is held to.
  const nativeArgs = ['--format', 'json', '--threads', '1', ...files];
  const native = JSON.parse(execFileSync(cli, nativeArgs, { cwd: data, maxBuffer: 1 << 28 }));
  const events = native.stats.events;
  const [tn] = best(() => execFileSync(cli, nativeArgs, { cwd: data, maxBuffer: 1 << 28 }));
  const [tb] = best(() => inputs.forEach(([f, b]) => wasm.detectBytes(b, f)));
  const [td] = best(() => {
    const d = new wasm.Detector();
    for (const [f, b] of inputs) {
      // As the CLI reads: 4 KiB (an EVTX file's header), then 64 KiB at a
      // time, so that each EVTX chunk arrives whole and is read where it lies.
      d.push(b.subarray(0, 4096), f);
      for (let i = 4096; i < b.length; i += 65536) d.push(b.subarray(i, i + 65536), f);
      d.endFile();
    }
    d.finish();
    d.free();
  });
  const [tw] = best(() => wasiRun(files));
  rows.push([name, 'native CLI', mb, events, tn]);
  rows.push([name, 'wasm detectBytes', mb, events, tb]);
  rows.push([name, 'wasm Detector', mb, events, td]);
  rows.push([name, 'WASI (node:wasi)', mb, events, tw]);
  if (name === 'JSON files') {
    const [tf, records] = best(() => filterRun(inputs));
    rows.push([name, 'Fluent Bit filter', mb, records, tf]);
  }
}
// The generated JSON-lines file `cargo bench` writes (500 MB): the wasm
// Detector streaming it against the native CLI on one thread.
{
  const big = join(root, 'target/bench-500mb.json');
  let bytes = null;
  try { bytes = readFileSync(big); } catch { /* cargo bench makes it */ }
  if (bytes) {
    const mb = bytes.length / 1e6;
    const once = (fn) => { const t0 = performance.now(); const r = fn(); return [(performance.now() - t0) / 1000, r]; };
    const [tn] = once(() => execFileSync(cli, ['--format', 'json', '--threads', '1', big], { maxBuffer: 1 << 28 }));
    const [td, r] = once(() => {
      const d = new wasm.Detector();
      for (let i = 0; i < bytes.length; i += 1 << 20) d.push(bytes.subarray(i, i + (1 << 20)), 'generated.json');
      return d.finish();
    });
    rows.push(['generated', 'native CLI', mb, r.stats.events, tn]);
    rows.push(['generated', 'wasm Detector', mb, r.stats.events, td]);
  }
}
console.log(`${'input'.padEnd(12)} ${'face'.padEnd(18)} ${'MB'.padStart(7)} ${'events'.padStart(8)} ${'seconds'.padStart(8)} ${'MB/s'.padStart(7)} ${'events/s'.padStart(9)} ${'x native'.padStart(8)}`);
for (const [input, face, mb, events, t] of rows) {
  const native = rows.find((r) => r[0] === input && r[1] === 'native CLI')[4];
  console.log(`${input.padEnd(12)} ${face.padEnd(18)} ${mb.toFixed(1).padStart(7)} ${String(events).padStart(8)} ${t.toFixed(2).padStart(8)} ${(mb / t).toFixed(1).padStart(7)} ${Math.round(events / t).toString().padStart(9)} ${(native / t).toFixed(2).padStart(8)}`);
}

// The ESCU pack beside the flagship, in wasm: one Detector over the whole
// corpus (the page's and a console's streaming path), and detectBytes per
// file (a detector, its results and their conversion to JS per file).
{
  const inputs = sets['all corpus'];
  const mb = inputs.reduce((n, [, b]) => n + b.length, 0) / 1e6;
  // Alternate the two, best of five each: this shared machine drifts by tens of percent.
  const interleaved = (run) => {
    let [f, p] = [Infinity, Infinity];
    let result;
    for (let i = 0; i < 5; i++) {
      let t0 = performance.now();
      result = run(undefined);
      f = Math.min(f, (performance.now() - t0) / 1000);
      t0 = performance.now();
      run({ rules: 'all' });
      p = Math.min(p, (performance.now() - t0) / 1000);
    }
    return [f, p, result];
  };
  const [fs, ps, fr] = interleaved((opts) => {
    const d = new wasm.Detector(opts);
    for (const [name, bytes] of inputs) { d.push(bytes, name); d.endFile(); }
    return d.finish();
  });
  const [fd, pd] = interleaved((opts) => { for (const [name, bytes] of inputs) wasm.detectBytes(bytes, name, opts); });
  const ev = fr.stats.events;
  console.log(`\nESCU pack in wasm, whole corpus (${inputs.length} files, ${mb.toFixed(1)} MB, ${ev} events):`);
  console.log(`  one Detector: flagship ${(mb / fs).toFixed(1)} MB/s ${Math.round(ev / fs)} events/s; flagship + pack ${(mb / ps).toFixed(1)} MB/s ${Math.round(ev / ps)} events/s; pack / flagship ${(fs / ps).toFixed(2)}`);
  console.log(`  detectBytes per file: flagship ${(mb / fd).toFixed(1)} MB/s; flagship + pack ${(mb / pd).toFixed(1)} MB/s; pack / flagship ${(fd / pd).toFixed(2)}`);
}

// The EVTX floor in wasm: the `evtx` crate's own record iteration against
// the engine's Detector, interleaved in one WASI process
// (examples/evtx_floor.rs, built as pkg/node is: opt-level 3, simd128).
{
  const floorWasm = join(root, 'target/wasm-bench/wasm32-wasip1/release/examples/evtx_floor.wasm');
  const evtx = sets['EVTX folder'].map(([f]) => `/data/${f}`);
  const w = new WASI({ version: 'preview1', args: ['evtx_floor', '7', ...evtx], env: {}, preopens: { '/data': data }, returnOnExit: true });
  process.stdout.write('\nEVTX floor in wasm (WASI, one process, best of 7): ');
  w.start(new WebAssembly.Instance(new WebAssembly.Module(readFileSync(floorWasm)), w.getImportObject()));
}
