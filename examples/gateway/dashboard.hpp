// gateway::dashboard_html: the gateway's live dashboard, one self-contained HTML page (inline CSS,
// JavaScript and SVG, no external asset, font or script: it works offline) served at GET
// /dashboard. It polls the sibling endpoints `quota-status` (keypool::to_json(pool.snapshot())),
// `quota-status/history`, `events/recent` and `stats` (history.hpp) and renders an overview card
// per provider (today's usage, a chart of the last hours, its keys), the recent events, the
// gateway's counters, then each key's limits as usage bars. Every time it shows is UTC RFC 3339
// in whole seconds. docs/dashboard.md describes it.
#pragma once

#include <string_view>

namespace gateway {

/// The page served at GET /dashboard (Content-Type `text/html; charset=utf-8`).
///
/// What it does, in the browser:
///  - fetches `quota-status` relative to its own URL (so `/quota-status` next to `/dashboard`,
///    also behind a reverse proxy's path prefix) every few seconds, and renders the pool's
///    figures: the pool's totals with `events_dropped` and `sink_failures`; per provider a totals
///    line; per key a card with its status, health counters and one usage bar per limit (used,
///    limit, percent rounded down to 0.1%, window, a live countdown to the window's reset);
///  - above the details, one compact card per provider (`section.provider-card`), all of them on
///    the first screen at 1280×900: keys serving, today's fullest daily limit, an inline SVG chart
///    of the usage history (`quota-status/history`: the daily percent as a line, requests served
///    per sample as bars) and a chip per key; then the recent events (`events/recent`, newest
///    first) and the gateway's counters (`stats`). A failure of these three shows a note in
///    their own place, not the banner;
///  - writes every time as UTC RFC 3339 in whole seconds ("2026-11-24T10:42:07Z") in <time>;
///  - updates the elements in place (no re-creation, so no flashing); keeps the last data and
///    shows a banner (role="alert") when a fetch fails, e.g. the gateway is down;
///  - writes every string from the JSON with textContent / setAttribute, never as HTML, and
///    declares a Content-Security-Policy that forbids any other origin;
///  - takes optional query parameters: `refresh` (seconds between fetches, 1 to 3600, default 5),
///    `warning` and `critical` (the bar colour levels in percent, default 80 and 90: the pool's
///    default thresholds; a key's own status always comes from the snapshot).
///
/// Stable hooks for tests and scripts (docs/dashboard.md lists them): `#pool`, `#error`,
/// `section.provider[data-provider=<name>]`, `article.key[data-key=<label>][data-status=<status>]`,
/// `.limit[data-limit=<index>][data-used][data-limit-value][data-percent][data-level]`,
/// `[data-field=<name>]` for each figure.
///
/// More hooks: `section.provider-card[data-provider]` (`[data-overview=…]` figures, `svg.history`
/// with `[data-samples][data-last-tenths][data-served-total]`, `.chip[data-chip-key]`),
/// `#event-list li[data-seq][data-kind]`, `#gateway-stats [data-stat=<name>]`,
/// `#answers tr[data-outcome] td[data-answers-provider]`.
///
/// A constant: thread-safe, no allocation. About 46 KB.
inline constexpr std::string_view dashboard_html = R"KP(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'">
<meta name="color-scheme" content="light dark">
<title>keypool · quota dashboard</title>
<style>
:root {
  --bg: #f6f7f9; --card: #ffffff; --text: #1c2330; --muted: #5b6575; --line: #dde1e7; --track: #e7eaef;
  --ok: #1f8a4c; --warning: #b7791f; --critical: #d9480f; --exhausted: #c92a2a; --cooling: #1971c2;
  --disabled: #6c757d; --alert-bg: #fff1f0; --alert-line: #ffa8a8;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #12161c; --card: #1b2129; --text: #e6e9ee; --muted: #9aa4b2; --line: #2c343f; --track: #2a313b;
    --ok: #40c074; --warning: #f0b429; --critical: #ff8a4c; --exhausted: #ff6b6b; --cooling: #4dabf7;
    --disabled: #8d96a0; --alert-bg: #3a1d1d; --alert-line: #a33;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header.top { display: flex; flex-wrap: wrap; align-items: baseline; gap: .25rem 1rem; padding: .9rem 1.25rem;
  border-bottom: 1px solid var(--line); background: var(--card); }
header.top h1 { margin: 0; font-size: 1.25rem; }
.muted { color: var(--muted); }
.num { font-variant-numeric: tabular-nums; }
main { max-width: 1200px; margin: 0 auto; padding: 1rem 1.25rem 2rem; }
#error { margin: 0 0 1rem; padding: .7rem 1rem; border: 1px solid var(--alert-line); border-radius: 8px;
  background: var(--alert-bg); }
#error[hidden] { display: none; }
#loading[hidden] { display: none; }
body.stale #providers, body.stale #pool { opacity: .6; }
#connection::before { content: ""; display: inline-block; width: .6em; height: .6em; border-radius: 50%;
  margin-right: .35em; background: var(--disabled); vertical-align: .05em; }
#connection[data-state="live"]::before { background: var(--ok); }
#connection[data-state="offline"]::before { background: var(--exhausted); }
section.summary, section.provider { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: .8rem 1rem; margin-bottom: 1rem; }
h2 { margin: 0 0 .4rem; font-size: 1.1rem; }
h2 .tier { font-weight: normal; font-size: .85rem; }
dl.figures { display: flex; flex-wrap: wrap; gap: .2rem 1.1rem; margin: 0; }
dl.figures > div { display: flex; gap: .3rem; align-items: baseline; }
dl.figures dt { color: var(--muted); white-space: nowrap; }
dl.figures dd { margin: 0; font-variant-numeric: tabular-nums; font-weight: 600; }
dd.bad { color: var(--exhausted); }
.keys { display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: .75rem; margin-top: .75rem; }
article.key { border: 1px solid var(--line); border-left: 5px solid var(--ok); border-radius: 8px; padding: .6rem .8rem;
  min-width: 0; }
