// The triage view, shared by the page and the saved report: when things
// happened (a timeline, one lane per host or user), which host reached which
// (the lateral-movement graph) and who is riskiest (sparklines). Derivations
// are pure functions of a result; renderers write log values only as text
// (textContent, SVG text, canvas text), never as markup.
import { uPlot, forceSimulation, forceLink, forceManyBody, forceCenter, forceCollide } from './vendor/libs.js';
import { colour, localTime, offsetMinutes, parseLocalTime, showTime } from './hits.js';


const SVG = 'http://www.w3.org/2000/svg';

/** An SVG element with attributes. */
function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/**
 * The keyboard's way to a time range: two fields and a button, in the
 * result's zone. `onRange({ from, to })`; `set(from, to)` shows a brushed range.
 */
export function rangeForm(tz, onRange) {
  const make = (tag, props) => Object.assign(document.createElement(tag), props);
  const from = make('input', { type: 'text', id: 'range-from', size: 20, placeholder: 'YYYY-MM-DD HH:MM:SS', spellcheck: false });
  const to = make('input', { type: 'text', id: 'range-to', size: 20, placeholder: 'YYYY-MM-DD HH:MM:SS', spellcheck: false });
  const apply = make('button', { type: 'button', id: 'range-apply', textContent: 'Filter to this range' });
  const why = make('span', { className: 'muted', role: 'status' });
  const go = () => {
    const a = parseLocalTime(from.value, tz);
    const b = parseLocalTime(to.value, tz);
    if (Number.isNaN(a) || Number.isNaN(b) || a > b) {
      why.textContent = 'Give two times, the first not after the second, as YYYY-MM-DD HH:MM:SS.';
      return;
    }
    why.textContent = '';
    onRange({ from: a, to: b + (/:\d\d:\d\d/.test(to.value) ? 999 : 59999) });
  };
  apply.addEventListener('click', go);
  for (const input of [from, to]) input.addEventListener('keydown', (e) => { if (e.key === 'Enter') go(); });
  const box = make('div', { className: 'range' });
  box.append(make('label', { htmlFor: 'range-from', textContent: `From (${tz})` }), from, make('label', { htmlFor: 'range-to', textContent: 'to' }), to, apply, why);
  return {
    box,
    set(a, b) {
      from.value = a == null ? '' : localTime(a, tz);
      to.value = b == null ? '' : localTime(b, tz);
    },
  };
}

/**
 * The timeline: each hit a point at its time in its lane (`lane`: 'dest' or
 * 'user'), coloured by rule. Dragging across it selects a range:
 * `onSelect({ from, to })` in ms, or `onSelect(null)` for a click. Returns the
 * uPlot instance (tests and the page's resize use it).
 */
