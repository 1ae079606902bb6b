// ZiggyChart: a small line chart on a <canvas> for the dashboard's time
// series: a time axis (UTC), a y axis from 0 (or the data's minimum when
// negative), one line per series with a legend, gaps where a value is null.
//
// Why our own: issue #14 suggested vendoring uPlot from npm, but the build
// machines have neither npm nor internet and Debian does not package
// uPlot; these ~150 lines do what the page needs and keep the binary
// self-contained.
//
//   const chart = new ZiggyChart.LineChart(canvas, {yFormat: v => v + ' /s'});
//   chart.draw([t0, t1, ...], [{name: 'request', values: [1, 2, ...]}]);
//
// After each draw the canvas carries data-points="N", the number of
// non-null values drawn (what the browser test reads), and data-series.
(function (global) {
  'use strict';

  const COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f',
                  '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
  const PAD = {left: 56, right: 12, top: 22, bottom: 22};

  // A round step (1, 2 or 5 x 10^n) giving about `target` ticks on `range`.
  function niceStep(range, target) {
    const raw = range / Math.max(target, 1);
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const scaled = raw / power;
    return power * (scaled <= 1 ? 1 : scaled <= 2 ? 2 : scaled <= 5 ? 5 : 10);
  }

  const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800,
                      3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];

  function timeStep(span, target) {
    for (const step of TIME_STEPS) {
      if (span / step <= target) return step;
    }
    return TIME_STEPS[TIME_STEPS.length - 1];
  }

  function pad2(n) { return n < 10 ? '0' + n : '' + n; }

  // HH:MM(:SS) in UTC, with the date for steps of a day or more.
  function formatTime(t, step) {
    const d = new Date(t * 1000);
    const hm = pad2(d.getUTCHours()) + ':' + pad2(d.getUTCMinutes());
    if (step >= 86400) return d.toISOString().slice(5, 10);
    return step < 60 ? hm + ':' + pad2(d.getUTCSeconds()) : hm;
  }

  function formatNumber(v) {
    const a = Math.abs(v);
    if (a >= 1e6) return (v / 1e6).toFixed(1) + 'M';
    if (a >= 1e3) return (v / 1e3).toFixed(1) + 'k';
    if (a >= 1 || a === 0) return +v.toFixed(2) + '';
    return +v.toPrecision(2) + '';
  }

  function LineChart(canvas, options) {
    this.canvas = canvas;
    this.options = options || {};
  }

  // The value range of every non-null value, from 0 up.
  function extent(series) {
    let lo = 0, hi = 0;
    for (const s of series) {
      for (const v of s.values) {
        if (v === null || v === undefined) continue;
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
    if (hi === lo) hi = lo + 1;
    return [lo, hi];
  }

  LineChart.prototype.resize = function () {
    const ratio = global.devicePixelRatio || 1;
    const w = this.canvas.clientWidth || this.canvas.width;
    const h = this.canvas.clientHeight || this.canvas.height;
    this.canvas.width = Math.round(w * ratio);
    this.canvas.height = Math.round(h * ratio);
    const ctx = this.canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    return {ctx: ctx, w: w, h: h};
  };

  LineChart.prototype.axes = function (g, x, y, t0, t1, lo, hi) {
    const ctx = g.ctx;
    ctx.strokeStyle = '#e4e6eb';
    ctx.fillStyle = '#5f6673';
    ctx.font = '11px system-ui, sans-serif';
    ctx.lineWidth = 1;
    const yFormat = this.options.yFormat || formatNumber;
    const ys = niceStep(hi - lo, 4);
    ctx.textAlign = 'right';
    for (let v = Math.ceil(lo / ys) * ys; v <= hi + ys * 1e-9; v += ys) {
      ctx.beginPath();
      ctx.moveTo(PAD.left, y(v));
      ctx.lineTo(g.w - PAD.right, y(v));
      ctx.stroke();
      ctx.fillText(yFormat(v), PAD.left - 4, y(v) + 4);
    }
    const ts = timeStep(Math.max(t1 - t0, 1), Math.max(2, (g.w - 80) / 90));
    ctx.textAlign = 'center';
    for (let t = Math.ceil(t0 / ts) * ts; t <= t1; t += ts) {
      ctx.fillText(formatTime(t, ts), x(t), g.h - 6);
    }
  };

  LineChart.prototype.legend = function (ctx, series, w) {
    ctx.textAlign = 'left';
    ctx.font = '11px system-ui, sans-serif';
    let left = PAD.left;
    series.forEach((s, i) => {
      ctx.fillStyle = s.color || COLORS[i % COLORS.length];
      ctx.fillRect(left, 6, 10, 10);
      ctx.fillStyle = '#1d2330';
      ctx.fillText(s.name, left + 14, 15);
      left += ctx.measureText(s.name).width + 30;
      if (left > w - 60) left = w;  // the rest does not fit
    });
  };

  // Draws `series` ([{name, values, color?}]) against `time` (Unix seconds).
  LineChart.prototype.draw = function (time, series) {
    const g = this.resize();
    g.ctx.clearRect(0, 0, g.w, g.h);
    const t0 = time.length ? time[0] : 0;
    const t1 = time.length > 1 ? time[time.length - 1] : t0 + 1;
    const [lo, hi] = extent(series);
    const x = t => PAD.left + (t - t0) / (t1 - t0) * (g.w - PAD.left - PAD.right);
    const y = v => g.h - PAD.bottom - (v - lo) / (hi - lo) *
                   (g.h - PAD.top - PAD.bottom);
    this.axes(g, x, y, t0, t1, lo, hi);
    let points = 0;
    series.forEach((s, i) => {
      points += this.line(g.ctx, s, s.color || COLORS[i % COLORS.length],
                          time, x, y);
    });
    this.legend(g.ctx, series, g.w);
    if (!time.length) {
      g.ctx.fillStyle = '#5f6673';
      g.ctx.textAlign = 'center';
      g.ctx.fillText('no data yet', g.w / 2, g.h / 2);
    }
    this.canvas.dataset.points = points;
    this.canvas.dataset.series = series.length;
  };

  // One series' line (a dot for a lone point); the values drawn.
  LineChart.prototype.line = function (ctx, s, color, time, x, y) {
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.lineWidth = 1.5;
    let drawn = 0, open = false;
    ctx.beginPath();
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) { open = false; return; }
      const prev = i > 0 ? s.values[i - 1] : null;
      const next = i + 1 < s.values.length ? s.values[i + 1] : null;
      if (open) ctx.lineTo(x(time[i]), y(v)); else ctx.moveTo(x(time[i]), y(v));
      if (prev === null && (next === null || next === undefined)) {
        ctx.fillRect(x(time[i]) - 1.5, y(v) - 1.5, 3, 3);
      }
      open = true;
      drawn++;
    });
    ctx.stroke();
    return drawn;
  };

  global.ZiggyChart = {LineChart: LineChart, COLORS: COLORS};
})(window);
