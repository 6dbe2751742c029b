// FeatureStore dashboard: polls the server's /v1/dashboard/* JSON endpoints and draws tables and SVG charts.
// No libraries; every text from the server goes through textContent, never HTML.
"use strict";

const KEY_STORAGE = "featurestore.apiKey";
const SVG = "http://www.w3.org/2000/svg";
const REFRESH_MS = 5000;

function apiKey() { return sessionStorage.getItem(KEY_STORAGE); }

class NeedKey extends Error {}

async function api(path) {
  const headers = { "Accept": "application/json" };
  const key = apiKey();
  if (key) { headers["x-api-key"] = key; }
  const response = await fetch(path, { headers, cache: "no-store" });
  if (response.status === 401) { throw new NeedKey(); }
  if (!response.ok) {
    let message = response.statusText;
    try { message = (await response.json()).message; } catch (e) { /* not JSON */ }
    throw new Error(path + ": " + response.status + " " + message);
  }
  return response.json();
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) { node.setAttribute(k, v); }
  for (const child of children) { node.append(child instanceof Node ? child : document.createTextNode(String(child))); }
  return node;
}

function svgEl(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) { node.setAttribute(k, v); }
  return node;
}

function age(ms) {
  if (ms === null || ms === undefined) { return "—"; }
  const s = ms / 1000;
  if (Math.abs(s) < 1) { return ms.toFixed(0) + " ms"; }
  if (Math.abs(s) < 90) { return s.toFixed(1) + " s"; }
  if (Math.abs(s) < 5400) { return (s / 60).toFixed(1) + " min"; }
  if (Math.abs(s) < 172800) { return (s / 3600).toFixed(1) + " h"; }
  return (s / 86400).toFixed(1) + " d";
}

function time(ms) {
  if (ms === null || ms === undefined) { return "—"; }
  return new Date(ms).toISOString().replace("T", " ").substring(0, 19) + "Z";
}

// An axis label (UTC): the date too when the axis spans more than one day, seconds or milliseconds when it
// spans minutes or seconds, so the two ends of a short axis never read the same.
function axisTime(ms, x0, x1) {
  const iso = new Date(ms).toISOString();
  const oneDay = new Date(x0).toISOString().substring(0, 10) === new Date(x1).toISOString().substring(0, 10);
  const span = x1 - x0;
  const clock = span < 10000 ? iso.substring(11, 23) : span < 600000 ? iso.substring(11, 19) : iso.substring(11, 16);
  return (oneDay ? "" : iso.substring(0, 10) + " ") + clock;
}

function step(ms) { return ms < 1000 ? ms + " ms" : (ms / 1000) + " s"; }

function num(v, digits) {
  if (v === null || v === undefined) { return "—"; }
  if (v !== 0 && (Math.abs(v) < 0.001 || Math.abs(v) >= 100000)) { return v.toExponential(2); }
  return v.toFixed(digits === undefined ? 3 : digits);
}

function fillTable(id, rows) {
  const body = document.querySelector("#" + id + " tbody");
  body.replaceChildren(...rows);
}

function cell(text, cls) { return el("td", cls ? { class: cls } : {}, text); }

function renderOverview(o) {
  document.getElementById("project").textContent = o.project + " · registry v" + o.registry_version;
  fillTable("views", o.views.map(v => el("tr", {},
    cell(v.name), cell(v.entity), cell(v.features.length, "num"), cell(age(v.ttl_ms), "num"),
    cell(freshnessText(v), v.freshness_ms === null ? "muted" : v.freshness_objective_ms !== null && v.freshness_ms > v.freshness_objective_ms ? "num bad" : "num"),
    cell(v.since_write_ms === null ? "—" : age(v.since_write_ms) + " ago", "num"),
    cell(v.lag === null ? "—" : v.lag.toLocaleString(), v.lag > 0 ? "num bad" : "num"),
    cell(groupsText(v.groups), v.groups.some(g => g.building) ? "" : "muted"))));
  fillTable("partitions", o.ingest.map(p => el("tr", {},
    cell(p.group), cell(p.topic + ":" + p.partition), cell(p.lag < 0 ? "—" : p.lag.toLocaleString(), "num"),
    cell(time(p.newest_event_ms)), cell(time(p.last_write_ms)),
    cell(p.updated_ms === null ? "—" : age(o.now_ms - p.updated_ms), "num"), cell(p.member || ""))));
}

// A view's freshness, against its objective when it declares one.
function freshnessText(v) {
  if (v.freshness_ms === null) { return "no status yet"; }
  return v.freshness_objective_ms === null ? age(v.freshness_ms) : age(v.freshness_ms) + " / " + age(v.freshness_objective_ms);
}

// A view's state groups: "serving" (and how many groups), or its building group's features and rebuild progress.
function groupsText(groups) {
  const serving = groups.filter(g => !g.building).length;
  const text = serving > 1 ? "serving (" + serving + " groups)" : "serving";
  return groups.filter(g => g.building).reduce((all, g) => all + " · building " + g.features.join(", ") + " (" +
    (g.progress !== null ? Math.floor(g.progress * 100) + "% of " + g.rows_total.toLocaleString() + " events"
      : g.state === "waiting" && g.reason ? "waiting: " + g.reason : g.state || "not started") + ")", text);
}

