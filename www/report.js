// The saved report's script (bundled with its imports into one file by
// scripts/build-page.sh and inlined into the report): it reads the report's
// data block and draws the same views as the page, offline, with no request.
import { el, dataTable, fillTable } from './view.js';
import { hitsOf, edgesOf, passes, filtering, showTime, timesByObject } from './hits.js';
import { timeline, graph, sparkline, rangeForm } from './triage.js';

const ROW_COLUMNS = ['process_name', 'process', 'parent_process_name', 'dest', 'user', 'count', 'firstTime', 'lastTime', 'remote_target'];
const EVENT_COLUMNS = ['_time', 'file', 'line', 'record', 'dest', 'user', 'process_name', 'process', 'parent_process_name', 'remote_target'];

function renderReport(root, doc) {
  const { result } = doc;
  const tz = result.stats.tz;
  const rules = result.results.map((r) => r.rule);
  const { hits, untimed } = hitsOf(result);
  const filter = {};
  const parts = {
    chip: el('p', { class: 'filter-chip', role: 'status' }),
    risk: dataTable('report-risk', [], [], undefined, { caption: 'risk objects' }),
    timeline: el('div', { class: 'timeline', role: 'img' }),
    graph: el('div', { class: 'graph' }),
    rows: dataTable('report-rows', ROW_COLUMNS, [], undefined, { caption: 'hits' }),
    drill: el('section', { class: 'drilldown', hidden: '' }),
  };
  const setFilter = (change) => {
    Object.assign(filter, change);
    draw();
  };
  const range = rangeForm(tz, (r) => setFilter(r));
  const lane = el('select', { 'aria-label': 'one lane per' }, el('option', { value: 'dest', text: 'host' }), el('option', { value: 'user', text: 'user' }));
  const colourBy = el('select', { 'aria-label': 'colour by' }, el('option', { value: 'rule', text: 'by rule' }), el('option', { value: 'tactic', text: 'by ATT&CK tactic' }));
  let plot = null;
  const drawTimeline = () => {
    plot = timeline(parts.timeline, hits, { lane: lane.value, colourBy: colourBy.value, rules, tz, onSelect: (r) => { range.set(r.from, r.to); setFilter(r); } });
  };
  lane.addEventListener('change', drawTimeline);
  colourBy.addEventListener('change', drawTimeline);
  const clear = el('button', { type: 'button', text: 'Clear the filter', onclick: () => {
    for (const k of Object.keys(filter)) delete filter[k];
    plot?.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    range.set(null, null);
    draw();
  } });

  const draw = () => {
    const shown = hits.filter((h) => passes(h, filter));
    parts.chip.replaceChildren(filtering(filter)
      ? `Showing ${shown.length} of ${hits.length} hit(s)${filter.from != null ? `, ${showTime(filter.from, tz)} to ${showTime(filter.to, tz)}` : ''}${filter.host != null ? `, host ${filter.host}` : ''}. `
      : `All ${hits.length} hit(s)${untimed ? ` (${untimed} without a readable time)` : ''}. `, filtering(filter) ? clear : '');
    // Risk first: objects ranked by total score, with their rules, tactics and hits over time.
    const objects = (result.risk_view?.length ? result.risk_view : result.risk_objects).slice().sort((a, b) => b.risk_score - a.risk_score);
    const from = hits.length ? hits[0].t : 0;
    const to = hits.length ? hits[hits.length - 1].t : 1;
    const byObject = timesByObject(shown);
    const timesOf = (name) => byObject.get(name) ?? [];
    const visible = filtering(filter) ? objects.filter((o) => timesOf(o.normalized_risk_object).length) : objects;
    fillTable(parts.risk.querySelector('table'), ['normalized_risk_object', 'risk_object_type', 'risk_score', 'count', 'trend', 'search_name', 'mitre_tactic'],
      visible, (c, v, o) => (c === 'trend' ? sparkline(timesOf(o.normalized_risk_object), from, to) : Array.isArray(v) ? v.join('\n') : v), { sortable: true, filterable: true });
    const keep = new Set(shown.filter((h) => rules[h.rule].flagship).map((h) => h.m.row));
    const rows = filtering(filter) ? result.rows.filter((_, i) => keep.has(i)) : result.rows;
    fillTable(parts.rows.querySelector('table'), ROW_COLUMNS, rows, undefined, { sortable: true, filterable: true });
    graph(parts.graph, edgesOf(shown), { tz, onHost: (host) => setFilter({ host }), onEdge: openEdge });
  };

  const openEdge = (e) => {
    parts.drill.hidden = false;
    parts.drill.replaceChildren(el('h3', { text: `${e.from} → ${e.to}: ${e.count} event(s)` }),
      el('button', { type: 'button', text: 'Close', onclick: () => { parts.drill.hidden = true; } }),
      dataTable('report-edge-events', ['rule', ...EVENT_COLUMNS], e.hits.map((h) => ({ rule: rules[h.rule].name, ...h.m })), undefined, { caption: 'edge events' }));
    parts.drill.querySelector('button').focus();
  };

  const s = result.stats;
  const pc = s.process_creation;
  root.replaceChildren(
    el('header', {}, el('h1', { text: 'schtasks-detect report' }),
      el('p', { class: 'muted', text: `Saved ${doc.saved} by ${doc.tool}. Mode ${s.mode}, times in ${tz}${doc.options.filter ? `, filter ${doc.options.filter}` : ''}, rules: ${doc.options.rules ?? 'flagship'}.` })),
    el('dl', { class: 'summary' }, ...[['files', s.files.length], ['events', s.events], ['Sysmon 1', pc.sysmon], ['Security 4688', pc.security_4688],
      ['CrowdStrike', pc.crowdstrike], ['other events', s.other], ['errors', s.errors], ['rows', s.rows]]
      .map(([k, v]) => el('div', {}, el('dt', { text: k }), el('dd', { text: String(v) })))),
    parts.chip,
    el('h2', { text: 'Risk, by object' }), parts.risk,
    el('h2', { text: 'Timeline' }), el('p', { class: 'muted' }, 'One lane per ', lane, ', coloured ', colourBy, '. Drag across it, or give a range, to filter the tables.'),
    parts.timeline, range.box,
    el('h2', { text: 'Lateral movement' }), parts.graph,
    parts.drill,
    el('h2', { text: 'Hits (the flagship’s rows)' }), parts.rows,
    el('h2', { text: 'Results by rule' }),
    dataTable('report-by-rule', ['rule', 'version', 'type', 'score', 'rows', 'risk events'], result.results.map((r) => ({
      rule: r.rule.name, version: r.rule.version, type: r.rule.type, score: r.rule.risk_score, rows: r.rows.length, 'risk events': r.risk_events.length,
    })), undefined, { caption: 'rules' }),
    el('h2', { text: 'Risk events' }),
    dataTable('report-risk-events', ['risk_object', 'risk_object_type', 'risk_score', 'search_name', 'risk_message'], result.risk_events, undefined, { caption: 'risk events' }),
    el('h2', { text: 'Files read' }),
    dataTable('report-files', ['file', 'format', 'bytes', 'records', 'events', 'process creations', 'other', 'errors'], s.files.map((f) => ({
      file: f.file, format: f.format ?? 'unreadable', bytes: f.bytes, records: f.records, events: f.events,
      'process creations': f.process_creation.sysmon + f.process_creation.security_4688 + f.process_creation.crowdstrike + (f.process_creation.cim ?? 0),
      other: f.other, errors: f.error_count,
    })), undefined, { caption: 'files' }),
    el('h2', { text: 'Rules run' }),
    dataTable('report-rules', ['name', 'id', 'version', 'type', 'search_name'], rules, undefined, { caption: 'rules run' }),
  );
  draw();
  drawTimeline();
}

const data = document.getElementById('report-data');
if (data) renderReport(document.getElementById('report'), JSON.parse(data.textContent));
