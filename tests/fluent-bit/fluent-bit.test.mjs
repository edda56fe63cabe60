// The Fluent Bit filter in Fluent Bit itself: the real `fluent-bit` binary
// (built from ../shared/vendor by `make fluent-bit`, once, into ~/.cache), its
// `tail` input, `filter_wasm` running the module in WAMR, and its `file` and
// `stdout` outputs. What comes out is compared with the native CLI on the
// same files, record by record.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { cli, corpus, data, hasData, root } from '../wasm/helpers.mjs';
import { nested, processCreation } from './records.mjs';

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
function tailConfig(dir, paths, filterFn, { stack = README_STACK } = {}) {
  const filterBlock = filterFn ? `
  filters:
    - name: wasm
      match: 'win.*'
      event_format: json
      wasm_path: ${filter}
      function_name: ${filterFn}
      wasm_stack_size: ${stack}` : '';
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

/** README's Fluent Bit configuration, verbatim. */
function readmeConfig() {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const at = readme.indexOf('**Fluent Bit filter.**');
  const block = readme.slice(at).match(/```yaml\n([\s\S]*?)```/);
  assert.ok(at >= 0 && block, 'README has the Fluent Bit configuration');
  return block[1];
}

test('Fluent Bit: README\'s configuration runs verbatim and prints the hits', async (t) => {
  if (skip(t)) return;
  if (!hasData) return t.skip('../shared/data is absent');
  const dir = mkdtempSync(join(tmpdir(), 'fluent-bit-readme-'));
  const logs = join(dir, 'winlogbeat');
  mkdirSync(logs);
  let want = [];
  for (const [i, f] of jsonLineFiles().entries()) {
    symlinkSync(join(data, f), join(logs, `${i}.ndjson`));
    want.push(...nativeStream(join(data, f), []).map((l) => l.command_line));
  }
  writeFileSync(join(dir, 'fluent-bit.yaml'), readmeConfig());
  const env = { ...process.env, WINLOG_DIR: logs, SCHTASKS_DETECT_FILTER: filter };
  const child = spawn(built.bin, ['-c', join(dir, 'fluent-bit.yaml')], { env });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const lines = () => stdout.split('\n').filter((l) => l.startsWith('{'));
  // The configuration tails for ever: wait for the hits, and a moment for anything more.
  await new Promise((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`${lines().length} of ${want.length} hits after 120 s:\n${stderr}`)), 120_000);
    child.stdout.on('data', (d) => {
      stdout += d;
      if (lines().length >= want.length) {
        clearTimeout(deadline);
        setTimeout(resolve, 3000);
      }
    });
    child.on('exit', (code) => reject(new Error(`fluent-bit exited ${code}:\n${stderr}`)));
  });
  child.removeAllListeners('exit');
  child.kill('SIGTERM');
  const got = lines().map((l) => JSON.parse(l));
  assert.ok(want.length >= 8, `the corpus has hits (${want.length})`);
  assert.deepEqual(got.map((r) => r.schtasks_detect.cim.command_line).sort(), want.sort());
  for (const r of got) assert.equal(r.schtasks_detect.rule_id, '1297fb80-f42a-4b4a-9c8a-88c066237cf6');
  rmSync(dir, { recursive: true, force: true });
});
