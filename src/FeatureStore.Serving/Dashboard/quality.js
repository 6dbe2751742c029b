// FeatureStore dashboard, freshness and quality panel: polls /v1/quality and lists each check of the quality
// evaluator's latest evaluation (freshness against the objective, served-value and dead-letter rates against their
// thresholds), breaches and open incidents first. Uses dashboard.js's helpers (api, el, cell, num, age, time,
// fillTable); every text from the server goes through textContent, never HTML.
"use strict";

function qualityValue(c) {
  if (c.value === null) { return "— / " + num(c.threshold, 4); }
  return c.kind === "freshness" ? age(c.value * 1000) + " / " + age(c.threshold * 1000) : num(c.value, 4) + " / " + num(c.threshold, 4);
}

function qualityOver(c) {
  return c.kind === "freshness" ? (c.count >= 0 ? "lag " + c.count.toLocaleString() : "lag —")
    : age(c.window_ms) + ", " + c.count.toLocaleString() + (c.source ? " events" : " values");
}

function renderQuality(q) {
  const summary = document.getElementById("quality-summary");
  if (!q.report) {
    summary.replaceChildren(el("p", { class: "muted" }, "no evaluation yet: the monitor evaluates views with freshness or quality and sources with quality"));
    fillTable("quality", []);
    return;
  }
  document.getElementById("quality-when").textContent = "evaluated " + age(q.now_ms - q.report.evaluated_at_ms) + " ago, every " + age(q.report.interval_ms);
  const opened = new Map(q.open.map(i => [i.key, i]));
  const breaches = q.report.checks.filter(c => c.verdict === "breach").length;
  summary.replaceChildren(el("p", {},
    el("span", { class: breaches ? "bad" : "ok" }, breaches + " breached"), ", " + q.open.length + " incidents open, " +
    q.resolved.length + " resolved; deliveries pending: " + q.pending_deliveries));
  const rank = c => c.verdict === "breach" ? 0 : c.verdict === "ok" ? 1 : 2;
  const rows = [...q.report.checks].sort((a, b) => rank(a) - rank(b)).map(c => {
    const incident = opened.get(c.key);
    const state = c.verdict === "insufficient_data" ? "too few" : c.verdict;
    return el("tr", {},
      cell(state, c.verdict === "breach" ? "bad" : c.verdict === "ok" ? "ok" : "muted"),
      cell(c.view || c.source), cell(c.feature || c.reason || ""), cell(c.metric),
      cell(qualityValue(c), "num"), cell(qualityOver(c), "num"),
      cell(incident ? time(incident.opened_ms) + (incident.alerted ? "" : " (not alerted)") : ""));
  });
  fillTable("quality", rows);
}

async function refreshQuality() {
  try {
    renderQuality(await api("/v1/quality"));
  } catch (e) {
    if (!(e instanceof NeedKey)) {
      document.getElementById("quality-summary").replaceChildren(el("p", { class: "bad" }, e.message));
    }
  }
}

document.getElementById("key-form").addEventListener("submit", () => refreshQuality());
refreshQuality();
setInterval(refreshQuality, REFRESH_MS);
