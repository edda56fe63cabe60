// What the triage views show, derived from a result: pure functions, no DOM
// (shared by the page, the saved report and the Node tests).

/** A colour per index, far apart around the wheel, readable on light and dark. */
export const colour = (i) => `hsl(${(i * 137.508) % 360}, 62%, 50%)`;

/**
 * Every kept matched event of every rule, oldest first: `{ t, m, rule, dest, user, remote }`
 * (`t` in ms since the epoch; events whose time cannot be read are counted in `untimed`).
 * The flagship's matches are the result's top-level `matches`, each pack rule's its own.
 */
export function hitsOf(result) {
  const hits = [];
  let untimed = 0;
  result.results.forEach((r, rule) => {
    const matches = r.rule.flagship ? result.matches : r.matches;
    for (const m of matches) {
      const t = Date.parse(m._time);
      if (!Number.isFinite(t)) { untimed += 1; continue; }
      hits.push({ t, m, rule, dest: m.dest ?? '', user: m.user ?? '', remote: m.remote_target ?? '' });
    }
  });
  hits.sort((a, b) => a.t - b.t);
  return { hits, untimed };
}

/** Does a hit pass the filter `{ from, to, host }` (each optional)? */
export function passes(hit, filter) {
  if (filter.from != null && hit.t < filter.from) return false;
  if (filter.to != null && hit.t > filter.to) return false;
  if (filter.host != null && hit.dest.toLowerCase() !== filter.host && hit.remote.toLowerCase() !== filter.host) return false;
  return true;
}

export const filtering = (filter) => filter.from != null || filter.to != null || filter.host != null;

/**
 * The lateral-movement edges: from the host where a process named a remote
 * host (`dest`) to that host (`remote_target`), over every rule's matches;
 * with users, count, first and last time, and the hits themselves.
 */
export function edgesOf(hits) {
  const edges = new Map();
  for (const h of hits) {
    if (!h.remote) continue;
    const key = `${h.dest.toLowerCase()}\u0000${h.remote.toLowerCase()}`;
    let e = edges.get(key);
    if (!e) {
      e = { from: h.dest, to: h.remote, users: new Set(), rules: new Set(), count: 0, first: h.t, last: h.t, hits: [] };
      edges.set(key, e);
    }
    e.users.add(h.user);
    e.rules.add(h.rule);
    e.count += 1;
    e.first = Math.min(e.first, h.t);
    e.last = Math.max(e.last, h.t);
    e.hits.push(h);
  }
  return [...edges.values()];
}

/** An ISO time in the result's time zone (`UTC` or `±HH:MM`). */
export function showTime(t, tz) {
  const off = offsetMinutes(tz);
  const d = new Date(t + off * 60000).toISOString().slice(0, 19).replace('T', ' ');
  return off === 0 ? `${d} UTC` : `${d} ${tz}`;
}

/** `YYYY-MM-DD HH:MM:SS` in the zone `tz`, as the range form shows and reads it. */
export function localTime(t, tz) {
  return new Date(t + offsetMinutes(tz) * 60000).toISOString().slice(0, 19).replace('T', ' ');
}

/** The inverse of `localTime` (seconds optional); NaN for anything else. */
export function parseLocalTime(text, tz) {
  const m = /^\s*(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d)(:\d\d(?:\.\d+)?)?\s*$/.exec(text);
  if (!m) return NaN;
  return Date.parse(`${m[1]}T${m[2]}${m[3] ?? ':00'}Z`) - offsetMinutes(tz) * 60000;
}

export function offsetMinutes(tz) {
  const m = /^([+-])(\d\d):?(\d\d)$/.exec(tz ?? '');
  return m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0;
}

/** The times of the hits of each risk object (a host's `dest` or a user), by lower-case name. */
export function timesByObject(hits) {
  const by = new Map();
  const add = (name, t) => {
    if (!name) return;
    const key = name.toLowerCase();
    let list = by.get(key);
    if (!list) by.set(key, (list = []));
    list.push(t);
  };
  for (const h of hits) {
    add(h.dest, h.t);
    if (h.user.toLowerCase() !== h.dest.toLowerCase()) add(h.user, h.t);
  }
  return by;
}
