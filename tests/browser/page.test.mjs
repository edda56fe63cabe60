// End to end: the page in headless Debian Chromium, driven by playwright-core.
// Compares what the page shows with the native CLI on the same files, and
// checks the page's promises: the sample, drilldowns, exports, text-only
// rendering of log values, zero requests after load, cancel, a 200 MB file.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { once } from 'node:events';
import { cli, data, hasData, nativeJson, root } from '../wasm/helpers.mjs';
import { writeLog, writeManyRows } from './logs.mjs';

const CHROMIUM = '/usr/bin/chromium';
const out = join(root, 'test-output');
const shots = join(out, 'screenshots');
mkdirSync(shots, { recursive: true });

const FILES = [
  'EVTX-to-MITRE-Attack/TA0002-Execution/T1053.005-Scheduled Task/ID4688-Scheduled task creation.evtx',
  'Security-Datasets/datasets/atomic/windows/lateral_movement/host/schtask_create_2020-12-1907003032.json',
  'attack_data/datasets/attack_techniques/T1053.005/atomic_red_team/attack_data.txt',
];

async function startServer() {
  const server = spawn(process.execPath, [join(root, 'www/serve.mjs'), '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await once(server.stdout, 'data');
  const url = line.toString().match(/http:\/\/\S+/)[0];
  return { server, url };
}

/** Rows of the hits table, as the page shows them. */
const pageRows = (page) => page.$$eval('#rows tbody tr', (trs) => trs.map((tr) =>
  Object.fromEntries([...tr.querySelectorAll('td')].filter((td) => td.dataset.col !== 'events').map((td) => [td.dataset.col, td.textContent]))));

const asText = (rows) => rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, String(v)])));

async function runFiles(page, files) {
  await page.setInputFiles('#file-input', files);
  await page.waitForFunction(() => document.body.dataset.state === 'done' || document.body.dataset.state === 'error', null, { timeout: 600000 });
  assert.equal(await page.evaluate(() => document.body.dataset.state), 'done', await page.textContent('#status'));
}

