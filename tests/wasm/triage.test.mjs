// The triage view's derivations (www/hits.js), on the native CLI's results:
// the hits the timeline plots, the graph's edges, the filter, the time zone.
import test from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { hasData, nativeJson, root } from './helpers.mjs';

const hits = await import(pathToFileURL(join(root, 'www/hits.js')).href);

const FILES = [
  'EVTX-to-MITRE-Attack/TA0002-Execution/T1053.005-Scheduled Task/ID4688-Scheduled task creation.evtx',
  'Security-Datasets/datasets/atomic/windows/lateral_movement/host/schtask_create_2020-12-1907003032.json',
  'attack_data/datasets/attack_techniques/T1053.005/atomic_red_team/attack_data.txt',
];

test('hits, edges and filters of a result with every rule', { skip: !hasData && '../shared/data is absent' }, () => {
  const result = nativeJson(['--rules', 'all', ...FILES]);
  const { hits: all, untimed } = hits.hitsOf(result);
  // Every kept matched event once: the flagship's from `matches`, each pack rule's from its own.
  const kept = result.results.reduce((n, r) => n + (r.rule.flagship ? result.matches.length : r.matches.length), 0);
  assert.equal(all.length + untimed, kept);
  assert.equal(untimed, 0);
  assert.ok(all.every((h, i) => i === 0 || all[i - 1].t <= h.t), 'oldest first');
  assert.ok(new Set(all.map((h) => h.rule)).size > 1);

  // The lateral-movement edges, with their users, counts and times.
  const edges = hits.edgesOf(all);
  const ws6 = edges.find((e) => e.to === 'WORKSTATION6');
  const ws6Matches = result.results.flatMap((r) => (r.rule.flagship ? result.matches : r.matches)).filter((m) => m.remote_target === 'WORKSTATION6');
  assert.match(ws6.from, /^WORKSTATION5/);
  assert.equal(ws6.count, ws6Matches.length);
  assert.deepEqual([...ws6.users], [...new Set(ws6Matches.map((m) => m.user))]);
  assert.equal(ws6.first, Math.min(...ws6Matches.map((m) => Date.parse(m._time))));
  assert.equal(ws6.last, Math.max(...ws6Matches.map((m) => Date.parse(m._time))));
  const fs02 = edges.find((e) => e.to === 'fs02');
  assert.equal(fs02.from, 'jump01.offsec.lan');
  assert.ok(edges.every((e) => e.hits.every((h) => h.remote.toLowerCase() === e.to.toLowerCase())));

  // The filter: a time range, a host (either end of an edge, any case), both.
  const t = fs02.first;
  assert.deepEqual(all.filter((h) => hits.passes(h, { from: t, to: t })).map((h) => h.m), all.filter((h) => h.t === t).map((h) => h.m));
  const onFs02 = all.filter((h) => hits.passes(h, { host: 'fs02' }));
  assert.ok(onFs02.length >= 1 && onFs02.every((h) => h.dest.toLowerCase() === 'fs02' || h.remote.toLowerCase() === 'fs02'));
  assert.equal(all.filter((h) => hits.passes(h, { host: 'jump01.offsec.lan', to: t - 1 })).length, 0);
  assert.equal(hits.filtering({}), false);
  assert.equal(hits.filtering({ host: 'x' }), true);

  // Risk objects' hit times, by lower-case name; a hit whose host and user are the same counts once.
  const by = hits.timesByObject(all);
  for (const o of result.risk_view) {
    const want = all.filter((h) => h.dest.toLowerCase() === o.normalized_risk_object || h.user.toLowerCase() === o.normalized_risk_object);
    assert.equal((by.get(o.normalized_risk_object) ?? []).length, want.length, o.normalized_risk_object);
  }
});

test('times in the results\' zone: shown and read back', () => {
  const t = Date.parse('2020-12-19T07:00:22.190Z');
  for (const [tz, shown] of [['UTC', '2020-12-19 07:00:22'], ['+05:30', '2020-12-19 12:30:22'], ['-08:00', '2020-12-18 23:00:22']]) {
    assert.equal(hits.localTime(t, tz), shown);
    assert.equal(hits.parseLocalTime(shown, tz), t - 190);
    assert.equal(hits.parseLocalTime(shown.slice(0, 16), tz), t - 22190);
  }
  assert.equal(hits.showTime(t, 'UTC'), '2020-12-19 07:00:22 UTC');
  assert.equal(hits.showTime(t, '+02:00'), '2020-12-19 09:00:22 +02:00');
  for (const bad of ['', 'yesterday', '2020-12-19', '19/12/2020 07:00']) assert.ok(Number.isNaN(hits.parseLocalTime(bad, 'UTC')), bad);
  assert.deepEqual(hits.hitsOf({ results: [{ rule: { flagship: true } }], matches: [{ _time: 'not a time' }] }), { hits: [], untimed: 1 });
});