export function timeline(box, hits, { lane = 'dest', colourBy = 'rule', rules, tz, onSelect }) {
  box.__resize?.disconnect();
  box.__plot?.destroy();
  box.__plot = null;
  box.replaceChildren();
  if (!hits.length) {
    box.append(Object.assign(document.createElement('p'), { className: 'muted', textContent: 'No timed hits.' }));
    return null;
  }
  const lanes = [...new Set(hits.map((h) => h[lane] || '(none)'))];
  const laneOf = new Map(lanes.map((l, i) => [l, i]));
  // A series per colour: each rule, or each rule's first ATT&CK tactic.
  const groupOf = colourBy === 'tactic' ? (h) => rules[h.rule]?.mitre_tactics?.[0] ?? '(tactic unknown)' : (h) => h.rule;
  const used = [...new Set(hits.map(groupOf))].sort((a, b) => (typeof a === 'number' ? a - b : String(a).localeCompare(String(b))));
  const labelOf = (g) => (typeof g === 'number' ? rules[g]?.name ?? `rule ${g}` : g);
  const colourOf = (g, i) => colour(typeof g === 'number' ? g : i);
  const xs = hits.map((h) => h.t / 1000);
  const series = used.map((g) => hits.map((h) => (groupOf(h) === g ? laneOf.get(h[lane] || '(none)') : null)));
  const off = offsetMinutes(tz) * 60;
  const width = Math.max(320, box.clientWidth || 800);
  const height = Math.min(560, 90 + lanes.length * 22);
  const opts = {
    width,
    height,
    // Times shown in the result's zone, whatever the browser's.
    tzDate: (ts) => {
      const d = new Date((ts + off) * 1000);
      return new Date(d.getTime() + d.getTimezoneOffset() * 60000);
    },
    cursor: { drag: { x: true, y: false, setScale: false }, points: { show: false } },
    scales: {
      // A margin either side, so that the first and last hits are not cut by the edges.
      x: { time: true, range: (u, min, max) => { const pad = Math.max(30, (max - min) * 0.03); return [min - pad, max + pad]; } },
      y: { range: [-0.6, lanes.length - 0.4] },
    },
    axes: [
      { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,0.25)' }, ticks: { stroke: 'rgba(128,128,128,0.4)' } },
      {
        stroke: 'currentColor',
        size: Math.min(220, 14 + Math.max(...lanes.map((l) => l.length)) * 7),
        // Every lane labelled when they fit, else every `step`-th (a label needs 14 px).
        splits: () => {
          const step = Math.max(1, Math.ceil(lanes.length / Math.max(1, Math.floor((height - 60) / 14))));
          return lanes.map((_, i) => i).filter((i) => i % step === 0);
        },
        values: (_, splits) => splits.map((i) => lanes[i] ?? ''),
        grid: { stroke: 'rgba(128,128,128,0.15)' },
        ticks: { show: false },
      },
    ],
    legend: { show: false },
    series: [{}, ...used.map((g, i) => ({
      label: labelOf(g),
      stroke: colourOf(g, i),
      fill: colourOf(g, i),
      paths: () => null,
      points: { show: true, size: 7, width: 1, fill: colourOf(g, i) },
    }))],
    hooks: {
      setSelect: [(u) => {
        if (u.select.width < 2) return;
        const from = u.posToVal(u.select.left, 'x') * 1000;
        const to = u.posToVal(u.select.left + u.select.width, 'x') * 1000;
        onSelect?.({ from, to });
      }],
    },
  };
  const plot = new uPlot(opts, [xs, ...series], box);
  box.__plot = plot;
  // From a laptop to a wide screen: the plot follows its box's width.
  if (typeof ResizeObserver === 'function') {
    box.__resize = new ResizeObserver(() => {
      const w = Math.max(320, box.clientWidth);
      if (Math.abs(w - plot.width) > 4) plot.setSize({ width: w, height });
    });
    box.__resize.observe(box);
  }
  // The colours' key, as text.
  const key = document.createElement('ul');
  key.className = 'timeline-key';
  used.forEach((g, i) => {
    const item = document.createElement('li');
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = colourOf(g, i);
    item.append(swatch, document.createTextNode(labelOf(g)));
    key.append(item);
  });
  box.append(key);
  box.setAttribute('aria-label', `Timeline: ${hits.length} hit(s) from ${showTime(hits[0].t, tz)} to ${showTime(hits[hits.length - 1].t, tz)}, one lane per ${lane === 'dest' ? 'host' : 'user'} (${lanes.length}); drag across it to filter the tables`);
  return plot;
}

/** At most this many edges are drawn. */
export const GRAPH_EDGES = 150;

/**
 * The lateral-movement graph: hosts as nodes, an edge from `dest` to
 * `remote_target` labelled with its users and count. Laid out by d3-force
 * (its random source is seeded, so a result is always drawn the same).
 * Nodes and edges are buttons: `onHost(name)`, `onEdge(edge)`.
 */
