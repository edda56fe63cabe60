// The page's worker: streams each file into the wasm Detector, so the page
// stays responsive and memory holds the aggregate state, not the files.
import init, { Detector, toCsv, packRules, manifest } from './pkg/web/index.js';

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
  let lastYield = performance.now();
  for (const [index, file] of files.entries()) {
    const reader = file.stream().getReader();
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) break;
      // File reads can resolve without ever returning to the event loop:
      // yield now and then, so that a cancel message gets through.
      if (performance.now() - lastYield > 50) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        lastYield = performance.now();
      }
      if (cancelled) {
        await reader.cancel();
        detector.free();
        postMessage({ type: 'cancelled', bytesDone: done, totalBytes });
        return;
      }
      detector.push(value, file.name);
      done += value.length;
      report(file, index, false);
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

onmessage = (e) => {
  const msg = e.data;
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
