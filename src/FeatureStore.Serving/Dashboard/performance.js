// FeatureStore dashboard, performance panel: polls /v1/dashboard/performance and draws, per model version with a
// performance monitor, the realized metric against its estimate's band and the reference value, the label
// coverage per window, and one small chart per segment. Uses dashboard.js's helpers (api, el, svgEl, num, time,
// axisTime); every text from the server goes through textContent, never HTML.
"use strict";

// The metric chosen per model version ("model version" → metric), kept across refreshes.
const perfChoice = new Map();
let perfLast = null;

// Chart of one metric over windows: realized line (dots red where the window was degraded), the estimate as a
// dashed line inside its shaded band, the reference as a flat line. x is the window's end; y spans the values.
function perfChart(opts) {
  const w = opts.small ? 240 : 380, h = opts.small ? 110 : 150, left = 44, right = 10, top = 10, bottom = 22;
  const svg = svgEl("svg", { width: w, height: h, viewBox: "0 0 " + w + " " + h, class: "perf-chart" });
  const finite = v => v !== null && v !== undefined && isFinite(v);
  const realized = opts.windows.filter(p => finite(p.realized));
  const estimated = opts.windows.filter(p => finite(p.estimated));
  const ys = [...realized.map(p => p.realized), ...estimated.flatMap(p => [p.estimated, p.lower, p.upper].filter(finite))];
  if (finite(opts.reference)) { ys.push(opts.reference); }
  const label = (x, y, text, anchor, cls) => {
    const t = svgEl("text", { x, y, "text-anchor": anchor || "start" });
    if (cls) { t.setAttribute("class", cls); }
    t.textContent = text; svg.append(t); return t;
  };
  svg.append(svgEl("line", { class: "axis", x1: left, y1: h - bottom, x2: w - right, y2: h - bottom }));
  svg.append(svgEl("line", { class: "axis", x1: left, y1: top, x2: left, y2: h - bottom }));
  if (!ys.length) {
    label(w / 2, h / 2, opts.windows.length ? "metric undefined on every window" : "no window closed yet", "middle");
    return svg;
  }
  const xs = opts.windows.map(p => p.end_ms);
  const x0 = Math.min(...xs), x1 = Math.max(...xs);
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  const pad = y1 > y0 ? (y1 - y0) * 0.1 : Math.max(Math.abs(y1) * 0.05, 0.01);
  y0 -= pad; y1 += pad;
  const sx = x => left + (x1 === x0 ? (w - left - right) / 2 : (x - x0) / (x1 - x0) * (w - left - right));
  const sy = y => top + (1 - (y - y0) / (y1 - y0)) * (h - top - bottom);
  label(left - 4, top + 8, num(y1, 3), "end");
  label(left - 4, h - bottom, num(y0, 3), "end");
  label(left, h - 6, axisTime(x0, x0, x1), "start", "x-label");
  if (x1 !== x0) { label(w - right, h - 6, axisTime(x1, x0, x1) + " UTC", "end", "x-label"); }
  // The band first, so the lines stay on top of it. It breaks where a window has no estimate.
  const bands = estimated.filter(p => finite(p.lower) && finite(p.upper));
  if (bands.length > 1) {
    const outline = [...bands.map(p => sx(p.end_ms).toFixed(1) + "," + sy(p.upper).toFixed(1)),
      ...bands.slice().reverse().map(p => sx(p.end_ms).toFixed(1) + "," + sy(p.lower).toFixed(1))];
    svg.append(svgEl("polygon", { class: "band", points: outline.join(" ") }));
  } else if (bands.length === 1) {
    const p = bands[0];
    svg.append(svgEl("line", { class: "band-bar", x1: sx(p.end_ms), y1: sy(p.upper), x2: sx(p.end_ms), y2: sy(p.lower) }));
  }
  if (finite(opts.reference)) {
    const ry = sy(opts.reference);
    svg.append(svgEl("line", { class: "reference", x1: left, y1: ry, x2: w - right, y2: ry }));
    label(w - right - 2, ry - 3, "reference " + num(opts.reference, 3), "end");
  }
  const line = (pts, y, cls) => {
    if (pts.length > 1) {
      svg.append(svgEl("polyline", { class: "series " + cls, points: pts.map(p => sx(p.end_ms).toFixed(1) + "," + sy(y(p)).toFixed(1)).join(" ") }));
    }
  };
  line(estimated, p => p.estimated, "estimated");
  line(realized, p => p.realized, "realized");
  for (const p of realized) {
    const c = svgEl("circle", { class: "point" + (p.verdict === "degraded" ? " drifted" : p.verdict === "insufficient_data" ? " insufficient" : ""),
      cx: sx(p.end_ms).toFixed(1), cy: sy(p.realized).toFixed(1), r: opts.small ? 2 : 2.5 });
    const tip = svgEl("title");
    tip.textContent = "window " + time(p.start_ms) + " – " + time(p.end_ms) + ": realized " + num(p.realized, 4) +
      (finite(p.estimated) ? ", estimated " + num(p.estimated, 4) + " [" + num(p.lower, 4) + ", " + num(p.upper, 4) + "]" : "") +
      ", " + p.labelled + " of " + p.predictions + " labelled, " + p.verdict.replace("_", " ");
    c.append(tip);
    svg.append(c);
  }
  return svg;
}

