// The wasm package under Node: same JSON as the native CLI, every entry point,
// bad input across the boundary.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { wasm, corpus, nativeJson, plain, feed, data, hasData, root } from './helpers.mjs';

test('detectBytes and a Detector fed 64 KiB chunks equal the native CLI on every corpus file', (t) => {
  if (!hasData) return t.skip('../shared/data is absent');
  const files = corpus();
  assert.ok(files.length >= 90);
  for (const name of files) {
    const bytes = readFileSync(join(data, name));
    const native = nativeJson([name]);
    assert.deepEqual(plain(wasm.detectBytes(bytes, name)), native, `detectBytes: ${name}`);
    const d = new wasm.Detector();
    feed(d, bytes, name);
    assert.deepEqual(plain(d.finish()), native, `Detector: ${name}`);
  }
});

test('options reach the engine exactly as the CLI flags do', (t) => {
  if (!hasData) return t.skip('../shared/data is absent');
  const name = 'attack_data/datasets/attack_techniques/T1053.005/atomic_red_team/attack_data.txt';
  const bytes = readFileSync(join(data, name));
  const native = nativeJson(['--mode', 'precise', '--tz', '-05:30', '--filter', 'NOT user=nobody', '--max-matches', '1', name]);
  const opts = { mode: 'precise', tz: '-05:30', filter: 'NOT user=nobody', maxMatchesPerRow: 1 };
  assert.deepEqual(plain(wasm.detectBytes(bytes, name, opts)), native);
  assert.equal(native.stats.mode, 'precise');
  assert.equal(native.rows.length, 1);
});

const fixture = (f) => readFileSync(join(root, 'tests/fixtures', f), 'utf8');

test('detect(events) on arrays of every source shape, and CIM-form objects', () => {
  const cs = fixture('crowdstrike_remote_schtasks.ndjson').trim().split('\n').map((l) => JSON.parse(l));
  const sysmonFlat = {
    EventID: 1, Channel: 'Microsoft-Windows-Sysmon/Operational', Hostname: 'ws1.corp',
    UtcTime: '2024-05-01 10:00:00.123', Image: 'C:\\Windows\\System32\\schtasks.exe',
    CommandLine: 'schtasks /create /s DC01 /tn x /tr y /sc once /st 01:00', User: 'CORP\\eve',
    ParentImage: 'C:\\Windows\\System32\\cmd.exe', OriginalFileName: 'schtasks.exe',
  };
  const sec4688Event = {
    Event: {
      System: { EventID: 4688, Channel: 'Security', Computer: 'ws2.corp', TimeCreated: { '#attributes': { SystemTime: '2024-05-01T11:00:00.5Z' } } },
      EventData: { NewProcessName: 'C:\\Windows\\System32\\schtasks.exe', CommandLine: 'schtasks -create -s 10.1.1.1 -tn x', SubjectUserName: 'bob', TargetUserName: '-', ParentProcessName: 'C:\\x\\psexec.exe' },
    },
  };
  const winlog = { '@timestamp': '2024-05-01T12:00:00Z', winlog: { event_id: 4688, channel: 'Security', computer_name: 'ws3', event_data: { NewProcessName: 'C:\\Windows\\System32\\schtasks.exe', CommandLine: 'schtasks /create /S ws9 /tn t', SubjectUserName: 'carol' } } };
  const cimForm = { process_name: 'schtasks.exe', process: 'schtasks.exe /create /s fs1 /tn z', dest: 'ws4', user: 'dave', parent_process_name: 'explorer.exe', _time: '2024-05-01T13:00:00Z' };
  const other = { EventID: 3, Channel: 'Microsoft-Windows-Sysmon/Operational' };
  const r = wasm.detect([...cs, sysmonFlat, sec4688Event, winlog, cimForm, other]);
  const f = r.stats.files[0];
  assert.deepEqual(f.process_creation, { sysmon: 1, security_4688: 2, crowdstrike: 2, cim: 1 });
  assert.equal(f.other, 2);
  assert.equal(f.records, f.events + f.error_count);
  const byDest = Object.fromEntries(r.rows.map((row) => [row.dest, row]));
  assert.equal(byDest['ws1.corp'].remote_target, 'DC01');
  assert.equal(byDest['ws1.corp'].user, 'eve');
  assert.equal(byDest['ws1.corp'].firstTime, '2024-05-01T10:00:00');
  assert.equal(byDest['ws2.corp'], undefined, 'dash switches: no parity row');
  assert.equal(byDest.ws3.process, 'C:\\Windows\\System32\\schtasks.exe /create /S ws9 /tn t');
  assert.equal(byDest.ws4.user, 'dave');
  assert.equal(byDest['WKS-ANALYST07'].count, 1);
  assert.equal(r.risk_events.length, 2 * r.rows.length);
  const precise = wasm.detect([sec4688Event], { mode: 'precise' });
  assert.equal(precise.rows[0].remote_target, '10.1.1.1');
  assert.equal(precise.stats.comparison.precise_only.length, 1);
});

