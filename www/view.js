// Small DOM helpers shared by the page and the saved report. Every value
// from a log is written as text (text nodes, textContent), never as markup.

/** Builds an element; strings among `children` become text nodes. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'text') node.textContent = v;
    else if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

/** A cell's text, as filtering and sorting see it. */
const textOf = (v) => (v == null ? '' : Array.isArray(v) ? v.join(', ') : String(v));

/** Above this many rows a table draws only the rows in view (fixed row height). */
export const VIRTUAL_AT = 1000;
const ROW_HEIGHT = 30;

/**
 * Fills `table` (a <table> with a <thead> and a <tbody>, inside a scrolling
 * box) with `items`: sortable by a column (its header is a button), filtered
 * as you type when `filterable` (every cell's text, case-insensitive), and
 * virtualised above VIRTUAL_AT rows, so that 100,000 rows sort, filter and
 * scroll without drawing them all. Sort and filter survive new items.
 * `cell(column, value, item)` returns a Node or a value shown as text.
 */
export function fillTable(table, columns, items, cell = (c, v) => textOf(v), { sortable = false, filterable = false, caption, rowClass, cellClass } = {}) {
  const view = table.__view ?? (table.__view = { sort: { key: null, dir: 1 }, query: '' });
  Object.assign(view, { columns, items, cell, sortable, rowClass, cellClass, haystack: null, sorted: null, ascending: null, order: null, narrow: null });
  const box = table.parentElement;
  if (filterable && !view.input) {
    view.input = el('input', { type: 'search', placeholder: 'filter…', 'aria-label': `filter ${caption ?? table.id}`, class: 'table-filter' });
    view.count = el('span', { class: 'muted', 'aria-live': 'polite' });
    view.input.addEventListener('input', () => {
      const query = view.input.value.trim().toLowerCase();
      // A longer query keeps a subset of what the shorter one kept, in the same order.
      view.narrow = view.query && query.startsWith(view.query) ? view.order : null;
      view.query = query;
      view.order = null;
      draw(table);
    });
    box.before(el('div', { class: 'table-tools' }, view.input, ' ', view.count));
  }
  if (!view.scrolling) {
    view.scrolling = true;
    let pending = false;
    box.addEventListener('scroll', () => {
      if (!view.virtual || pending) return;
      pending = true;
      requestAnimationFrame(() => { pending = false; drawBody(table); });
    });
  }
  draw(table);
  // A long filterable table gets its search text ready while the page is idle,
  // so that the first keystroke does not pay for it.
  if (filterable && items.length > VIRTUAL_AT) {
    const ready = () => { if (view.items === items) haystack(view); };
    if (typeof requestIdleCallback === 'function') requestIdleCallback(ready, { timeout: 2000 });
    else setTimeout(ready, 0);
  }
  return table;
}

/** One lower-case text per item, every column's, that filtering searches. */
function haystack(view) {
  view.haystack ??= view.items.map((it) => view.columns.map((c) => textOf(it[c])).join('\u0001').toLowerCase());
  return view.haystack;
}

/**
 * Every item's index in the current sort, kept until the sort or the items
 * change. Each column's ascending order is kept too: the other direction is
 * then its reverse (ties back in the items' order), without sorting again.
 */
function sorted(view) {
  if (view.sorted) return view.sorted;
  const { items, sort } = view;
  if (!sort.key) return (view.sorted = [...items.keys()]);
  view.ascending ??= new Map();
  const k = sort.key;
  let up = view.ascending.get(k);
  let keys;
  if (!up || sort.dir < 0) {
    let numeric = true;
    for (const it of items) if (typeof it[k] !== 'number' && it[k] != null) { numeric = false; break; }
    keys = items.map((it) => (numeric ? (it[k] ?? -Infinity) : textOf(it[k]).toLowerCase()));
  }
  if (!up) {
    // Code-unit order of the lower-cased text (a locale collation is ten times
    // slower on 100,000 rows); ties in the items' order.
    up = [...items.keys()].sort((a, b) => { const x = keys[a]; const y = keys[b]; return x < y ? -1 : x > y ? 1 : a - b; });
    view.ascending.set(k, up);
  }
  if (sort.dir > 0) return (view.sorted = up);
  const down = up.slice().reverse();
  for (let i = 0; i < down.length;) {
    let j = i + 1;
    while (j < down.length && keys[down[j]] === keys[down[i]]) j++;
    for (let a = i, b = j - 1; a < b; a++, b--) [down[a], down[b]] = [down[b], down[a]];
    i = j;
  }
  return (view.sorted = down);
}

