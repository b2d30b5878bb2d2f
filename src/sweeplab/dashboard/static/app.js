// sweeplab dashboard: renders the pages from /api/ and refreshes while a sweep runs.
"use strict";

const REFRESH_MS = 5000;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function fmt(v) {
  if (v === null || v === undefined) return "-";
  if (typeof v === "boolean") return v ? "Yes" : "No";
  if (typeof v === "number") {
    if (Number.isInteger(v)) return String(v);
    return Math.abs(v) <= 1 ? v.toFixed(3) : v.toPrecision(4);
  }
  return String(v);
}

async function getJSON(url) {
  const r = await fetch(url, { cache: "no-store" });
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return r.json();
}

function stamp() {
  document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
}

// --- the sweeps list ---------------------------------------------------------------------

async function indexPage() {
  const sweeps = await getJSON("/api/sweeps");
  const body = document.querySelector("#sweeps tbody");
  body.replaceChildren();
  for (const s of sweeps) {
    if (s.error) {
      body.append(el("tr", {}, el("td", { text: s.id }), el("td", { colspan: 11, text: s.error })));
      continue;
    }
    const link = el("a", { href: `/sweep/${encodeURIComponent(s.id)}`, text: s.name });
    const best = s.best ? `${fmt(s.best.value)} (${s.best.label})` : "-";
    const t = s.trials;
    body.append(el("tr", { "data-sweep": s.id },
      el("td", {}, link), el("td", { text: s.experiment || "-" }), el("td", { text: `${s.metric} (${s.mode})` }),
      el("td", { text: s.scheduler || "?" }), el("td", { text: s.searcher || "?" }),
      el("td", {}, el("span", { class: `badge ${s.state}`, text: s.state })),
      el("td", { text: t.running }), el("td", { text: t.done }), el("td", { text: t.stopped }), el("td", { text: t.failed }),
      el("td", { text: best }), el("td", { text: s.trial_hours.toFixed(3) })));
  }
  document.getElementById("empty").hidden = sweeps.length > 0;
  stamp();
  if (sweeps.some((s) => s.state === "running")) setTimeout(indexPage, REFRESH_MS);
}

// --- one sweep ---------------------------------------------------------------------------

const sweepId = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] || "");
let sortState = null; // [column index, ascending]

function trialCells(row, data) {
  return [row.label, row.status + (row.stopped ? " (stopped early)" : ""), row.iterations,
    ...data.params.map((p) => row.config[p]), ...data.metrics.map((m) => row.metrics[m]),
    row.observations.join("; ") || "-"];
}

function renderTrials(data) {
  const head = ["Model", "Status", "Epochs", ...data.params, ...data.metrics, "Observations"];
  const thead = document.querySelector("#trials thead");
  const tbody = document.querySelector("#trials tbody");
  thead.replaceChildren(el("tr", {}, ...head.map((h, i) => {
    const th = el("th", { text: h, "data-col": i });
    if (sortState && sortState[0] === i) th.className = sortState[1] ? "sorted-asc" : "sorted-desc";
    th.addEventListener("click", () => {
      sortState = [i, sortState && sortState[0] === i ? !sortState[1] : true];
      renderTrials(data);
    });
    return th;
  })));
  let rows = data.rows.map((r) => [r, trialCells(r, data)]);
  if (sortState) {
    const [col, asc] = sortState;
    rows.sort((a, b) => {
      const x = a[1][col], y = b[1][col];
      const nx = typeof x === "number", ny = typeof y === "number";
      const c = nx && ny ? x - y : nx ? -1 : ny ? 1 : String(x).localeCompare(String(y));
      return asc ? c : -c;
    });
  }
  tbody.replaceChildren(...rows.map(([r, cells]) => {
    const tr = el("tr", { class: [r.status, r.stopped ? "stopped" : "", r.baseline ? "baseline" : ""].join(" ").trim(),
      "data-trial": r.trial_id, title: r.error || r.trial_id });
    cells.forEach((c, i) => tr.append(el("td", { class: i === cells.length - 1 ? "notes" : "", text: fmt(c) })));
    return tr;
  }));
}

// plotly's bundled script (4.8 MB, served from the package) loads beside the tables, not before
let plotlyReady = null;
function loadPlotly() {
  plotlyReady = plotlyReady || new Promise((resolve, reject) => {
    const s = el("script", { src: "/static/plotly.min.js" });
    s.onload = resolve;
    s.onerror = () => reject(new Error("cannot load /static/plotly.min.js"));
    document.head.append(s);
  });
  return plotlyReady;
}

const MANY_TRIALS = 40; // beyond this, one trace per kind of trial: fast to draw, no legend to scroll

function mergedTraces(trials, chosen) {
  const kinds = { ran: "#1e88e5", "stopped early": "#9e9e9e", failed: "#e53935" };
  const traces = [];
  for (const [kind, color] of Object.entries(kinds)) {
    const x = [], y = [], text = [];
    for (const t of trials) {
      const k = t.status === "ERROR" ? "failed" : t.stopped ? "stopped early" : "ran";
      if (k !== kind || (chosen && t.trial_id === chosen.trial_id)) continue;
      x.push(...t.x, null); y.push(...t.y, null); text.push(...t.x.map(() => t.label), null);
    }
    if (x.length) traces.push({ x, y, text, name: kind, mode: "lines", type: "scatter", hoverinfo: "text+y",
      line: { width: 1, color, dash: kind === "stopped early" ? "dot" : "solid" }, opacity: 0.5 });
  }
  const best = chosen && trials.find((t) => t.trial_id === chosen.trial_id);
  if (best) traces.push({ x: best.x, y: best.y, name: `${best.label} (chosen)`, mode: "lines+markers", type: "scatter",
    line: { width: 3, color: "#fb8c00" } });
  return traces;
}

