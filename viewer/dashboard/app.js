// The dashboard page's logic: polls the JSON API (viewer/dashboard_api.h)
// every 2 s and redraws. An API error shows the banner and polling goes on
// (a restarting daemon or ziggyview comes back by itself).
//
// Stable hooks for tests: #rate-chart, #quantile-chart and #error-chart
// carry data-points (see chart.js); rows of #events-table are tr.event with
// data-id; #event-detail holds the clicked event with data-children; rows
// of #top-table are tr.top; rows of #status-table are tr.status; the body
// gets data-polls (completed polls) and #banner is shown on errors.
(function () {
  'use strict';

  const POLL_MS = 2000;
  const $ = id => document.getElementById(id);
  const state = {type: '', field: '', where: null, whereTyped: false, polls: 0};
  const charts = {
    rate: new ZiggyChart.LineChart($('rate-chart')),
    quantile: new ZiggyChart.LineChart($('quantile-chart')),
    error: new ZiggyChart.LineChart($('error-chart'),
                                    {yFormat: v => Math.round(v * 100) + ' %'}),
  };

  async function api(path, params) {
    const query = new URLSearchParams(params || {}).toString();
    const response = await fetch('/api/' + path + (query ? '?' + query : ''));
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(body.error || response.statusText);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  function fillSelect(select, values, chosen) {
    const current = Array.from(select.options).map(o => o.value).join('\n');
    if (current !== values.join('\n')) {
      select.textContent = '';
      for (const v of values) select.add(new Option(v, v));
    }
    select.value = chosen;
  }

  // The type with the most events that has numeric fields, else the first.
  function pickType(types) {
    const known = types.find(t => t.name === state.type);
    if (known) return known;
    const top = types.filter(t => !t.name.includes('.') && t.fields.length);
    top.sort((a, b) => b.count - a.count);
    return top[0] || types[0];
  }

  function pickField(type) {
    if (type.fields.includes(state.field)) return state.field;
    return type.fields.find(f => /time|duration|latency/.test(f)) ||
           type.fields[0] || '';
  }

  function applyTypes(answer) {
    const type = pickType(answer.types);
    if (!type) return;
    state.type = type.name;
    state.field = pickField(type);
    fillSelect($('type-select'), answer.types.map(t => t.name), state.type);
    fillSelect($('field-select'), type.fields, state.field);
    if (state.where === null && answer.default_where) {
      state.where = answer.default_where;
      $('where-input').value = state.where;
    }
    $('events-type').textContent = state.type;
  }

  function drawRates(answer) {
    const series = Object.keys(answer.series).map(
        name => ({name: name, values: answer.series[name]}));
    charts.rate.draw(answer.time, series);
  }

  async function drawSeries() {
    const params = {type: state.type};
    if (state.field) params.field = state.field;
    if (state.where) params.where = state.where;
    let answer;
    try {
      answer = await api('series', params);
      $('where-error').textContent = '';
    } catch (e) {
      if (e.status !== 400) throw e;
      $('where-error').textContent = e.message;
      delete params.where;
      answer = await api('series', params);
    }
    charts.quantile.draw(answer.time, ['p50', 'p90', 'p99'].map(
        q => ({name: q + ' ' + state.field, values: answer[q]})));
    charts.error.draw(answer.time, [{
      name: state.where ? 'share matching: ' + state.where : 'no expression',
      values: answer.error_share, color: '#e15759'}]);
  }

  function cell(row, text) {
    const td = row.insertCell();
    td.textContent = text;
    td.title = text;
    return td;
  }

  function endTime(event) {
    return typeof event.end === 'number' ?
        new Date(event.end * 1000).toISOString().slice(11, 23) : '';
  }

  function drawEvents(answer) {
    const body = $('events-table').tBodies[0];
    body.textContent = '';
    for (const event of answer.events) {
      const row = body.insertRow();
      row.className = 'event';
      row.dataset.id = event.id || '';
      if (event.id && event.id === state.detail) row.classList.add('selected');
      cell(row, endTime(event));
      cell(row, event.host || '');
      cell(row, event.id || '');
      cell(row, JSON.stringify(event.body || {}));
      row.addEventListener('click', () => showEvent(event.id));
    }
  }

  async function showEvent(id) {
    if (!id) return;
    state.detail = id;
    const detail = $('event-detail');
    try {
      const group = await api('event', {id: id});
      detail.textContent = JSON.stringify(group, null, 2);
      detail.dataset.children = group.children.length;
    } catch (e) {
      detail.textContent = 'event ' + id + ': ' + e.message;
    }
    detail.hidden = false;
  }

  function drawTop(answer) {
    const body = $('top-table').tBodies[0];
    body.textContent = '';
    const most = Math.max(1, ...answer.rows.map(r => r.count));
    for (const r of answer.rows) {
      const row = body.insertRow();
      row.className = 'top';
      cell(row, r.value === null ? '(missing)' : r.value);
      cell(row, String(r.count));
      const bar = document.createElement('div');
      bar.className = 'bar';
      bar.style.width = Math.round(100 * r.count / most) + 'px';
      row.insertCell().appendChild(bar);
    }
  }

  // STATUS as rows: the per-type and per-host counts first (its "events"
  // and "hosts" maps, as ziggyd and ziggy-forwarder report them), then
  // every other number, flattened to dotted paths; at most 200 rows.
  function statusRows(status) {
    const rows = [];
    for (const [map, what] of [['events', 'type'], ['hosts', 'host']]) {
      const entries = Object.entries((status || {})[map] || {});
      entries.sort((a, b) => (b[1].count || 0) - (a[1].count || 0));
      for (const [name, value] of entries) {
        rows.push([what + ' ' + (name || '(none)'), String(value.count)]);
      }
    }
    (function walk(value, path) {
      if (value !== null && typeof value === 'object') {
        for (const key of Object.keys(value)) {
          if (path || (key !== 'events' && key !== 'hosts')) {
            walk(value[key], path ? path + '.' + key : key);
          }
        }
      } else if (typeof value === 'number') {
        rows.push([path, String(+value.toFixed(3))]);
      }
    })(status, '');
    return rows.slice(0, 200);
  }

  function drawStatus(answer) {
    $('status-state').textContent = answer.status === null ? '(none)' :
        answer.ok ? '' : '(stale: ' + answer.error + ')';
    const body = $('status-table').tBodies[0];
    body.textContent = '';
    for (const [path, value] of statusRows(answer.status)) {
      const row = body.insertRow();
      row.className = 'status';
      cell(row, path);
      cell(row, value);
    }
  }

  async function poll() {
    applyTypes(await api('types'));
    drawRates(await api('rates'));
    drawStatus(await api('status'));
    if (!state.type) return;
    await drawSeries();
    drawEvents(await api('events', {type: state.type, limit: 50}));
    const by = $('by-input').value.trim();
    if (by) drawTop(await api('top', {type: state.type, by: by}));
  }

  async function loop() {
    try {
      await poll();
      $('banner').hidden = true;
      state.polls++;
      // #detail (the screenshot's URL): open the first event once.
      const first = document.querySelector('tr.event');
      if (location.hash === '#detail' && first && !state.detail) {
        showEvent(first.dataset.id);
      }
      document.body.dataset.polls = state.polls;
      $('updated').textContent = 'updated ' +
          new Date().toISOString().slice(11, 19) + ' UTC';
    } catch (e) {
      $('banner').textContent = 'Cannot reach the API (' + e.message +
          '); retrying every ' + POLL_MS / 1000 + ' s';
      $('banner').hidden = false;
    }
    setTimeout(loop, POLL_MS);
  }

  $('type-select').addEventListener('change', e => {
    state.type = e.target.value;
    state.field = '';
  });
  $('field-select').addEventListener('change', e => {
    state.field = e.target.value;
  });
  $('where-input').addEventListener('change', e => {
    state.where = e.target.value.trim();
  });
  $('source').textContent = location.host;
  loop();
})();
