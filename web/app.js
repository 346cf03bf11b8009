// vramguard's dashboard (docs/dashboard.md): plain JavaScript over the daemon's JSON API, served
// by the daemon itself (no framework, no build step). Everything shown comes from:
//   GET /v1/status              services, daemon                (on load, on events, every 5 s)
//   GET /v1/history             memory per GPU by holder        (on load, then polled)
//   GET /v1/jobs                jobs: estimate vs observed      (on load, on job events)
//   GET /v1/events?kind=…       incidents and job refusals      (on load)
//   GET /v1/events?follow=1     live events (SSE)               (one stream, resumed by id)
//   POST /v1/services/NAME/ACTION                               (the buttons; token needed)
// Service output reaches the page through events: every text is set with textContent, never
// parsed as HTML.
'use strict';

(() => {
  const TOKEN_KEY = 'vramguard.token';
  const HISTORY_SECONDS = 3600;
  const INCIDENT_KINDS = ['oom', 'oom-probable', 'sticky', 'device-lost', 'port-clash',
                          'gpu-error', 'host-oom', 'stuck'];
  const MAX_INCIDENTS = 50;
  const MAX_REFUSALS = 200;  // job-refused events kept for their suggestions (the table shows 25 jobs)
  const MAX_SERIES = 16;  // named holders per chart; the rest is summed as "other"
  const STATUS_EVERY_MS = 5000;  // besides events: uptimes and VRAM move without one
  const $ = (id) => document.getElementById(id);

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY) || '',
    lastEventId: 0,
    services: new Map(),   // name → row elements
    refusals: new Map(),   // job id → job-refused event data (its suggestions)
    incidents: [],         // newest first
    history: null,         // {interval_ms, gpus, samples}
    noHistory: false,      // the daemon has no GET /v1/history
    charts: new Map(),     // gpu index → {plot, keys, card}
    stream: null,          // the live event stream: {close()}
    timers: {},
  };

  // ---- formatting ----------------------------------------------------------------------------
  function fmtBytes(n) {
    if (n === null || n === undefined) return '–';
    const units = [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]];
    for (const [unit, size] of units) {
      if (Math.abs(n) >= size) return (n / size).toFixed(n >= 10 * size ? 1 : 2) + ' ' + unit;
    }
    return n + ' B';
  }
  function fmtDuration(s) {
    if (s === null || s === undefined) return '–';
    s = Math.floor(s);
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
    return Math.floor(s / 86400) + ' d ' + Math.floor((s % 86400) / 3600) + ' h';
  }
  function fmtTime(ms) {
    return ms ? new Date(ms).toLocaleTimeString([], {hour12: false}) : '–';
  }
  function fmtParams(p) {
    if (!p || typeof p !== 'object') return '';
    return Object.entries(p).map(([k, v]) => k + '=' + (typeof v === 'object' ? JSON.stringify(v) : v)).join(' ');
  }
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k.startsWith('data-')) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) e.append(c === null || c === undefined ? '' : c);
    return e;
  }

  // ---- the API -------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, body) {
      super(body && body.error ? body.error : 'HTTP ' + status);
      this.status = status;
      this.hint = body && body.hint ? body.hint : '';
    }
  }

  function authHeaders(extra) {
    const h = Object.assign({}, extra);
    if (state.token) h.Authorization = 'Bearer ' + state.token;
    return h;
  }

  async function api(method, path, body) {
    const init = {method, cache: 'no-store', headers: authHeaders(body === undefined ? {} : {'Content-Type': 'application/json'})};
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await fetch(path, init);
    const text = await response.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
    if (!response.ok) throw new ApiError(response.status, json);
    return json;
  }

  function describe(err) {
    if (err instanceof ApiError) {
      return err.status + ': ' + err.message + (err.hint ? ' (' + err.hint + ')' : '');
    }
    return String(err && err.message ? err.message : err);
  }

  // One banner for reads that fail; the last reason wins, cleared by the next success.
  const problems = new Map();
  function setProblem(what, err) {
    if (err) {
      let text = what + ': ' + describe(err);
      if (err instanceof ApiError && err.status === 401) {
        text = 'This daemon needs its API token to show ' + what + ': enter it above. (' + describe(err) + ')';
      }
      problems.set(what, text);
    } else {
      problems.delete(what);
    }
    const banner = $('banner');
    banner.textContent = [...problems.values()].join('\n');
    banner.hidden = problems.size === 0;
  }

  // Runs fn at most once per `ms`, the last call winning (events come in bursts).
  function debounce(name, ms, fn) {
    return () => {
      if (state.timers[name]) return;
      state.timers[name] = setTimeout(() => { state.timers[name] = null; fn(); }, ms);
    };
  }

  // ---- services ------------------------------------------------------------------------------
  async function refreshStatus() {
    let status;
    try {
      status = await api('GET', '/v1/status');
      setProblem('the services', null);
    } catch (err) {
      setProblem('the services', err);
      return;
    }
    const d = status.daemon;
    $('daemon').textContent = 'v' + d.version + ' · pid ' + d.pid + ' · up ' + fmtDuration(d.uptime_s) +
        (d.gpu_available ? '' : ' · no GPU driver: ' + (d.gpu_problem || 'VRAM checks off'));
    renderServices(status.services);
  }

  function renderServices(services) {
    const body = $('services').tBodies[0];
    const seen = new Set();
    for (const s of services) {
      seen.add(s.name);
      let row = state.services.get(s.name);
      if (!row) {
        row = {tr: el('tr', {'data-service': s.name})};
        row.name = el('td', {class: 'name'}, s.name);
        row.state = el('td', {'data-field': 'state'});
        row.vram = el('td', {'data-field': 'vram', class: 'num'});
        row.restarts = el('td', {'data-field': 'restarts', class: 'num'});
        row.uptime = el('td', {'data-field': 'uptime', class: 'num'});
        row.incident = el('td', {'data-field': 'incident', class: 'sentence'});
        const actions = el('td', {class: 'actions'});
        for (const action of ['start', 'stop', 'restart']) {
          actions.append(el('button', {type: 'button', 'data-action': action, 'data-service': s.name,
                                       title: action + ' ' + s.name}, action));
        }
        row.tr.append(row.name, row.state, row.vram, row.restarts, row.uptime, row.incident, actions);
        state.services.set(s.name, row);
        body.append(row.tr);
      }
      row.state.textContent = s.state;
      row.state.className = 'state state-' + s.state;
      row.state.title = s.detail || '';
      const vram = Object.values(s.vram_bytes || {}).reduce((a, b) => a + b, 0);
      row.vram.textContent = s.pid ? fmtBytes(vram) : '–';
      row.restarts.textContent = String(s.restarts);
      row.uptime.textContent = fmtDuration(s.uptime_s);
      const inc = s.last_incident;
      row.incident.textContent = inc ? inc.kind + ' at ' + fmtTime(inc.time_unix_ms) + ': ' + inc.sentence : '';
    }
    for (const [name, row] of state.services) {
      if (!seen.has(name)) { row.tr.remove(); state.services.delete(name); }
    }
  }

  async function act(service, action, button) {
    const msg = $('action-message');
    button.disabled = true;
    msg.className = 'pending';
    msg.textContent = action + ' ' + service + '…';
    try {
      await api('POST', '/v1/services/' + encodeURIComponent(service) + '/' + action);
      msg.className = 'ok';
      msg.textContent = action + ' ' + service + ': accepted; the table follows its events.';
    } catch (err) {
      msg.className = 'error';
      let text = action + ' ' + service + ' refused: ' + describe(err);
      if (err instanceof ApiError && err.status === 401) text += ' Enter the API token above.';
      msg.textContent = text;
    } finally {
      button.disabled = false;
      scheduleStatus();
    }
  }

  // ---- memory history (uPlot) ----------------------------------------------------------------
  // New samples are polled from /v1/history?seconds=<a few intervals> once per sampling interval
  // rather than taken from events: the daemon emits no event per sample, and this reads exactly
  // the samples the daemon recorded (the same holder attribution as the first load), a handful
  // per request, under the same read permission as the rest of the page.
  const KIND_COLORS = {
    service: ['#2f6fb0', '#3c9d5d', '#7a5fb8', '#1f9aa8', '#5a7d2a', '#2a4f8f', '#8f6fd0', '#3f8f7f'],
    foreign: ['#e08a2c', '#c9652a', '#d4a017', '#b85c38'],
    ghost: ['#c0392b', '#e74c3c'],
    other: ['#9a9a9a'],
  };
  function colorFor(kind, name) {
    const palette = KIND_COLORS[kind] || KIND_COLORS.other;
    let h = 0;
    for (const c of name) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    return palette[h % palette.length];
  }

  function maxSamples() {
    const interval = state.history && state.history.interval_ms > 0 ? state.history.interval_ms : 2000;
    return Math.min(20000, Math.ceil(HISTORY_SECONDS * 1000 / interval) + 1);
  }

  async function loadHistory() {
    try {
      state.history = await api('GET', '/v1/history?seconds=' + HISTORY_SECONDS);
      setProblem('the memory history', null);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        state.noHistory = true;  // an older daemon: asking again every interval would only fail
        $('history-note').textContent = 'This daemon keeps no memory history (GET /v1/history: ' + describe(err) + ').';
        $('history-note').hidden = false;
        return false;
      }
      setProblem('the memory history', err);
      return false;
    }
    renderCharts();
    return true;
  }

  async function pollHistory() {
    const h = state.history;
    if (!h) { await loadHistory(); return; }
    const seconds = Math.max(10, Math.ceil(h.interval_ms * 3 / 1000));
    let recent;
    try {
      recent = await api('GET', '/v1/history?seconds=' + seconds);
      setProblem('the memory history', null);
    } catch (err) {
      setProblem('the memory history', err);
      return;
    }
    const last = h.samples.length ? h.samples[h.samples.length - 1].t_ms : 0;
    const fresh = recent.samples.filter((s) => s.t_ms > last);
    const changed = h.problem !== recent.problem || state.charts.size !== recent.gpus.length;
    h.gpus = recent.gpus;
    h.interval_ms = recent.interval_ms;
    h.problem = recent.problem;
    if (fresh.length === 0 && !changed) return;
    h.samples.push(...fresh);
    // By the daemon's clock (the newest sample), not the browser's: they may differ.
    const cutoff = h.samples.length ? h.samples[h.samples.length - 1].t_ms - HISTORY_SECONDS * 1000 : 0;
    let drop = 0;
    while (drop < h.samples.length && h.samples[drop].t_ms < cutoff) drop++;
    drop = Math.max(drop, h.samples.length - maxSamples());
    if (drop > 0) h.samples.splice(0, drop);
    renderCharts();
  }

  // The chart's columns for one GPU: x (unix seconds), then one stacked series per holder (the
  // largest over the window at the bottom), then the driver's used memory as a line.
  function seriesFor(gpu) {
    const samples = state.history.samples;
    const totals = new Map();  // key → {kind, name, sum}
    const rows = samples.map((s) => (s.gpus || []).find((g) => g.index === gpu.index) || null);
    for (const row of rows) {
      if (!row) continue;
      for (const holder of row.holders || []) {
        const key = holder.kind + '\u0000' + holder.name;
        const t = totals.get(key) || {kind: holder.kind, name: holder.name, sum: 0};
        t.sum += holder.bytes;
        totals.set(key, t);
      }
    }
    let keys = [...totals.entries()].sort((a, b) => b[1].sum - a[1].sum).map(([k]) => k);
    const other = 'other\u0000other';
    if (keys.length > MAX_SERIES) keys = keys.filter((k) => k !== other).slice(0, MAX_SERIES - 1).concat([other]);
    const kept = new Set(keys);
    if (!kept.has(other) && [...totals.keys()].some((k) => !kept.has(k))) { keys.push(other); kept.add(other); }
    const raw = keys.map(() => new Array(rows.length).fill(null));
    const used = new Array(rows.length).fill(null);
    rows.forEach((row, i) => {
      if (!row) return;
      used[i] = row.used_bytes;
      keys.forEach((_, k) => { raw[k][i] = 0; });
      for (const holder of row.holders || []) {
        let k = keys.indexOf(holder.kind + '\u0000' + holder.name);
        if (k < 0) k = keys.indexOf(other);
        if (k >= 0) raw[k][i] += holder.bytes;
      }
    });
    const xs = samples.map((s) => s.t_ms / 1000);
    const meta = keys.map((k) => ({kind: totals.has(k) ? totals.get(k).kind : 'other', name: k.split('\u0000')[1]}));
    return {xs, raw, used, meta, signature: keys.join('\u0001')};
  }

  function renderCharts() {
    const h = state.history;
    if (typeof uPlot === 'undefined') return;  // said in the banner
    const box = $('gpus');
    const note = $('history-note');
    if (h.problem) {
      note.textContent = 'The driver did not answer the last sample: ' + h.problem;
    } else if (!h.gpus || h.gpus.length === 0) {
      note.textContent = h.samples.length ? 'No GPU: the daemon sees none.' : 'No sample yet: the first is taken within ' + fmtDuration(h.interval_ms / 1000) + '.';
    }
    note.hidden = !h.problem && h.gpus && h.gpus.length > 0;
    const present = new Set();
    for (const gpu of h.gpus || []) {
      present.add(gpu.index);
      const s = seriesFor(gpu);
      let chart = state.charts.get(gpu.index);
      if (!chart) {
        const card = el('div', {class: 'gpu', 'data-gpu': String(gpu.index)});
        card.append(el('h3', {}, ''), el('div', {class: 'chart'}));
        box.append(card);
        chart = {card, plot: null, signature: null};
        state.charts.set(gpu.index, chart);
      }
      const now = s.used.length ? s.used[s.used.length - 1] : null;
      chart.card.querySelector('h3').textContent = 'GPU ' + gpu.index + ' · ' + gpu.name + ' · ' +
          (now === null ? '' : fmtBytes(now) + ' used of ') + fmtBytes(gpu.total_bytes);
      // Stacked: series k shows the sum of holders 0..k; drawn from the top of the stack down, so
      // each lower band paints over the one above it.
      const stacked = [];
      let acc = s.xs.map(() => 0);
      s.raw.forEach((col) => {
        acc = acc.map((a, i) => (col[i] === null ? null : (a || 0) + col[i]));
        stacked.push(acc);
      });
      const order = s.raw.map((_, k) => k).reverse();
      const data = [s.xs, ...order.map((k) => stacked[k]), s.used];
      if (!chart.plot || chart.signature !== s.signature || chart.total !== gpu.total_bytes) {
        if (chart.plot) chart.plot.destroy();
        const stepped = uPlot.paths.stepped({align: 1});
        const series = [{}];
        for (const k of order) {
          const m = s.meta[k];
          const color = colorFor(m.kind, m.name);
          series.push({
            label: m.kind === 'service' ? m.name : m.name + ' (' + m.kind + ')',
            // Steps, not slopes: a sample's memory is held until the next one.
            stroke: color, fill: color, width: 1, points: {show: false}, paths: stepped,
            value: (u, v, si, idx) => (idx === null || idx === undefined ? '–' : fmtBytes(s.raw[k][idx])),
          });
        }
        series.push({label: 'used (driver)', stroke: '#111', width: 1.5, dash: [4, 3], points: {show: false}, paths: stepped,
                     value: (u, v) => fmtBytes(v)});
        const width = Math.max(320, chart.card.clientWidth - 24);
        chart.plot = new uPlot({
          width, height: 220,
          series,
          scales: {x: {time: true}, y: {range: [0, gpu.total_bytes || null]}},
          // Ticks at powers of two (1, 2, 4 … GiB), labelled without trailing zeros.
          axes: [{}, {size: 70, incrs: Array.from({length: 16}, (_, i) => 2 ** (24 + i)),
                      values: (u, vals) => vals.map((v) => fmtBytes(v).replace(/\.0+ /, ' '))}],
          legend: {live: true},
          cursor: {drag: {x: false, y: false}},
        }, data, chart.card.querySelector('.chart'));
        chart.signature = s.signature;
        chart.total = gpu.total_bytes;
        chart.seriesRaw = s.raw;
      } else {
        // Same holders: keep the chart, give its value formatters the new raw columns.
        s.raw.forEach((col, k) => { chart.seriesRaw[k] = col; });
        chart.plot.setData(data);
      }
    }
    for (const [index, chart] of state.charts) {
      if (!present.has(index)) { chart.plot && chart.plot.destroy(); chart.card.remove(); state.charts.delete(index); }
    }
  }

  function resizeCharts() {
    for (const chart of state.charts.values()) {
      if (chart.plot) chart.plot.setSize({width: Math.max(320, chart.card.clientWidth - 24), height: 220});
    }
  }

  // ---- jobs ----------------------------------------------------------------------------------
  function keepRefusal(data) {
    if (!data || data.job === undefined) return;
    state.refusals.delete(data.job);
    state.refusals.set(data.job, data);
    while (state.refusals.size > MAX_REFUSALS) state.refusals.delete(state.refusals.keys().next().value);
  }

  async function loadRefusals() {
    try {
      const r = await api('GET', '/v1/events?kind=job-refused&limit=50');
      for (const e of r.events) keepRefusal(e.data);
    } catch (err) {
      setProblem('job refusals', err);
    }
  }

  async function refreshJobs() {
    let r;
    try {
      r = await api('GET', '/v1/jobs?limit=25');
      setProblem('the jobs', null);
    } catch (err) {
      setProblem('the jobs', err);
      return;
    }
    const body = $('jobs').tBodies[0];
    body.replaceChildren();
    for (const j of r.jobs) {
      const observed = j.observed_peak_bytes !== null && j.observed_peak_bytes !== undefined
        ? fmtBytes(j.observed_peak_bytes) + (j.observation ? ' (' + j.observation + ')' : '')
        : j.sampled_peak_bytes !== undefined ? fmtBytes(j.sampled_peak_bytes) + ' so far' : '–';
      const tr = el('tr', {'data-job': String(j.id)},
        el('td', {class: 'num'}, String(j.id)),
        el('td', {}, j.service),
        el('td', {class: 'state job-' + j.state, title: j.reason || ''}, j.state),
        el('td', {class: 'params'}, fmtParams(j.params)),
        el('td', {class: 'num'}, fmtBytes(j.estimate_bytes)),
        el('td', {class: 'num'}, observed),
        el('td', {class: 'num'}, fmtTime(j.submitted_unix_ms)));
      body.append(tr);
      if (j.state === 'refused') {
        const refusal = state.refusals.get(j.id);
        const cell = el('td', {colSpan: 7, class: 'refusal'});
        cell.append(el('div', {class: 'reason'}, j.reason || 'refused'));
        if (refusal && refusal.suggestions && refusal.suggestions.length) {
          const list = el('ul', {class: 'suggestions'});
          for (const sug of refusal.suggestions) {
            list.append(el('li', {}, 'try ' + fmtParams(sug.params) + ' (~' + fmtBytes(sug.estimate_bytes) + ')'));
          }
          cell.append(list);
        }
        body.append(el('tr', {class: 'refusal-row', 'data-refusal': String(j.id)}, cell));
      }
    }
    $('jobs').hidden = r.jobs.length === 0;
    $('jobs-note').hidden = r.jobs.length !== 0;
  }

  // ---- incidents -----------------------------------------------------------------------------
  async function loadIncidents() {
    const lists = await Promise.all(INCIDENT_KINDS.map((kind) =>
      api('GET', '/v1/events?kind=' + encodeURIComponent(kind) + '&limit=20').then((r) => r.events, (err) => {
        setProblem('the incidents', err);
        return [];
      })));
    const all = lists.flat().sort((a, b) => b.id - a.id).slice(0, MAX_INCIDENTS);
    state.incidents = all;
    renderIncidents();
  }

  function renderIncidents() {
    const list = $('incidents');
    list.replaceChildren();
    for (const e of state.incidents) {
      const sentence = (e.data && e.data.explanation) || e.message;
      const li = el('li', {'data-event': String(e.id), class: 'incident kind-' + e.kind},
        el('span', {class: 'when'}, fmtTime(e.time_unix_ms)), ' ',
        el('span', {class: 'kind'}, e.kind), ' ',
        el('span', {class: 'service'}, e.service || 'daemon'), ' ',
        el('span', {class: 'sentence'}, sentence));
      if (e.data && e.data.action) li.append(' ', el('span', {class: 'action'}, '→ ' + e.data.action));
      list.append(li);
    }
    $('incidents-note').hidden = state.incidents.length !== 0;
  }

  // ---- live events ---------------------------------------------------------------------------
  const scheduleStatus = debounce('status', 100, refreshStatus);
  const scheduleJobs = debounce('jobs', 150, refreshJobs);

  // The state a service's event puts it in: shown at once, then confirmed by /v1/status.
  const EVENT_STATE = {
    'starting': 'starting', 'spawned': 'starting', 'waiting-for-vram': 'waiting-for-vram',
    'ready': 'running', 'adopted': 'running', 'stopping': 'stopping', 'release-hook': 'stopping',
    'stopped': 'stopped', 'backoff': 'backoff', 'failed': 'failed',
  };

  function onEvent(e) {
    if (!e || typeof e.id !== 'number' || e.id <= state.lastEventId) return;
    state.lastEventId = e.id;
    const row = e.service ? state.services.get(e.service) : null;
    if (row && EVENT_STATE[e.kind]) {
      row.state.textContent = EVENT_STATE[e.kind];
      row.state.className = 'state state-' + EVENT_STATE[e.kind];
      row.state.title = e.message || '';
    }
    if (e.service) scheduleStatus();
    if (e.kind.startsWith('job-') || e.kind === 'swap-out' || e.kind === 'idle-unload') {
      if (e.kind === 'job-refused') keepRefusal(e.data);
      scheduleJobs();
    }
    if (INCIDENT_KINDS.includes(e.kind)) {
      if (state.incidents.some((i) => i.id === e.id)) return;  // also in the first load
      state.incidents.unshift(e);
      state.incidents.length = Math.min(state.incidents.length, MAX_INCIDENTS);
      renderIncidents();
    } else if (e.kind === 'incident-updated' && e.data) {
      const first = state.incidents.find((i) => i.id === e.data.updates_event_id);
      if (first) {
        first.data = Object.assign({}, first.data, {explanation: e.data.explanation, incident: e.data.incident});
        renderIncidents();
      }
    }
  }

  function setLive(on, text) {
    const live = $('live');
    live.dataset.state = on ? 'on' : 'off';
    live.textContent = 'live updates: ' + text;
  }

  // Without a token (or with http_public_read) the browser's EventSource follows the stream and
  // resumes by itself with Last-Event-ID. EventSource cannot send an Authorization header, so
  // with a token the stream is read through fetch(), resuming the same way by hand.
  function connectEvents() {
    if (state.stream) state.stream.close();
    state.stream = state.token ? fetchStream() : eventSourceStream();
  }

  function eventSourceStream() {
    const source = new EventSource('/v1/events?follow=1&after_id=' + state.lastEventId);
    let retry = null;
    source.onopen = () => setLive(true, 'on');
    source.onmessage = (m) => { try { onEvent(JSON.parse(m.data)); } catch (err) { /* not an event */ } };
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        // Refused (a 401 without public read): ask for the token, try again in a while.
        setLive(false, 'off (the event stream was refused; enter the API token)');
        retry = setTimeout(connectEvents, 5000);
      } else {
        setLive(false, 'reconnecting…');
      }
    };
    return {close() { clearTimeout(retry); source.close(); }};
  }

  function fetchStream() {
    const controller = new AbortController();
    let retry = null;
    let closed = false;
    const run = async () => {
      try {
        const headers = authHeaders({Accept: 'text/event-stream'});
        if (state.lastEventId) headers['Last-Event-ID'] = String(state.lastEventId);
        const response = await fetch('/v1/events?follow=1', {headers, cache: 'no-store', signal: controller.signal});
        if (!response.ok) {
          let body = null;
          try { body = await response.json(); } catch (err) { body = null; }
          throw new ApiError(response.status, body);
        }
        setLive(true, 'on');
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const {value, done} = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(l.startsWith('data: ') ? 6 : 5));
            if (data.length) { try { onEvent(JSON.parse(data.join('\n'))); } catch (err) { /* not an event */ } }
          }
        }
        setLive(false, 'reconnecting…');
      } catch (err) {
        if (closed) return;
        setLive(false, 'reconnecting… (' + describe(err) + ')');
      }
      if (!closed) retry = setTimeout(run, 1000);
    };
    run();
    return {close() { closed = true; clearTimeout(retry); controller.abort(); }};
  }

  // ---- the token -----------------------------------------------------------------------------
  function showToken() {
    $('token-state').textContent = state.token ? 'token set for this tab' : 'no token';
  }

  function useToken(token) {
    state.token = token;
    if (token) sessionStorage.setItem(TOKEN_KEY, token); else sessionStorage.removeItem(TOKEN_KEY);
    showToken();
    connectEvents();
    refreshAll();
  }

  async function refreshAll() {
    await Promise.all([refreshStatus(), loadRefusals().then(refreshJobs), loadIncidents(),
                       state.history ? pollHistory() : loadHistory()]);
  }

  async function start() {
    showToken();
    $('token-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const input = $('token');
      const token = input.value.trim();
      input.value = '';
      useToken(token);
    });
    $('token-forget').addEventListener('click', () => useToken(''));
    $('services').addEventListener('click', (ev) => {
      const button = ev.target.closest('button[data-action]');
      if (button) act(button.dataset.service, button.dataset.action, button);
    });
    window.addEventListener('resize', debounce('resize', 200, resizeCharts));
    // Where the live stream starts: the newest event now; what happens after it streams in.
    try {
      const latest = await api('GET', '/v1/events?limit=1');
      state.lastEventId = latest.last_id || 0;
    } catch (err) {
      setProblem('the events', err);
    }
    await refreshAll();
    connectEvents();
    // Once per sampling interval, and never more than once a second.
    const interval = () => Math.max(1000, state.history && state.history.interval_ms > 0 ? state.history.interval_ms : 2000);
    const tickHistory = async () => {
      if (state.noHistory) return;
      await pollHistory();
      setTimeout(tickHistory, interval());
    };
    setTimeout(tickHistory, interval());
    setInterval(refreshStatus, STATUS_EVERY_MS);
    document.body.dataset.ready = 'true';  // for the browser tests: the first load is done
  }

  if (typeof uPlot === 'undefined') {
    $('banner').textContent = 'uPlot did not load (/assets/uPlot.iife.min.js): the daemon was built without it.';
    $('banner').hidden = false;
  }
  start();
})();