article.key.status-warning { border-left-color: var(--warning); }
article.key.status-critical { border-left-color: var(--critical); }
article.key.status-exhausted { border-left-color: var(--exhausted); }
article.key.status-cooling_down { border-left-color: var(--cooling); }
article.key.status-disabled { border-left-color: var(--disabled); }
.key-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: .2rem .6rem; }
.key-head h3 { margin: 0; font-size: 1rem; overflow-wrap: anywhere; }
.badge { font-size: .75rem; font-weight: 700; text-transform: uppercase; letter-spacing: .03em; padding: .05rem .45rem;
  border-radius: 999px; color: #fff; background: var(--ok); }
.status-warning .badge { background: var(--warning); }
.status-critical .badge { background: var(--critical); }
.status-exhausted .badge { background: var(--exhausted); }
.status-cooling_down .badge { background: var(--cooling); }
.status-disabled .badge { background: var(--disabled); }
.key-note { font-size: .85rem; color: var(--muted); }
.key-note[hidden] { display: none; }
.limit { margin-top: .55rem; }
.model { margin-top: .6rem; padding-left: .6rem; border-left: 3px solid var(--line); }
.model-head { display: flex; flex-wrap: wrap; gap: 0 .6rem; align-items: baseline; font-size: .88rem; }
.marked { color: var(--muted); }
.limit-head, .limit-foot { display: flex; flex-wrap: wrap; justify-content: space-between; gap: 0 .6rem; font-size: .88rem; }
.limit-foot { color: var(--muted); font-size: .8rem; }
.limit-name { font-weight: 600; }
.bar { position: relative; height: .7rem; margin: .2rem 0; border-radius: 999px; background: var(--track); overflow: hidden; }
.fill { height: 100%; width: 0; border-radius: 999px; background: var(--ok); transition: width .4s ease; }
.level-warning .fill { background: var(--warning); }
.level-critical .fill { background: var(--critical); }
.level-full .fill { background: var(--exhausted); }
.level-full .limit-numbers { color: var(--exhausted); font-weight: 600; }
dl.health { margin-top: .55rem; font-size: .85rem; }
.overview { display: grid; grid-template-columns: repeat(auto-fill, minmax(270px, 1fr)); gap: .75rem; margin-bottom: 1rem; }
section.provider-card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: .6rem .8rem;
  min-width: 0; }
.card-head { display: flex; align-items: baseline; justify-content: space-between; gap: .5rem; }
.card-head h2 { margin: 0; font-size: 1.05rem; overflow-wrap: anywhere; }
.card-line { display: flex; flex-wrap: wrap; justify-content: space-between; gap: 0 .6rem; font-size: .85rem; }
.card-line .bad { color: var(--exhausted); font-weight: 600; }
svg.history { display: block; width: 100%; height: 64px; margin: .35rem 0 .1rem; background: var(--track);
  border-radius: 6px; }
svg.history .served { stroke: var(--cooling); stroke-opacity: .45; }
svg.history .percent { stroke: var(--text); fill: none; stroke-width: 1.5; }
.chart-axis { display: flex; justify-content: flex-end; gap: .3rem; font-size: .72rem; color: var(--muted); }
.chips { display: flex; flex-wrap: wrap; gap: .25rem; margin-top: .35rem; }
.chip { display: inline-flex; gap: .3rem; max-width: 100%; font-size: .75rem; padding: .05rem .45rem; border-radius: 999px;
  border: 1px solid var(--line); border-left: 4px solid var(--ok); }
.chip .chip-label { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; max-width: 12em; }
.chip.status-warning { border-left-color: var(--warning); }
.chip.status-critical { border-left-color: var(--critical); }
.chip.status-exhausted { border-left-color: var(--exhausted); }
.chip.status-cooling_down { border-left-color: var(--cooling); }
.chip.status-disabled { border-left-color: var(--disabled); }
.activity { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: .75rem; margin-bottom: 1rem; }
.activity > section { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: .6rem .8rem;
  min-width: 0; }
#event-list { list-style: none; margin: 0; padding: 0; max-height: 16rem; overflow-y: auto; font-size: .82rem; }
#event-list li { display: grid; grid-template-columns: auto auto minmax(0, 1fr); gap: .5rem; padding: .15rem 0;
  border-bottom: 1px solid var(--line); }
#event-list .event-kind { font-weight: 600; }
#event-list li[data-kind="key_exhausted"] .event-kind, #event-list li[data-kind="provider_exhausted"] .event-kind,
#event-list li[data-kind="all_exhausted"] .event-kind { color: var(--exhausted); }
#event-list li[data-kind="failover"] .event-kind, #event-list li[data-kind="retry"] .event-kind { color: var(--cooling); }
#event-list .event-text { overflow-wrap: anywhere; color: var(--muted); }
.answers-scroll { overflow-x: auto; }
table.answers { border-collapse: collapse; font-size: .78rem; margin-top: .4rem; width: 100%; }
table.answers th, table.answers td { text-align: right; padding: .1rem .3rem; border-bottom: 1px solid var(--line); }
table.answers td.bad { color: var(--exhausted); }
table.answers th:first-child, table.answers td:first-child { text-align: left; }
.note { font-size: .85rem; color: var(--muted); }
h2.details { margin: 1.2rem 0 .6rem; }
[hidden] { display: none !important; }
@media (max-width: 900px) { .activity { grid-template-columns: 1fr; } }
@media (max-width: 560px) {
  header.top, main { padding-left: .7rem; padding-right: .7rem; }
  .keys { grid-template-columns: 1fr; }
  section.summary, section.provider { padding: .6rem .7rem; }
}
@media (prefers-reduced-motion: reduce) { .fill { transition: none; } }
</style>
</head>
<body>
<header class="top">
  <h1>keypool quota</h1>
  <span id="connection" data-state="connecting" role="status" aria-live="polite">connecting…</span>
  <span class="muted">snapshot <time id="snapshot-at" class="num">—</time></span>
  <span class="muted">updated <time id="updated" class="num">never</time></span>
  <span class="muted">times in UTC</span>
