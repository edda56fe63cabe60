// A pool of workers reading files (and the pieces of large ones) in parallel,
// as the CLI's --threads does: a helper worker finds where a large file can be
// cut (EVTX chunks, JSON lines opening an object), the pool's workers each
// read a piece from the file and answer with a partial result, and the helper
// merges the partial results in input order. The merged result is the one a
// single Detector gives reading the files one after another, byte for byte.

/** Files up to this size are one job each, read whole. */
const WHOLE_BELOW = 1 << 20;
/** What a piece aims at: small enough that the workers end together, large enough to cost little. */
/** Job and cut ids are unique across runs: a late answer from a cancelled run is ignored by id. */
let lastId = 0;
const pieceTarget = (size, workers) => Math.min(4 << 20, Math.max(256 << 10, Math.floor(size / (workers * 4))));

export class Pool {
  /**
   * `count` workers for the jobs, and one helper that cuts and merges, all
   * started now (at page load: nothing is fetched later); `ready` resolves
   * once each has its engine.
   */
  constructor(count, url = './worker.js') {
    this.workers = Array.from({ length: count }, () => new Worker(url, { type: 'module' }));
    this.helper = new Worker(url, { type: 'module' });
    this.run = null;
    this.ready = Promise.all([...this.workers, this.helper].map((w) => new Promise((resolve, reject) => {
      w.onmessage = (e) => { if (e.data.type === 'ready') resolve(); };
      w.onerror = (e) => reject(new Error(`a worker failed to start: ${e.message}`));
    })));
  }

  get size() {
    return this.workers.length;
  }

  /**
   * Reads `files` with `options`; `onProgress({ bytesDone, totalBytes, events, hits, ruleHits, memoryBytes })`
   * now and then. Resolves to { result, peakMemory } (peakMemory: the sum of every worker's highest
   * wasm memory), or { cancelled: true, bytesDone, totalBytes }. `tuning` (tests): { wholeBelow, pieceBytes }.
   */
  read(files, options, onProgress, tuning = {}) {
    if (this.run) throw new Error('the pool is busy');
    return new Promise((resolve, reject) => {
      const run = new PoolRun(this, files, options, onProgress, tuning, (value, error) => {
        this.run = null;
        for (const w of [...this.workers, this.helper]) w.onmessage = w.onerror = null;
        if (error) reject(error);
        else resolve(value);
      });
      this.run = run;
      run.start();
    });
  }

  cancel() {
    this.run?.cancel();
  }
}

class PoolRun {
  constructor(pool, files, options, onProgress, tuning, settle) {
    Object.assign(this, { pool, files, options, onProgress, settle });
    this.wholeBelow = tuning.wholeBelow ?? WHOLE_BELOW;
    this.pieceBytes = tuning.pieceBytes;
    this.totalBytes = files.reduce((n, f) => n + f.size, 0);
    // Per file, in order: its jobs (in piece order) and whether all are known.
    this.plan = files.map((file) => ({ file, jobs: [], known: false }));
    this.jobs = new Map(); // id -> { file, bounds, bytes, events, hits, ruleHits, partial, worker }
    this.cuts = new Map(); // cut id -> file index
    this.cutQueue = []; // file indices waiting for the helper
    this.cutting = null;
    this.mergeAt = { file: 0, job: 0 };
    this.idle = [...pool.workers];
    this.peak = new Map(); // worker -> highest wasm memory seen
    this.lastProgress = 0;
    this.finished = false;
    // Where the time went (returned with the result): jobs' busy time, when the last cut was known.
    this.t0 = performance.now();
    this.busy = 0;
    this.cutDone = 0;
  }

  start() {
    for (const w of this.pool.workers) w.onmessage = (e) => this.fromWorker(w, e.data);
    this.pool.helper.onmessage = (e) => this.fromHelper(e.data);
    for (const w of [...this.pool.workers, this.pool.helper]) {
      w.onerror = (e) => this.fail(new Error(`a worker failed: ${e.message}`));
    }
    this.pool.helper.postMessage({ type: 'merge-begin', options: this.options });
    this.plan.forEach((entry, index) => {
      if (entry.file.size <= this.wholeBelow) {
        this.addJob(entry, null);
        entry.known = true;
      } else {
        this.cutQueue.push(index);
      }
    });
    this.nextCut();
    this.dispatch();
    this.mergeReady();
  }

  addJob(entry, bounds) {
    const id = ++lastId;
    const job = { id, file: entry.file, bounds, bytes: 0, events: 0, hits: 0, ruleHits: 0, partial: null, worker: null };
    this.jobs.set(id, job);
    entry.jobs.push(job);
  }