test('the page in Chromium', { timeout: 1200000 }, async (t) => {
  if (!existsSync(CHROMIUM)) return t.skip('/usr/bin/chromium is missing (sudo apt-get install chromium)');
  const { chromium } = await import('playwright-core');
  const { server, url } = await startServer();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  try {
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1366, height: 900 } });
    let loaded = false;
    const late = [];
    context.on('request', (r) => {
      if (loaded && !/^(blob|data):/.test(r.url())) late.push(r.url());
    });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('dialog', (d) => { errors.push(`dialog: ${d.message()}`); d.dismiss(); });
    await page.goto(url);
    await page.waitForSelector('body[data-ready=true]');
    loaded = true;
    await page.screenshot({ path: join(shots, '01-ready.png'), fullPage: true });

    await t.test('CSP allows only what the page needs', async () => {
      const csp = await page.getAttribute('meta[http-equiv=Content-Security-Policy]', 'content');
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'/);
      assert.doesNotMatch(csp, /unsafe-inline|\*/);
      for (const f of ['app.js', 'worker.js', 'sample.js', 'pool.js', 'view.js', 'triage.js', 'hits.js', 'report.js']) {
        assert.doesNotMatch(readFileSync(join(root, 'www', f), 'utf8'), /innerHTML|outerHTML|insertAdjacentHTML|document\.write/, f);
      }
    });

    await t.test('the sample button', async () => {
      await page.click('#sample');
      await page.waitForFunction(() => document.body.dataset.state === 'done');
      const rows = await pageRows(page);
      assert.ok(rows.some((r) => r.remote_target === 'FS-02.corp.example' && r.process_name === 'schtasks.exe'));
      assert.ok(rows.some((r) => r.remote_target === '10.20.0.15'), '4688 remote');
      assert.ok(rows.some((r) => r.remote_target === '' && r.process.includes('/sc daily')), 'a local /sc task, flagged in parity');
      assert.ok(!rows.some((r) => r.process_name === 'cmd.exe'), 'the cmd.exe wrapper is not schtasks');
      const summary = await page.textContent('#summary');
      assert.match(summary, /CrowdStrike1/);
      assert.match(await page.textContent('#mode-counts'), /parity gives 3 row\(s\), precise 3/);
      await page.screenshot({ path: join(shots, '02-sample.png'), fullPage: true });
      await page.check('input[name=mode][value=precise]');
      await page.waitForFunction(() => document.body.dataset.state === 'done' && window.__schtasks.result.stats.mode === 'precise');
      const precise = await pageRows(page);
      assert.ok(precise.some((r) => r.remote_target === 'DC-01' && r.dest === 'WKS-ENG-207'), 'dash switches, Falcon aid named');
      assert.ok(!precise.some((r) => r.process.includes('/sc daily')));
      await page.check('input[name=mode][value=parity]');
      await page.waitForFunction(() => document.body.dataset.state === 'done' && window.__schtasks.result.stats.mode === 'parity');
    });

    if (!hasData) {
      t.diagnostic('../shared/data is absent: the corpus comparisons are skipped');
    } else {
      await t.test('real files: rows and risk messages equal the native CLI', async () => {
        await runFiles(page, FILES.map((f) => join(data, f)));
        const native = nativeJson(FILES);
        const rows = await pageRows(page);
        assert.deepEqual(rows, asText(native.rows));
        const messages = await page.$$eval('#risk-messages li', (lis) => lis.map((li) => li.lastChild.textContent));
        assert.deepEqual(messages, native.risk_events.map((r) => r.risk_message));
        const files = await page.$$eval('#files tbody tr', (trs) => trs.map((tr) => tr.querySelector('[data-col=events]').textContent));
        assert.deepEqual(files, native.stats.files.map((f) => String(f.events)));
        await page.screenshot({ path: join(shots, '03-corpus.png'), fullPage: true });

        // Sorting by count, then back.
        await page.click('#rows thead th[data-col=count] button, #rows thead th:nth-child(6) button');
        assert.equal(await page.getAttribute('#rows thead th:nth-child(6)', 'aria-sort'), 'ascending');
      });

      await t.test('a row drilldown and a risk-object drilldown', async () => {
        const native = nativeJson(FILES);
        await page.click('#rows tbody tr:first-child [data-col=events] button');
        const first = await page.$$eval('#rows tbody tr:first-child td', (tds) => tds.map((td) => td.textContent));
        const row = native.rows.findIndex((r) => r.process === first[1] && r.dest === first[3]);
        const events = await page.$$eval('#drill-events tbody tr', (trs) => trs.length);
        assert.equal(events, native.matches.filter((m) => m.row === row).length);
        assert.ok(await page.isVisible('#drilldown details'));
        await page.screenshot({ path: join(shots, '04-row-drilldown.png'), fullPage: true });

        await page.click('#rows tbody tr:first-child [data-col=dest] button');
        const dest = native.rows[row].dest.toLowerCase();
        const want = native.risk_objects.find((o) => o.normalized_risk_object === dest);
        const shown = await page.$$eval('#drill-risk div', (ds) => Object.fromEntries(ds.map((d) => [d.dataset.key, d.querySelector('dd').textContent])));
        assert.equal(shown.count, String(want.count));
        assert.equal(shown['risk score'], String(want.risk_score));
        assert.equal(shown.firstTime, want.firstTime);
        assert.equal(shown.lastTime, want.lastTime);
        const tactics = await page.textContent('#drilldown-body');
        assert.match(tactics, /Privilege Escalation/);
        assert.match(tactics, /Active Directory Lateral Movement/);
        await page.screenshot({ path: join(shots, '05-risk-drilldown.png'), fullPage: true });
      });

      await t.test('exports made in the browser equal the CLI', async () => {
        await page.click('#rows thead th:nth-child(6) button'); // restore tstats order for CSV
        await runFiles(page, FILES.map((f) => join(data, f)));
        const native = nativeJson(FILES);
        const grab = async (id) => {
          const [download] = await Promise.all([page.waitForEvent('download'), page.click(id)]);
          return readFileSync(await download.path(), 'utf8');
        };
        assert.deepEqual(JSON.parse(await grab('#export-rows-json')), native.rows);
        assert.deepEqual(JSON.parse(await grab('#export-risk-json')), native.risk_events);
        const csv = (await grab('#export-rows-csv')).replaceAll('\r\n', '\n');
        const nativeCsv = execFileSync(cli, ['--format', 'csv', ...FILES], { cwd: data }).toString();
        assert.equal(csv, nativeCsv);
        const risk = (await grab('#export-risk-csv')).split('\r\n');
        assert.equal(risk[0].split(',')[0], 'risk_object');
        assert.equal(risk.filter(Boolean).length, native.risk_events.length + 1);
      });
    }

    if (hasData) {
      await t.test('every ESCU rule: results by rule and the risk view equal the native CLI', async () => {
        await page.selectOption('#rules', 'all');
        await runFiles(page, FILES.map((f) => join(data, f)));
        const native = nativeJson(['--rules', 'all', ...FILES]);
        const names = await page.$$eval('#by-rule tbody tr', (trs) => trs.map((tr) => tr.querySelector('[data-col=rule]').textContent));
        assert.deepEqual(names, native.results.map((r) => r.rule.name));
        assert.equal(names[0], 'Schtasks scheduling job on remote system');
        assert.ok(names.includes('Scheduled Task Deleted Or Created via CMD'), names.join('; '));
        const objects = await page.$$eval('#risk-view tbody tr', (trs) => trs.map((tr) => tr.querySelector('[data-col=normalized_risk_object]').textContent));
        assert.deepEqual(objects, native.risk_view.map((o) => o.normalized_risk_object));
        // The flagship's own table does not change with the pack beside it.
        assert.deepEqual(await pageRows(page), asText(native.rows));
        // A rule's rows, with its own columns (values() columns one value per line).
        const i = names.indexOf('Scheduled Task Deleted Or Created via CMD');
        await page.click(`#by-rule tbody tr:nth-child(${i + 1}) [data-col=rule] button`);
        const cols = await page.$$eval('#drill-rule thead th', (ths) => ths.map((th) => th.textContent));
        assert.deepEqual(cols, Object.keys(native.results[i].rows[0]));
        await page.screenshot({ path: join(shots, '07-all-rules.png'), fullPage: true });
        // By story: a narrower run.
        await page.selectOption('#rules', 'story:Scheduled Tasks');
        await page.waitForFunction(() => document.body.dataset.state === 'done');
        const story = nativeJson(['--rules', 'story:Scheduled Tasks', ...FILES]);
        assert.equal(await page.$$eval('#by-rule tbody tr', (trs) => trs.length), story.results.length);
        await page.selectOption('#rules', 'flagship');
        await page.waitForFunction(() => document.body.dataset.state === 'done');
        assert.equal(await page.isHidden('#by-rule-box'), true);
      });

      await t.test('a user rule in ESCU YAML runs in the page; one it cannot run says why', async () => {
        await page.setInputFiles('#rule-file', join(root, 'tests/fixtures/rules/schtasks_any.yml'));
        // The file is read before the run starts: wait for the run with the rule in it.
        await page.waitForFunction(() => document.body.dataset.state === 'done' && window.__schtasks.result.stats.rules === 2);
        const native = nativeJson(['--rule-file', join(root, 'tests/fixtures/rules/schtasks_any.yml'), ...FILES]);
        const mine = native.results.find((r) => r.rule.name === 'Any Schtasks Run');
        assert.ok(mine && mine.rows.length > 0);
        const names = await page.$$eval('#by-rule tbody tr', (trs) => trs.map((tr) => tr.querySelector('[data-col=rule]').textContent));
        assert.ok(names.includes('Any Schtasks Run'), names.join('; '));
        const rows = await page.$$eval('#by-rule tbody tr', (trs) => trs.map((tr) => tr.querySelector('[data-col=rows]').textContent));
        assert.equal(rows[names.indexOf('Any Schtasks Run')], String(mine.rows.length));
        await page.setInputFiles('#rule-file', join(root, 'tests/fixtures/rules/registry_rule.yml'));
        await page.waitForFunction(() => document.body.dataset.state === 'error');
        assert.match(await page.textContent('#status'), /A Registry Rule.*datamodel=Endpoint\.Registry/);
        await page.screenshot({ path: join(shots, '08-user-rule.png'), fullPage: true });
        // Removing the rules brings the flagship-only page back.
        await page.click('#user-rules button[aria-label="remove rule A Registry Rule"]');
        await page.waitForFunction(() => document.body.dataset.state === 'done');
        await page.click('#user-rules button[aria-label="remove rule Any Schtasks Run"]');
        await page.waitForFunction(() => document.body.dataset.state === 'done' && window.__schtasks.result.stats.rules === 1);
      });
    }

    if (hasData) {
      await t.test('triage: the timeline brush filters the tables, a graph edge opens its events, a host filters', async () => {
        await page.selectOption('#rules', 'all');
        await runFiles(page, FILES.map((f) => join(data, f)));
        const native = nativeJson(['--rules', 'all', ...FILES]);
        const nativeHits = native.results.flatMap((r, i) => (r.rule.flagship ? native.matches : r.matches).map((m) => ({ ...m, rule: r.rule.name })));
        // One point per kept matched event of every rule.
        const plotted = await page.evaluate(() => window.__schtasks.timeline.data.slice(1).reduce((n, s) => n + s.filter((v) => v != null).length, 0));
        assert.equal(plotted, nativeHits.length);
        assert.ok(native.results.length > 1 && nativeHits.some((h) => h.rule !== native.results[0].rule.name));

        // Brushing a few pixels around the 4688 remote creation's time.
        const target = nativeHits.find((h) => h.remote_target === 'fs02');
        const over = await page.$eval('#timeline .u-over', (o) => { o.scrollIntoView({ block: 'center' }); const r = o.getBoundingClientRect(); return { x: r.x, y: r.y, h: r.height }; });
        const px = await page.evaluate((t) => window.__schtasks.timeline.valToPos(Date.parse(t) / 1000, 'x'), target._time);
        await page.mouse.move(over.x + px - 5, over.y + over.h / 2);
        await page.mouse.down();
        await page.mouse.move(over.x + px + 5, over.y + over.h / 2, { steps: 5 });
        await page.mouse.up();
        const f = await page.evaluate(() => window.__schtasks.filter);
        const t0 = Date.parse(target._time);
        assert.ok(f.from <= t0 && t0 <= f.to, JSON.stringify(f));
        const inRange = (m) => Date.parse(m._time) >= f.from && Date.parse(m._time) <= f.to;
        const wantRows = native.rows.filter((_, i) => native.matches.some((m) => m.row === i && inRange(m)));
        assert.ok(wantRows.length > 0 && wantRows.length < native.rows.length);
        assert.deepEqual(await pageRows(page), asText(wantRows));
        const wantObjects = new Set(nativeHits.filter(inRange).flatMap((h) => [h.dest.toLowerCase(), h.user.toLowerCase()]));
        const objects = await page.$$eval('#risk-rank tbody tr', (trs) => trs.map((tr) => tr.querySelector('[data-col=normalized_risk_object]').textContent));
        assert.ok(objects.length > 0 && objects.every((o) => wantObjects.has(o)), objects.join('; '));
        assert.equal(await page.getAttribute('#filter-chip', 'data-filtered'), 'true');
        await page.screenshot({ path: join(shots, '11-triage-brushed.png'), fullPage: true });
        await page.click('#clear-filter');
        assert.deepEqual(await pageRows(page), asText(native.rows));

        // The graph: an edge per (dest, remote_target) over every rule's matches.
        const edges = await page.$$eval('#graph .edge', (gs) => gs.map((g) => `${g.dataset.from} ${g.dataset.to}`.toLowerCase()));
        const want = [...new Set(nativeHits.filter((h) => h.remote_target).map((h) => `${h.dest} ${h.remote_target}`.toLowerCase()))];
        assert.deepEqual(edges.sort(), want.sort());
        const eventsOf = (remote) => nativeHits.filter((h) => h.remote_target === remote).map((h) => [h.rule, h._time, String(h.record ?? '')]);
        const drilled = () => page.$$eval('#drill-edge tbody tr', (trs) => trs.map((tr) => ['rule', '_time', 'record'].map((c) => tr.querySelector(`[data-col="${c}"]`).textContent)));
        // WORKSTATION5 to WORKSTATION6, opened from the keyboard.
        assert.ok(edges.some((e) => /^workstation5\S* workstation6$/.test(e)), edges.join('; '));
        await page.focus('#graph .edge[data-to="WORKSTATION6"]');
        await page.keyboard.press('Enter');
        assert.deepEqual(await drilled(), eventsOf('WORKSTATION6'));
        // The 4688 one to fs02, with the mouse.
        await page.locator('#graph .edge[data-to="fs02"] line.hit').click();
        assert.deepEqual(await drilled(), eventsOf('fs02'));
        assert.ok(eventsOf('fs02').length > 0);
        // A host filters every table to its hits.
        await page.locator('#graph .node[data-host="fs02"] circle').click();
        const onHost = native.rows.filter((_, i) => native.matches.some((m) => m.row === i && (m.dest.toLowerCase() === 'fs02' || m.remote_target.toLowerCase() === 'fs02')));
        assert.deepEqual(await pageRows(page), asText(onHost));
        await page.screenshot({ path: join(shots, '12-triage-host.png'), fullPage: true });
        await page.click('#clear-filter');
        // The lane switch: one lane per user.
        await page.selectOption('#lane', 'user');
        const lanes = await page.evaluate(() => window.__schtasks.timeline.axes[1].splits(window.__schtasks.timeline).length);
        assert.equal(lanes, new Set(nativeHits.map((h) => h.user || '(none)')).size);
        await page.selectOption('#lane', 'dest');
        // Colour by tactic: the key names each rule's first tactic (ESCU's YAML carries none for pack rules).
        await page.selectOption('#colour-by', 'tactic');
        const key = await page.$$eval('#timeline .timeline-key li', (lis) => lis.map((li) => li.textContent));
        const fired = native.results.filter((r) => nativeHits.some((h) => h.rule === r.rule.name));
        assert.deepEqual(key.sort(), [...new Set(fired.map((r) => r.rule.mitre_tactics[0] ?? '(tactic unknown)'))].sort());
        await page.selectOption('#colour-by', 'rule');
        assert.deepEqual((await page.$$eval('#timeline .timeline-key li', (lis) => lis.map((li) => li.textContent))).sort(), fired.map((r) => r.rule.name).sort());
        // The keyboard's range, in the results' zone (UTC here): the second of the WORKSTATION6 creation.
        const ws6 = nativeHits.find((h) => h.remote_target === 'WORKSTATION6');
        const second = ws6._time.slice(0, 19).replace('T', ' ');
        await page.fill('#range-from', second);
        await page.fill('#range-to', second);
        await page.focus('#range-to');
        await page.keyboard.press('Enter');
        const g = await page.evaluate(() => window.__schtasks.filter);
        assert.equal(g.from, Date.parse(`${second.replace(' ', 'T')}Z`));
        assert.equal(g.to, g.from + 999);
        const inSecond = (m) => Date.parse(m._time) >= g.from && Date.parse(m._time) <= g.to;
        const wantSecond = native.rows.filter((_, i) => native.matches.some((m) => m.row === i && inSecond(m)));
        assert.ok(wantSecond.some((r) => r.remote_target === 'WORKSTATION6'));
        assert.deepEqual(await pageRows(page), asText(wantSecond));
        await page.fill('#range-to', 'yesterday');
        await page.click('#range-apply');
        assert.match(await page.textContent('#range-box'), /Give two times/);
        await page.click('#clear-filter');
        assert.equal(await page.inputValue('#range-from'), '');
      });

      await t.test('a saved report opens from file:// with inline scripts only, shows the same results, requests nothing', async () => {
        const native = nativeJson(['--rules', 'all', ...FILES]);
        const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save-report')]);
        const path = join(out, 'report.html');
        await download.saveAs(path);
        const html = readFileSync(path, 'utf8');
        const csp = html.match(/http-equiv="Content-Security-Policy" content="([^"]+)"/)[1];
        assert.match(csp, /default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'; style-src 'sha256-[A-Za-z0-9+/=]+'/);
        assert.doesNotMatch(csp, /'self'|unsafe-inline|\*/);
        assert.doesNotMatch(html, /<script[^>]*\bsrc=|<link[^>]*\bhref=/);
        const report = await browser.newContext({ viewport: { width: 1366, height: 900 } });
        try {
          const requests = [];
          report.on('request', (r) => requests.push(r.url()));
          const p = await report.newPage();
          const problems = [];
          p.on('pageerror', (e) => problems.push(String(e)));
          p.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
          const url = pathToFileURL(path).href;
          await p.goto(url);
          await p.waitForSelector('#report-rows tbody');
          const rows = await p.$$eval('#report-rows tbody tr', (trs) => trs.map((tr) => Object.fromEntries([...tr.querySelectorAll('td')].map((td) => [td.dataset.col, td.textContent]))));
          assert.deepEqual(rows, asText(native.rows));
          const rules = await p.$$eval('#report-by-rule tbody tr', (trs) => trs.map((tr) => tr.querySelector('[data-col=rule]').textContent));
          assert.deepEqual(rules, native.results.map((r) => r.rule.name));
          const versions = await p.$$eval('#report-rules tbody tr', (trs) => trs.map((tr) => tr.querySelector('[data-col=version]').textContent));
          assert.deepEqual(versions, native.results.map((r) => String(r.rule.version ?? '')));
          const files = await p.$$eval('#report-files tbody tr', (trs) => trs.map((tr) => tr.querySelector('[data-col=events]').textContent));
          assert.deepEqual(files, native.stats.files.map((x) => String(x.events)));
          assert.equal(await p.$$eval('.timeline canvas', (c) => c.length), 1);
          assert.ok(await p.$('.graph .edge[data-to="WORKSTATION6"]'));
          // Filtering as you type, sorting by a column.
          await p.fill('#report-rows ~ * input, .data-table:has(#report-rows) input', 'fs02');
          assert.ok((await p.$$eval('#report-rows tbody tr', (t) => t.length)) < native.rows.length);
          await p.screenshot({ path: join(shots, '13-report.png'), fullPage: true });
          assert.deepEqual(requests, [url]);
          assert.deepEqual(problems, []);
        } finally {
          await report.close();
        }
      });
    }

    await t.test('a drop on the drop zone', async () => {
      const xml = readFileSync(join(root, 'tests/fixtures/windows_event_log_security_4688.example_log.xml'), 'utf8')
        .replace(/<Data Name='CommandLine'>[^<]*</, "<Data Name='CommandLine'>schtasks /create /s DROPPED01 /tn t /tr x /sc once<")
        .replace(/<Data Name='NewProcessName'>[^<]*</, "<Data Name='NewProcessName'>C:\\Windows\\System32\\schtasks.exe<");
      await page.evaluate((text) => {
        const dt = new DataTransfer();
        dt.items.add(new File([text], 'dropped.xml'));
        document.getElementById('drop').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      }, xml);
      await page.waitForFunction(() => document.body.dataset.state === 'done' && window.__schtasks.result.stats.files[0].file === 'dropped.xml');
      const rows = await pageRows(page);
      assert.equal(rows.length, 1);
      assert.equal(rows[0].remote_target, 'DROPPED01');
    });

    await t.test('log values are text: a command line holding HTML stays text', async () => {
      const evil = '<img src=x onerror=alert(1)>';
      const line = JSON.stringify({
        EventID: 1, Channel: 'Microsoft-Windows-Sysmon/Operational', Hostname: `<b>host</b>${evil}`, UtcTime: '2024-01-01 00:00:00.000',
        Image: 'C:\\Windows\\System32\\schtasks.exe', CommandLine: `schtasks /create /s ${evil} /tn "${evil}"`,
        User: `D\\<script>alert(2)</script>`, ParentImage: 'C:\\x\\cmd.exe',
      });
      await page.setInputFiles('#file-input', { name: `${evil}.json`, mimeType: 'application/json', buffer: Buffer.from(line + '\n') });
      await page.waitForFunction(() => document.body.dataset.state === 'done' && window.__schtasks.result.rows.length === 1);
      const cell = await page.textContent('#rows tbody td[data-col=process]');
      // CIM's `process` carries `<`, `>`, `&` escaped as Splunk shows them
      // (CIM-PROCESSES.md rule T), and the escaped text is shown as text, not decoded.
      const escaped = evil.replaceAll('<', '&lt;').replaceAll('>', '&gt;');
      assert.equal(cell, `schtasks /create /s ${escaped} /tn "${escaped}"`);
      assert.equal(await page.$$eval('main img, main script:not([src]), main b', (n) => n.length), 0);
      await page.click('#rows tbody [data-col=events] button');
      assert.equal(await page.$$eval('main img, main b', (n) => n.length), 0);
      await page.waitForTimeout(300);
      assert.deepEqual(errors, [], 'no alert, no page error');
      await page.screenshot({ path: join(shots, '06-injection-as-text.png'), fullPage: true });
      // The triage view and the saved report: the same values, as text (the timeline's lanes are canvas text).
      const row = await page.evaluate(() => window.__schtasks.result.rows[0]);
      const edge = await page.$eval('#graph .edge', (g) => ({ from: g.dataset.from, to: g.dataset.to, labels: [...g.querySelectorAll('text, title')].map((t) => t.textContent) }));
      assert.deepEqual([edge.from, edge.to], [row.dest, row.remote_target]);
      // (CIM's fields carry `<`, `>`, `&` escaped, as Splunk shows them; the text is shown as it is.)
      assert.ok(row.dest.includes('&lt;b&gt;host') && edge.labels.some((l) => l.includes(row.dest)), JSON.stringify(edge));
      assert.equal(await page.$$eval('#graph text', (ts, dest) => ts.filter((t) => t.textContent === dest).length, row.dest), 1);
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save-report')]);
      const path = join(out, 'report-injection.html');
      await download.saveAs(path);
      const report = await browser.newContext();
      try {
        const p = await report.newPage();
        const problems = [];
        p.on('pageerror', (e) => problems.push(String(e)));
        p.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); d.dismiss(); });
        await p.goto(pathToFileURL(path).href);
        await p.waitForSelector('#report-rows tbody tr');
        assert.equal(await p.textContent('#report-rows td[data-col=dest]'), row.dest);
        assert.equal(await p.textContent('#report-rows td[data-col=process]'), row.process);
        assert.equal(await p.$$eval('#report img, #report b, #report script', (n) => n.length), 0);
        await p.waitForTimeout(300);
        assert.deepEqual(problems, []);
      } finally {
        await report.close();
      }
    });

    await t.test('CSV exports neutralise spreadsheet formulas (CWE-1236), as the CLI does', async () => {
      const line = JSON.stringify({
        EventID: 1, Channel: 'Microsoft-Windows-Sysmon/Operational', Hostname: '@host', UtcTime: '2024-01-01 00:00:00.000',
        Image: 'C:\\Windows\\System32\\schtasks.exe', CommandLine: '=HYPERLINK("http://evil","x") schtasks /create /s h2',
        User: 'D\\-u', ParentImage: 'C:\\x\\cmd.exe',
      });
      await page.setInputFiles('#file-input', { name: 'formula.json', mimeType: 'application/json', buffer: Buffer.from(line + '\n') });
      await page.waitForFunction(() => document.body.dataset.state === 'done' && window.__schtasks.result.stats.files[0].file === 'formula.json');
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-rows-csv')]);
      const csv = readFileSync(await download.path(), 'utf8');
      assert.match(csv, /"'=HYPERLINK\(""http:\/\/evil""/);
      assert.match(csv, /,"'@host","'-u",/);
    });

    await t.test('a 200 MB log: the progress bar moves, wasm memory stays under 256 MB', async () => {
      const big = join(out, 'generated-200mb.json');
      const { lines, hits } = await writeLog(big, 200e6);
      const seen = new Set();
      if (await page.isVisible('#drilldown-close')) await page.click('#drilldown-close');
      await page.evaluate(() => window.scrollTo(0, 0));
      const t0 = Date.now();
      await page.setInputFiles('#file-input', big);
      let shot = false;
      while ((await page.evaluate(() => document.body.dataset.state)) === 'running') {
        const f = await page.evaluate(() => document.getElementById('progress-box').dataset.fraction);
        if (f) seen.add(f);
        if (!shot && Number(f) > 0.3) {
          shot = true;
          await page.screenshot({ path: join(shots, '07-progress-200mb.png'), fullPage: false });
        }
        await page.waitForTimeout(100);
      }
      const seconds = (Date.now() - t0) / 1000;
      const run = await page.evaluate(() => ({ ...window.__schtasks.lastRun, events: window.__schtasks.result.stats.events, matched: window.__schtasks.result.stats.matched }));
      assert.equal(run.events, lines);
      assert.equal(run.matched, hits);
      assert.ok(seen.size >= 3, `progress moved through ${seen.size} values`);
      assert.ok(run.peakMemory < 256 * 1024 * 1024, `peak wasm memory ${run.peakMemory}`);
      const mb = statSync(big).size / 1e6;
      t.diagnostic(`200 MB log: ${mb.toFixed(0)} MB, ${lines} events in ${run.seconds.toFixed(1)} s in the worker (${(mb / run.seconds).toFixed(1)} MB/s), ` +
        `${seconds.toFixed(1)} s wall, peak wasm memory ${(run.peakMemory / 1048576).toFixed(0)} MiB`);
      await page.screenshot({ path: join(shots, '08-200mb-done.png'), fullPage: true });
    });

    await t.test('cancel', async () => {
      const big = join(out, 'generated-200mb.json');
      await page.setInputFiles('#file-input', big);
      await page.waitForFunction(() => Number(document.getElementById('progress-box').dataset.fraction || 0) > 0.02);
      await page.click('#cancel');
      await page.waitForFunction(() => document.body.dataset.state === 'cancelled');
      assert.match(await page.textContent('#status'), /Cancelled after/);
      assert.equal(await page.isDisabled('#cancel'), true);
    });

    await t.test('the system\'s dark setting gives the dark theme; the keyboard reaches the controls with a visible focus', async () => {
      const dark = await browser.newContext({ colorScheme: 'dark', viewport: { width: 1366, height: 900 } });
      try {
        const p = await dark.newPage();
        await p.goto(url);
        await p.waitForSelector('body[data-ready=true]');
        const colours = await p.evaluate(() => {
          const cs = getComputedStyle(document.body);
          return { bg: cs.backgroundColor, fg: cs.color };
        });
        // Dark background, light text (luminance of rgb(r, g, b)).
        const lum = (c) => c.match(/\d+/g).slice(0, 3).map(Number).reduce((a, b) => a + b, 0) / 3;
        assert.ok(lum(colours.bg) < 60 && lum(colours.fg) > 180, JSON.stringify(colours));
        // Tab from the top: the drop zone first (the hidden file inputs take no stop), each focused control drawn with an outline.
        await p.keyboard.press('Tab');
        const focused = [];
        for (let i = 0; i < 6; i++) {
          focused.push(await p.evaluate(() => {
            const el = document.activeElement;
            const cs = getComputedStyle(el);
            return { id: el.id || el.tagName, outline: cs.outlineStyle !== 'none' && cs.outlineWidth !== '0px' };
          }));
          await p.keyboard.press('Tab');
        }
        await p.click('#sample');
        await p.waitForFunction(() => document.body.dataset.state === 'done');
        await p.screenshot({ path: join(shots, '10-dark.png'), fullPage: true });
        await p.locator('#triage').screenshot({ path: join(shots, '15-triage-dark.png') });
        // The saved report follows the system's setting too.
        const [download] = await Promise.all([p.waitForEvent('download'), p.click('#save-report')]);
        const path = join(out, 'report-sample.html');
        await download.saveAs(path);
        const r = await dark.newPage();
        await r.goto(pathToFileURL(path).href);
        await r.waitForSelector('#report-rows tbody tr');
        const reportBg = await r.evaluate(() => getComputedStyle(document.body).backgroundColor);
        assert.ok(lum(reportBg) < 60, reportBg);
        await r.screenshot({ path: join(shots, '16-report-dark.png'), fullPage: true });
        assert.equal(focused[0].id, 'drop');
        for (const f of focused) assert.ok(f.outline, `focus visible on ${f.id}`);
        await p.close();
      } finally {
        await dark.close();
      }
    });

    await t.test('100,000 rows: each sort and each filter keystroke under 100 ms, the tables virtualised', async () => {
      const path = join(out, 'many-rows.json');
      await writeManyRows(path, 100000);
      // A page of its own: its workers' memory is not the other tests' concern.
      const own = await browser.newContext({ viewport: { width: 1366, height: 900 } });
      const page = await own.newPage();
      await page.goto(url);
      await page.waitForSelector('body[data-ready=true]');
      await runFiles(page, [path]);
      assert.equal(await page.evaluate(() => window.__schtasks.result.rows.length), 100000);
      assert.equal(await page.getAttribute('#rows', 'data-rows'), '100000');
      const drawn = () => page.$$eval('#rows tbody tr:not(.spacer)', (trs) => trs.length);
      assert.ok((await drawn()) > 0 && (await drawn()) < 200, `${await drawn()} rows drawn`);
      // An action's time: from the event to the next frame drawn after it.
      const act = (action, arg) => page.evaluate(async ([what, value]) => {
        const t0 = performance.now();
        if (what === 'sort') document.querySelector(`#rows thead th:nth-child(${value}) button`).click();
        else {
          const input = document.querySelector('#rows').parentElement.previousElementSibling.querySelector('input');
          input.value = value;
          input.dispatchEvent(new Event('input'));
        }
        await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
        return performance.now() - t0;
      }, [action, arg]);
      // The sequence three times over; each action's median (the machine is shared and noisy).
      const steps = [['sort by process', 'sort', 2], ['sort by process, descending', 'sort', 2], ['sort by dest', 'sort', 4],
        ['sort by count', 'sort', 6], ['filter "s"', 'filter', 's'], ['filter "sr"', 'filter', 'sr'], ['filter "srv-7 "', 'filter', 'srv-7 '],
        ['filter cleared', 'filter', '']];
      const runs = Object.fromEntries(steps.map(([name]) => [name, []]));
      for (let round = 0; round < 3; round++) {
        for (const [name, action, arg] of steps) {
          runs[name].push(await act(action, arg));
          if (arg === 'srv-7 ') assert.equal(await page.getAttribute('#rows', 'data-rows'), '100');
        }
        await page.click('#rows thead th:nth-child(2) button'); // the next round starts from the same sort
      }
      const timings = Object.fromEntries(Object.entries(runs).map(([name, ms]) => [name, Math.round(ms.sort((a, b) => a - b)[1] * 10) / 10]));
      writeFileSync(join(out, 'table-timings.json'), JSON.stringify(timings, null, 2));
      t.diagnostic(`100,000 rows, ms per action: ${JSON.stringify(timings)}`);
      for (const [name, ms] of Object.entries(timings)) assert.ok(ms < 100, `${name}: ${ms} ms`);
      // Scrolled to the middle, the rows there are drawn (and only they).
      await page.$eval('#rows', (t) => { t.parentElement.scrollTop = 50000 * 30; });
      await page.waitForTimeout(100);
      assert.ok((await drawn()) > 0 && (await drawn()) < 200);
      const first = await page.$eval('#rows tbody tr:not(.spacer)', (tr) => tr.getBoundingClientRect().top - tr.closest('.scroll').getBoundingClientRect().top);
      assert.ok(Math.abs(first) < 1000, `first drawn row at ${first} px from the top of the box`);
      // The graph draws the busiest edges, and says so.
      assert.ok((await page.$$eval('#graph .edge', (e) => e.length)) <= 150);
      await page.screenshot({ path: join(shots, '14-100k-rows.png') });
      await own.close();
    });

    await t.test('zero requests after load, no page errors', () => {
      assert.deepEqual(late, []);
      assert.deepEqual(errors, []);
    });
  } finally {
    await browser.close();
    server.kill();
  }
});