</header>
<main>
  <div id="error" role="alert" hidden></div>
  <p id="loading" class="muted">Loading quota status…</p>
  <section id="pool" class="summary" aria-labelledby="pool-title" hidden>
    <h2 id="pool-title">Pool</h2>
    <dl class="figures" id="pool-figures"></dl>
  </section>
  <div id="overview" class="overview" aria-label="Providers"></div>
  <div class="activity">
    <section id="events" aria-labelledby="events-title">
      <h2 id="events-title">Recent events</h2>
      <p id="events-note" class="note">Loading…</p>
      <ol id="event-list"></ol>
    </section>
    <section id="gateway-stats" aria-labelledby="stats-title">
      <h2 id="stats-title">Gateway</h2>
      <p id="stats-note" class="note">Loading…</p>
      <dl class="figures" id="stats-figures"></dl>
      <div class="answers-scroll"><table class="answers" id="answers" hidden><thead><tr id="answers-head"></tr></thead><tbody id="answers-body"></tbody></table></div>
    </section>
  </div>
  <h2 class="details">Keys</h2>
  <div id="providers"></div>
</main>
<template id="chart-template"><svg class="history" viewBox="0 0 300 60" preserveAspectRatio="none" role="img"><path class="served" data-series="served" d=""></path><path class="percent" data-series="percent" vector-effect="non-scaling-stroke" d=""></path></svg></template>
<script>
(() => {
  'use strict';

  // --- Settings from the query string ----------------------------------------------------------
  const params = new URLSearchParams(location.search);
  const setting = (name, fallback, min, max) => {
    if (!params.has(name)) return fallback;
    const value = Number(params.get(name));
    return Number.isFinite(value) && value >= min && value <= max ? value : fallback;
  };
  const refreshSeconds = setting('refresh', 5, 1, 3600);
  const warningLevel = setting('warning', 80, 0, 100);
  const criticalLevel = setting('critical', 90, 0, 100);
  const source = new URL('quota-status', location.href);
  const historySource = new URL('quota-status/history', location.href);
  const eventsSource = new URL('events/recent', location.href);
  const statsSource = new URL('stats', location.href);

  // --- Small DOM helpers: text and attributes only, never HTML ----------------------------------
  const byId = (id) => document.getElementById(id);
  function make(tag, className, attributes) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
    return node;
  }
  function setText(node, text) {
    const value = String(text);
    if (node.textContent !== value) node.textContent = value;
  }
  function setAttr(node, name, value) {
    const text = String(value);
    if (node.getAttribute(name) !== text) node.setAttribute(name, text);
  }
  function setHidden(node, hidden) {
    if (node.hidden !== hidden) node.hidden = hidden;
  }
  function setClass(node, className) {
    if (node.className !== className) node.className = className;
  }
  const isCount = (value) => typeof value === 'number' && Number.isFinite(value) && value >= 0;
  // 1234567 -> "1,234,567" (independent of the browser's locale, so tests can read it).
  function grouped(value) {
    if (!isCount(value)) return '—';
    return String(Math.trunc(value)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  }
  // Tenths of a percent, rounded down: 100% shows only when the limit is full.
  function permille(used, limit) {
    if (!isCount(used) || !isCount(limit) || limit === 0) return 0;
    const scaled = used * 1000;
    return Number.isSafeInteger(scaled) ? Math.floor(scaled / limit) : Math.floor((used / limit) * 1000);
  }
  const percentText = (tenths) => Math.floor(tenths / 10) + '.' + (tenths % 10) + '%';
  function duration(seconds) {
    if (!(seconds > 0)) return 'now';
    let s = Math.ceil(seconds);
    const days = Math.floor(s / 86400); s -= days * 86400;
    const hours = Math.floor(s / 3600); s -= hours * 3600;
    const minutes = Math.floor(s / 60); s -= minutes * 60;
    const two = (n) => String(n).padStart(2, '0');
    if (days > 0) return days + 'd ' + two(hours) + 'h ' + two(minutes) + 'm';
    if (hours > 0) return hours + 'h ' + two(minutes) + 'm ' + two(s) + 's';
    if (minutes > 0) return minutes + 'm ' + two(s) + 's';
    return s + 's';
  }
  // One time format everywhere: UTC RFC 3339 in whole seconds ("2026-11-24T10:42:07Z").
  const utcText = (ms) => new Date(ms).toISOString().slice(0, 19) + 'Z';
  function stampText(value) {
    const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?Z$/.exec(String(value));
    return match ? match[1] + 'Z' : String(value);
  }
  function setTime(node, text) {
    setText(node, text);
    setAttr(node, 'datetime', text);
  }
  // 21600 -> "6h", 5400 -> "1h 30m", 90 -> "1m 30s".
  function spanText(seconds) {
    const s = Math.round(seconds);
    const parts = [];
    if (s >= 3600) parts.push(Math.floor(s / 3600) + 'h');
    if (s % 3600 >= 60) parts.push(Math.floor((s % 3600) / 60) + 'm');
    if (s % 60 !== 0 || s === 0) parts.push(s % 60 + 's');
    return parts.join(' ');
  }
  const statusNames = { available: 'ok', warning: 'warning', critical: 'critical', exhausted: 'exhausted',
                        cooling_down: 'cooling down', disabled: 'disabled' };
  const statusClass = (status) => (Object.hasOwn(statusNames, status) ? status : 'unknown');
  const windowNames = { second: 'per second', minute: 'per minute', hour: 'per hour', day: 'per day',
                        month: 'per month', rolling: 'per rolling window', request: 'per request' };
  const windowText = (window) => (Object.hasOwn(windowNames, window) ? windowNames[window] : 'per ' + String(window));

  // --- Live countdowns: one ticker updates every element registered here -------------------------
  // Each holds a deadline on the browser's clock: fetch time + the snapshot's "…_in_s".
  const countdowns = new Set();
  function setCountdown(node, seconds, fetchedAt) {
    if (typeof seconds !== 'number' || !Number.isFinite(seconds)) {
      countdowns.delete(node);
      setText(node, '—');
      node.removeAttribute('data-seconds');
      return;
    }
    node.deadline = fetchedAt + seconds * 1000;
    setAttr(node, 'data-seconds', seconds);
    countdowns.add(node);
    setText(node, duration((node.deadline - Date.now()) / 1000));
  }
  function tick() {
    const now = Date.now();
    for (const node of countdowns) {
      if (!node.isConnected) countdowns.delete(node);
      else setText(node, duration((node.deadline - now) / 1000));
    }
  }

  // --- Keyed lists: reuse each child, keep the data's order, drop what is gone -------------------
  function reconcile(container, items, keyOf, create, update) {
    const existing = new Map();
    for (const child of container.children) existing.set(child.dataset.id, child);
    let previous = null;
    const kept = new Set();
    for (const item of items) {
      const id = String(keyOf(item));
      let node = existing.get(id);
      if (!node) {
        node = create(item);
        node.dataset.id = id;
      }
      update(node, item);
      const wanted = previous ? previous.nextElementSibling : container.firstElementChild;
      if (wanted !== node) container.insertBefore(node, wanted);
      previous = node;
      kept.add(id);
    }
    for (const [id, node] of existing) if (!kept.has(id)) node.remove();
  }

  // A <div><dt>name</dt><dd data-field=…></dd></div> pair in a <dl>.
  function figure(list, field, name) {
    const wrapper = make('div');
    wrapper.append(make('dt'));
    wrapper.firstChild.textContent = name;
    const value = make('dd', 'num', { 'data-field': field });
    wrapper.append(value);
    list.append(wrapper);
    return value;
  }

  // --- Totals (pool and provider) ----------------------------------------------------------------
  const metricNames = ['requests', 'tokens', 'characters', 'units', 'spend'];
  function buildTotals(list) {
    const f = {};
    f.keys = figure(list, 'keys', 'keys');
    f.available = figure(list, 'available', 'available');
    f.cooling_down = figure(list, 'cooling_down', 'cooling down');
    f.exhausted = figure(list, 'exhausted', 'exhausted');
    f.disabled = figure(list, 'disabled', 'disabled');
    f.successes = figure(list, 'successes', 'succeeded');
    f.failures = figure(list, 'failures', 'failed');
    f.rate_limited = figure(list, 'rate_limited', 'rate-limited');
    f.daily = {};
    for (const metric of metricNames) {
      f.daily[metric] = figure(list, 'daily-' + metric, metric + ' today');
      f.daily[metric].parentNode.hidden = true;
    }
    f.next_recovery = figure(list, 'next_recovery', 'next recovery in');
    f.exhausts = figure(list, 'exhausts', 'runs out in');
    return f;
  }
  function updateTotals(f, totals, fetchedAt) {
    for (const name of ['keys', 'available', 'cooling_down', 'exhausted', 'disabled', 'successes', 'failures',
                        'rate_limited']) {
      setText(f[name], grouped(totals[name]));
    }
    setClass(f.exhausted, 'num' + (totals.exhausted > 0 ? ' bad' : ''));
    setClass(f.disabled, 'num' + (totals.disabled > 0 ? ' bad' : ''));
    const capacity = totals.daily_capacity || {};
    const used = totals.daily_used || {};
    for (const metric of metricNames) {
      const node = f.daily[metric];
      const shown = isCount(capacity[metric]) && capacity[metric] > 0;
      setHidden(node.parentNode, !shown);
      if (!shown) continue;
      setAttr(node, 'data-used', used[metric]);
      setAttr(node, 'data-capacity', capacity[metric]);
      setText(node, grouped(used[metric]) + ' / ' + grouped(capacity[metric]) + ' (' +
                    percentText(permille(used[metric], capacity[metric])) + ')');
    }
    setHidden(f.next_recovery.parentNode, totals.next_recovery_in_s == null);
    setCountdown(f.next_recovery, totals.next_recovery_in_s, fetchedAt);
    setHidden(f.exhausts.parentNode, totals.exhausts_in_s == null);
    setCountdown(f.exhausts, totals.exhausts_in_s, fetchedAt);
  }

  // --- The pool summary -----------------------------------------------------------------------------
  let poolFigures = null;
  function updatePool(data, fetchedAt) {
    if (!poolFigures) {
      const list = byId('pool-figures');
      poolFigures = buildTotals(list);
      poolFigures.events_dropped = figure(list, 'events_dropped', 'alerts dropped');
      poolFigures.sink_failures = figure(list, 'sink_failures', 'alert sink failures');
    }
    updateTotals(poolFigures, data.totals || {}, fetchedAt);
    for (const name of ['events_dropped', 'sink_failures']) {
      setText(poolFigures[name], grouped(data[name]));
      setClass(poolFigures[name], 'num' + (data[name] > 0 ? ' bad' : ''));
    }
    setHidden(byId('pool'), false);
  }

  // --- One limit of a key -----------------------------------------------------------------------
  function createLimit() {
    const node = make('div', 'limit');
    const head = make('div', 'limit-head');
    node.limitName = make('span', 'limit-name');
    const numbers = make('span', 'limit-numbers num');
    node.used = make('span', '', { 'data-field': 'used' });
    node.limitValue = make('span', '', { 'data-field': 'limit' });
    node.percent = make('span', '', { 'data-field': 'percent' });
    node.cap = make('span', '', { 'data-field': 'cap' });
    numbers.append(node.used, ' / ', node.limitValue, ' · ', node.percent);
    node.numbers = numbers;
    head.append(node.limitName, numbers, node.cap);
    node.bar = make('div', 'bar', { role: 'progressbar', 'aria-valuemin': '0' });
    node.fill = make('div', 'fill');
    node.bar.append(node.fill);
    const foot = make('div', 'limit-foot');
    node.resets = make('span', '', { 'data-field': 'resets' });
    node.resetsWord = document.createTextNode('');
    node.resetsIn = make('span', 'num countdown');
    node.resets.append(node.resetsWord, node.resetsIn);
    node.exhausts = make('span', '', { 'data-field': 'exhausts' });
    node.exhaustsIn = make('span', 'num countdown');
    node.exhausts.append('runs out in ', node.exhaustsIn);
    node.remaining = make('span', 'num', { 'data-field': 'remaining' });
    foot.append(node.remaining, node.exhausts, node.resets);
    node.append(head, node.bar, foot);
    return node;
  }
  function updateLimit(node, limit, index, keyLabel, fetchedAt, indexAttribute) {
    const perRequest = limit.window === 'request';
    const used = isCount(limit.used) ? limit.used : 0;
    const amount = isCount(limit.limit) ? limit.limit : 0;
    const tenths = permille(used, amount);
    const percent = tenths / 10;
    const level = perRequest ? 'cap'
                : tenths >= 1000 ? 'full'
                : percent >= criticalLevel ? 'critical'
                : percent >= warningLevel ? 'warning' : 'ok';
    setClass(node, 'limit level-' + level + (perRequest ? ' per-request' : ''));
    setAttr(node, indexAttribute || 'data-limit', index);
    setAttr(node, 'data-metric', limit.metric);
    setAttr(node, 'data-window', limit.window);
    setAttr(node, 'data-used', used);
    setAttr(node, 'data-limit-value', amount);
    setAttr(node, 'data-remaining', isCount(limit.remaining) ? limit.remaining : 0);
    setAttr(node, 'data-percent', percentText(tenths).slice(0, -1));
    setAttr(node, 'data-level', level);
    setText(node.limitName, String(limit.metric) + ' ' + windowText(limit.window));
    setHidden(node.numbers, perRequest);
    setHidden(node.bar, perRequest);
    setHidden(node.resets, perRequest);
    setHidden(node.remaining, perRequest);
    setHidden(node.cap, !perRequest);
    if (perRequest) {
      setText(node.cap, 'at most ' + grouped(amount));
      setHidden(node.exhausts, true);
      countdowns.delete(node.resetsIn);
      countdowns.delete(node.exhaustsIn);
      return;
    }
    setText(node.used, grouped(used));
    setText(node.limitValue, grouped(amount));
    setText(node.percent, percentText(tenths));
    const marked = isCount(limit.marked) && limit.marked > 0 ? limit.marked : 0;
    setAttr(node, 'data-marked', marked);
    setText(node.remaining, grouped(limit.remaining) + ' left' +
                            (marked > 0 ? ' · ' + grouped(marked) + ' marked spent by the provider' : ''));
    const description = String(limit.metric) + ' ' + windowText(limit.window);
    setAttr(node.bar, 'aria-label', keyLabel + ': ' + description);
    setAttr(node.bar, 'aria-valuemax', amount);
    setAttr(node.bar, 'aria-valuenow', Math.min(used, amount));
    setAttr(node.bar, 'aria-valuetext', grouped(used) + ' of ' + grouped(amount) + ' ' + String(limit.metric) +
                                         ' used (' + percentText(tenths) + ')');
    const width = Math.min(tenths, 1000) / 10 + '%';
    if (node.fill.style.width !== width) node.fill.style.width = width;
    setText(node.resetsWord, limit.window === 'rolling' ? 'replenished in ' : 'resets in ');
    setCountdown(node.resetsIn, limit.resets_in_s, fetchedAt);
    setHidden(node.exhausts, limit.exhausts_in_s == null);
    setCountdown(node.exhaustsIn, limit.exhausts_in_s, fetchedAt);
  }

  // --- One key --------------------------------------------------------------------------------------
  function createKey() {
    const node = make('article', 'key');
    const head = make('header', 'key-head');
    node.labelNode = make('h3', 'key-label');
    node.badge = make('span', 'badge', { 'data-field': 'status' });
    node.available = make('span', 'key-note', { 'data-field': 'available' });
    node.availableIn = make('span', 'num countdown');
    node.available.append('serves again in ', node.availableIn);
    node.forecast = make('span', 'key-note', { 'data-field': 'forecast' });
    node.forecastIn = make('span', 'num countdown');
    node.forecast.append('runs out in ', node.forecastIn);
    head.append(node.labelNode, node.badge, node.available, node.forecast);
    node.limits = make('div', 'limits');
    const health = make('dl', 'figures health');
    node.health = {
      successes: figure(health, 'successes', 'succeeded'),
      failures: figure(health, 'failures', 'failed'),
      rate_limited: figure(health, 'rate_limited', 'rate-limited'),
      consecutive_failures: figure(health, 'consecutive_failures', 'failing in a row'),
      last_error: figure(health, 'last_error', 'last error'),
    };
    node.models = make('div', 'models');
    node.append(head, node.limits, node.models, health);
    return node;
  }
  // One model of a key (KeyOptions::models): its status and its own limits.
  function createModel() {
    const node = make('div', 'model');
    const head = make('div', 'model-head');
    node.nameNode = make('span', 'model-name', { 'data-field': 'model' });
    node.badge = make('span', 'badge', { 'data-field': 'status' });
    head.append(node.nameNode, node.badge);
    node.limits = make('div', 'limits');
    node.append(head, node.limits);
    return node;
  }
  function updateModel(node, model, keyLabel, fetchedAt) {
    const name = String(model.model);
    setAttr(node, 'data-model', name);
    setAttr(node, 'data-status', String(model.status));
    setText(node.nameNode, name);
    setText(node.badge, Object.hasOwn(statusNames, model.status) ? statusNames[model.status] : String(model.status));
    const limits = Array.isArray(model.limits) ? model.limits : [];
    reconcile(node.limits, limits.map((limit, index) => ({ limit, index })), (item) => item.index, createLimit,
              (child, item) => updateLimit(child, item.limit, item.index, keyLabel + ' · ' + name, fetchedAt, 'data-model-limit'));
  }
  function updateKey(node, key, fetchedAt) {
    const status = statusClass(key.status);
    const label = String(key.label);
    setClass(node, 'key status-' + status);
    setAttr(node, 'data-key', label);
    setAttr(node, 'data-key-id', key.id);
    setAttr(node, 'data-status', String(key.status));
    const titleId = 'key-' + String(key.id) + '-label';
    setAttr(node.labelNode, 'id', titleId);
    setAttr(node, 'aria-labelledby', titleId);
    setText(node.labelNode, label);
    setText(node.badge, Object.hasOwn(statusNames, key.status) ? statusNames[key.status] : String(key.status));
    setHidden(node.available, key.available_in_s == null);
    setCountdown(node.availableIn, key.available_in_s, fetchedAt);
    setHidden(node.forecast, key.exhausts_in_s == null);
    setCountdown(node.forecastIn, key.exhausts_in_s, fetchedAt);
    for (const name of ['successes', 'failures', 'rate_limited', 'consecutive_failures']) {
      setText(node.health[name], grouped(key[name]));
    }
    const error = key.last_error;
    setHidden(node.health.last_error.parentNode, !error);
    if (error) {
      setText(node.health.last_error, String(error.kind) + (error.status != null ? ' (HTTP ' + error.status + ')' : '') +
                                      ' at ' + stampText(error.at));
    }
    const limits = Array.isArray(key.limits) ? key.limits : [];
    reconcile(node.limits, limits.map((limit, index) => ({ limit, index })), (item) => item.index, createLimit,
              (child, item) => updateLimit(child, item.limit, item.index, label, fetchedAt));
    const models = Array.isArray(key.models) ? key.models : [];
    reconcile(node.models, models, (model) => String(model.model), createModel,
              (child, model) => updateModel(child, model, label, fetchedAt));
  }

  // --- One provider ---------------------------------------------------------------------------------
  function createProvider() {
    const node = make('section', 'provider');
    node.heading = make('h2');
    node.nameText = make('span', '', { 'data-field': 'name' });
    node.tier = make('span', 'tier muted', { 'data-field': 'tier' });
    node.heading.append(node.nameText, ' ', node.tier);
    node.figures = make('dl', 'figures');
    node.totals = buildTotals(node.figures);
    node.keys = make('div', 'keys');
    node.append(node.heading, node.figures, node.keys);
    return node;
  }
  function updateProvider(node, provider, keys, fetchedAt) {
    const headingId = 'provider-' + String(provider.id);
    setAttr(node.heading, 'id', headingId);
    setAttr(node, 'aria-labelledby', headingId);
    setAttr(node, 'data-provider', String(provider.name));
    setAttr(node, 'data-provider-id', provider.id);
    setText(node.nameText, String(provider.name));
    setText(node.tier, 'tier ' + grouped(provider.tier));
    updateTotals(node.totals, provider.totals || {}, fetchedAt);
    reconcile(node.keys, keys, (key) => key.id, createKey, (child, key) => updateKey(child, key, fetchedAt));
  }

  // --- The overview: one compact card per provider ------------------------------------------------
  // The chart's skeleton is the <template> below the page (parsed as inline SVG by the browser).
  const chartTemplate = byId('chart-template').content.firstElementChild;
  // The fullest calendar limit of a key, in tenths of a percent (per-request caps are no quota).
  function keyTenths(key) {
    let best = null;
    for (const limit of Array.isArray(key.limits) ? key.limits : []) {
      if (limit.window === 'request') continue;
      const tenths = permille(limit.used, limit.limit);
      if (best === null || tenths > best) best = tenths;
    }
    return best;
  }
  function createChip() {
    const node = make('span', 'chip');
    node.labelNode = make('span', 'chip-label');
    node.percent = make('span', 'num');
    node.append(node.labelNode, node.percent);
    return node;
  }
  function updateChip(node, key) {
    const label = String(key.label);
    setClass(node, 'chip status-' + statusClass(key.status));
    setAttr(node, 'data-chip-key', label);
    setAttr(node, 'data-status', String(key.status));
    setAttr(node, 'title', label + ': ' + (Object.hasOwn(statusNames, key.status) ? statusNames[key.status] : String(key.status)));
    setText(node.labelNode, label);
    const tenths = keyTenths(key);
    setText(node.percent, tenths === null ? '—' : percentText(tenths));
  }
  function createCard() {
    const node = make('section', 'provider-card');
    const head = make('div', 'card-head');
    node.nameNode = make('h2', '', { 'data-overview': 'name' });
    node.tier = make('span', 'muted', { 'data-overview': 'tier' });
    head.append(node.nameNode, node.tier);
    const line = make('div', 'card-line');
    node.serving = make('span', 'num', { 'data-overview': 'serving' });
    node.today = make('span', 'num', { 'data-overview': 'today' });
    line.append(node.serving, node.today);
    node.bar = make('div', 'bar', { role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100' });
    node.fill = make('div', 'fill');
    node.bar.append(node.fill);
    node.chart = chartTemplate.cloneNode(true);
    node.served = node.chart.querySelector('[data-series="served"]');
    node.line = node.chart.querySelector('[data-series="percent"]');
    const axis = make('div', 'chart-axis');
    node.chartNote = make('span', '', { 'data-overview': 'chart-note' });
    node.to = make('time', 'num');
    axis.append(node.chartNote, node.to);
    node.chips = make('div', 'chips');
    node.append(head, line, node.bar, node.chart, axis, node.chips);
    return node;
  }
  // The chart: the daily percent (the fullest daily metric) as a line over the history's span,
  // the requests served in each sample as bars scaled to the busiest sample.
  function updateChart(node, name) {
    const doc = historyDoc;
    const series = doc && Array.isArray(doc.providers) ? doc.providers.find((p) => String(p.name) === name) : null;
    const at = series && Array.isArray(series.at) ? series.at : [];
    const now = doc ? Date.parse(doc.now) : NaN;
    const span = doc ? Number(doc.span_s) * 1000 : NaN;
    if (!series || at.length === 0 || !Number.isFinite(now) || !(span > 0)) {
      setAttr(node.chart, 'data-samples', 0);
      setAttr(node.served, 'd', '');
      setAttr(node.line, 'd', '');
      setText(node.chartNote, historyNote);
      setHidden(node.to, true);
      return;
    }
    const start = now - span;
    const xOf = (text) => {
      const t = Date.parse(text);
      return Number.isFinite(t) ? Math.min(300, Math.max(0, ((t - start) / span) * 300)) : 0;
    };
    const served = Array.isArray(series.served) ? series.served : [];
    const percent = Array.isArray(series.percent) ? series.percent : [];
    const busiest = served.reduce((most, value) => (isCount(value) && value > most ? value : most), 0);
    let bars = '', barCount = 0, servedTotal = 0, line = '', points = 0, pen = false, last = null;
    for (let i = 0; i < at.length; ++i) {
      const x = xOf(at[i]).toFixed(2);
      if (isCount(served[i]) && served[i] > 0) {
        bars += 'M' + x + ' 60V' + (60 - (served[i] / busiest) * 56).toFixed(2);
        ++barCount;
        servedTotal += served[i];
      }
      const p = percent[i];
      if (typeof p !== 'number' || !Number.isFinite(p)) {
        pen = false;
        continue;
      }
      line += (pen ? 'L' : 'M') + x + ' ' + (59 - (Math.min(Math.max(p, 0), 100) / 100) * 57).toFixed(2);
      pen = true;
      ++points;
      last = p;
    }
    setAttr(node.served, 'd', bars);
    setAttr(node.served, 'stroke-width', Math.max(0.8, 300 / Math.max(1, Number(doc.capacity) || 1)).toFixed(2));
    setAttr(node.line, 'd', line);
    setAttr(node.chart, 'data-samples', at.length);
    setAttr(node.chart, 'data-points', points);
    setAttr(node.chart, 'data-bars', barCount);
    setAttr(node.chart, 'data-served-total', servedTotal);
    setAttr(node.chart, 'data-last-tenths', last === null ? '' : Math.round(last * 10));
    const from = utcText(start), to = utcText(now);
    setAttr(node.chart, 'aria-label', name + ': daily usage (line) and requests served (bars) from ' + from + ' to ' + to);
    setHidden(node.to, false);
    setTime(node.to, to);
    setText(node.chartNote, 'last ' + spanText(span / 1000) + ', until');
  }
  function updateCard(node, provider, keys) {
    const name = String(provider.name);
    const totals = provider.totals || {};
    setAttr(node, 'data-provider', name);
    setAttr(node, 'data-provider-id', provider.id);
    setAttr(node, 'aria-label', name);
    setText(node.nameNode, name);
    setText(node.tier, 'tier ' + grouped(provider.tier));
    setAttr(node.serving, 'data-available', totals.available);
    setAttr(node.serving, 'data-keys', totals.keys);
    setText(node.serving, grouped(totals.available) + ' of ' + grouped(totals.keys) + ' keys serving');
    setClass(node.serving, 'num' + (totals.keys > 0 && totals.available === 0 ? ' bad' : ''));
    const capacity = totals.daily_capacity || {};
    const used = totals.daily_used || {};
    let tenths = null, metric = null;
    for (const name of metricNames) {
      if (!isCount(capacity[name]) || capacity[name] === 0) continue;
      const value = permille(used[name], capacity[name]);
      if (tenths === null || value > tenths) {
        tenths = value;
        metric = name;
      }
    }
    setAttr(node.today, 'data-tenths', tenths === null ? '' : tenths);
    setText(node.today, tenths === null ? 'no daily limit' : percentText(tenths) + ' of today\'s ' + metric);
    setHidden(node.bar, tenths === null);
    const level = tenths === null ? 'ok' : tenths >= 1000 ? 'full' : tenths / 10 >= criticalLevel ? 'critical'
                : tenths / 10 >= warningLevel ? 'warning' : 'ok';
    setClass(node.bar, 'bar level-' + level);
    setAttr(node.bar, 'aria-label', name + ': today\'s ' + (metric || 'usage'));
    setAttr(node.bar, 'aria-valuenow', tenths === null ? 0 : Math.min(tenths, 1000) / 10);
    const width = (tenths === null ? 0 : Math.min(tenths, 1000) / 10) + '%';
    if (node.fill.style.width !== width) node.fill.style.width = width;
    updateChart(node, name);
    reconcile(node.chips, keys, (key) => key.id, createChip, updateChip);
  }

  // --- Recent events (newest first) and the gateway's counters ---------------------------------------
  let historyDoc = null;
  let historyNote = 'loading history…';
  let historyDue = 0;
  function applyHistory(result) {
    if (result.status === 'rejected') {
      historyNote = 'history unavailable (' + (result.reason && result.reason.message ? result.reason.message : String(result.reason)) + ')';
      historyDoc = null;
      return;
    }
    const doc = result.value;
    if (!doc || typeof doc !== 'object' || !Array.isArray(doc.providers)) {
      historyNote = 'history unavailable (not a history document)';
      historyDoc = null;
      return;
    }
    historyDoc = doc;
    historyNote = 'no sample yet';
    historyDue = Date.now() + Math.max(refreshSeconds, Number(doc.every_s) || 0) * 1000;
  }
  function createEvent() {
    const node = make('li');
    node.at = make('time', 'num event-at');
    node.kind = make('span', 'event-kind');
    const body = make('span');
    node.who = make('span', 'event-who');
    node.textNode = make('span', 'event-text');
    body.append(node.who, ' ', node.textNode);
    node.append(node.at, node.kind, body);
    return node;
  }
  function updateEvent(node, event) {
    setAttr(node, 'data-seq', event.seq);
    setAttr(node, 'data-kind', String(event.kind));
    setTime(node.at, stampText(event.at));
    setText(node.kind, String(event.kind));
    const who = [event.provider, event.key].filter((part) => part).map(String).join(' / ');
    setText(node.who, who + (event.to_provider ? ' → ' + String(event.to_provider) : ''));
    setText(node.textNode, event.text == null ? '' : String(event.text));
  }
  function applyEvents(result) {
    const note = byId('events-note');
    const doc = result.status === 'fulfilled' ? result.value : null;
    if (!doc || !Array.isArray(doc.events)) {
      const why = result.status === 'rejected' && result.reason && result.reason.message ? result.reason.message
                                                                                          : 'not an event list';
      setText(note, 'Recent events unavailable (' + why + ').');
      setHidden(note, false);
      return;
    }
    reconcile(byId('event-list'), doc.events, (event) => event.seq, createEvent, updateEvent);
    setText(note, doc.events.length === 0 ? 'No event since the gateway started.' : '');
    setHidden(note, doc.events.length !== 0);
  }
  const statFigures = new Map();
  // A <dt>title</dt><dd data-stat=name> pair (or <dd><time data-stat=name></dd> for a time).
  function statFigure(list, name, title, isTime) {
    if (!statFigures.has(name)) {
      const wrapper = make('div');
      const term = make('dt');
      term.textContent = title;
      wrapper.append(term);
      const value = isTime ? make('time', 'num', { 'data-stat': name }) : make('dd', 'num', { 'data-stat': name });
      if (isTime) {
        const holder = make('dd');
        holder.append(value);
        wrapper.append(holder);
      } else {
        wrapper.append(value);
      }
      list.append(wrapper);
      statFigures.set(name, value);
    }
    return statFigures.get(name);
  }
  function applyStats(result) {
    const note = byId('stats-note');
    const doc = result.status === 'fulfilled' ? result.value : null;
    if (!doc || typeof doc !== 'object' || !doc.requests || typeof doc.requests !== 'object') {
      const why = result.status === 'rejected' && result.reason && result.reason.message ? result.reason.message
                                                                                          : 'not a counters document';
      setText(note, 'Gateway counters unavailable (' + why + ').');
      setHidden(note, false);
      return;
    }
    setHidden(note, true);
    const list = byId('stats-figures');
    setTime(statFigure(list, 'started_at', 'started', true), stampText(doc.started_at));
    setText(statFigure(list, 'uptime', 'up'), duration(Number(doc.uptime_s)));
    for (const [name, value] of Object.entries(doc.requests)) {
      const node = statFigure(list, name, name === 'total' ? 'requests' : String(name).replace(/_/g, ' '));
      setText(node, grouped(value));
      if (name !== 'total' && name !== 'ok') setClass(node, 'num' + (value > 0 ? ' bad' : ''));
    }
    // The providers' answers: a row per outcome, a column per provider (a few providers fit the
    // narrow column; outcomes are many).
    const providers = Array.isArray(doc.upstream_answers) ? doc.upstream_answers : [];
    const names = providers.map((p) => String(p.provider));
    const kinds = providers.length > 0 ? Object.keys(providers[0]).filter((k) => k !== 'provider') : [];
    const head = byId('answers-head');
    if (head.dataset.providers !== JSON.stringify(names)) {
      head.dataset.providers = JSON.stringify(names);
      head.replaceChildren();
      const first = make('th');
      first.textContent = 'answers';
      head.append(first);
      for (const name of names) {
        const cell = make('th');
        cell.textContent = name;
        head.append(cell);
      }
      byId('answers-body').replaceChildren();
    }
    reconcile(byId('answers-body'), kinds, (kind) => kind, () => make('tr'), (row, kind) => {
      setAttr(row, 'data-outcome', kind);
      while (row.children.length < names.length + 1) row.append(make('td', 'num'));
      setText(row.children[0], kind.replace(/_/g, ' '));
      providers.forEach((p, i) => {
        setAttr(row.children[i + 1], 'data-answers-provider', names[i]);
        setText(row.children[i + 1], grouped(p[kind]));
        setClass(row.children[i + 1], 'num' + (kind !== 'success' && kind !== 'total' && p[kind] > 0 ? ' bad' : ''));
      });
    });
    setHidden(byId('answers'), providers.length === 0);
  }

  // --- Fetching -------------------------------------------------------------------------------------
  let lastSuccess = null;
  function render(data, fetchedAt) {
    if (!data || typeof data !== 'object' || !Array.isArray(data.providers) || !Array.isArray(data.keys)) {
      throw new Error('the answer is not a keypool snapshot (no providers and keys)');
    }
    updatePool(data, fetchedAt);
    const keysByProvider = new Map();
    for (const key of data.keys) {
      const name = String(key.provider);
      if (!keysByProvider.has(name)) keysByProvider.set(name, []);
      keysByProvider.get(name).push(key);
    }
    reconcile(byId('overview'), data.providers, (provider) => provider.id, createCard,
              (node, provider) => updateCard(node, provider, keysByProvider.get(String(provider.name)) || []));
    reconcile(byId('providers'), data.providers, (provider) => provider.id, createProvider,
              (node, provider) => updateProvider(node, provider, keysByProvider.get(String(provider.name)) || [],
                                                 fetchedAt));
    setTime(byId('snapshot-at'), stampText(data.at));
    setHidden(byId('loading'), true);
  }
  function showError(error) {
    const banner = byId('error');
    const connection = byId('connection');
    setAttr(connection, 'data-state', 'offline');
    setText(connection, 'offline');
    let message = 'Cannot load the quota status from ' + source.pathname + ': ' +
                  (error && error.message ? error.message : String(error)) + '. The gateway may be down.';
    message += lastSuccess ? ' Showing the last data, received at ' + utcText(lastSuccess.getTime()) + '.'
                           : ' No data received yet.';
    message += ' Retrying every ' + refreshSeconds + ' s.';
    setText(banner, message);
    setHidden(banner, false);
    document.body.classList.toggle('stale', lastSuccess !== null);
    setHidden(byId('loading'), true);
  }
  function clearError() {
    setHidden(byId('error'), true);
    document.body.classList.remove('stale');
    setAttr(byId('connection'), 'data-state', 'live');
    setText(byId('connection'), 'live');
  }
  // One JSON document; rejects with a readable Error (HTTP status, timeout, bad JSON).
  async function getJson(url, timeoutMs) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      const response = await fetch(url, { cache: 'no-store', signal: controller.signal,
                                          headers: { Accept: 'application/json' } });
      if (!response.ok) throw new Error('HTTP ' + response.status + (response.statusText ? ' ' + response.statusText : ''));
      return await response.json();
    } catch (error) {
      throw error && error.name === 'AbortError' ? new Error('no answer within the timeout') : error;
    } finally {
      clearTimeout(timer);
    }
  }
  async function refresh() {
    const timeout = Math.min(30000, Math.max(2000, refreshSeconds * 1000));
    const wantHistory = Date.now() >= historyDue;
    const [status, history, events, stats] = await Promise.allSettled([
      getJson(source, timeout), wantHistory ? getJson(historySource, timeout) : Promise.resolve(null),
      getJson(eventsSource, timeout), getJson(statsSource, timeout)]);
    try {
      if (wantHistory) applyHistory(history);
      applyEvents(events);
      applyStats(stats);
      if (status.status === 'rejected') throw status.reason;
      const fetchedAt = Date.now();
      render(status.value, fetchedAt);
      lastSuccess = new Date(fetchedAt);
      setTime(byId('updated'), utcText(fetchedAt));
      clearError();
    } catch (error) {
      showError(error);
    } finally {
      setTimeout(refresh, refreshSeconds * 1000);
    }
  }
  setInterval(tick, 1000);
  refresh();
})();
</script>
</body>
</html>
)KP";

}  // namespace gateway