// A line chart: series of {x, y, t} points (t, the time, is x unless given), optional threshold; returns an
// <svg>. The x-axis labels are the times of the first and last point.
function chart(opts) {
  const w = 380, h = 150, left = 44, right = 10, top = 10, bottom = 22;
  const all = opts.series.flatMap(s => s.points).filter(p => p.y !== null && p.y !== undefined);
  const svg = svgEl("svg", { width: w, height: h, viewBox: "0 0 " + w + " " + h, class: opts.cls || "" });
  const xs = all.map(p => p.x);
  const x0 = xs.length ? Math.min(...xs) : 0, x1 = xs.length ? Math.max(...xs) : 1;
  // yTop caps the scale (points above it are drawn at the top): one slow first lookup must not flatten the rest.
  let y1 = (opts.yTop !== undefined ? opts.yTop : Math.max(opts.yMax || 0, ...all.map(p => p.y), opts.threshold || 0)) * 1.1;
  if (!(y1 > 0)) { y1 = 1; }
  const sx = x => left + (x1 === x0 ? (w - left - right) / 2 : (x - x0) / (x1 - x0) * (w - left - right));
  const sy = y => top + (1 - Math.min(y, y1) / y1) * (h - top - bottom);
  svg.append(svgEl("line", { class: "axis", x1: left, y1: h - bottom, x2: w - right, y2: h - bottom }));
  svg.append(svgEl("line", { class: "axis", x1: left, y1: top, x2: left, y2: h - bottom }));
  const label = (x, y, text, anchor) => { const t = svgEl("text", { x, y, "text-anchor": anchor || "start" }); t.textContent = text; svg.append(t); return t; };
  label(left - 4, top + 8, num(y1, 2), "end");
  label(left - 4, h - bottom, "0", "end");
  if (xs.length) {
    const at = x => { const p = all.find(q => q.x === x); return p.t === undefined ? p.x : p.t; };
    const t0 = at(x0), t1 = at(x1);
    label(left, h - 6, axisTime(t0, t0, t1), "start").setAttribute("class", "x-label");
    if (x1 !== x0) { label(w - right, h - 6, axisTime(t1, t0, t1) + " UTC", "end").setAttribute("class", "x-label"); }
  }
  if (opts.threshold !== undefined && opts.threshold !== null) {
    const ty = sy(opts.threshold);
    svg.append(svgEl("line", { class: "threshold", x1: left, y1: ty, x2: w - right, y2: ty }));
    label(w - right - 2, ty - 3, "threshold " + num(opts.threshold, 3), "end");
  }
  for (const s of opts.series) {
    const pts = s.points.filter(p => p.y !== null && p.y !== undefined);
    if (pts.length > 1) {
      svg.append(svgEl("polyline", { class: "series " + (s.cls || ""), points: pts.map(p => sx(p.x).toFixed(1) + "," + sy(p.y).toFixed(1)).join(" ") }));
    }
    if (s.dots || pts.length <= 30) {
      for (const p of pts) {
        const c = svgEl("circle", { class: (s.dots ? "point" : "sample " + (s.cls || "")) + (p.bad ? " drifted" : ""), cx: sx(p.x).toFixed(1), cy: sy(p.y).toFixed(1), r: s.dots ? 2.5 : 1.5 });
        const tip = svgEl("title");
        tip.textContent = (p.tip || time(p.t === undefined ? p.x : p.t)) + ": " + num(p.y, 4) + (p.bad ? " (drifted)" : "");
        c.append(tip);
        svg.append(c);
      }
    }
  }
  if (!all.length) { label(w / 2, h / 2, opts.empty || "no data yet", "middle"); }
  return svg;
}

function renderLatency(l) {
  document.getElementById("latency-now").textContent = l.count
    ? "last " + l.window_s + " s: p50 " + num(l.p50_ms, 2) + " ms, p99 " + num(l.p99_ms, 2) + " ms over " + l.count + " lookups"
    : "no lookups in the last " + l.window_s + " s";
  const box = document.getElementById("latency");
  const legend = el("div", { class: "legend" }, el("span", { class: "p50" }, "— p50 (ms)"), el("span", { class: "p99" }, "— p99 (ms)"),
    el("span", { class: "muted" }, "per " + step(l.bucket_ms) + ", " + l.series.reduce((n, s) => n + s.count, 0) + " lookups in the last 10 minutes"));
  const p99s = l.series.map(s => s.p99_ms).filter(v => v !== null).sort((a, b) => a - b);
  box.replaceChildren(chart({
    cls: "latency-chart",
    yTop: p99s.length ? p99s[Math.floor((p99s.length - 1) * 0.95)] : undefined,
    empty: "no lookups in the last 10 minutes",
    series: [
      { cls: "p50", points: l.series.map(s => ({ x: s.t_ms, y: s.p50_ms })), dots: false },
      { cls: "p99", points: l.series.map(s => ({ x: s.t_ms, y: s.p99_ms })), dots: false },
    ],
  }), legend);
}

