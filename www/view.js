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

/**
 * A table that sorts by a column (its header is a button) and filters as you
 * type (every cell's text, case-insensitive). `cell(column, value, item)`
 * returns a Node or a value shown as text.
 */
export function dataTable(id, columns, items, cell = (c, v) => textOf(v), { caption } = {}) {
  const table = el('table', { id }, el('thead'), el('tbody'));
  const filter = el('input', { type: 'search', placeholder: 'filter…', 'aria-label': `filter ${caption ?? id}`, class: 'table-filter' });
  const count = el('span', { class: 'muted' });
  let sort = { key: null, dir: 1 };
  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    let shown = q ? items.filter((it) => columns.some((c) => textOf(it[c]).toLowerCase().includes(q))) : items.slice();
    if (sort.key) {
      const k = sort.key;
      shown.sort((a, b) => (typeof a[k] === 'number' && typeof b[k] === 'number' ? a[k] - b[k] : textOf(a[k]).localeCompare(textOf(b[k]))) * sort.dir);
    }
    table.tHead.replaceChildren(el('tr', {}, ...columns.map((c) => {
      const th = el('th', { scope: 'col' }, el('button', { type: 'button', text: c, onclick: () => { sort = { key: c, dir: sort.key === c ? -sort.dir : 1 }; draw(); } }));
      if (sort.key === c) th.setAttribute('aria-sort', sort.dir > 0 ? 'ascending' : 'descending');
      return th;
    })));
    table.tBodies[0].replaceChildren(...shown.map((it) => el('tr', {}, ...columns.map((c) => {
      const v = cell(c, it[c], it);
      return el('td', { 'data-col': c }, v instanceof Node ? v : textOf(v));
    }))));
    count.textContent = q ? `${shown.length} of ${items.length}` : `${items.length}`;
  };
  filter.addEventListener('input', draw);
  draw();
  return el('div', { class: 'data-table' }, el('div', { class: 'table-tools' }, filter, ' ', count), el('div', { class: 'scroll' }, table));
}
