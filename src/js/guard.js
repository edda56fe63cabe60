// The package's public entry points, around the wasm-bindgen glue (`glue`).
// After a trap (an engine bug, or memory exhausted) a wasm instance cannot be
// trusted: its stack pointer and heap are left mid-call, and every later call
// would fail. Each entry point here catches a trap, re-creates the instance
// from the already compiled module (no new fetch), and rethrows; the next call
// runs on the new instance. Detectors of the lost instance refuse further
// calls with a clear error instead of touching the new one.
// (Assembled by scripts/build-wasm.sh into pkg/web/index.js and pkg/node/index.js.)

let generation = 0;
/** WeakRefs to the glue Detectors of the current instance. */
const live = new Set();

/** The ESCU pack and manifest text the instance was given (see the loaders at the end of index.js). */
let rulesText = null;

function giveRules(pack, manifest) {
  glue.loadRules(pack, manifest);
  rulesText = [pack, manifest];
}

function restartInstance() {
  for (const ref of live) {
    const inner = ref.deref();
    // Detach it from the glue's finalizer, which would free its pointer in the new instance.
    if (inner && inner.__wbg_ptr) inner.__destroy_into_raw();
  }
  live.clear();
  generation += 1;
  glue.__restart();
  if (rulesText) glue.loadRules(rulesText[0], rulesText[1]);
}

/**
 * Rules given as YAML text (`ruleYaml`) are parsed here, by the `yaml` package
 * (YAML 1.2), and handed to the module as documents: a YAML reader in Rust was
 * a third of the module. Errors read as the module's own.
 */
function withParsedRules(options) {
  const given = options?.ruleYaml;
  if (!Array.isArray(given)) return options;
  const ruleYaml = given.map((text, i) => {
    if (typeof text !== 'string') return text;
    let doc;
    try {
      doc = parseYaml(text);
    } catch (e) {
      throw new Error(`ruleYaml[${i}]: not an ESCU detection: ${e.message}`);
    }
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
      throw new Error(`ruleYaml[${i}]: not an ESCU detection: expected a mapping of the detection's fields`);
    }
    return doc;
  });
  return { ...options, ruleYaml };
}

function guarded(call) {
  try {
    return call();
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError) restartInstance();
    throw e;
  }
}

/** How many times the instance was re-created after a trap. */
function restarts() {
  return generation;
}

class Detector {
  #inner;
  #generation;

  constructor(options) {
    const given = withParsedRules(options);
    this.#inner = guarded(() => new glue.Detector(given));
    this.#generation = generation;
    for (const ref of live) if (!ref.deref()?.__wbg_ptr) live.delete(ref);
    live.add(new WeakRef(this.#inner));
  }

  #call(method) {
    if (this.#generation !== generation) {
      throw new Error('this Detector was lost when the engine restarted after an internal error; create a new one');
    }
    return guarded(() => method(this.#inner));
  }

  push(chunk, fileName) { return this.#call((d) => d.push(chunk, fileName)); }
  endFile() { return this.#call((d) => d.endFile()); }
  progress() { return this.#call((d) => d.progress()); }
  finish() { return this.#call((d) => d.finish()); }
  partial() { return this.#call((d) => d.partial()); }
  merge(partial) { return this.#call((d) => d.merge(partial)); }
  beginPiece(fileName, format, offset, line, cut) { return this.#call((d) => d.beginPiece(fileName, format, offset, line, cut)); }
  free() { if (this.#generation === generation && this.#inner.__wbg_ptr) this.#inner.free(); }
  [Symbol.dispose]() { this.free(); }
}

/** Cuts a large file where workers can share it (see the Rust docs); no state worth guarding across a restart. */
class Cutter {
  #inner;
  #generation;
  static start(first, target) { return Cutter.#wrap(guarded(() => glue.Cutter.start(first, target))); }
  static around(first, size, target) { return Cutter.#wrap(guarded(() => glue.Cutter.around(first, size, target))); }
  static #wrap(inner) {
    if (!inner) return undefined;
    const c = new Cutter();
    c.#inner = inner;
    c.#generation = generation;
    return c;
  }
  #call(method) {
    if (this.#generation !== generation) throw new Error('this Cutter was lost when the engine restarted after an internal error');
    return guarded(() => method(this.#inner));
  }
  wants() { return this.#call((c) => c.wants()); }
  push(bytes) { return this.#call((c) => c.push(bytes)); }
  done() { return this.#call((c) => c.done()); }
  finish() { return this.#call((c) => c.finish()); }
  free() { if (this.#generation === generation && this.#inner.__wbg_ptr) this.#inner.free(); }
}

const detect = (events, options) => {
  const given = withParsedRules(options);
  return guarded(() => glue.detect(events, given));
};
const detectBytes = (bytes, fileName, options) => {
  const given = withParsedRules(options);
  return guarded(() => glue.detectBytes(bytes, fileName, given));
};
const toCsv = (columns, items) => guarded(() => glue.toCsv(columns, items));
const rule = () => guarded(() => glue.rule());
const manifest = () => guarded(() => glue.manifest());
const packRules = () => guarded(() => glue.packRules());
/** Traps on purpose (tests only). */
const __trap = () => guarded(() => glue.__trap());
