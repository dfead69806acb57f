// dynago console: reads the node's JSON API with fetch and draws each
// page. No framework, no build step, nothing from another origin. Values
// from the API are always inserted as text (textContent), never as HTML.
'use strict';

const TOKEN_KEY = 'dynago.token';
const SVG = 'http://www.w3.org/2000/svg';
const COLORS = ['#2857a4', '#c0392b', '#1e7b34', '#a86400', '#6c3fa0', '#0f7c8c', '#a83277', '#4d5b6a'];

let me = null; // GET /auth/whoami's answer

// el makes an element: el('td', {class: 'num'}, 'text', child, ...).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function table(headers, rows, id) {
  return el('table', id ? {id} : {},
    el('thead', {}, el('tr', {}, headers.map(h => el('th', h.startsWith('#') ? {class: 'num'} : {}, h.replace(/^#/, ''))))),
    el('tbody', {}, rows));
}

function td(v, cls) { return el('td', cls ? {class: cls} : {}, v); }
function num(v) { return td(v, 'num'); }
function dash(v) { return v === undefined || v === null || v === '' ? '—' : v; }

function bytes(n) {
  if (n === undefined || n === null) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + ' ' + u[i];
}

// b64text decodes a base64 value for display: text when it is UTF-8,
// else hex.
function b64text(b64) {
  const raw = atob(b64 || '');
  const buf = Uint8Array.from(raw, c => c.charCodeAt(0));
  try {
    return new TextDecoder('utf-8', {fatal: true}).decode(buf);
  } catch (e) {
    return '0x' + Array.from(buf, b => b.toString(16).padStart(2, '0')).join('');
  }
}

function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

// api fetches a path of this node's API with the token, if any, and
// returns {status, ok, body} (body parsed as JSON when it is).
async function api(path, opts) {
  opts = opts || {};
  const headers = Object.assign({'Accept': 'application/json'}, opts.headers || {});
  const t = token();
  if (t) headers['Authorization'] = 'Bearer ' + t;
  let r;
  try {
    r = await fetch(path, Object.assign({}, opts, {headers, cache: 'no-store'}));
  } catch (e) {
    return {status: 0, ok: false, body: {error: 'the node did not answer: ' + e.message}};
  }
  const text = await r.text();
  let body = text;
  try { body = JSON.parse(text); } catch (e) { /* not JSON */ }
  return {status: r.status, ok: r.ok, body};
}

// problem explains a failed answer in a box, naming the role when the
// route needs more than the caller has.
function problem(what, res) {
  const msg = res.body && res.body.error ? res.body.error : String(res.body || '');
  if (res.status === 403) {
    return el('div', {class: 'notice', 'data-status': '403'}, what + ': your role (' + (me ? me.role : '?') + ') does not allow this view; it needs the admin role (403).');
  }
  if (res.status === 401) {
    return el('div', {class: 'error', 'data-status': '401'}, what + ': this node requires a token (401). Sign in again.');
  }
  return el('div', {class: 'error', 'data-status': String(res.status)}, what + ': ' + res.status + ' ' + msg);
}

function isAdmin() { return me && me.role === 'admin'; }

// action is a button for a destructive call: enabled for admins only.
function action(label, title, onclick) {
  const b = el('button', {class: 'action', 'data-action': label, onclick});
  b.textContent = label;
  if (!isAdmin()) {
    b.disabled = true;
    b.title = 'needs the admin role';
  } else {
    b.title = title;
  }
  return b;
}

async function post(path, body) {
  const res = await api(path, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: body ? JSON.stringify(body) : undefined});
  if (!res.ok) alert(path + ': ' + res.status + ' ' + (res.body && res.body.error ? res.body.error : ''));
  route();
  return res;
}

// ---- pages ----

function ownerCounts(ring) {
  const primary = {}, first = {};
  for (const p of (ring && ring.preflists) || []) {
    (p.nodes || []).forEach((n, i) => {
      primary[n] = (primary[n] || 0) + 1;
      if (i === 0) first[n] = (first[n] || 0) + 1;
    });
  }
  return {primary, first};
}

async function pageOverview(main) {
  const [members, ring, health] = await Promise.all([api('/cluster/members'), api('/cluster/ring'), api('/health')]);
  main.append(el('h2', {}, 'Cluster overview'));
  const cards = el('div', {class: 'cards'});
  main.append(cards);
  if (!members.ok) { main.append(problem('Members', members)); return; }
  const ms = members.body;
  const counts = ring.ok ? ownerCounts(ring.body) : {primary: {}, first: {}};
  const alive = ms.filter(m => m.alive).length;
  cards.append(
    el('div', {class: 'card'}, el('div', {class: 'muted'}, 'Nodes'), el('div', {class: 'big', id: 'nodes-count'}, String(ms.length))),
    el('div', {class: 'card'}, el('div', {class: 'muted'}, 'Alive'), el('div', {class: 'big ' + (alive === ms.length ? 'ok' : 'bad')}, alive + ' / ' + ms.length)),
    el('div', {class: 'card'}, el('div', {class: 'muted'}, 'Partitions'), el('div', {class: 'big'}, ring.ok ? String(ring.body.partitions) : '—')),
    el('div', {class: 'card'}, el('div', {class: 'muted'}, 'Replicas (N)'), el('div', {class: 'big'}, ring.ok ? String(ring.body.n) : '—')));
  // Version and disk come from each node's status (GET /cluster/nodes:
  // its own /health answer and its store's size); a dash when a node
  // does not report one.
  const status = await api('/cluster/nodes');
  const byName = {};
  if (status.ok && Array.isArray(status.body.nodes)) for (const s of status.body.nodes) byName[s.node] = s;
  const rows = ms.map(m => {
    const s = byName[m.name] || {};
    let version = s.health && s.health.version;
    if (!version && me && m.name === me.node && health.ok) version = health.body.version;
    return el('tr', {'data-node': m.name},
      td(m.name), td(m.state),
      td(m.alive ? 'alive' : 'down', m.alive ? 'ok' : 'bad'),
      td(dash(m.zone)), td(dash(version), 'version'),
      num(counts.primary[m.name] || 0), num(counts.first[m.name] || 0),
      num(s.disk_bytes !== undefined ? bytes(s.disk_bytes) : '—'),
      td(dash(s.error ? 'unreachable: ' + s.error : m.http), s.error ? 'bad' : ''));
  });
  main.append(el('section', {},
    table(['Node', 'State', 'Liveness', 'Zone', 'Version', '#Partitions held', '#First owner of', '#Disk', 'HTTP'], rows, 'members')));
  if (!ring.ok) main.append(problem('Ring', ring));
  if (health.ok && health.body.warning) main.append(el('div', {class: 'error'}, health.body.warning));
}

function ringViz(rg, colorOf) {
  const q = rg.partitions, r = 120, c = 130, w = 28;
  const s = svg('svg', {class: 'ringviz', viewBox: '0 0 260 260', role: 'img', 'aria-label': 'partition ownership'});
  for (let p = 0; p < q; p++) {
    const a0 = 2 * Math.PI * p / q - Math.PI / 2, a1 = 2 * Math.PI * (p + 1) / q - Math.PI / 2;
    const x0 = c + r * Math.cos(a0), y0 = c + r * Math.sin(a0), x1 = c + r * Math.cos(a1), y1 = c + r * Math.sin(a1);
    const ri = r - w;
    const x2 = c + ri * Math.cos(a1), y2 = c + ri * Math.sin(a1), x3 = c + ri * Math.cos(a0), y3 = c + ri * Math.sin(a0);
    const owner = (rg.preflists[p].nodes || [])[0] || '';
    const path = svg('path', {d: `M${x0},${y0} A${r},${r} 0 0 1 ${x1},${y1} L${x2},${y2} A${ri},${ri} 0 0 0 ${x3},${y3} Z`, fill: colorOf(owner), stroke: '#fff', 'stroke-width': q > 128 ? 0.2 : 1});
    path.append(svg('title', {}, 'partition ' + p + ': ' + (rg.preflists[p].nodes || []).join(', ')));
    s.append(path);
  }
  s.append(svg('text', {x: c, y: c, 'text-anchor': 'middle', 'font-size': 14}, 'Q = ' + q));
  return s;
}

async function pageRing(main) {
  const [ring, members, xfer] = await Promise.all([api('/cluster/ring'), api('/cluster/members'), api('/debug/transfers')]);
  main.append(el('h2', {}, 'Ring'));
  if (!ring.ok) { main.append(problem('Ring', ring)); return; }
  const rg = ring.body;
  const aliveOf = {};
  if (members.ok) for (const m of members.body) aliveOf[m.name] = m.alive;
  const names = [...new Set(rg.preflists.flatMap(p => p.nodes || []))].sort();
  const colorOf = n => COLORS[Math.max(0, names.indexOf(n)) % COLORS.length];
  const counts = ownerCounts(rg);
  const sec = el('section', {});
  sec.append(ringViz(rg, colorOf));
  sec.append(el('p', {}, rg.partitions + ' partitions, ' + rg.n + ' replicas each. Colour: each partition\'s first owner.'));
  sec.append(table(['Node', '#First owner of', '#Replica of', 'Liveness'], names.map(n => {
    const sw = el('span', {class: 'swatch'});
    sw.style.background = colorOf(n);
    return el('tr', {'data-node': n}, td([sw, n]), num(counts.first[n] || 0), num(counts.primary[n] || 0),
      td(aliveOf[n] === false ? 'down' : 'alive', aliveOf[n] === false ? 'bad' : 'ok'));
  }), 'owners'));
  main.append(sec);

  // Partitions whose preference list has a down node use fallbacks.
  const degraded = rg.preflists.filter(p => (p.nodes || []).some(n => aliveOf[n] === false));
  main.append(el('h2', {}, 'Fallbacks'));
  main.append(el('section', {}, degraded.length === 0
    ? el('p', {class: 'ok', id: 'fallbacks'}, 'Every partition\'s primaries are alive: no fallback in use.')
    : table(['#Partition', 'Primaries', 'Down'], degraded.map(p => el('tr', {},
      num(p.partition), td((p.nodes || []).join(', ')), td(p.nodes.filter(n => aliveOf[n] === false).join(', '), 'bad'))), 'fallbacks')));

  main.append(el('h2', {}, 'Transfers (this node)'));
  if (!xfer.ok) main.append(problem('Transfers', xfer));
  else {
    const x = xfer.body;
    const sec2 = el('section', {}, el('p', {}, x.node + ' is ' + x.status + ': ' + x.partitions_ready + ' partitions ready, ' + x.partitions_pending + ' pending; pulled ' + x.totals.partitions + ' partitions, ' + x.totals.keys + ' keys, ' + bytes(x.totals.bytes) + ' since it started.'));
    if (x.jobs.length) sec2.append(table(['#Partition', 'Sources', 'State', '#Keys', '#Bytes'], x.jobs.map(j => el('tr', {}, num(j.partition), td(j.sources.join(', ')), td(j.state + (j.error ? ': ' + j.error : '')), num(j.keys), num(bytes(j.bytes)))), 'transfers'));
    else sec2.append(el('p', {class: 'muted', id: 'transfers'}, 'No transfer in flight.'));
    if (x.leaving) sec2.append(el('p', {class: 'warn'}, 'Leaving: ' + x.leaving.partitions_handed_off + ' of ' + x.leaving.partitions_total + ' partitions handed off.'));
    main.append(sec2);
  }
  main.append(el('h2', {}, 'Partitions'));
  main.append(el('section', {}, table(['#Partition', 'Preference list'], rg.preflists.map(p => el('tr', {},
    num(p.partition), td((p.nodes || []).map((n, i) => el('span', {class: 'pill' + (i === 0 ? ' primary' : '')}, n))))), 'partitions')));
}

async function pageRepair(main) {
  const [hints, aae] = await Promise.all([api('/debug/hints'), api('/debug/aae')]);
  main.append(el('h2', {}, 'Hinted handoff'));
  if (!hints.ok) main.append(problem('Hints', hints));
  else {
    const h = hints.body;
    main.append(el('section', {}, el('p', {}, h.node + ' holds ' + h.total + ' hints.'),
      h.targets.length === 0 ? el('p', {class: 'muted', id: 'hints'}, 'No hint backlog.') :
        table(['Target', '#Hints', '#Bytes', '#Oldest (s)', 'State', 'Target alive', '#Delivered'], h.targets.map(t => el('tr', {'data-target': t.target},
          td(t.target), num(t.count), num(bytes(t.bytes)), num(t.oldest_age_seconds.toFixed(1)), td(t.state + (t.last_error ? ': ' + t.last_error : '')),
          td(t.target_alive ? 'yes' : 'no', t.target_alive ? 'ok' : 'bad'), num(t.delivered))), 'hints')));
  }
  main.append(el('h2', {}, 'Anti-entropy'));
  if (!aae.ok) { main.append(problem('Anti-entropy', aae)); return; }
  const a = aae.body, tot = a.totals;
  main.append(el('div', {class: 'cards'}, [
    ['Exchanges', tot.exchanges], ['Differences', tot.differences], ['Keys repaired', tot.keys_repaired],
    ['Tombstones', tot.tombstones], ['Tombstones reaped', tot.tombstones_reaped], ['Rate factor', a.rate_factor.toFixed(2)]
  ].map(([k, v]) => el('div', {class: 'card'}, el('div', {class: 'muted'}, k), el('div', {class: 'big'}, String(v))))));
  const rows = [];
  for (const p of a.partitions) {
    const peers = p.peers.length ? p.peers : [null];
    peers.forEach((x, i) => rows.push(el('tr', {'data-partition': p.partition},
      i === 0 ? num(p.partition) : td(''), i === 0 ? num(p.keys) : td(''), i === 0 ? num(p.tombstones) : td(''),
      td(x ? x.peer : '—'), td(x && x.last_exchange ? x.last_exchange : 'never'),
      td(x ? x.result + (x.error ? ': ' + x.error : '') : '—', x && x.result === 'error' ? 'bad' : ''),
      num(x ? x.differences : 0), num(x ? x.keys_repaired : 0))));
  }
  main.append(el('section', {}, el('p', {}, a.enabled ? 'Exchanges every ' + a.interval_seconds + ' s; tombstones are reaped after ' + a.tombstone_grace_seconds + ' s once every replica has them.' : 'Anti-entropy is off on this node.'),
    table(['#Partition', '#Keys', '#Tombstones', 'Peer', 'Last exchange', 'Result', '#Differences', '#Repaired'], rows, 'aae')));
}

// chart draws series [{name, color, points: [[t, v], ...]}] as an SVG
// line chart over [t0, t1].
function chart(title, unit, series, t0, t1) {
  const W = 800, H = 200, L = 50, B = 20, T = 10;
  const maxV = Math.max(1e-9, ...series.flatMap(s => s.points.map(p => p[1])));
  const x = t => L + (W - L - 10) * (t1 > t0 ? (t - t0) / (t1 - t0) : 1);
  const y = v => T + (H - T - B) * (1 - v / maxV);
  const s = svg('svg', {class: 'chart', viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': title});
  for (let i = 0; i <= 4; i++) {
    const v = maxV * i / 4;
    s.append(svg('line', {x1: L, x2: W - 10, y1: y(v), y2: y(v), stroke: '#e3e6ea'}));
    s.append(svg('text', {x: L - 6, y: y(v) + 4, 'text-anchor': 'end'}, (v < 1 ? v.toFixed(2) : v < 10 ? v.toFixed(1) : Math.round(v)) + unit));
  }
  s.append(svg('text', {x: L, y: H - 4}, new Date(t0).toLocaleTimeString()));
  s.append(svg('text', {x: W - 10, y: H - 4, 'text-anchor': 'end'}, new Date(t1).toLocaleTimeString()));
  for (const sr of series) {
    if (!sr.points.length) continue;
    const d = sr.points.map((p, i) => (i ? 'L' : 'M') + x(p[0]).toFixed(1) + ',' + y(p[1]).toFixed(1)).join(' ');
    s.append(svg('path', {d, fill: 'none', stroke: sr.color, 'stroke-width': 2, 'stroke-dasharray': sr.dash || '', 'data-series': sr.name}));
    for (const p of sr.points) s.append(svg('circle', {cx: x(p[0]), cy: y(p[1]), r: 2.5, fill: sr.color}));
  }
  const legend = el('div', {class: 'legend'}, series.map(sr => {
    const sw = el('span', {class: 'swatch'});
    sw.style.background = sr.color;
    return el('span', {}, sw, sr.name);
  }));
  return el('section', {}, el('h2', {}, title), s, legend);
}

async function pageMetrics(main) {
  const res = await api('/metrics/history');
  main.append(el('h2', {}, 'Requests on this node'));
  if (!res.ok) { main.append(problem('Metrics history', res)); return; }
  const h = res.body;
  main.append(el('p', {class: 'muted'}, 'Requests ' + h.node + ' received: one sample every ' + h.interval_seconds + ' s over the last ' + Math.round(h.window_seconds / 60) + ' minutes (' + h.samples.length + ' samples so far).'));
  if (!h.samples.length) { main.append(el('p', {id: 'no-samples'}, 'No sample yet: the first comes ' + h.interval_seconds + ' s after the node started.')); return; }
  const ops = [...new Set(h.samples.flatMap(s => Object.keys(s.ops)))].sort();
  const ts = h.samples.map(s => Date.parse(s.time));
  const t0 = ts[0], t1 = ts[ts.length - 1];
  const ser = (f, suffix, dashs) => ops.map((op, i) => ({name: op + suffix, color: COLORS[i % COLORS.length], dash: dashs,
    points: h.samples.map((s, j) => [ts[j], s.ops[op] ? f(s.ops[op]) : 0])}));
  main.append(chart('Rate (requests/s)', '', ser(o => o.rate, ''), t0, t1));
  main.append(chart('Latency (ms): p50 solid, p99 dashed', '', ser(o => o.p50_ms, ' p50').concat(ser(o => o.p99_ms, ' p99', '5,4')), t0, t1));
  // The whole window in one row per operation: the requests, their
  // average rate, and the worst p50 and p99 of any sample.
  const secs = h.samples.reduce((a, s) => a + s.seconds, 0);
  main.append(el('section', {}, el('h2', {}, 'Over the ' + h.samples.length + ' samples (' + Math.round(secs) + ' s)'),
    table(['Operation', '#Requests', '#Average rate/s', '#Worst p50 ms', '#Worst p99 ms', '#5xx'], ops.map(op => {
      const os = h.samples.map(s => s.ops[op]).filter(o => o);
      const n = os.reduce((a, o) => a + o.count, 0);
      return el('tr', {'data-op': op}, td(op), num(n), num((secs > 0 ? n / secs : 0).toFixed(2)),
        num(Math.max(0, ...os.map(o => o.p50_ms)).toFixed(2)), num(Math.max(0, ...os.map(o => o.p99_ms)).toFixed(2)),
        num(os.reduce((a, o) => a + o.errors, 0)));
    }), 'window-totals')));
}

async function pageKey(main, key) {
  main.append(el('h2', {}, 'Key inspector'));
  const input = el('input', {type: 'text', name: 'key', id: 'key-input', placeholder: 'a key', value: key || ''});
  main.append(el('section', {}, el('form', {class: 'inline', onsubmit: e => {
    e.preventDefault();
    location.hash = '#key/' + encodeURIComponent(input.value);
  }}, el('label', {for: 'key-input'}, 'Key'), input, el('button', {type: 'submit'}, 'Inspect'))));
  if (!key) return;
  const path = encodeURIComponent(key).replace(/%2F/g, '/');
  const [val, pref, reps] = await Promise.all([api('/kv/' + path), api('/debug/preflist/' + path), api('/debug/replicas/' + path)]);
  const vsec = el('section', {id: 'value'}, el('h2', {}, 'Value (a quorum read)'));
  if (val.status === 0 || (!val.ok && val.status !== 404 && val.status !== 300)) vsec.append(problem('Read', val));
  else if (!val.body.found) vsec.append(el('p', {class: 'muted'}, 'Not found.'));
  else {
    const sibs = val.body.siblings;
    vsec.append(el('p', {}, sibs.length > 1 ? sibs.length + ' siblings (concurrent writes; a write with this context resolves them):' : 'One value:'));
    vsec.append(table(['#', 'Value'], sibs.map((s, i) => el('tr', {class: 'sibling'}, num(i + 1), td(b64text(s.value), 'value'))), 'siblings'));
    vsec.append(el('p', {class: 'muted value'}, 'context: ' + val.body.context));
  }
  main.append(vsec);
  const psec = el('section', {}, el('h2', {}, 'Preference list'));
  if (!pref.ok) psec.append(problem('Preference list', pref));
  else {
    const p = pref.body;
    psec.append(el('p', {}, 'Partition ' + p.partition + ', N = ' + p.n + '.'));
    psec.append(table(['Node', 'Role', 'Liveness'], p.preflist.map(e => el('tr', {'data-node': e.node}, td(e.node), td('primary'), td(e.alive ? 'alive' : 'down', e.alive ? 'ok' : 'bad')))
      .concat(p.fallbacks.map(e => el('tr', {'data-node': e.node}, td(e.node), td('fallback for ' + e.for), td('alive', 'ok')))), 'preflist'));
  }
  main.append(psec);
  const rsec = el('section', {}, el('h2', {}, 'Replicas (each node\'s stored versions)'));
  if (!reps.ok) rsec.append(problem('Replicas', reps));
  else {
    const rows = [];
    for (const r of reps.body.replicas) {
      const who = [r.node, el('span', {class: 'pill ' + (r.primary ? 'primary' : 'fallback')}, r.primary ? 'primary' : 'hint for ' + r.for)];
      if (r.error) { rows.push(el('tr', {'data-node': r.node}, td(who), td('—'), td('—'), td(r.error, 'bad'))); continue; }
      if (!r.versions.length) { rows.push(el('tr', {'data-node': r.node}, td(who), td('—'), td('—'), td('nothing stored', 'muted'))); continue; }
      r.versions.forEach((v, i) => rows.push(el('tr', {'data-node': r.node, class: 'replica-version'},
        td(i === 0 ? who : ''), td(v.dot, 'value'), td(v.deleted ? 'tombstone' : 'value'), td(v.deleted ? '' : b64text(v.value), 'value'))));
    }
    rsec.append(table(['Node', 'Dot', 'Kind', 'Value'], rows, 'replicas'));
  }
  main.append(rsec);
}

async function pageStaging(main) {
  const [plan, members] = await Promise.all([api('/cluster/plan'), api('/cluster/members')]);
  main.append(el('h2', {}, 'Staged changes'));
  if (!isAdmin()) main.append(el('div', {class: 'notice', id: 'readonly'}, 'Read-only: staging, committing, leaving and removing need the admin role' + (me ? ' (yours is ' + me.role + ')' : '') + '.'));
  const sec = el('section', {});
  main.append(sec);
  if (!plan.ok) sec.append(problem('Plan', plan));
  else {
    const p = plan.body;
    sec.append(el('p', {id: 'staged'}, p.staged ? 'Staging is ON: joins, leaves and removes wait for a commit.' : 'Staging is off: changes are placed as they are made.'));
    sec.append(p.pending.length === 0 ? el('p', {class: 'muted', id: 'pending'}, 'No pending change.') :
      table(['Change', 'Node', 'Zone'], p.pending.map(c => el('tr', {}, td(c.op), td(c.node), td(dash(c.zone)))), 'pending'));
    if (p.pending.length) {
      sec.append(el('h2', {}, 'Plan'));
      sec.append(el('p', {}, 'Moves ' + p.moves.partitions + ' partition replicas, about ' + p.moves.keys + ' keys (' + bytes(p.moves.bytes) + '), ~' + Math.round(p.moves.seconds) + ' s. Largest share ' + p.balance.max_share.toFixed(2) + ' (bound ' + p.balance.bound + ').'));
      sec.append(table(['Node', '#Before', '#After', '#Gains', '#Loses'], p.nodes.map(n => el('tr', {}, td(n.node), num(n.partitions_before), num(n.partitions_after), num(n.gain.length), num(n.lose.length))), 'plan'));
      for (const w of p.warnings || []) sec.append(el('div', {class: 'notice'}, w));
    }
  }
  // Offered to everyone, enabled for admins only: a reader sees what an
  // admin could do here.
  const pending = plan.ok ? plan.body.pending.length : 0;
  sec.append(el('p', {},
    action('Stage', 'hold joins, leaves and removes until a commit', () => confirm('Stage cluster changes?') && post('/cluster/stage')), ' ',
    action('Commit', 'place every pending change now', () => confirm('Commit ' + pending + ' pending changes?') && post('/cluster/commit'))));
  if (members.ok) {
    main.append(el('h2', {}, 'Members'));
    main.append(el('section', {}, table(['Node', 'State', 'Liveness', 'Action'], members.body.map(m => el('tr', {'data-node': m.name},
      td(m.name), td(m.state), td(m.alive ? 'alive' : 'down', m.alive ? 'ok' : 'bad'),
      td(me && m.name === me.node
        ? action('Leave', 'this node hands its data over and leaves', () => confirm('Make ' + m.name + ' leave the cluster?') && post('/cluster/leave'))
        : (m.alive ? el('span', {class: 'muted'}, 'leave from its own console') : action('Remove', 'force-remove this dead node', () => confirm('Remove ' + m.name + '?') && post('/cluster/remove', {node: m.name})))))), 'staging-members')));
  } else {
    main.append(problem('Members', members));
  }
}

// ---- sign-in and routing ----

function signIn(main, res) {
  main.dataset.state = 'signin';
  const input = el('input', {type: 'password', id: 'token-input', autocomplete: 'off', placeholder: 'token'});
  main.replaceChildren(el('section', {class: 'signin', id: 'signin'},
    el('h2', {}, 'Sign in'),
    el('p', {}, res.status === 401 ? 'This node requires a token (401): ' + ((res.body && res.body.error) || '') : 'Could not ask the node who you are: ' + res.status),
    el('form', {class: 'inline', onsubmit: e => {
      e.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      start();
    }}, input, el('button', {type: 'submit'}, 'Sign in')),
    el('p', {class: 'muted'}, 'Make one with `dynago token create --role read|write|admin`. The token stays in this tab only (sessionStorage).')));
  document.getElementById('who').replaceChildren();
}

const pages = {overview: pageOverview, ring: pageRing, repair: pageRepair, metrics: pageMetrics, key: pageKey, staging: pageStaging};

async function route() {
  const main = document.getElementById('main');
  const hash = location.hash.replace(/^#/, '');
  const [name, ...rest] = hash.split('/');
  const page = pages[name] ? name : 'overview';
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.page === page);
  const arg = rest.length ? decodeURIComponent(rest.join('/')) : '';
  const fresh = el('main', {id: 'main', 'data-page': page, 'data-state': 'loading'});
  main.replaceWith(fresh);
  try {
    await pages[page](fresh, arg);
    fresh.dataset.state = 'ready';
  } catch (e) {
    fresh.append(el('div', {class: 'error'}, 'The console failed: ' + e.message));
    fresh.dataset.state = 'failed';
  }
}

async function start() {
  // A link may carry the token in the fragment (#token=...): it never
  // reaches a server; keep it in this tab and drop it from the address.
  const m = location.hash.match(/^#token=([^&]*)(?:&(.*))?$/);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + (m[2] ? '#' + m[2] : ''));
  }
  const res = await api('/auth/whoami');
  if (!res.ok) { signIn(document.getElementById('main'), res); return; }
  me = res.body;
  const who = document.getElementById('who');
  who.replaceChildren(el('span', {id: 'whoami', 'data-role': me.role}, me.auth ? (me.principal + ' (' + me.role + ') on ' + me.node) : me.node + ' (no authentication: every caller is admin)'));
  if (me.auth) who.append(el('button', {class: 'secondary', onclick: () => { sessionStorage.removeItem(TOKEN_KEY); location.reload(); }}, 'Sign out'));
  await route();
}

window.addEventListener('hashchange', () => { if (me) route(); });
document.addEventListener('DOMContentLoaded', start);