function renderCurves(curves, chosen) {
  const drawn = curves.trials.filter((t) => t.x.length);
  const traces = drawn.length > MANY_TRIALS ? mergedTraces(drawn, chosen) : drawn.map((t) => {
    const failed = t.status === "ERROR";
    const isChosen = chosen && t.trial_id === chosen.trial_id;
    return {
      x: t.x, y: t.y, name: t.label, mode: "lines+markers", type: "scatter",
      line: { width: isChosen ? 3 : 1, dash: t.stopped ? "dot" : "solid", color: failed ? "#e53935" : isChosen ? "#fb8c00" : undefined },
      marker: { size: 4, symbol: t.x.map((_, i) => (i === t.x.length - 1 && (t.stopped || failed) ? "x" : "circle")) },
      opacity: isChosen ? 1 : 0.7,
    };
  });
  Plotly.react("curves", traces, {
    margin: { t: 20, r: 10 }, xaxis: { title: { text: "iteration (epoch)" } }, yaxis: { title: { text: curves.metric } },
    showlegend: traces.length <= MANY_TRIALS, legend: { font: { size: 9 } },
  }, { displaylogo: false, responsive: true });
}

function renderParams(curves) {
  const box = document.getElementById("params");
  const ids = curves.params.map((p, i) => `param-${i}`);
  if (box.children.length !== ids.length) box.replaceChildren(...ids.map((id) => el("div", { id, class: "chart" })));
  curves.params.forEach((p, i) => {
    const pts = curves.trials.filter((t) => t.best !== null && t.params[p] !== null && t.params[p] !== undefined);
    const xs = pts.map((t) => (typeof t.params[p] === "boolean" ? String(t.params[p]) : t.params[p]));
    const numeric = xs.every((x) => typeof x === "number");
    const positive = numeric && xs.length && Math.min(...xs) > 0;
    const log = positive && Math.max(...xs) / Math.min(...xs) >= 20;
    Plotly.react(ids[i], [{
      x: xs, y: pts.map((t) => t.best), text: pts.map((t) => t.label), mode: "markers", type: "scatter",
      marker: { size: 7, color: pts.map((t) => (t.status === "ERROR" ? "#e53935" : t.stopped ? "#9e9e9e" : "#1e88e5")) },
    }], {
      margin: { t: 10, r: 10, b: 40 }, xaxis: { title: { text: p }, type: log ? "log" : numeric ? "linear" : "category" },
      yaxis: { title: { text: curves.metric } },
    }, { displaylogo: false, responsive: true });
  });
}

function renderImages(curves) {
  const box = document.getElementById("images");
  const figs = [];
  for (const t of curves.trials) {
    for (const path of t.images.slice(-3)) {
      const src = `/files/${encodeURIComponent(sweepId)}/${path.split("/").map(encodeURIComponent).join("/")}`;
      figs.push(el("figure", {}, el("a", { href: src }, el("img", { src, alt: path, loading: "lazy" })),
        el("figcaption", { text: `${t.label}: ${path.split("/").pop()}` })));
    }
  }
  box.replaceChildren(...(figs.length ? figs : [el("p", { class: "muted", text: "No trial saved images." })]));
}

async function sweepPage() {
  const base = `/api/sweeps/${encodeURIComponent(sweepId)}`;
  const curvesAsked = getJSON(base + "/curves");
  loadPlotly();
  const [summary, trials] = await Promise.all([getJSON(base), getJSON(base + "/trials")]);
  document.title = `sweeplab: ${summary.name}`;
  document.getElementById("title").textContent = summary.name;
  const state = document.getElementById("state");
  state.textContent = summary.state;
  state.className = `badge ${summary.state}`;
  const t = summary.trials;
  document.getElementById("summary").textContent =
    `${summary.experiment || "-"} · ${summary.metric} (${summary.mode}) · ${summary.scheduler} + ${summary.searcher} · ` +
    `seed ${summary.seed ?? "-"} · ${t.total} trials: ${t.running} running, ${t.done} done, ${t.stopped} stopped early, ` +
    `${t.failed} failed · ${summary.trial_hours.toFixed(3)} trial-hours` +
    (summary.best ? ` · best ${fmt(summary.best.value)} (${summary.best.label})` : "");
  renderTrials(trials);
  performance.mark("trials-table"); // bench/dashboard_load.py reads these marks
  document.getElementById("chosen").textContent = trials.chosen ? trials.chosen.yaml : "No trial has reported yet.";
  document.getElementById("conclusions").replaceChildren(...trials.conclusions.map((c) => el("p", { text: c })));
  const reports = document.getElementById("reports");
  reports.replaceChildren(...(summary.reports.length
    ? summary.reports.map((r) => el("a", { href: `/files/${encodeURIComponent(sweepId)}/report/${r}`, text: r + " " }))
    : [el("span", { class: "muted", text: "None yet: sweeplab report " + summary.name })]));
  const curves = await curvesAsked;
  renderImages(curves);
  await loadPlotly();
  renderCurves(curves, trials.chosen);
  renderParams(curves);
  performance.mark("charts");
  stamp();
  if (summary.state === "running") setTimeout(sweepPage, REFRESH_MS);
}

function show(error) {
  document.querySelector("main").prepend(el("p", { class: "badge failed", text: String(error) }));
}

const pageName = document.body.dataset.page;
(pageName === "sweep" ? sweepPage() : indexPage()).catch(show);