function renderDrift(d) {
  const box = document.getElementById("drift");
  const blocks = [];
  for (const m of d.models) {
    blocks.push(el("h3", { "data-windows": m.windows }, m.model + " " + m.version + " ",
      el("span", { class: "muted" }, m.windows + (m.windows === 1 ? " window" : " windows") + " · " + m.columns.length + (m.columns.length === 1 ? " column" : " columns"))));
    const charts = el("div", { class: "charts" });
    for (const c of m.columns) {
      if (!c.methods.length) {
        charts.append(el("div", { class: "chart" }, el("div", { class: "title" }, el("b", {}, c.column), " — no window evaluated yet")));
      }
      for (const s of c.methods) {
        const last = s.points[s.points.length - 1];
        const title = el("div", { class: "title" }, el("b", {}, c.column), " · " + s.method + (s.lower_is_drift ? " (p-value: drift below)" : "") + " · latest ",
          el("span", { class: last && last.drifted ? "bad" : "ok" }, last ? num(last.value, 4) : "—"),
          " · " + s.points.length + (s.points.length === 1 ? " window" : " windows"));
        const box1 = el("div", { class: "chart", "data-column": c.column, "data-method": s.method }, title);
        box1.append(chart({
          cls: "drift-chart",
          threshold: s.threshold,
          yMax: s.lower_is_drift ? 1 : 0,
          // One step per window, in order: windows that close at one instant (count windows filled at once)
          // stand side by side instead of on top of each other; the axis gives the first and last window's end.
          series: [{ points: s.points.map((p, i) => ({ x: i, t: p.end_ms, y: p.value, bad: p.drifted,
            tip: "window " + time(p.start_ms) + " – " + time(p.end_ms) + ", " + p.count + " predictions" })), dots: true }],
        }));
        charts.append(box1);
      }
      if (c.segments && c.segments.length) {
        // segment_by: the charts are the whole column's; each segment's latest window is a row here.
        charts.append(el("div", { class: "chart segments", "data-column": c.column },
          el("div", { class: "title" }, el("b", {}, c.column), " · segments, latest window each"),
          el("table", {}, el("thead", {}, el("tr", {}, ...["segment", "window end", "predictions", "verdict", "methods"].map(h => el("th", {}, h)))),
            el("tbody", {}, ...c.segments.map(s => el("tr", { "data-segment": s.segment },
              cell(s.segment), cell(time(s.end_ms)), cell(s.count, "num"),
              cell(s.verdict || (s.drifted ? "drifted" : "no_drift"), s.drifted ? "bad" : "ok"),
              cell(s.results.map(r => r.method + " " + num(r.value, 4) + " / " + num(r.threshold, 4)).join(", ") || "—")))))));
      }
    }
    blocks.push(charts);
  }
  if (!d.models.length) { blocks.push(el("p", { class: "muted" }, "no model has monitors")); }
  box.replaceChildren(...blocks);
}

function renderAlerts(a) {
  document.getElementById("alerts-summary").replaceChildren(el("p", {},
    el("span", { class: a.open.length ? "bad" : "ok" }, a.open.length + " open"), ", " + a.resolved.length + " resolved; webhook deliveries pending: " + a.pending_deliveries + ", refused: " + a.rejected_deliveries));
  const row = (i, state) => el("tr", { class: "incident " + state },
    cell(state, state === "open" ? "bad" : "ok"), cell(i.model + " " + i.version), cell(i.segment ? i.column + " [" + i.segment + "]" : i.column), cell(i.method),
    cell(num(i.value, 4) + " / " + num(i.threshold, 4), "num"), cell(time(i.opened_ms)), cell(time(i.resolved_ms)), cell(i.alerted ? "yes" : "no (cooldown or no webhook)"));
  fillTable("alerts", [...a.open.map(i => row(i, "open")), ...a.resolved.map(i => row(i, "resolved"))]);
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    const [overview, latency, drift, alerts] = await Promise.all(
      ["overview", "latency", "drift", "alerts"].map(p => api("/v1/dashboard/" + p)));
    renderOverview(overview);
    renderLookupForm(overview.views);
    renderLatency(latency);
    renderDrift(drift);
    renderAlerts(alerts);
    document.getElementById("key-form").hidden = true;
    status.className = "";
    status.textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    if (e instanceof NeedKey) {
      document.getElementById("key-form").hidden = false;
      document.getElementById("key-error").textContent = apiKey() ? "that key was refused" : "";
      status.textContent = "API key needed";
    } else {
      status.className = "error";
      status.textContent = e.message;
    }
  }
}

document.getElementById("key-form").addEventListener("submit", ev => {
  ev.preventDefault();
  const input = document.getElementById("key-input");
  sessionStorage.setItem(KEY_STORAGE, input.value.trim());
  input.value = "";
  refresh();
});

refresh();
setInterval(refresh, REFRESH_MS);