// Labelled share per window, as bars from 0 to 1.
function coverageChart(windows) {
  const w = 380, h = 90, left = 44, right = 10, top = 8, bottom = 18;
  const svg = svgEl("svg", { width: w, height: h, viewBox: "0 0 " + w + " " + h, class: "coverage-chart" });
  svg.append(svgEl("line", { class: "axis", x1: left, y1: h - bottom, x2: w - right, y2: h - bottom }));
  const text = (x, y, s, anchor) => { const t = svgEl("text", { x, y, "text-anchor": anchor }); t.textContent = s; svg.append(t); };
  text(left - 4, top + 8, "100%", "end");
  text(left - 4, h - bottom, "0", "end");
  const slot = (w - left - right) / Math.max(windows.length, 1);
  windows.forEach((p, i) => {
    const bh = Math.max(0, Math.min(1, p.coverage)) * (h - top - bottom);
    const bar = svgEl("rect", { class: "coverage" + (p.verdict === "insufficient_data" ? " insufficient" : ""),
      x: (left + i * slot + slot * 0.15).toFixed(1), y: (h - bottom - bh).toFixed(1), width: Math.max(1, slot * 0.7).toFixed(1), height: bh.toFixed(1) });
    const tip = svgEl("title");
    tip.textContent = "window " + time(p.start_ms) + " – " + time(p.end_ms) + ": " + p.labelled + " of " + p.predictions +
      " labelled (" + (p.coverage * 100).toFixed(1) + "%), closed by " + p.closed_by;
    bar.append(tip);
    svg.append(bar);
  });
  if (!windows.length) { text(w / 2, h / 2, "no window closed yet", "middle"); }
  return svg;
}

// One segment's windows as chart points for the chosen metric.
function perfPoints(windows, metric) {
  return windows.map(p => {
    const e = p.estimated && p.estimated[metric];
    return { start_ms: p.window_start_ms, end_ms: p.window_end_ms, realized: p.realized[metric],
      estimated: e ? e.value : null, lower: e ? e.lower : null, upper: e ? e.upper : null,
      verdict: p.verdict, labelled: p.labelled, predictions: p.predictions, coverage: p.coverage, closed_by: p.closed_by };
  });
}

function renderPerformance(d) {
  const box = document.getElementById("performance");
  const blocks = [];
  for (const m of d.models) {
    const id = m.model + " " + m.version;
    const metric = perfChoice.get(id) || m.main_metric;
    const l = m.labels;
    const wholeSeries = m.segments.find(s => s.segment === null) || m.segments[0];
    const shown = wholeSeries ? wholeSeries.windows.length : 0;
    const select = el("select", { "aria-label": "metric of " + id });
    for (const name of m.metrics) {
      const option = el("option", { value: name }, name);
      if (name === metric) { option.selected = true; }
      select.append(option);
    }
    select.addEventListener("change", () => { perfChoice.set(id, select.value); perfLast = null; renderPerformance(d); });
    blocks.push(el("h3", { "data-model": m.model, "data-version": m.version }, id + " ",
      el("span", { class: "muted" }, m.task.replace("_", " ") + " · " + shown + (shown === 1 ? " window" : " windows") +
        (m.segment_by ? " · by " + m.segment_by : "") + " · "), select));
    blocks.push(el("p", { class: "labels muted" }, "labels: " + l.joined.toLocaleString() + " joined, " + l.duplicate.toLocaleString() + " duplicate, " +
      l.late.toLocaleString() + " late, " + l.unmatched.toLocaleString() + " unmatched, " + l.pending.toLocaleString() + " pending"));
    if (!m.segments.length) {
      blocks.push(el("p", { class: "muted" }, "no performance window closed yet"));
      continue;
    }
    const reference = m.reference ? m.reference[metric] : null;
    const whole = wholeSeries;
    const points = perfPoints(whole.windows, metric);
    const last = points[points.length - 1];
    const main = el("div", { class: "chart", "data-metric": metric }, el("div", { class: "title" }, el("b", {}, metric),
      (whole.segment === null ? " · all predictions" : " · " + whole.segment) + " · latest ",
      el("span", { class: last && last.verdict === "degraded" ? "bad" : "ok" }, last ? num(last.realized, 4) : "—")));
    main.append(perfChart({ windows: points, reference }));
    main.append(el("div", { class: "legend" }, el("span", { class: "realized" }, "— realized"), el("span", { class: "estimated" }, "– – estimated (band shaded)"),
      el("span", { class: "reference" }, "— reference")));
    const coverage = el("div", { class: "chart" }, el("div", { class: "title" }, el("b", {}, "label coverage"), " per window"), coverageChart(points));
    blocks.push(el("div", { class: "charts" }, main, coverage));
    const segments = m.segments.filter(s => s.segment !== null);
    if (segments.length) {
      const small = el("div", { class: "charts small" });
      for (const s of segments) {
        small.append(el("div", { class: "chart", "data-segment": s.segment }, el("div", { class: "title" }, el("b", {}, s.segment), " · " + metric),
          perfChart({ windows: perfPoints(s.windows, metric), reference, small: true })));
      }
      blocks.push(small);
    }
  }
  if (!d.models.length) { blocks.push(el("p", { class: "muted" }, "no model has a performance monitor")); }
  box.replaceChildren(...blocks);
}

async function refreshPerformance() {
  try {
    const d = await api("/v1/dashboard/performance");
    // Redraw only when the data changed, so an open metric selector is not closed under the reader.
    const text = JSON.stringify(d.models);
    if (text !== perfLast) { perfLast = text; renderPerformance(d); }
  } catch (e) {
    // dashboard.js reports errors and asks for a key; this panel keeps its last charts meanwhile.
  }
}

document.getElementById("key-form").addEventListener("submit", () => { perfLast = null; refreshPerformance(); });
refreshPerformance();
setInterval(refreshPerformance, REFRESH_MS);
