#!/usr/bin/env node
// Draws the selection-policy sweep of benchmarks/policies.cpp as an SVG: time per request
// (acquire + commit) against the pool's keys, both axes logarithmic, one line per policy.
// Plain Node.js (no packages); the SVG is self-contained (no fonts, scripts or links).
//
//   node benchmarks/plot/plot_policies.js REPORT.json OUT.svg --commit C --date D [--time cpu|real]
//
// REPORT.json is a Google Benchmark report (--benchmark_out=REPORT.json
// --benchmark_out_format=json) holding BM_Select<Policy>/keys:N runs; other benchmarks are
// ignored. With repetitions, the median aggregate is plotted when the report has it, else the
// median of the repetitions. --time picks the CPU time per request (the default: on a shared
// machine it leaves out the time the benchmark's thread waited for a core) or the wall time.
// A run that reported an error (state.SkipWithError) stops the script: a plot never shows a
// number from a run that failed. `make bench-plot` runs the sweep and this script.
'use strict';

const fs = require('fs');
const path = require('path');

const usage = 'usage: plot_policies.js REPORT.json OUT.svg --commit C --date D [--time cpu|real]';

// --- Arguments --------------------------------------------------------------------------------------

function parseArguments(argv) {
  const options = {time: 'cpu'};
  const positional = [];
  for (let i = 0; i < argv.length; ++i) {
    const arg = argv[i];
    const named = /^--(commit|date|time)(?:=(.*))?$/.exec(arg);
    if (named) {
      const value = named[2] !== undefined ? named[2] : argv[++i];
      if (value === undefined || value === '') throw new Error(`--${named[1]} needs a value\n${usage}`);
      options[named[1]] = value;
    } else if (arg.startsWith('--')) {
      throw new Error(`unknown option ${arg}\n${usage}`);
    } else {
      positional.push(arg);
    }
  }
  if (positional.length !== 2) throw new Error(usage);
  if (options.commit === undefined || options.date === undefined) throw new Error(`--commit and --date are required\n${usage}`);
  if (options.time !== 'cpu' && options.time !== 'real') throw new Error(`--time is cpu or real, not '${options.time}'`);
  [options.report, options.out] = positional;
  return options;
}

// --- The report -------------------------------------------------------------------------------------

const nsPerUnit = {ns: 1, us: 1e3, ms: 1e6, s: 1e9};
const selectName = /^BM_Select<(.+)>\/keys:(\d+)$/;

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/// The report's BM_Select runs as series: [{policy, points: [{keys, ns}] by keys}], in the order
/// the report lists the policies (the benchmarks' registration order: colours stay put).
function readSeries(report, time) {
  if (!report || !Array.isArray(report.benchmarks)) throw new Error('not a Google Benchmark JSON report (no "benchmarks" array)');
  const failed = [];
  const runs = new Map();  // run name -> {policy, keys, iterations: [ns], median}
  for (const entry of report.benchmarks) {
    const runName = entry.run_name || entry.name;
    const match = selectName.exec(runName);
    if (!match) continue;  // another benchmark, or a multi-threaded variant
    if (entry.error_occurred) {
      failed.push(`${entry.name}: ${entry.error_message || 'error'}`);
      continue;
    }
    const field = time === 'cpu' ? 'cpu_time' : 'real_time';
    const unit = nsPerUnit[entry.time_unit || 'ns'];
    if (unit === undefined) throw new Error(`${entry.name}: unknown time unit '${entry.time_unit}'`);
    if (typeof entry[field] !== 'number' || !(entry[field] > 0)) throw new Error(`${entry.name}: no positive ${field}`);
    if (!runs.has(runName)) runs.set(runName, {policy: match[1].replace(/^kp::select::/, ''), keys: Number(match[2]), iterations: []});
    const run = runs.get(runName);
    const ns = entry[field] * unit;
    if (entry.run_type === 'aggregate') {
      if (entry.aggregate_name === 'median') run.median = ns;
    } else {
      run.iterations.push(ns);
    }
  }
  if (failed.length > 0) throw new Error(`the report has runs that failed; fix them and run again:\n  ${failed.join('\n  ')}`);
  const series = new Map();
  for (const run of runs.values()) {
    const ns = run.median !== undefined ? run.median : run.iterations.length > 0 ? median(run.iterations) : undefined;
    if (ns === undefined) continue;  // aggregates other than the median only
    if (!series.has(run.policy)) series.set(run.policy, []);
    series.get(run.policy).push({keys: run.keys, ns});
  }
  if (series.size === 0) throw new Error('the report has no BM_Select<Policy>/keys:N runs (run keypool_bench --benchmark_filter=^BM_Select)');
  return [...series].map(([policy, points]) => ({policy, points: points.sort((a, b) => a.keys - b.keys)}));
}

// --- Drawing ----------------------------------------------------------------------------------------

