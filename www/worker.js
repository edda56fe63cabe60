// The page's worker: streams each file into the wasm Detector, so the page
// stays responsive and memory holds the aggregate state, not the files.
import init, { Cutter, Detector, toCsv, packRules, manifest } from './pkg/web/index.js';

let wasm = null;
let cancelled = false;
const ready = init().then((exports) => {
  wasm = exports;
  const m = manifest();
  postMessage({
    type: 'ready',
    pack: packRules(),
    catalogue: { supported: m.supported.length, second_tier: m.second_tier.length, unsupported: m.unsupported.length },
  });
});

const memoryBytes = () => (wasm ? wasm.memory.buffer.byteLength : 0);

async function run(files, options) {
  await ready;
  const detector = new Detector(options);
  const totalBytes = files.reduce((n, f) => n + f.size, 0);
  const started = performance.now();
  let done = 0;
  let lastPost = 0;
  let peakMemory = memoryBytes();
  const report = (file, index, force) => {
    const now = performance.now();
    if (!force && now - lastPost < 100) return;
    lastPost = now;
    const p = detector.progress();
    peakMemory = Math.max(peakMemory, memoryBytes());
    const secs = (now - started) / 1000;
    postMessage({
      type: 'progress', file: file.name, fileIndex: index, fileCount: files.length,
      bytesDone: done, totalBytes, events: p.events, hits: p.hits, ruleHits: p.rule_hits, errors: p.errors,
      eventsPerSec: secs > 0 ? p.records / secs : 0, memoryBytes: memoryBytes(), peakMemory,
    });
  };
  for (const [index, file] of files.entries()) {
    const read = await streamInto(file, (value) => {
      detector.push(value, file.name);
      done += value.length;
      report(file, index, false);
    });
    if (!read) {
      detector.free();
      postMessage({ type: 'cancelled', bytesDone: done, totalBytes });
      return;
    }
    detector.endFile();
    report(file, index, true);
  }
  const result = detector.finish();
  detector.free();
  peakMemory = Math.max(peakMemory, memoryBytes());
  postMessage({
    type: 'result', result,
    seconds: (performance.now() - started) / 1000, peakMemory,
  });
}

// ---- the pool's jobs (pool.js): pieces, cutting, merging ----

/** Bytes read from a file at a time: one read each (a stream's chunks are 64 KiB, each a round trip). */
const READ_BYTES = 4 << 20;

/** Reads `blob` into `sink` in slices of READ_BYTES, yielding between them so that a cancel gets through; false when cancelled. */
async function streamInto(blob, sink) {
  for (let at = 0; at < blob.size; at += READ_BYTES) {
    const bytes = new Uint8Array(await blob.slice(at, Math.min(blob.size, at + READ_BYTES)).arrayBuffer());
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (cancelled) return false;
    sink(bytes);
  }
  return true;
}

/** One job: a whole file, or one piece of a large one; answers with its partial result. */
async function job({ id, file, bounds, options }) {
  await ready;
  const detector = new Detector(options);
  try {
    let blob = file;
    if (bounds) {
      detector.beginPiece(file.name, bounds.format, bounds.offset, bounds.line, bounds.cut);
      blob = file.slice(bounds.offset, bounds.length === undefined ? file.size : bounds.offset + bounds.length);
    }
    let bytes = 0;
    let lastPost = 0;
    const post = () => {
      const p = detector.progress();
      postMessage({ type: 'job-progress', id, bytes, events: p.events, hits: p.hits, ruleHits: p.rule_hits, memoryBytes: memoryBytes() });
    };
    const read = await streamInto(blob, (value) => {
      detector.push(value, file.name);
      bytes += value.length;
      if (performance.now() - lastPost > 100) {
        lastPost = performance.now();
        post();
      }
    });
    if (!read) return postMessage({ type: 'cancelled' });
    detector.endFile();
    post();
    postMessage({ type: 'partial', id, text: detector.partial(), memoryBytes: memoryBytes() });
  } finally {
    detector.free();
  }
}

/** Finds where a large file can be cut, reading only around the cuts (64 KiB at each piece's worth of bytes; an EVTX file's chunks from its size); sends the pieces' bounds as they are found. */
async function cut({ id, file, target }) {
  await ready;
  const first = new Uint8Array(await file.slice(0, 64 << 10).arrayBuffer());
  const cutter = Cutter.around(first, file.size, target);
  if (!cutter) return postMessage({ type: 'pieces', id, pieces: [{ whole: true }], last: true });
  try {
    for (let at = cutter.wants(); at !== undefined; at = cutter.wants()) {
      const bytes = new Uint8Array(await file.slice(at, Math.min(file.size, at + (64 << 10))).arrayBuffer());
      if (cancelled) return postMessage({ type: 'cancelled' });
      const pieces = cutter.push(bytes);
      if (pieces.length) postMessage({ type: 'pieces', id, pieces, last: false });
    }
    postMessage({ type: 'pieces', id, pieces: cutter.finish(), last: true });
  } finally {
    cutter.free();
  }
}

let merger = null;

/** Merges the jobs' partial results, in input order, into the result one Detector gives. */
async function merge(msg) {
  await ready;
  if (msg.type === 'merge-begin') {
    merger?.free();
    merger = new Detector(msg.options);
  } else if (msg.type === 'merge-part') {
    merger.merge(msg.text);
  } else {
    const result = merger.finish();
    merger.free();
    merger = null;
    postMessage({ type: 'merged', result, memoryBytes: memoryBytes() });
  }
}

const fail = (err) => postMessage({ type: 'error', message: String(err && err.message ? err.message : err) });
// Merge messages run one after another, in the order they came.
let merging = Promise.resolve();

onmessage = (e) => {
  const msg = e.data;
  if (msg.type === 'job') {
    cancelled = false;
    job(msg).catch(fail);
    return;
  }
  if (msg.type === 'cut') {
    cancelled = false;
    cut(msg).catch(fail);
    return;
  }
  if (msg.type.startsWith('merge-')) {
    merging = merging.then(() => merge(msg)).catch(fail);
    return;
  }
  if (msg.type === 'csv') {
    // Exports are written by the engine's one CSV writer (formulas neutralised).
    ready.then(() => postMessage({ type: 'csv', id: msg.id, text: toCsv(msg.columns, msg.items) }))
      .catch((err) => postMessage({ type: 'error', message: String(err && err.message ? err.message : err) }));
  } else if (msg.type === 'cancel') {
    cancelled = true;
  } else if (msg.type === 'run') {
    cancelled = false; // here, not in run(): a cancel that follows this message must win
    run(msg.files, msg.options).catch((err) => {
      postMessage({ type: 'error', message: String(err && err.message ? err.message : err) });
    });
  }
};
