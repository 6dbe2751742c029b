// The dashboard's lookup panel: one entity's features of one view, through the HTTP lookup (POST /v1/features/online)
// with the dashboard's API key. Lists (last_n, last_n_distinct) read newest first; top_k as value ×count, most frequent first.
"use strict";

let lookupViews = [];

// The view selector and one input per join key of the chosen view's entity; kept while the views stay the same.
function renderLookupForm(views) {
  const names = views.map(v => v.name).join("\n");
  if (names === lookupViews.map(v => v.name).join("\n")) { return; }
  lookupViews = views;
  const select = document.getElementById("lookup-view");
  const chosen = select.value;
  select.replaceChildren(...views.map(v => el("option", { value: v.name }, v.name + " (" + v.entity + ")")));
  if (views.some(v => v.name === chosen)) { select.value = chosen; }
  renderLookupKeys();
}

function renderLookupKeys() {
  const view = lookupViews.find(v => v.name === document.getElementById("lookup-view").value);
  document.getElementById("lookup-keys").replaceChildren(...(view ? view.join_keys : []).map(k =>
    el("label", {}, k + " ", el("input", { name: k, required: "", autocomplete: "off" }))));
}

// A value as text: a number, a text, a list, or value ×count pairs; "—" without one.
function lookupValueText(v) {
  if (v.doubleValue !== undefined) { return typeof v.doubleValue === "number" ? num(v.doubleValue, 4) : String(v.doubleValue); }
  if (v.int64Value !== undefined) { return String(v.int64Value); }
  if (v.stringValue !== undefined) { return v.stringValue; }
  if (v.boolValue !== undefined) { return String(v.boolValue); }
  if (v.countsValue !== undefined) {
    return Object.entries(v.countsValue.counts || {}).map(([value, count]) => [value, Number(count)])
      .sort((a, b) => b[1] - a[1]).map(([value, count]) => value + " ×" + count).join(", ");
  }
  for (const [field, list] of Object.entries(v)) {
    if (field.endsWith("ListValue")) { return "[" + (list.values || []).map(String).join(", ") + "]"; }
  }
  return "—";
}

async function lookUp(event) {
  event.preventDefault();
  const error = document.getElementById("lookup-error");
  error.textContent = "";
  const view = document.getElementById("lookup-view").value;
  const joinKeys = {};
  for (const input of document.querySelectorAll("#lookup-keys input")) { joinKeys[input.name] = input.value; }
  const headers = { "Content-Type": "application/json", "Accept": "application/json" };
  const key = apiKey();
  if (key) { headers["x-api-key"] = key; }
  try {
    const response = await fetch("/v1/features/online", {
      method: "POST", headers, cache: "no-store", body: JSON.stringify({ features: [view], entities: [{ join_keys: joinKeys }] }),
    });
    const answer = await response.json();
    if (!response.ok) { throw new Error(response.status + " " + (answer.message || response.statusText)); }
    const row = answer.rows[0].values;
    fillTable("lookup", answer.featureNames.map((name, i) => el("tr", {},
      cell(name), cell(row[i].status || "PRESENT", row[i].status && row[i].status !== "PRESENT" ? "muted" : ""),
      cell(lookupValueText(row[i]), "num"), cell(row[i].eventTimestamp ? row[i].eventTimestamp.replace("T", " ") : "—"))));
    document.getElementById("lookup").hidden = false;
  } catch (e) {
    error.textContent = e.message;
  }
}

document.getElementById("lookup-form").addEventListener("submit", lookUp);
document.getElementById("lookup-view").addEventListener("change", renderLookupKeys);
