// Hostile values across the wasm boundary: none may poison the instance, and
// if a trap happens anyway the package re-creates its instance.
import test from 'node:test';
import assert from 'node:assert/strict';
import { wasm } from './helpers.mjs';

const hit = {
  EventID: 1, Channel: 'Microsoft-Windows-Sysmon/Operational', Hostname: 'h', UtcTime: '2024-01-01 00:00:00.000',
  Image: 'C:\\Windows\\System32\\schtasks.exe', CommandLine: 'schtasks /create /s srv /tn t', User: 'D\\u',
  ParentImage: 'C:\\Windows\\System32\\cmd.exe',
};
/** The instance still answers correctly. */
const works = () => assert.equal(wasm.detect([hit]).rows.length, 1);

test('a cyclic object and a 3,000-deep array are error entries, and the instance keeps working', () => {
  const cyclic = { ...hit };
  cyclic.self = cyclic;
  let deep = [];
  for (let i = 0; i < 3000; i++) deep = [deep];
  const r = wasm.detect([cyclic, deep, hit]);
  assert.equal(r.stats.events, 1);
  assert.equal(r.stats.errors, 2);
  assert.deepEqual(r.stats.files[0].errors.map((e) => e.line), [1, 2]);
  assert.equal(r.rows.length, 1);
  for (let i = 0; i < 50; i++) wasm.detect([deep]);
  works();
});

test('objects with throwing getters, 2,000 times, never poison the instance', () => {
  const bad = { get EventID() { throw new Error('getter says no'); } };
  for (let i = 0; i < 2000; i++) {
    const r = wasm.detect([bad, hit]);
    assert.equal(r.stats.errors, 1);
    assert.match(r.stats.files[0].errors[0].message, /getter says no/);
  }
  const badOptions = { get mode() { throw new Error('options getter'); } };
  for (let i = 0; i < 2000; i++) assert.throws(() => wasm.detect([hit], badOptions), /options getter/);
  works();
});

test('a filter of 2,000 nested parentheses is an exception, then the instance works', () => {
  const filter = `${'('.repeat(2000)}user=x${')'.repeat(2000)}`;
  for (let i = 0; i < 100; i++) assert.throws(() => wasm.detect([hit], { filter }), /nested deeper than 64/);
  assert.throws(() => new wasm.Detector({ filter }), /nested deeper/);
  works();
});

test('Detector.push with the wrong types is an exception, and the detector keeps its data', () => {
  const d = new wasm.Detector();
  const line = new TextEncoder().encode(`${JSON.stringify(hit)}\n`);
  d.push(line, 'a.json');
  for (let i = 0; i < 1000; i++) {
    assert.throws(() => d.push(line, 123), /fileName must be a string/);
    assert.throws(() => d.push('text', 'a.json'), /must be a Uint8Array/);
    assert.throws(() => wasm.detectBytes([1, 2, 3]), /must be a Uint8Array/);
  }
  d.push(line, 'a.json');
  const r = d.finish();
  assert.equal(r.stats.matched, 2);
  works();
});

test('after a trap the instance is re-created: the next call works, old detectors say they are lost', () => {
  const before = wasm.restarts();
  const old = new wasm.Detector();
  old.push(new TextEncoder().encode(`${JSON.stringify(hit)}\n`), 'a.json');
  assert.throws(() => wasm.__trap(), WebAssembly.RuntimeError);
  assert.equal(wasm.restarts(), before + 1);
  works();
  assert.throws(() => old.push(new Uint8Array([1])), /lost when the engine restarted/);
  old.free(); // harmless
  const fresh = new wasm.Detector();
  fresh.push(new TextEncoder().encode(`${JSON.stringify(hit)}\n`), 'b.json');
  assert.equal(fresh.finish().rows.length, 1);
  // Many restarts in a row leave nothing behind.
  for (let i = 0; i < 20; i++) assert.throws(() => wasm.__trap(), WebAssembly.RuntimeError);
  works();
});

test('a hundred 7 MiB matching events are kept bounded, counted exactly, without aborting', () => {
  const d = new wasm.Detector();
  const pad = 'A'.repeat(7 << 20);
  const enc = new TextEncoder();
  for (let i = 0; i < 100; i++) {
    d.push(enc.encode(`${JSON.stringify({ ...hit, CommandLine: `schtasks /create /s h${i} /tn t /tr ${pad}${i}` })}\n`), 'huge.json');
  }
  const r = d.finish();
  assert.equal(r.stats.matched, 100);
  assert.equal(r.rows.length, 100);
  assert.ok(r.rows.every((row) => row.process.length < (128 << 10) + 100 && row.process.includes('…[truncated: 7340')));
  assert.equal(r.matches.length + r.stats.matches_not_listed, 100);
  works();
});

test('toCsv neutralises formulas as the CLI does', () => {
  const csv = wasm.toCsv(['process', 'count', 'threat_object'], [{ process: '=HYPERLINK("http://x")', count: 2, threat_object: ['a', '-b'] }]);
  assert.equal(csv, 'process,count,threat_object\r\n"\'=HYPERLINK(""http://x"")",2,a|-b\r\n');
  assert.throws(() => wasm.toCsv('nope', []), /toCsv\(columns\)/);
});