export function graph(box, allEdges, { tz, onHost, onEdge, limit = GRAPH_EDGES }) {
  box.replaceChildren();
  if (!allEdges.length) {
    box.append(Object.assign(document.createElement('p'), { className: 'muted', textContent: 'No process named a remote host.' }));
    return;
  }
  // A readable graph: the busiest edges (a host filter shows that host's).
  const edges = allEdges.length > limit ? allEdges.slice().sort((a, b) => b.count - a.count || a.first - b.first).slice(0, limit) : allEdges;
  if (edges.length < allEdges.length) {
    box.append(Object.assign(document.createElement('p'), { className: 'muted', textContent: `The ${edges.length} busiest of ${allEdges.length} edges; click a host to see its own.` }));
  }
  const names = new Map();
  for (const e of edges) for (const n of [e.from, e.to]) if (!names.has(n.toLowerCase())) names.set(n.toLowerCase(), n);
  const nodes = [...names.entries()].map(([id, name]) => ({ id, name }));
  const links = edges.map((e) => ({ source: e.from.toLowerCase(), target: e.to.toLowerCase(), edge: e }));
  const width = Math.max(320, box.clientWidth || 800);
  const height = Math.min(640, 160 + nodes.length * 28);
  const sim = forceSimulation(nodes)
    .force('link', forceLink(links).id((d) => d.id).distance(150))
    .force('charge', forceManyBody().strength(-500))
    .force('collide', forceCollide(40))
    .force('center', forceCenter(width / 2, height / 2))
    .stop();
  for (let i = 0; i < 300; i++) sim.tick();
  // Scaled to fit the box (the forces know no edges): labels need room at the sides.
  const xs = nodes.map((n) => n.x);
  const ys = nodes.map((n) => n.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const fit = (v, lo, hi, from, to) => (hi - lo < 1 ? (from + to) / 2 : from + ((v - lo) / (hi - lo)) * (to - from));
  for (const n of nodes) {
    n.x = fit(n.x, x0, x1, 90, width - 90);
    n.y = fit(n.y, y0, y1, 30, height - 40);
  }
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'group', 'aria-label': `Lateral movement: ${nodes.length} host(s), ${edges.length} edge(s)` });
  const defs = svg('defs');
  const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 22, refY: 5, markerWidth: 8, markerHeight: 8, orient: 'auto-start-reverse' });
  marker.append(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrow' }));
  defs.append(marker);
  root.append(defs);
  const button = (g, label, action) => {
    g.setAttribute('tabindex', '0');
    g.setAttribute('role', 'button');
    g.setAttribute('aria-label', label);
    g.addEventListener('click', action);
    g.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); action(); } });
    const title = svg('title');
    title.textContent = label;
    g.append(title);
  };
  for (const l of links) {
    const e = l.edge;
    const g = svg('g', { class: 'edge' });
    g.dataset.from = e.from;
    g.dataset.to = e.to;
    const ends = { x1: l.source.x, y1: l.source.y, x2: l.target.x, y2: l.target.y };
    g.append(svg('line', { ...ends, 'marker-end': 'url(#arrow)' }));
    // A wide transparent twin: the arrow is easy to hit.
    g.append(svg('line', { ...ends, class: 'hit' }));
    const label = svg('text', { x: (l.source.x + l.target.x) / 2, y: (l.source.y + l.target.y) / 2 - 6, 'text-anchor': 'middle', class: 'edge-label' });
    label.textContent = `${[...e.users].join(', ')} · ${e.count}`;
    g.append(label);
    button(g, `${e.from} to ${e.to}: ${e.count} event(s) by ${[...e.users].join(', ')}, first ${showTime(e.first, tz)}, last ${showTime(e.last, tz)}; open its events`, () => onEdge?.(e));
    root.append(g);
  }
  for (const n of nodes) {
    const g = svg('g', { class: 'node', transform: `translate(${n.x},${n.y})` });
    g.dataset.host = n.name;
    g.append(svg('circle', { r: 12 }));
    const label = svg('text', { y: 28, 'text-anchor': 'middle' });
    label.textContent = n.name;
    g.append(label);
    button(g, `host ${n.name}: filter to its hits`, () => onHost?.(n.id));
    root.append(g);
  }
  box.append(root);
}

/** A sparkline of `times` (ms) over [from, to], in `bins` bins, as an SVG. */
export function sparkline(times, from, to, bins = 24) {
  const counts = new Array(bins).fill(0);
  const span = Math.max(1, to - from);
  for (const t of times) counts[Math.min(bins - 1, Math.max(0, Math.floor(((t - from) / span) * bins)))] += 1;
  const max = Math.max(1, ...counts);
  const w = 96;
  const h = 18;
  const points = counts.map((c, i) => `${((i + 0.5) * w) / bins},${h - 1 - (c / max) * (h - 2)}`).join(' ');
  const root = svg('svg', { viewBox: `0 0 ${w} ${h}`, width: w, height: h, class: 'spark', role: 'img', 'aria-label': `${times.length} hit(s) over time` });
  root.append(svg('polyline', { points }));
  return root;
}
