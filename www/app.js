// The page: controls, the worker's progress, and the results. Every value
// that comes from a log is written with textContent (never as HTML).
import { sampleFiles } from './sample.js';
import { Pool } from './pool.js';
import { el, fillTable } from './view.js';
import { hitsOf, edgesOf, passes, filtering, showTime, timesByObject } from './hits.js';
import { timeline, graph, sparkline, rangeForm } from './triage.js';

const $ = (id) => document.getElementById(id);
const ROW_COLUMNS = ['process_name', 'process', 'parent_process_name', 'dest', 'user', 'count', 'firstTime', 'lastTime', 'remote_target'];

const state = { files: [], result: null, running: false, ready: false, lastRun: null, userRules: [], filter: {}, hits: [] };
window.__schtasks = state; // for the end-to-end tests and the curious

const worker = new Worker('./worker.js', { type: 'module' });

// How many workers read: every core, up to 8 (each holds its own wasm
// instance); `?workers=N` chooses (1: this page's worker alone, no pool).
// `?pieceBytes=` and `?wholeBelow=` tune the cutting (tests).
const params = new URLSearchParams(location.search);
const numberParam = (name) => (params.has(name) && Number.isFinite(Number(params.get(name))) ? Number(params.get(name)) : undefined);
const WORKERS = Math.max(1, Math.min(16, numberParam('workers') ?? Math.min(navigator.hardwareConcurrency || 1, 8)));
const TUNING = { pieceBytes: numberParam('pieceBytes'), wholeBelow: numberParam('wholeBelow') };
// Started with the page, so that nothing is fetched after load.
const pool = WORKERS > 1 ? new Pool(WORKERS) : null;
worker.onmessage = (e) => {
  const m = e.data;
  if (m.type === 'ready') {
    fillRuleSelector(m.pack, m.catalogue);
    Promise.all([pool ? pool.ready : Promise.resolve(), reportAssets]).then(() => {
      state.ready = true;
      setStatus('Ready. Drop files, or try the sample.');
      document.body.dataset.ready = 'true';
    }, (err) => setStatus(`The detector failed to start: ${err.message}`, true));
  } else if (m.type === 'progress') {
    showProgress(m);
  } else if (m.type === 'result') {
    state.lastRun = { seconds: m.seconds, peakMemory: m.peakMemory, workers: 1 };
    done(`Done in ${m.seconds.toFixed(2)} s.`);
    render(m.result);
  } else if (m.type === 'cancelled') {
    done(`Cancelled after ${fmtBytes(m.bytesDone)} of ${fmtBytes(m.totalBytes)}.`);
    document.body.dataset.state = 'cancelled';
  } else if (m.type === 'csv') {
    pendingCsv.get(m.id)?.(m.text);
    pendingCsv.delete(m.id);
  } else if (m.type === 'error') {
    done(`Error: ${m.message}`, true);
  }
};
// What a saved report inlines, fetched with the page (nothing is fetched after load).
const reportAssets = Promise.all(['vendor/report.js', 'vendor/uPlot.min.css', 'style.css'].map((f) =>
  fetch(f).then((r) => { if (!r.ok) throw new Error(`${f}: HTTP ${r.status}`); return r.text(); })))
  .then(([script, uplotCss, css]) => { state.reportAssets = { script, css: `${uplotCss}\n${css}` }; });
worker.onerror = (e) => done(`The detector failed to start: ${e.message}`, true);

function setStatus(text, isError = false) {
  const s = $('status');
  s.textContent = text;
  s.classList.toggle('error', isError);
}