test('bad input across the boundary, then the same instance works', () => {
  const d = new wasm.Detector();
  // Junk bytes: an error entry, not an exception.
  d.push(new Uint8Array([0, 1, 2, 3, 255, 254, 9, 9, 9, 9]), 'junk.bin');
  d.endFile();
  // A 10 MB string inside a JSON line.
  const big = JSON.stringify({ EventID: 1, CommandLine: 'x'.repeat(10 << 20) });
  d.push(new TextEncoder().encode(big + '\n'), 'big.json');
  d.endFile();
  const sample = readFileSync(join(root, 'tests/fixtures/crowdstrike_remote_schtasks.ndjson'));
  feed(d, sample, 'fdr.ndjson', 10);
  const r = d.finish();
  assert.equal(r.stats.files.length, 3);
  assert.equal(r.stats.files[0].error_count, 1);
  assert.equal(r.stats.files[0].readable, false);
  assert.equal(r.stats.files[1].error_count, 1, 'a record over the 8 MiB limit is an error entry');
  assert.equal(r.rows.length, 2);

  // Numbers where strings belong, nulls, nested junk: read as values or errors.
  const mixed = wasm.detect([{ process_name: 42, process: 'schtasks /create /s h', user: null, dest: { a: 1 } }, 7, null, 'text', [1, 2]]);
  assert.equal(mixed.stats.files[0].events, 1);
  assert.equal(mixed.stats.files[0].error_count, 4);
  // A 10 MB string in an object.
  const huge = wasm.detect([{ process_name: 'schtasks.exe', process: '/create /s h ' + 'y'.repeat(10 << 20) }]);
  assert.equal(huge.rows.length, 1);
  assert.equal(huge.rows[0].remote_target, 'h');

  // Exceptions with messages, for wrong calls.
  assert.throws(() => wasm.detect([], { colour: 'red' }), /unknown option "colour"/);
  assert.throws(() => wasm.detect([], { mode: 'fast' }), /unknown mode/);
  assert.throws(() => wasm.detect([], { tz: 'Mars' }), /time zone/);
  assert.throws(() => wasm.detect([], { filter: '(x=1' }), /invalid filter/);
  assert.throws(() => wasm.detect([], { maxMatchesPerRow: 'many' }), /invalid options/);
  assert.throws(() => wasm.detect('not an array'), /array/);
  assert.throws(() => new wasm.Detector({ nope: true }), /unknown option/);

  // After all that, the same module and the same detector still work.
  feed(d, sample, 'again.ndjson');
  assert.equal(d.finish().rows.length, 2);
  assert.equal(wasm.detectBytes(sample, 'x').rows.length, 2);
});

test('progress reports bytes, records and hits while streaming', () => {
  const sample = readFileSync(join(root, 'tests/fixtures/crowdstrike_remote_schtasks.ndjson'));
  const d = new wasm.Detector();
  const seen = [];
  for (let i = 0; i < sample.length; i += 512) {
    d.push(sample.subarray(i, i + 512), 'fdr.ndjson');
    seen.push(d.progress());
  }
  const last = seen.at(-1);
  assert.equal(last.bytes, sample.length);
  assert.equal(last.current_file, 'fdr.ndjson');
  assert.ok(seen.some((p) => p.records > 0 && p.records < 3), 'records grow as chunks arrive');
  d.endFile();
  const p = d.progress();
  assert.equal(p.records, 3);
  assert.equal(p.hits, 2);
  assert.equal(p.current_file, null);
});

test('the rule is data', () => {
  const r = wasm.rule();
  assert.equal(r.id, '1297fb80-f42a-4b4a-9c8a-88c066237cf6');
  assert.match(r.search, /Processes\.process="\*\/s\*"/);
  assert.equal(r.analytic_stories.length, 8);
});

