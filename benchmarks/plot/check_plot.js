#!/usr/bin/env node
// The bench-smoke.plot test: runs plot_policies.js on a Google Benchmark report and checks the
// SVG it writes, with nothing but Node.js.
//
//   node benchmarks/plot/check_plot.js FIXTURE.json WORK_DIR
//
// Checks that, from FIXTURE.json (a real report of the BM_Select sweep, kept in benchmarks/plot/):
//  - the output is one well-formed <svg> element (tags balanced, attributes quoted, '<' and '&'
//    escaped in text) of 800×500, with the commit and date it was given in its title;
//  - every policy of the report has a legend entry and a line, and every run a marker carrying
//    the run's CPU time per request, placed higher for a slower run;
//  - the median of repetitions is what a report of repetitions plots;
//  - a report with a failed run (state.SkipWithError) makes the script fail, naming the run.
// Exits 1 with the reasons when a check fails.
'use strict';

const childProcess = require('child_process');
const fs = require('fs');
const path = require('path');

const script = path.join(__dirname, 'plot_policies.js');
const failures = [];
const check = (ok, what) => {
  if (!ok) failures.push(what);
};

function runPlot(report, out, extra = []) {
  return childProcess.spawnSync(process.execPath, [script, report, out, '--commit', 'c0ffee1', '--date', '2026-12-05', ...extra],
                                {encoding: 'utf8'});
}

const unescape = (s) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');