function fmtBytes(n) {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

function options() {
  const mode = document.querySelector('input[name=mode]:checked').value;
  const o = { mode };
  const tz = $('tz').value;
  if (tz === 'local') {
    const off = -new Date().getTimezoneOffset();
    const a = Math.abs(off);
    o.tz = `${off < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
  } else if (tz === 'fixed') {
    o.tz = $('tz-fixed').value.trim();
  }
  const filter = $('filter').value.trim();
  if (filter) o.filter = filter;
  if ($('rules').value !== 'flagship') o.rules = $('rules').value;
  if (state.userRules.length) o.ruleYaml = state.userRules.map((r) => r.text);
  return o;
}

/** The selector's choices: flagship, all, each analytic story, each ATT&CK technique (with rule counts). */
function fillRuleSelector(pack, catalogue) {
  const count = (key) => {
    const m = new Map();
    for (const r of pack) for (const v of new Set(key(r))) m.set(v, (m.get(v) ?? 0) + 1);
    return [...m.entries()].sort((a, b) => a[0].localeCompare(b[0]));
  };
  $('rules').options[1].textContent = `every ESCU rule (${pack.length})`;
  const group = (label, prefix, entries) => el('optgroup', { label },
    ...entries.map(([name, n]) => el('option', { value: `${prefix}${name}`, text: `${name} (${n})` })));
  $('rules').append(
    group('Analytic story', 'story:', count((r) => r.analytic_story)),
    group('ATT&CK technique', 'mitre:', count((r) => r.mitre_attack_id.map((t) => t.split('.')[0]))),
  );
  $('catalogue').textContent = `The catalogue: ${catalogue.supported} detections of this shape, ${catalogue.second_tier} more with a where on their rows, ` +
    `${catalogue.unsupported} that cannot run here (other data models, raw-event searches; see schtasks-detect --list-rules).`;
}

function renderUserRules() {
  $('user-rules').replaceChildren(...state.userRules.map((r, i) => el('span', { class: 'chip' }, r.name, ' ',
    el('button', { type: 'button', class: 'linkish', text: '×', 'aria-label': `remove rule ${r.name}`, onclick: () => {
      state.userRules.splice(i, 1);
      renderUserRules();
      start(state.files);
    } }))));
}

function start(files) {
  if (!files.length || state.running) return;
  state.files = files;
  state.running = true;
  document.body.dataset.state = 'running';
  $('cancel').disabled = false;
  $('sample').disabled = true;
  $('apply').disabled = true;
  $('progress-box').hidden = false;
  $('progress').value = 0;
  $('progress-box').dataset.fraction = '0';
  $('progress-text').textContent = '';
  setStatus(`Reading ${files.length} file(s), ${fmtBytes(files.reduce((n, f) => n + f.size, 0))}…`);
  if (WORKERS === 1) {
    worker.postMessage({ type: 'run', files, options: options() });
    return;
  }
  const started = performance.now();
  pool.read(files, options(), (p) => showProgress({ ...p, eventsPerSec: p.events / Math.max(1e-3, (performance.now() - started) / 1000), peakMemory: p.memoryBytes }), TUNING)
    .then((r) => {
      if (r.cancelled) {
        done(`Cancelled after ${fmtBytes(r.bytesDone)} of ${fmtBytes(r.totalBytes)}.`);
        document.body.dataset.state = 'cancelled';
        return;
      }
      const seconds = (performance.now() - started) / 1000;
      state.lastRun = { seconds, peakMemory: r.peakMemory, workers: pool.size, timing: r.timing };
      done(`Done in ${seconds.toFixed(2)} s on ${pool.size} workers.`);
      render(r.result);
    })
    .catch((err) => done(`Error: ${err.message}`, true));
}

function done(text, isError = false) {
  state.running = false;
  document.body.dataset.state = isError ? 'error' : 'done';
  $('cancel').disabled = true;
  $('sample').disabled = false;
  $('apply').disabled = false;
  setStatus(text, isError);
}

function showProgress(m) {
  const frac = m.totalBytes ? m.bytesDone / m.totalBytes : 1;
  $('progress').value = frac;
  $('progress-text').textContent =
    `${fmtBytes(m.bytesDone)} of ${fmtBytes(m.totalBytes)} · ${Math.round(m.eventsPerSec).toLocaleString('en')} events/s · ` +
    `${m.events.toLocaleString('en')} events, ${m.hits} hits · ` +
    (m.workers ? `${m.workers} workers` : `file ${m.fileIndex + 1}/${m.fileCount}: ${m.file}`);
  $('progress-box').dataset.fraction = frac.toFixed(4);
  $('progress-box').dataset.memory = String(m.peakMemory);
}

// ---- input ----
const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  start([...e.dataTransfer.files]);
});
drop.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); $('file-input').click(); }
});
$('file-input').addEventListener('change', (e) => { start([...e.target.files]); e.target.value = ''; });
$('sample').addEventListener('click', () => start(sampleFiles()));
$('rules').addEventListener('change', () => start(state.files));
$('rule-file-label').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); $('rule-file').click(); }
});
$('rule-file').addEventListener('change', async (e) => {
  // The engine reads and checks the YAML (in the worker): a rule it cannot run comes back as an error naming why.
  for (const f of e.target.files) {
    const text = await f.text();
    const name = (text.match(/^name:\s*(.+)$/m)?.[1] ?? f.name).trim();
    state.userRules.push({ name, text });
  }
  e.target.value = '';
  renderUserRules();
  start(state.files);
});
$('cancel').addEventListener('click', () => {
  worker.postMessage({ type: 'cancel' });
  pool?.cancel();
  setStatus('Cancelling…');
});
$('apply').addEventListener('click', () => start(state.files));
$('filter').addEventListener('keydown', (e) => { if (e.key === 'Enter') start(state.files); });
for (const r of document.querySelectorAll('input[name=mode]')) r.addEventListener('change', () => start(state.files));
$('tz').addEventListener('change', () => {
  $('tz-fixed').hidden = $('tz').value !== 'fixed';
  if ($('tz').value !== 'fixed') start(state.files);
});
$('tz-fixed').addEventListener('keydown', (e) => { if (e.key === 'Enter') start(state.files); });

// ---- results ----
function render(result) {
  state.result = result;
  state.filter = {};
  state.hits = hitsOf(result);
  state.edges = edgesOf(state.hits.hits);
  $('results').hidden = false;
  $('drilldown').hidden = true;
  renderSummary(result.stats);
  renderTriage();
  renderRows();
  const c = result.stats.comparison;
  $('mode-counts').textContent =
    `On these files: parity gives ${c.parity_rows} row(s), precise ${c.precise_rows}. ` +
    `Only parity: ${c.parity_only.length} (local /sc, /st or quoted /s); only precise: ${c.precise_only.length} (dash switches).`;
  // The first RISK_MESSAGES messages; all of them are in the risk events' exports.
  const ol = $('risk-messages');
  ol.replaceChildren(...result.risk_events.slice(0, RISK_MESSAGES).map((r) =>
    el('li', {}, el('span', { class: 'muted', text: `[${r.risk_object_type} ${r.risk_object}, score ${r.risk_score}] ` }), r.risk_message)));
  $('risk-messages-more').textContent = result.risk_events.length > RISK_MESSAGES
    ? `The first ${RISK_MESSAGES} of ${result.risk_events.length} risk messages; every one is in the risk events' CSV and JSON exports.` : '';
  renderTable($('risk-objects'), ['normalized_risk_object', 'risk_object_type', 'count', 'risk_score', 'firstTime', 'lastTime'],
    result.risk_objects.map((o) => ({ ...o })), (key, value, o) =>
      key === 'normalized_risk_object' ? el('button', { class: 'linkish', type: 'button', text: value, onclick: () => riskDrilldown(o.normalized_risk_object) }) : value,
    true, { filterable: true, caption: 'risk objects' });
  renderFiles(result.stats.files);
  renderByRule(result);
}

const RISK_MESSAGES = 1000;
const RISK_VIEW_COLUMNS = ['normalized_risk_object', 'risk_object_type', 'risk_score', 'count', 'rule_count', 'mitre_attack', 'firstTime', 'lastTime'];

function renderByRule(result) {
  const several = result.stats.rules > 1;
  $('by-rule-box').hidden = !several;
  if (!several) return;
  renderTable($('risk-view'), RISK_VIEW_COLUMNS, result.risk_view, (key, value, o) => {
    if (key === 'normalized_risk_object') return el('button', { class: 'linkish', type: 'button', text: value, onclick: () => riskDrilldown(o.normalized_risk_object, true) });
    return Array.isArray(value) ? value.join(', ') : value;
  }, true, { filterable: true, caption: 'risk view' });
  const items = result.results.map((r, index) => ({
    rule: r.rule.name, type: r.rule.type, score: r.rule.risk_score, rows: r.rows.length, 'risk events': r.risk_events.length,
    'ATT&CK': r.rule.mitre_attack_id.join(', '), stories: r.rule.analytic_stories.join(', '), _index: index,
  }));
  renderTable($('by-rule'), ['rule', 'type', 'score', 'rows', 'risk events', 'ATT&CK', 'stories'], items, (key, value, item) =>
    key === 'rule' ? el('button', { class: 'linkish', type: 'button', text: value, onclick: () => ruleDrilldown(item._index) }) : value,
  true, { filterable: true, caption: 'rules' });
}

/** One rule's rows, with its own columns; a multivalue cell lists its values one per line. */
function ruleDrilldown(index) {
  const r = state.result.results[index];
  const columns = [...new Set(r.rows.flatMap((row) => Object.keys(row)))];
  const table = el('table', { id: 'drill-rule' }, el('thead'), el('tbody'));
  const box = el('div', { class: 'scroll' }, table);
  renderTable(table, columns, r.rows, (c, v) => (Array.isArray(v) ? v.join('\n') : v));
  const risk = el('ul', {}, ...r.risk_events.map((e) => el('li', { text: `[${e.risk_object_type} ${e.risk_object}, score ${e.risk_score}] ${e.risk_message}` })));
  openDrilldown(`${r.rule.name}: ${r.rows.length} row(s)`, el('p', { class: 'muted', text: `${r.rule.search_name} · ${r.rule.type} · ${r.rule.id}` }),
    box, el('h4', { text: 'Risk events' }), risk);
}

/** Name-value cards of a <dl class=summary>. */
const cards = (items) => items.map(([k, v]) => el('div', { 'data-key': k }, el('dt', { text: k }), el('dd', { text: String(v) })));

function renderSummary(s) {
  const pc = s.process_creation;
  const items = [
    ['files', s.files.length], ['events', s.events], ['Sysmon 1', pc.sysmon], ['Security 4688', pc.security_4688],
    ['CrowdStrike', pc.crowdstrike], ['CIM form', pc.cim], ['other events', s.other], ['errors', s.errors],
    ['matched events', s.matched], ['rows', s.rows], ['mode', s.mode], ['times', s.tz],
  ];
  $('summary').replaceChildren(...cards(items));
}

/** A table of the page (see view.js: sorting, filtering as you type, virtualised when long). */
function renderTable(table, columns, items, cell, sortable = false, extra = {}) {
  fillTable(table, columns, items, cell, { sortable, cellClass: (c) => (c === 'process' || c === 'command_line' ? 'cmd' : ''), ...extra });
}

// ---- triage: risk first, the timeline, the lateral-movement graph ----
function renderTriage() {
  const r = state.result;
  state.range = rangeForm(r.stats.tz, (range) => setFilter(range));
  $('range-box').replaceChildren(state.range.box);
  drawTimeline();
  renderGraph();
  renderRiskRank();
  renderFilterChip();
}

function drawTimeline() {
  const r = state.result;
  state.timeline = timeline($('timeline'), state.hits.hits, {
    lane: $('lane').value, colourBy: $('colour-by').value, rules: r.results.map((x) => x.rule), tz: r.stats.tz,
    onSelect: (range) => { state.range.set(range.from, range.to); setFilter(range); },
  });
}

/** The graph of the hits the filter keeps. */
function renderGraph() {
  const edges = filtering(state.filter) ? edgesOf(shownHits()) : state.edges;
  graph($('graph'), edges, { tz: state.result.stats.tz, onHost: (host) => setFilter({ host }), onEdge: edgeDrilldown });
}

function setFilter(change) {
  Object.assign(state.filter, change);
  renderGraph();
  renderFilterChip();
  renderRiskRank();
  renderRows();
}

function clearFilter() {
  state.filter = {};
  state.timeline?.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
  state.range.set(null, null);
  renderGraph();
  renderFilterChip();
  renderRiskRank();
  renderRows();
}

function shownHits() {
  return state.hits.hits.filter((h) => passes(h, state.filter));
}

function renderFilterChip() {
  const f = state.filter;
  const { hits, untimed } = state.hits;
  const tz = state.result.stats.tz;
  const box = $('filter-chip');
  if (!filtering(f)) {
    const r = state.result;
    const notKept = r.results.reduce((n, x) => n + (x.rule.flagship ? r.stats.matches_not_listed : x.matches_not_listed ?? 0), 0);
    box.replaceChildren(`${hits.length} kept matched event(s) of ${r.results.length} rule(s)` +
      (untimed ? `, ${untimed} more without a readable time (not on the timeline)` : '') +
      (notKept ? `; ${notKept} more were counted in the rows but not kept (the run's budget of kept events)` : '') +
      '. Drag across the timeline, give a range, or click a host to filter.');
    box.dataset.filtered = 'false';
    return;
  }
  box.replaceChildren(`Showing ${shownHits().length} of ${hits.length} hit(s)`,
    f.from != null ? `, ${showTime(f.from, tz)} to ${showTime(f.to, tz)}` : '', f.host != null ? `, host ${f.host}` : '', '. ',
    el('button', { type: 'button', id: 'clear-filter', text: 'Clear the filter', onclick: clearFilter }));
  box.dataset.filtered = 'true';
}

/** Risk objects ranked by total score, with their rules, tactics and a sparkline of their hits. */
function renderRiskRank() {
  const r = state.result;
  const objects = (r.risk_view?.length ? r.risk_view : r.risk_objects).slice().sort((a, b) => b.risk_score - a.risk_score);
  const all = state.hits.hits;
  const from = all.length ? all[0].t : 0;
  const to = all.length ? all[all.length - 1].t : 1;
  const times = timesByObject(shownHits());
  const items = objects.map((o) => ({ ...o, times: times.get(o.normalized_risk_object) ?? [] }))
    .filter((o) => !filtering(state.filter) || o.times.length);
  renderTable($('risk-rank'), ['normalized_risk_object', 'risk_object_type', 'risk_score', 'count', 'hits over time', 'search_name', 'mitre_tactic'], items, (key, value, o) => {
    if (key === 'normalized_risk_object') return el('button', { class: 'linkish', type: 'button', text: value, onclick: () => riskDrilldown(o.normalized_risk_object, !!r.risk_view?.length) });
    if (key === 'hits over time') return sparkline(o.times, from, to);
    return Array.isArray(value) ? value.join('\n') : value;
  }, true, { filterable: true, caption: 'risk objects' });
}

function edgeDrilldown(e) {
  const rules = state.result.results.map((x) => x.rule);
  const cols = ['rule', '_time', 'file', 'line', 'record', 'dest', 'user', 'process_name', 'process', 'parent_process_name', 'remote_target'];
  const table = el('table', { id: 'drill-edge' }, el('thead'), el('tbody'));
  const box = el('div', { class: 'scroll' }, table);
  renderTable(table, cols, e.hits.map((h) => ({ rule: rules[h.rule].name, ...h.m })), (c, v) => v);
  openDrilldown(`${e.from} → ${e.to}: ${e.count} event(s) by ${[...e.users].join(', ')}, ${showTime(e.first, state.result.stats.tz)} to ${showTime(e.last, state.result.stats.tz)}`,
    box);
}

function renderRows() {
  const r = state.result;
  let rows = r.rows.map((row, index) => ({ ...row, _index: index }));
  if (filtering(state.filter)) {
    const flagship = r.results.findIndex((x) => x.rule.flagship);
    const keep = new Set(shownHits().filter((h) => h.rule === flagship).map((h) => h.m.row));
    rows = rows.filter((row) => keep.has(row._index));
  }
  renderTable($('rows'), [...ROW_COLUMNS, 'events'], rows, (c, v, row) => {
    if (c === 'events') return el('button', { type: 'button', class: 'linkish', text: 'events', 'aria-label': `matched events of row ${row._index + 1}`, onclick: () => rowDrilldown(row._index) });
    if (c === 'dest' || c === 'user') return el('button', { type: 'button', class: 'linkish', text: v, onclick: () => riskDrilldown(String(v).toLowerCase()) });
    return v;
  }, true, { filterable: true, caption: 'hits', rowClass: (row) => (row.remote_target !== '' ? 'remote' : '') });
  $('no-rows').hidden = rows.length > 0;
}

function openDrilldown(title, ...content) {
  $('drilldown-h').textContent = title;
  $('drilldown-body').replaceChildren(...content);
  $('drilldown').hidden = false;
  $('drilldown-close').focus();
}
$('drilldown-close').addEventListener('click', () => { $('drilldown').hidden = true; });

function rowDrilldown(index) {
  const r = state.result;
  const row = r.rows[index];
  const matches = r.matches.filter((m) => m.row === index);
  const cim = ['_time', 'source', 'file', 'line', 'record', 'dest', 'user', 'process_name', 'process', 'command_line', 'parent_process_name', 'parent_process', 'original_file_name', 'process_id', 'parent_process_id', 'remote_target'];
  const table = el('table', { id: 'drill-events' }, el('thead'), el('tbody'));
  const box = el('div', { class: 'scroll' }, table);
  renderTable(table, cim, matches, (c, v) => v);
  const raws = matches.map((m, i) => el('details', {}, el('summary', { text: `raw event ${i + 1} (${m.file}${m.line ? `, line ${m.line}` : ''}${m.record ? `, record ${m.record}` : ''})` }), el('pre', { text: JSON.stringify(m.raw, null, 2) })));
  const more = row.count > matches.length ? el('p', { class: 'muted', text: `${row.count - matches.length} more event(s) counted but not kept (per-row limit).` }) : '';
  openDrilldown(`Matched events: ${row.process_name} on ${row.dest} by ${row.user} (${row.count})`, box, ...raws, more);
}

function riskDrilldown(object, acrossRules = false) {
  const objects = acrossRules ? state.result.risk_view : state.result.risk_objects;
  const o = objects.find((x) => x.normalized_risk_object === object);
  if (!o) return;
  const dl = el('dl', { class: 'summary', id: 'drill-risk' }, ...cards([
    ['risk object', o.normalized_risk_object], ['type', o.risk_object_type], ['count', o.count], ['risk score', o.risk_score],
    ['firstTime', o.firstTime], ['lastTime', o.lastTime],
  ]));
  const list = (title, items) => el('div', {}, el('h4', { text: title }), el('ul', {}, ...items.map((t) => el('li', { text: t }))));
  openDrilldown(`Risk of ${o.normalized_risk_object} (all risk events of these files)`, dl,
    list('Search Name', o.search_name), list('Risk Message', o.risk_message),
    list('Analytic Stories', o.analyticstories), list('ATT&CK Tactics', o.mitre_tactic));
}

function renderFiles(files) {
  const items = files.map((f) => ({
    file: f.file, format: (f.format ?? 'unreadable') + (f.compressed ? ' (gzip)' : ''), encoding: f.encoding ?? '',
    bytes: f.bytes, records: f.records, events: f.events,
    'process creations': `${f.process_creation.sysmon} / ${f.process_creation.security_4688} / ${f.process_creation.crowdstrike}${f.process_creation.cim ? ` / ${f.process_creation.cim}` : ''}`,
    other: f.other, hits: f.matched, errors: f, readable: f.readable ? 'yes' : 'no',
  }));
  renderTable($('files'), ['file', 'format', 'encoding', 'bytes', 'records', 'events', 'process creations', 'other', 'hits', 'errors', 'readable'], items, (c, v) => {
    if (c !== 'errors') return v;
    if (!v.error_count) return '0';
    const where = (e) => [e.line && `line ${e.line}`, e.chunk != null && `chunk ${e.chunk}`, e.record && `record ${e.record}`, e.offset != null && `offset ${e.offset}`].filter(Boolean).join(', ');
    return el('details', {}, el('summary', { text: String(v.error_count) }),
      el('ul', {}, ...v.errors.map((e) => el('li', { text: `${where(e) || 'file'}: ${e.message}` }))));
  });
}

for (const id of ['lane', 'colour-by']) $(id).addEventListener('change', () => { if (state.result) drawTimeline(); });

// ---- the saved report: one HTML file, everything inline ----
async function sha256(text) {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  return btoa(String.fromCharCode(...d));
}

async function reportHtml() {
  const { script, css } = state.reportAssets;
  const doc = {
    saved: new Date().toISOString(), tool: 'schtasks-detect (page)', options: options(), result: state.result,
  };
  // `<` escaped: no log value can close the data block.
  const json = JSON.stringify(doc).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
  const csp = `default-src 'none'; script-src 'sha256-${await sha256(script)}'; style-src 'sha256-${await sha256(css)}'; img-src data:; base-uri 'none'; form-action 'none'`;
  return `<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<meta http-equiv="Content-Security-Policy" content="${csp}">\n` +
    `<meta name="referrer" content="no-referrer">\n<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>schtasks-detect report</title>\n` +
    `<style>${css}</style>\n</head>\n<body>\n<main id="report"></main>\n<script type="application/json" id="report-data">${json}</script>\n<script>${script}</script>\n</body>\n</html>\n`;
}
$('save-report').addEventListener('click', async () => download('schtasks-report.html', 'text/html', await reportHtml()));

// ---- export (made here, in the browser) ----
// CSV comes from the engine's own writer in the worker (one implementation
// for the CLI and the page: RFC 4180 quoting, spreadsheet formulas neutralised).
const pendingCsv = new Map();
let csvRequests = 0;
function csv(columns, items) {
  const id = ++csvRequests;
  return new Promise((resolve) => {
    pendingCsv.set(id, resolve);
    worker.postMessage({ type: 'csv', id, columns, items });
  });
}

function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

const RISK_COLUMNS = ['risk_object', 'risk_object_type', 'normalized_risk_object', 'risk_score', 'severity', 'threat_object', 'threat_object_type', 'risk_message', 'search_name', 'rule_id', 'annotations', 'analyticstories', 'count', 'firstTime', 'lastTime'];
$('export-rows-csv').addEventListener('click', async () => download('schtasks-rows.csv', 'text/csv', await csv(ROW_COLUMNS, state.result.rows)));
$('export-rows-json').addEventListener('click', () => download('schtasks-rows.json', 'application/json', JSON.stringify(state.result.rows, null, 2)));
$('export-risk-csv').addEventListener('click', async () => download('schtasks-risk-events.csv', 'text/csv', await csv(RISK_COLUMNS, state.result.risk_events)));
$('export-risk-json').addEventListener('click', () => download('schtasks-risk-events.json', 'application/json', JSON.stringify(state.result.risk_events, null, 2)));