/** The rows shown, in order: the sorted items the filter keeps (indices into `items`). */
function order(view) {
  if (view.order) return view.order;
  const all = sorted(view);
  if (!view.query) return (view.order = all);
  const text = haystack(view);
  const q = view.query;
  view.order = (view.narrow ?? all).filter((i) => text[i].includes(q));
  view.narrow = null;
  return view.order;
}

function draw(table) {
  const view = table.__view;
  const { columns, sortable, sort } = view;
  table.tHead.replaceChildren(el('tr', {}, ...columns.map((c) => {
    if (!sortable) return el('th', { scope: 'col', text: c });
    const th = el('th', { scope: 'col' }, el('button', { type: 'button', text: c, onclick: () => {
      view.sort = { key: c, dir: view.sort.key === c ? -view.sort.dir : 1 };
      view.sorted = null;
      view.order = null;
      draw(table);
    } }));
    if (sort.key === c) th.setAttribute('aria-sort', sort.dir > 0 ? 'ascending' : 'descending');
    return th;
  })));
  const shown = order(view);
  // Decided by all the items, not those shown: the box keeps its size while one types.
  view.virtual = view.items.length > VIRTUAL_AT;
  table.classList.toggle('virtual', view.virtual);
  table.parentElement.classList.toggle('vscroll', view.virtual);
  if (view.count) view.count.textContent = view.query ? `${shown.length} of ${view.items.length}` : `${view.items.length} row(s)`;
  table.dataset.rows = String(shown.length);
  drawBody(table);
}

function row(view, item) {
  const tr = el('tr', {});
  for (const c of view.columns) {
    const v = view.cell(c, item[c], item);
    const td = el('td', { 'data-col': c });
    const cls = view.cellClass?.(c);
    if (cls) td.className = cls;
    td.append(v instanceof Node ? v : document.createTextNode(textOf(v)));
    tr.append(td);
  }
  const cls = view.rowClass?.(item);
  if (cls) tr.className = cls;
  return tr;
}

/** The body: every row, or in a virtual table the rows in view between two spacers. */
function drawBody(table) {
  const view = table.__view;
  const shown = order(view);
  const body = table.tBodies[0];
  if (!view.virtual) {
    body.replaceChildren(...shown.map((i) => row(view, view.items[i])));
    return;
  }
  const box = table.parentElement;
  const first = Math.max(0, Math.floor(box.scrollTop / ROW_HEIGHT) - 10);
  const last = Math.min(shown.length, first + Math.ceil((box.clientHeight || 600) / ROW_HEIGHT) + 20);
  const spacer = (rows) => {
    const td = el('td', { colspan: String(view.columns.length) });
    td.style.height = `${rows * ROW_HEIGHT}px`;
    return el('tr', { class: 'spacer', 'aria-hidden': 'true' }, td);
  };
  body.replaceChildren(spacer(first), ...shown.slice(first, last).map((i) => row(view, view.items[i])), spacer(shown.length - last));
}

/** A table of its own (the saved report's): a scrolling box, filterable and sortable. */
export function dataTable(id, columns, items, cell, { caption } = {}) {
  const table = el('table', { id }, el('thead'), el('tbody'));
  const box = el('div', { class: 'scroll' }, table);
  const wrap = el('div', { class: 'data-table' }, box);
  fillTable(table, columns, items, cell, { sortable: true, filterable: true, caption });
  return wrap;
}