test('the ESCU pack through the package: rules, ruleYaml, the manifest and the pack list equal the CLI', (t) => {
  if (!hasData) return t.skip('../shared/data is absent');
  const name = 'Security-Datasets/datasets/atomic/windows/lateral_movement/host/schtask_create_2020-12-1907003032.json';
  const bytes = readFileSync(join(data, name));
  const ruleFile = join(root, 'tests/fixtures/rules/schtasks_any.yml');
  for (const [opts, args] of [
    [{ rules: 'all' }, ['--rules', 'all']],
    [{ rules: 'mitre:T1053' }, ['--rules', 'mitre:T1053']],
    [{ ruleYaml: [readFileSync(ruleFile, 'utf8')] }, ['--rule-file', ruleFile]],
  ]) {
    const native = nativeJson([...args, name]);
    assert.deepEqual(plain(wasm.detectBytes(bytes, name, opts)), native, JSON.stringify(opts));
    const d = new wasm.Detector(opts);
    feed(d, bytes, name);
    assert.deepEqual(plain(d.finish()), native, `Detector ${JSON.stringify(opts)}`);
  }
  const all = wasm.detectBytes(bytes, name, { rules: 'all' });
  assert.ok(all.results.length > 2 && all.results[0].rule.flagship);
  assert.ok(all.risk_view.length > 0);
  const m = wasm.manifest();
  assert.equal(m.supported.length, 364);
  assert.equal(m.second_tier.length, 18);
  assert.ok(m.unsupported.every((e) => typeof e.reason === 'string'));
  const pack = wasm.packRules();
  assert.equal(pack.length, 364 + 18);
  assert.ok(pack.every((r) => r.id && r.name && Array.isArray(r.analytic_story)));
  assert.throws(() => wasm.detect([], { rules: 'story:Nope' }), /no rule matches/);
  assert.throws(() => wasm.detect([], { ruleYaml: ['name: x\nid: y\nsearch: "| tstats count from datamodel=Endpoint.Registry where a=1"\n'] }),
    /ruleYaml\[0\].*datamodel=Endpoint.Registry/);
  // The YAML is read by the package's JS wrapper (npm yaml); its errors and
  // the module's read the same way, and the module's own checks still apply.
  const good = readFileSync(ruleFile, 'utf8');
  for (const [text, why] of [
    ['name: [unclosed\n', /ruleYaml\[1\]: not an ESCU detection: .*at line \d+, column \d+/s],
    ['just a string\n', /ruleYaml\[1\]: not an ESCU detection: expected a mapping/],
    ['- a\n- b\n', /ruleYaml\[1\]: not an ESCU detection: expected a mapping/],
    [good.replace(/^search:.*$/m, ''), /ruleYaml\[1\]: not an ESCU detection: missing field `search`/],
    [good.replace(/^name:/m, 'name: 1\nx:'), /ruleYaml\[1\]: not an ESCU detection: invalid type/],
  ]) {
    for (const call of [() => wasm.detect([], { ruleYaml: [good, text] }), () => new wasm.Detector({ ruleYaml: [good, text] }),
      () => wasm.detectBytes(new Uint8Array(), 'a.json', { ruleYaml: [good, text] })]) {
      assert.throws(call, why, text);
    }
  }
  // The typed declarations name the new options and shapes.
  const dts = readFileSync(join(root, 'pkg/node/schtasks_detect.d.ts'), 'utf8');
  for (const s of ['rules?: string', 'ruleYaml?: string[]', 'interface RuleResult', 'risk_view: RiskObjectSummary[]', 'export function manifest(): Manifest', 'export function packRules(): PackRuleInfo[]']) {
    assert.ok(dts.includes(s), s);
  }
});

test('the TypeScript declarations name exactly the fields a result has', (t) => {
  if (!hasData) return t.skip('../shared/data is absent');
  const dts = readFileSync(join(root, 'pkg/node/schtasks_detect.d.ts'), 'utf8');
  /** The members of `interface Name { ... }` (one level), with whether each is optional. */
  const members = (name) => {
    const m = dts.match(new RegExp(`interface ${name}(?: extends (\\w+))? \\{([\\s\\S]*?)\\n\\}`));
    assert.ok(m, `interface ${name}`);
    const own = [...m[2].matchAll(/^\s+(\w+)(\??):/gm)].map((x) => [x[1], x[2] === '?']);
    return m[1] ? [...own, ...members(m[1])] : own;
  };
  const check = (name, objects) => {
    const declared = new Map(members(name));
    for (const o of objects) {
      for (const k of Object.keys(o)) assert.ok(declared.has(k), `${name} lacks ${k}`);
      for (const [k, optional] of declared) if (!optional) assert.ok(k in o, `${name}.${k} is declared but absent`);
    }
  };
  const name = 'Security-Datasets/datasets/atomic/windows/lateral_movement/host/schtask_create_2020-12-1907003032.json';
  const r = wasm.detectBytes(readFileSync(join(data, name)), name, { rules: 'all' });
  check('DetectResult', [r]);
  check('Stats', [r.stats]);
  check('FileStats', r.stats.files);
  check('RiskEvent', r.risk_events);
  check('RiskObjectSummary', [...r.risk_objects, ...r.risk_view]);
  check('RuleResult', r.results);
  check('RuleInfo', r.results.map((x) => x.rule));
  check('Match', [...r.matches, ...r.results.flatMap((x) => x.matches)].map((m) => {
    const { raw, ...rest } = m; // raw: the event's own field names
    assert.equal(typeof raw, 'object');
    return { ...rest, raw };
  }));
  check('Progress', [new wasm.Detector().progress()]);
});

// The page loads pkg/web's module before it can read anything: it stays under
// 600 KB gzipped (issue 9). Linking encoding_rs's dispatch (a `Decoder`, or
// `Encoding::decode*` on an encoding known only at run time) links every
// encoding's tables and costs about 120 KB of it (src/input/utf16.rs,
// third_party/evtx/PATCH.md).
test('the page module stays under 600 KB gzipped', async () => {
  const { gzipSync, constants } = await import('node:zlib');
  const module = readFileSync(join(root, 'pkg/web/schtasks_detect_bg.wasm'));
  const gzipped = gzipSync(module, { level: constants.Z_BEST_COMPRESSION }).length;
  assert.ok(gzipped < 600_000, `pkg/web module: ${gzipped} bytes gzipped`);
});
