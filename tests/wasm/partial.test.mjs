// Partial results in the wasm package: workers' Detectors read pieces of one
// file (beginPiece) and whole files, give partial() results, and one Detector
// merges them in order: the report is the single Detector's. A partial made
// in wasm merges in the CLI too (one format for every face).
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, corpus, data, feed, hasData, plain, wasm } from './helpers.mjs';

const options = { rules: 'all' };

/** Cuts JSON lines before a line opening an object, about every `size` bytes. */
function jsonPieces(bytes, size) {
  const pieces = [];
  let start = 0;
  let line = 0;
  while (start < bytes.length) {
    let end = Math.min(start + size, bytes.length);
    // Back to just after a newline followed by `{`, past `start`.
    while (end < bytes.length && !(bytes[end] === 0x7b && bytes[end - 1] === 0x0a)) end++;
    pieces.push({ start, end, line });
    for (let i = start; i < end; i++) if (bytes[i] === 0x0a) line++;
    start = end;
  }
  return pieces;
}

test('pieces of one file on several Detectors, merged, give the single Detector', { skip: !hasData }, () => {
  const name = 'attack_data/datasets/attack_techniques/T1053.005/atomic_red_team/attack_data.txt';
  const bytes = readFileSync(join(data, name));
  const single = new wasm.Detector(options);
  feed(single, bytes, name);
  const want = plain(single.finish());
  const pieces = jsonPieces(bytes, 3 << 20);
  assert.ok(pieces.length >= 6, `${pieces.length} pieces`);
  const partials = pieces.map((p, i) => {
    const d = new wasm.Detector(options);
    d.beginPiece(name, 'json', p.start, p.line, i < pieces.length - 1);
    for (let at = p.start; at < p.end; at += 65536) d.push(bytes.subarray(at, Math.min(at + 65536, p.end)));
    return d.partial();
  });
  const merged = new wasm.Detector(options);
  for (const p of partials) merged.merge(p);
  assert.deepEqual(plain(merged.finish()), want);
  assert.ok(want.rows.length > 0);
});

test('a partial made in wasm merges in the CLI like its own', { skip: !hasData }, () => {
  const files = corpus().slice(0, 12);
  const dir = mkdtempSync(join(tmpdir(), 'sd-wasm-partial-'));
  try {
    const paths = files.map((f, i) => {
      const d = new wasm.Detector(options);
      feed(d, readFileSync(join(data, f)), f);
      const path = join(dir, `p${i}.json`);
      writeFileSync(path, d.partial());
      return path;
    });
    const run = (args) => {
      try {
        return execFileSync(cli, args, { cwd: data, maxBuffer: 1 << 28 }).toString();
      } catch (e) {
        return e.stdout.toString();
      }
    };
    const merged = JSON.parse(run(['merge', '--format', 'json', '--rules', 'all', ...paths]));
    const whole = JSON.parse(run(['--format', 'json', '--rules', 'all', '--threads', '1', ...files]));
    assert.deepEqual(merged, whole);
    // Other options are refused, saying why.
    const d = new wasm.Detector();
    assert.throws(() => d.merge(readFileSync(paths[0], 'utf8')), /other rules/);
    assert.throws(() => d.merge('{"format":"nope"}'), /not a partial result/);
    assert.throws(() => d.beginPiece('x', 'csv', 10, 1, false), /only "json" and "evtx"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Cutter: bounds that tile the file, pushed in any slices, whose pieces merge into the single Detector', { skip: !hasData }, () => {
  const evtx = corpus().find((f) => f.endsWith('.evtx') && readFileSync(join(data, f)).length > 400 << 10);
  for (const name of ['attack_data/datasets/attack_techniques/T1053.005/atomic_red_team/attack_data.txt', evtx]) {
    const bytes = readFileSync(join(data, name));
    const single = new wasm.Detector(options);
    feed(single, bytes, name);
    const want = plain(single.finish());
    for (const [target, slice] of [[100 << 10, 7777], [1, 65536]]) {
      const cutter = wasm.Cutter.start(bytes.subarray(0, 64 << 10), target);
      assert.ok(cutter, name);
      const bounds = [];
      for (let at = 0; at < bytes.length; at += slice) bounds.push(...cutter.push(bytes.subarray(at, at + slice)));
      bounds.push(...cutter.finish());
      cutter.free();
      // Contiguous from 0 to the end, each starting at its line, only the last not cut.
      let offset = 0;
      for (const [i, b] of bounds.entries()) {
        assert.equal(b.offset, offset, `${name} piece ${i}`);
        assert.equal(b.format, name.endsWith('.evtx') ? 'evtx' : 'json');
        if (b.format === 'json') assert.equal(b.line, bytes.subarray(0, b.offset).filter((c) => c === 0x0a).length);
        assert.equal(b.cut, i < bounds.length - 1);
        offset += b.length;
      }
      assert.equal(offset, bytes.length);
      assert.ok(bounds.length >= (target === 1 ? 6 : 3), `${bounds.length} pieces`);
      const merged = new wasm.Detector(options);
      for (const b of bounds) {
        const d = new wasm.Detector(options);
        d.beginPiece(name, b.format, b.offset, b.line, b.cut);
        d.push(bytes.subarray(b.offset, b.offset + b.length));
        merged.merge(d.partial());
      }
      assert.deepEqual(plain(merged.finish()), want, `${name}: pieces of ${target}`);
      // Read only around its cuts (as the page's helper cuts): the same
      // pieces' ends for EVTX; JSON pieces counting lines from their own
      // start, which merging puts in place.
      const around = wasm.Cutter.around(bytes.subarray(0, 64 << 10), bytes.length, target);
      const seen = [];
      let reads = 0;
      for (let at = around.wants(); at !== undefined; at = around.wants()) {
        seen.push(...around.push(bytes.subarray(at, at + 65536)));
        reads += 1;
      }
      seen.push(...around.finish());
      around.free();
      // Only around the cuts: fewer bytes than the file (one read a piece here).
      assert.ok(reads * 65536 < bytes.length || target === 1, `${name}: ${reads} reads`);
      let next = 0;
      const again = new wasm.Detector(options);
      for (const [i, b] of seen.entries()) {
        assert.equal(b.offset, next, `${name} piece ${i} (around)`);
        if (b.format === 'json') {
          assert.equal(b.line, 0);
          assert.ok(b.offset === 0 || (bytes[b.offset - 1] === 0x0a && bytes[b.offset] === 0x7b));
        }
        assert.equal(b.cut, i < seen.length - 1);
        next += b.length;
        const d = new wasm.Detector(options);
        d.beginPiece(name, b.format, b.offset, b.line, b.cut);
        d.push(bytes.subarray(b.offset, b.offset + b.length));
        again.merge(d.partial());
      }
      assert.equal(next, bytes.length);
      assert.ok(seen.length >= 3, `${seen.length} pieces (around)`);
      assert.deepEqual(plain(again.finish()), want, `${name}: pieces of ${target} (around)`);
    }
  }
  assert.equal(wasm.Cutter.around(Buffer.from([0x1f, 0x8b, 8, 0]), 4, 1024), undefined);
  // Files read whole are not cut.
  assert.equal(wasm.Cutter.start(Buffer.from([0x1f, 0x8b, 8, 0]), 1024), undefined);
  assert.equal(wasm.Cutter.start(Buffer.from('<Event xmlns="x"><System/></Event>'), 1024), undefined);
});