/// Parses `svg` as XML far enough to say whether it is well formed; returns its elements as
/// {name, attributes, text} (text: the element's own character data), or throws.
function parseSvg(svg) {
  const elements = [];
  const open = [];
  const tag = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>/y;
  let at = 0;
  while (at < svg.length) {
    const lt = svg.indexOf('<', at);
    const text = svg.slice(at, lt === -1 ? svg.length : lt);
    if (/&(?!(?:amp|lt|gt|quot|apos|#\d+);)/.test(text)) throw new Error(`an unescaped '&' in "${text}"`);
    if (text.includes('>')) throw new Error(`a stray '>' in "${text}"`);
    if (text.trim() !== '') {
      if (open.length === 0) throw new Error(`text outside the root element: "${text.trim()}"`);
      open[open.length - 1].text += unescape(text);
    }
    if (lt === -1) break;
    tag.lastIndex = lt;
    const m = tag.exec(svg);
    if (!m) throw new Error(`a malformed tag at offset ${lt}: ${svg.slice(lt, lt + 60)}`);
    const [, closing, name, attributeText, selfClosing] = m;
    if (closing) {
      const top = open.pop();
      if (!top || top.name !== name) throw new Error(`</${name}> closes <${top ? top.name : 'nothing'}>`);
    } else {
      if (open.length === 0 && elements.length > 0) throw new Error(`a second root element <${name}>`);
      const attributes = {};
      for (const a of attributeText.matchAll(/([\w:.-]+)="([^"]*)"/g)) {
        if (a[1] in attributes) throw new Error(`<${name}> repeats attribute ${a[1]}`);
        attributes[a[1]] = unescape(a[2]);
      }
      const element = {name, attributes, text: '', parent: open[open.length - 1]};
      elements.push(element);
      if (!selfClosing) open.push(element);
    }
    at = tag.lastIndex;
  }
  if (open.length !== 0) throw new Error(`<${open[open.length - 1].name}> is never closed`);
  return elements;
}

/// What the report holds, read independently of the script: {policy: {keys: cpu ns}}.
function expectedRuns(report) {
  const perUnit = {ns: 1, us: 1e3, ms: 1e6, s: 1e9};
  const runs = {};
  for (const b of report.benchmarks) {
    const m = /^BM_Select<kp::select::(.+)>\/keys:(\d+)$/.exec(b.name);
    if (!m) continue;
    (runs[m[1]] ||= {})[m[2]] = b.cpu_time * perUnit[b.time_unit];
  }
  return runs;
}

function checkPlot(fixture, workDir) {
  const report = JSON.parse(fs.readFileSync(fixture, 'utf8'));
  const expected = expectedRuns(report);
  const policies = Object.keys(expected);
  check(policies.length >= 2, `the fixture has ${policies.length} policies: a plot of fewer checks little`);

  const out = path.join(workDir, 'policies.svg');
  fs.rmSync(out, {force: true});
  const run = runPlot(fixture, out);
  check(run.status === 0, `plot_policies.js failed on ${fixture}: ${run.stderr}`);
  if (run.status !== 0) return;
  const svg = fs.readFileSync(out, 'utf8');
  check(svg.startsWith('<svg'), 'the file does not start with <svg');
  let elements;
  try {
    elements = parseSvg(svg);
  } catch (error) {
    check(false, `not well-formed: ${error.message}`);
    return;
  }
  const root = elements[0];
  check(root.name === 'svg' && root.attributes.xmlns === 'http://www.w3.org/2000/svg', 'the root is not an SVG element');
  check(root.attributes.width === '800' && root.attributes.height === '500', 'the SVG is not 800×500');
  check(!elements.some((e) => ['script', 'image', 'foreignObject', 'style'].includes(e.name) || 'href' in e.attributes ||
                              'xlink:href' in e.attributes),
        'the SVG refers to something outside itself');
  const texts = elements.filter((e) => e.name === 'text').map((e) => e.text);
  check(texts.some((t) => t.includes('c0ffee1') && t.includes('2026-12-05')), 'no title names the commit and the date');

  const legend = elements.filter((e) => e.name === 'text' && e.parent && e.parent.attributes.class === 'legend').map((e) => e.text);
  const series = elements.filter((e) => e.attributes.class === 'series');
  for (const policy of policies) {
    check(legend.includes(policy), `no legend entry for ${policy}`);
    const line = series.find((e) => e.attributes['data-policy'] === policy);
    check(line !== undefined, `no line for ${policy}`);
    if (line === undefined) continue;
    check(elements.some((e) => e.name === 'polyline' && e.parent === line), `the line of ${policy} has no polyline`);
    const points = elements.filter((e) => e.attributes.class === 'point' && e.parent === line);
    const keys = Object.keys(expected[policy]);
    check(points.length === keys.length, `${policy}: ${points.length} markers for ${keys.length} runs`);
    for (const p of points) {
      const want = expected[policy][p.attributes['data-keys']];
      const got = Number(p.attributes['data-ns']);
      check(want !== undefined && Math.abs(got - want) <= 1e-5 * want,
            `${policy}/keys:${p.attributes['data-keys']}: the marker says ${got} ns, the report ${want} ns`);
    }
  }
  check(series.length === policies.length, `${series.length} lines for ${policies.length} policies`);

  // A slower run sits higher: compare the markers' heights with their times, pairwise.
  const heights = elements.filter((e) => e.attributes.class === 'point').map((p) => {
    const shape = elements.find((e) => e.parent === p && e.name !== 'title');
    const y = shape.name === 'circle' ? Number(shape.attributes.cy)
            : shape.name === 'rect' ? Number(shape.attributes.y) + Number(shape.attributes.height) / 2
            : null;
    return {ns: Number(p.attributes['data-ns']), y};
  }).filter((h) => h.y !== null);
  check(heights.length >= 2, 'fewer than two circle or square markers to compare');
  for (const a of heights)
    for (const b of heights)
      if (a.ns > b.ns * 1.05) check(a.y < b.y, `a run of ${a.ns} ns is drawn no higher than one of ${b.ns} ns`);
}

/// Repetitions without aggregates: the median of three is plotted.
function checkRepetitions(workDir) {
  const entry = (ns, index) => ({name: 'BM_Select<kp::select::Score>/keys:100', run_name: 'BM_Select<kp::select::Score>/keys:100',
                                 run_type: 'iteration', repetitions: 3, repetition_index: index, threads: 1, iterations: 1000,
                                 real_time: ns, cpu_time: ns, time_unit: 'ns'});
  const other = {...entry(50, 0), name: 'BM_Select<kp::select::RoundRobin>/keys:10', run_name: 'BM_Select<kp::select::RoundRobin>/keys:10',
                 repetitions: 1};
  const report = path.join(workDir, 'repetitions.json');
  fs.writeFileSync(report, JSON.stringify({context: {}, benchmarks: [entry(900, 0), entry(100, 1), entry(300, 2), other]}));
  const out = path.join(workDir, 'repetitions.svg');
  const run = runPlot(report, out);
  check(run.status === 0, `plot_policies.js failed on a report with repetitions: ${run.stderr}`);
  if (run.status !== 0) return;
  const point = parseSvg(fs.readFileSync(out, 'utf8')).find((e) => e.attributes.class === 'point' && e.attributes['data-keys'] === '100');
  check(point !== undefined && point.attributes['data-ns'] === '300', 'the median of 900, 100 and 300 ns is not the 300 ns plotted');
}

/// A failed run stops the script, which names it; no SVG is written.
function checkFailedRun(fixture, workDir) {
  const report = JSON.parse(fs.readFileSync(fixture, 'utf8'));
  const victim = report.benchmarks.find((b) => b.name.startsWith('BM_Select<'));
  victim.error_occurred = true;
  victim.error_message = 'refused: the limits must admit every request of the run';
  const broken = path.join(workDir, 'failed.json');
  fs.writeFileSync(broken, JSON.stringify(report));
  const out = path.join(workDir, 'failed.svg');
  fs.rmSync(out, {force: true});
  const run = runPlot(broken, out);
  check(run.status !== 0, 'plot_policies.js drew a report with a failed run');
  check(run.stderr.includes(victim.name) && run.stderr.includes('refused'), `the failure does not name the failed run: ${run.stderr}`);
  check(!fs.existsSync(out), 'an SVG was written from a report with a failed run');
}

const [fixture, workDir] = process.argv.slice(2);
if (!fixture || !workDir) {
  console.error('usage: check_plot.js FIXTURE.json WORK_DIR');
  process.exit(2);
}
fs.mkdirSync(workDir, {recursive: true});
checkPlot(fixture, workDir);
checkRepetitions(workDir);
checkFailedRun(fixture, workDir);
if (failures.length > 0) {
  console.error(`check_plot: ${failures.length} failed:\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
console.log('check_plot: the plot of the fixture is a well-formed SVG with every policy and run; repetitions and failed runs handled');