  nextCut() {
    if (this.cutting !== null || !this.cutQueue.length) return;
    this.cutting = this.cutQueue.shift();
    const { file } = this.plan[this.cutting];
    const id = ++lastId;
    this.cuts.set(id, this.cutting);
    this.pool.helper.postMessage({ type: 'cut', id, file, target: this.pieceBytes ?? pieceTarget(file.size, this.pool.size) });
  }

  /** Gives idle workers the next jobs, in input order. */
  dispatch() {
    if (this.finished) return;
    for (const entry of this.plan) {
      for (const job of entry.jobs) {
        if (!this.idle.length) return;
        if (job.worker || job.partial !== null) continue;
        job.worker = this.idle.shift();
        job.sent = performance.now();
        job.worker.postMessage({ type: 'job', id: job.id, file: job.file, bounds: job.bounds, options: this.options });
      }
    }
  }

  /** Sends the partial results that are next in input order to the helper; finishes after the last. */
  mergeReady() {
    for (;;) {
      const entry = this.plan[this.mergeAt.file];
      if (!entry) {
        this.pool.helper.postMessage({ type: 'merge-end' });
        return;
      }
      const job = entry.jobs[this.mergeAt.job];
      if (job) {
        if (job.partial === null) return;
        this.pool.helper.postMessage({ type: 'merge-part', text: job.partial });
        job.partial = ''; // merged: its text is no longer held here
        this.mergeAt.job += 1;
      } else if (entry.known) {
        this.mergeAt = { file: this.mergeAt.file + 1, job: 0 };
      } else {
        return; // its pieces are still being found
      }
    }
  }

  fromHelper(m) {
    if (this.finished) return;
    this.notePeak(this.pool.helper, m.memoryBytes);
    if (m.type === 'pieces') {
      if (!this.cuts.has(m.id)) return;
      const entry = this.plan[this.cuts.get(m.id)];
      for (const bounds of m.pieces) this.addJob(entry, bounds.whole ? null : bounds);
      if (m.last) {
        entry.known = true;
        this.cutDone = performance.now() - this.t0;
        this.cutting = null;
        this.nextCut();
      }
      this.dispatch();
      this.mergeReady();
    } else if (m.type === 'merged') {
      const seconds = (performance.now() - this.t0) / 1000;
      this.finish({
        result: m.result,
        peakMemory: this.peakTotal(),
        // How busy the workers were (1: never idle), and when the cutting ended.
        timing: { seconds, jobs: this.jobs.size, utilisation: this.busy / 1000 / seconds / this.pool.size, cutSeconds: this.cutDone / 1000 },
      });
    } else if (m.type === 'error') {
      this.fail(new Error(m.message));
    }
  }

  fromWorker(worker, m) {
    if (this.finished) return;
    this.notePeak(worker, m.memoryBytes);
    if (m.id !== undefined && !this.jobs.has(m.id)) return; // a cancelled run's
    if (m.type === 'job-progress') {
      Object.assign(this.jobs.get(m.id), { bytes: m.bytes, events: m.events, hits: m.hits, ruleHits: m.ruleHits });
      this.progress(false);
    } else if (m.type === 'partial') {
      const job = this.jobs.get(m.id);
      job.partial = m.text;
      job.worker = null;
      this.busy += performance.now() - job.sent;
      this.idle.push(worker);
      this.progress(true);
      this.dispatch();
      this.mergeReady();
    } else if (m.type === 'error') {
      this.fail(new Error(m.message));
    }
  }

  notePeak(worker, bytes) {
    if (bytes) this.peak.set(worker, Math.max(this.peak.get(worker) ?? 0, bytes));
  }

  peakTotal() {
    let n = 0;
    for (const v of this.peak.values()) n += v;
    return n;
  }

  progress(force) {
    const now = performance.now();
    if (!force && now - this.lastProgress < 100) return;
    this.lastProgress = now;
    let bytesDone = 0; let events = 0; let hits = 0; let ruleHits = 0;
    for (const j of this.jobs.values()) {
      bytesDone += j.bytes; events += j.events; hits += j.hits; ruleHits += j.ruleHits;
    }
    this.onProgress({ bytesDone, totalBytes: this.totalBytes, events, hits, ruleHits, memoryBytes: this.peakTotal(), workers: this.pool.size });
  }

  cancel() {
    if (this.finished) return;
    for (const w of [...this.pool.workers, this.pool.helper]) w.postMessage({ type: 'cancel' });
    let bytesDone = 0;
    for (const j of this.jobs.values()) bytesDone += j.bytes;
    this.finish({ cancelled: true, bytesDone, totalBytes: this.totalBytes });
  }

  fail(error) {
    if (this.finished) return;
    for (const w of [...this.pool.workers, this.pool.helper]) w.postMessage({ type: 'cancel' });
    this.finished = true;
    this.settle(null, error);
  }

  finish(value) {
    this.finished = true;
    this.settle(value, null);
  }
}