const width = 800;
const height = 500;
const plot = {left: 78, right: 590, top: 72, bottom: 428};  // the axes' box
// Okabe & Ito's colour-blind-safe palette, and a marker shape each, so lines stay apart in grey.
const colours = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#999933'];
const shapes = ['circle', 'square', 'diamond', 'triangle', 'inverted', 'cross', 'plus', 'star'];

function escapeXml(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const fixed = (v) => Number(v.toFixed(2)).toString();

/// Decades covering [lo, hi] (at least one decade).
function decades(lo, hi) {
  const from = Math.floor(Math.log10(lo) + 1e-9);
  let to = Math.ceil(Math.log10(hi) - 1e-9);
  if (to <= from) to = from + 1;
  return {from, to};
}

function logScale(range, lo, hi) {
  const a = Math.log10(lo);
  const b = Math.log10(hi);
  return (v) => range[0] + ((Math.log10(v) - a) / (b - a)) * (range[1] - range[0]);
}

function keysLabel(v) {
  return v >= 1000 ? `${v / 1000}k` : String(v);
}

function nsLabel(v) {
  if (v >= 1e9) return `${v / 1e9} s`;
  if (v >= 1e6) return `${v / 1e6} ms`;
  if (v >= 1e3) return `${v / 1e3} µs`;
  return `${v} ns`;
}

function marker(shape, x, y, colour) {
  const r = 4.5;
  const at = (dx, dy) => `${fixed(x + dx)},${fixed(y + dy)}`;
  const filled = `fill="${colour}" stroke="#ffffff" stroke-width="0.8"`;
  const stroked = `fill="none" stroke="${colour}" stroke-width="2"`;
  switch (shape) {
    case 'circle': return `<circle cx="${fixed(x)}" cy="${fixed(y)}" r="${r}" ${filled}/>`;
    case 'square': return `<rect x="${fixed(x - r + 0.5)}" y="${fixed(y - r + 0.5)}" width="${2 * r - 1}" height="${2 * r - 1}" ${filled}/>`;
    case 'diamond': return `<polygon points="${at(0, -r - 1)} ${at(r + 1, 0)} ${at(0, r + 1)} ${at(-r - 1, 0)}" ${filled}/>`;
    case 'triangle': return `<polygon points="${at(0, -r - 1)} ${at(r + 1, r)} ${at(-r - 1, r)}" ${filled}/>`;
    case 'inverted': return `<polygon points="${at(0, r + 1)} ${at(r + 1, -r)} ${at(-r - 1, -r)}" ${filled}/>`;
    case 'cross': return `<path d="M${at(-r, -r)}L${at(r, r)}M${at(-r, r)}L${at(r, -r)}" ${stroked}/>`;
    case 'plus': return `<path d="M${at(-r - 1, 0)}L${at(r + 1, 0)}M${at(0, -r - 1)}L${at(0, r + 1)}" ${stroked}/>`;
    default: {
      const points = [];
      for (let i = 0; i < 10; ++i) {
        const radius = i % 2 === 0 ? r + 1.5 : (r + 1.5) / 2.3;
        const angle = -Math.PI / 2 + (i * Math.PI) / 5;
        points.push(at(radius * Math.cos(angle), radius * Math.sin(angle)));
      }
      return `<polygon points="${points.join(' ')}" ${filled}/>`;
    }
  }
}

function render(series, options) {
  const allKeys = series.flatMap((s) => s.points.map((p) => p.keys));
  const allNs = series.flatMap((s) => s.points.map((p) => p.ns));
  // The x axis spans the sweep, 10 to 100,000 keys, wider only when the report is.
  const xd = decades(Math.min(10, ...allKeys), Math.max(100000, ...allKeys));
  const yd = decades(Math.min(...allNs), Math.max(...allNs));
  const x = logScale([plot.left, plot.right], 10 ** xd.from, 10 ** xd.to);
  const y = logScale([plot.bottom, plot.top], 10 ** yd.from, 10 ** yd.to);
  const out = [];
  const font = 'font-family="Helvetica, Arial, sans-serif"';
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${font} role="img">`);
  const title = 'keypool: time per request against the pool’s keys, by selection policy';
  const subtitle = `commit ${options.commit}, ${options.date}. BM_Select: acquire + commit, one thread, ` +
                   `${options.time === 'cpu' ? 'CPU' : 'wall'} time`;
  out.push(`<title>${escapeXml(title)} (${escapeXml(subtitle)})</title>`);
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${width / 2}" y="28" text-anchor="middle" font-size="17" font-weight="bold" fill="#222222">${escapeXml(title)}</text>`);
  out.push(`<text x="${width / 2}" y="50" text-anchor="middle" font-size="13" fill="#444444">${escapeXml(subtitle)}</text>`);

  // Grid: a line per decade, fainter ones at 2…9 times it.
  out.push('<g stroke-width="1">');
  for (let d = xd.from; d <= xd.to; ++d) {
    for (let m = 1; m < 10; ++m) {
      const v = m * 10 ** d;
      if (v > 10 ** xd.to) break;
      const px = fixed(x(v));
      out.push(`<line x1="${px}" y1="${plot.top}" x2="${px}" y2="${plot.bottom}" stroke="${m === 1 ? '#cccccc' : '#eeeeee'}"/>`);
    }
  }
  for (let d = yd.from; d <= yd.to; ++d) {
    for (let m = 1; m < 10; ++m) {
      const v = m * 10 ** d;
      if (v > 10 ** yd.to) break;
      const py = fixed(y(v));
      out.push(`<line x1="${plot.left}" y1="${py}" x2="${plot.right}" y2="${py}" stroke="${m === 1 ? '#cccccc' : '#eeeeee'}"/>`);
    }
  }
  out.push('</g>');
  out.push(`<rect x="${plot.left}" y="${plot.top}" width="${plot.right - plot.left}" height="${plot.bottom - plot.top}" fill="none" stroke="#444444"/>`);

  // Tick labels and axis titles.
  out.push('<g font-size="12" fill="#333333">');
  for (let d = xd.from; d <= xd.to; ++d)
    out.push(`<text x="${fixed(x(10 ** d))}" y="${plot.bottom + 18}" text-anchor="middle">${keysLabel(10 ** d)}</text>`);
  for (let d = yd.from; d <= yd.to; ++d)
    out.push(`<text x="${plot.left - 8}" y="${fixed(y(10 ** d) + 4)}" text-anchor="end">${escapeXml(nsLabel(10 ** d))}</text>`);
  out.push('</g>');
  out.push(`<text x="${(plot.left + plot.right) / 2}" y="${plot.bottom + 44}" text-anchor="middle" font-size="14" fill="#222222">keys in the pool (log scale)</text>`);
  const yTitle = `${options.time === 'cpu' ? 'CPU' : 'wall'} time per request (log scale)`;
  const yMid = (plot.top + plot.bottom) / 2;
  out.push(`<text x="20" y="${yMid}" text-anchor="middle" font-size="14" fill="#222222" transform="rotate(-90 20 ${yMid})">${yTitle}</text>`);

  // One line with its markers per policy; each marker carries its figures.
  series.forEach((s, i) => {
    const colour = colours[i % colours.length];
    const shape = shapes[i % shapes.length];
    const points = s.points.map((p) => `${fixed(x(p.keys))},${fixed(y(p.ns))}`).join(' ');
    out.push(`<g class="series" data-policy="${escapeXml(s.policy)}">`);
    out.push(`<polyline points="${points}" fill="none" stroke="${colour}" stroke-width="2" stroke-linejoin="round"/>`);
    for (const p of s.points) {
      out.push(`<g class="point" data-keys="${p.keys}" data-ns="${Number(p.ns.toPrecision(6))}">` +
               `<title>${escapeXml(`${s.policy}, ${p.keys} keys: ${p.ns.toPrecision(4)} ns`)}</title>` +
               `${marker(shape, x(p.keys), y(p.ns), colour)}</g>`);
    }
    out.push('</g>');
  });

  // Legend, highest line first (at the largest pool each policy reached), so it reads top-down
  // like the lines' right ends.
  const lastNs = (s) => s.points[s.points.length - 1].ns;
  const order = series.map((s, i) => ({s, i})).sort((a, b) => lastNs(b.s) - lastNs(a.s));
  const legendX = plot.right + 18;
  out.push(`<text x="${legendX}" y="${plot.top + 4}" font-size="13" font-weight="bold" fill="#222222">policy</text>`);
  order.forEach(({s, i}, row) => {
    const colour = colours[i % colours.length];
    const ly = plot.top + 26 + row * 24;
    out.push(`<g class="legend">` +
             `<line x1="${legendX}" y1="${ly}" x2="${legendX + 30}" y2="${ly}" stroke="${colour}" stroke-width="2"/>` +
             `${marker(shapes[i % shapes.length], legendX + 15, ly, colour)}` +
             `<text x="${legendX + 38}" y="${ly + 4.5}" font-size="13" fill="#222222">${escapeXml(s.policy)}</text></g>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function main() {
  let options;
  try {
    options = parseArguments(process.argv.slice(2));
    const report = JSON.parse(fs.readFileSync(options.report, 'utf8'));
    const series = readSeries(report, options.time);
    fs.mkdirSync(path.dirname(options.out), {recursive: true});
    fs.writeFileSync(options.out, render(series, options));
    const points = series.reduce((n, s) => n + s.points.length, 0);
    console.log(`plot_policies: ${options.out}: ${series.length} policies, ${points} points`);
  } catch (error) {
    console.error(`plot_policies: ${error.message}`);
    process.exit(1);
  }
}

if (require.main === module) main();

module.exports = {readSeries, render};
