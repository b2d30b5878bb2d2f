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
    return String(Number(v.toPrecision(4))); // 4 significant digits: an lr of 0.00028 is not "0.000"
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

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "-";
  const s = Math.round(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h ? `${h}h ${String(m).padStart(2, "0")}m` : m ? `${m}m ${String(s % 60).padStart(2, "0")}s` : `${s % 60}s`;
}

function progressText(p) {
  if (!p) return "-";
  return p.epoch_budget ? `${p.epochs} of ${p.epoch_budget} epochs` : p.of ? `${p.ended} of ${p.of}` : `${p.ended}`;
}

const ticked = new Set();

function compareButton() {
  const button = document.getElementById("compare");
  button.disabled = ticked.size < 2;
  button.onclick = () => { location.href = "/compare?ids=" + [...ticked].map(encodeURIComponent).join(","); };
}

async function indexPage() {
  const sweeps = await getJSON("/api/sweeps");
  const body = document.querySelector("#sweeps tbody");
  body.replaceChildren();
  for (const s of sweeps) {
    if (s.error) {
      body.append(el("tr", { "data-sweep": s.id }, el("td"), el("td", { text: s.id }), el("td", { colspan: 15, text: s.error })));
      continue;
    }
    const box = el("input", { type: "checkbox", "aria-label": `compare ${s.name}` });
    box.checked = ticked.has(s.id);
    box.addEventListener("change", () => { box.checked ? ticked.add(s.id) : ticked.delete(s.id); compareButton(); });
    const link = el("a", { href: `/sweep/${encodeURIComponent(s.id)}`, text: s.name });
    const best = s.best ? `${fmt(s.best.value)} (${s.best.label})` : "-";
    const t = s.trials, p = s.progress || {};
    body.append(el("tr", { "data-sweep": s.id },
      el("td", {}, box), el("td", {}, link), el("td", { text: (s.started || "-").replace("T", " ") }),
      el("td", { text: s.experiment || "-" }), el("td", { text: `${s.metric} (${s.mode})` }),
      el("td", { text: s.scheduler || "?" }), el("td", { text: s.searcher || "?" }),
      el("td", {}, el("span", { class: `badge ${s.state}`, text: stateText(s) })),
      el("td", { class: "progress", text: progressText(p) }), el("td", { text: duration(p.elapsed_s) }),
      el("td", { text: s.state === "running" ? duration(p.eta_s) : "-" }),
      el("td", { text: t.running }), el("td", { text: t.done }), el("td", { text: t.stopped }), el("td", { text: t.failed }),
      el("td", { text: best }), el("td", { text: s.trial_hours.toFixed(3) })));
  }
  document.getElementById("empty").hidden = sweeps.length > 0;
  compareButton();
  stamp();
  setTimeout(indexPage, REFRESH_MS); // always: a sweep started after the page opened appears
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
  // the epochs a trial ran beside, where the space has one, the epochs its config asked for
  const head = ["Model", "Status", "Epochs run", ...data.params.map((p) => (p === "epochs" ? "epochs (config)" : p)),
    ...data.metrics, "Observations"];
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
      margin: { t: 10, r: 10, b: 40 },
      xaxis: { title: { text: p }, type: log ? "log" : numeric ? "linear" : "category", range: numeric ? padded(xs, log) : undefined },
      yaxis: { title: { text: curves.metric }, range: padded(pts.map((t) => t.best)) },
    }, { displaylogo: false, responsive: true });
  });
}

// an axis range with room around the points: the best one is never clipped at an edge
function padded(values, log = false) {
  const v = values.filter((x) => typeof x === "number" && Number.isFinite(x) && (!log || x > 0)).map((x) => (log ? Math.log10(x) : x));
  if (!v.length) return undefined;
  let lo = Math.min(...v), hi = Math.max(...v);
  const pad = hi > lo ? (hi - lo) * 0.08 : Math.abs(hi) * 0.05 || 0.5;
  return [lo - pad, hi + pad];
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

const PLOT = { displaylogo: false, responsive: true };

function renderBestSoFar(b) {
  const line = (x, y, name, extra = {}) => ({ x, y, name, mode: "lines", type: "scatter", ...extra });
  const epochs = [line(b.epochs, b.best, "this sweep", { line: { width: 2, color: "#1e88e5" } })];
  if (b.random) epochs.push(line(b.epochs, b.random.values, `random search, expected (from ${b.random.from_trials} configs, ${b.random.extended} of them cut and extended)`,
    { line: { dash: "dash", color: "#757575" } }));
  document.getElementById("bsf-note").textContent = b.random
    ? "Random search's expected best on the same epochs: every config this sweep trained, as if trained to its budget (a cut one at its value when cut plus the median gain of the trials that went on from there); the model's configs are better than random draws, so this favours random search."
    : "Random search's expectation needs three trials trained to their budget.";
  const layout = (x) => ({ margin: { t: 10, r: 10 }, xaxis: { title: { text: x } }, yaxis: { title: { text: `best ${b.metric}` },
    range: padded(b.best) }, legend: { orientation: "h", y: -0.25 } });
  Plotly.react("bsf-epochs", epochs, layout("epochs spent"), PLOT);
  Plotly.react("bsf-hours", [line(b.trial_hours, b.best, "this sweep", { line: { width: 2, color: "#1e88e5" } })],
    layout("trial-hours spent"), PLOT);
}

function renderImportance(imp) {
  const names = Object.keys(imp.importances);
  document.getElementById("importance-note").textContent = `${imp.method}; ${imp.trials} scored trials.` + (imp.note ? ` ${imp.note}.` : "");
  Plotly.react("importance", [{ type: "bar", orientation: "h", x: names.map((n) => imp.importances[n]), y: names,
    marker: { color: "#43a047" } }], { margin: { t: 10, l: 120, r: 10 }, xaxis: { title: { text: "importance (sums to 1)" }, range: [0, 1] },
    yaxis: { autorange: "reversed" } }, PLOT);
}

const PARALLEL_LINES = 300; // beyond this, the best ones: a parcoords of 1,000 lines takes seconds to draw

function renderParallel(all) {
  const n = all.metric_values.length;
  let keep = [...Array(n).keys()];
  if (n > PARALLEL_LINES) {
    const sign = all.mode === "min" ? 1 : -1;
    keep = keep.filter((i) => all.metric_values[i] !== null)
      .sort((i, j) => sign * (all.metric_values[i] - all.metric_values[j])).slice(0, PARALLEL_LINES);
  }
  document.getElementById("parallel-note").textContent = n > PARALLEL_LINES
    ? `The ${PARALLEL_LINES} best of ${n} trials (/api/sweeps/ID/parallel has them all).` : "";
  const par = { ...all, metric_values: keep.map((i) => all.metric_values[i]),
    axes: all.axes.map((a) => ({ ...a, values: keep.map((i) => a.values[i]) })) };
  const dims = par.axes.map((a) => {
    if (a.categories) return { label: a.name, values: a.values, tickvals: a.categories.map((_, i) => i), ticktext: a.categories };
    if (a.log) {
      const logs = a.values.map((v) => Math.log10(v)), lo = Math.floor(Math.min(...logs)), hi = Math.ceil(Math.max(...logs));
      const ticks = Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
      return { label: `${a.name} (log)`, values: logs, tickvals: ticks, ticktext: ticks.map((t) => `1e${t}`) };
    }
    return { label: a.name, values: a.values };
  });
  dims.push({ label: par.metric, values: par.metric_values });
  Plotly.react("parallel", [{ type: "parcoords", dimensions: dims,
    line: { color: par.metric_values, colorscale: "Viridis", reversescale: par.mode === "min", showscale: true } }],
  { margin: { t: 40, l: 60, r: 60 } }, PLOT);
}

function renderDecisions(d) {
  document.getElementById("decisions-note").textContent = (d.note ? d.note + ". " : "") +
    "Each cell: the decision at that rung, the trial's score, and its rank among the rung's best scores then (or how many the rung had); hover for the cutoff.";
  const byTrial = new Map();
  for (const x of d.decisions) {
    if (!byTrial.has(x.trial_id)) byTrial.set(x.trial_id, { label: x.label, cells: {} });
    byTrial.get(x.trial_id).cells[x.rung] = x; // the latest decision at a rung stands
  }
  document.querySelector("#decisions thead").replaceChildren(el("tr", {}, el("th", { text: "Trial" }),
    ...d.rungs.map((r) => el("th", { text: `rung ${r}` }))));
  document.querySelector("#decisions tbody").replaceChildren(...[...byTrial.entries()].map(([id, t]) => el("tr", { "data-trial": id },
    el("td", { text: t.label }), ...d.rungs.map((r) => {
      const c = t.cells[r];
      return c ? el("td", { class: `decision-${c.action}`, title: `epoch ${c.epoch}` + (c.cutoff !== null && c.cutoff !== undefined ? `, cutoff ${fmt(c.cutoff)}` : "") + (c.why ? `; ${c.why}` : ""),
        text: `${c.action} ${fmt(c.score)}` + (c.rank ? ` (${c.rank}/${c.of})` : c.of ? ` (of ${c.of})` : "") +
          (c.reason === "no_room" ? ": rung full" : "") }) : el("td", { text: "" });
    }))));
  if (!d.decisions.length) document.querySelector("#decisions tbody").append(el("tr", {}, el("td", { colspan: d.rungs.length + 1,
    text: "No trial was paused or stopped at a rung." })));
}

function renderLineage(lineage) {
  const box = document.getElementById("lineage-box");
  box.hidden = !lineage || !lineage.length;
  if (box.hidden) return;
  const x = [], y = [], text = [];
  for (const e of lineage) {
    const what = Object.entries(e.changed).map(([k, [a, b]]) => `${k}: ${fmt(a)} → ${fmt(b)}`).join(", ") || "no value changed";
    x.push(e.from_iteration, e.iteration, null);
    y.push(e.from_label, e.label, null);
    text.push(`${e.from_label} (iteration ${e.from_iteration})`, `${e.label} copied ${e.from_label}: ${what}`, null);
  }
  Plotly.react("lineage", [{ x, y, text, mode: "lines+markers", type: "scatter", hoverinfo: "text",
    marker: { size: 8, symbol: x.map((_, i) => (i % 3 === 1 ? "triangle-right" : "circle")) }, line: { color: "#8e24aa" } }],
  { margin: { t: 10, l: 140, r: 10 }, xaxis: { title: { text: "iteration" } }, yaxis: { type: "category" } }, PLOT);
}

async function searchViews(base) {
  const [bsf, imp, par, dec] = await Promise.all(["best_so_far", "importance", "parallel", "decisions"].map((v) => getJSON(`${base}/${v}`)));
  renderDecisions(dec);
  performance.mark("view-decisions"); // bench/dashboard_load.py reads these marks
  await loadPlotly();
  renderBestSoFar(bsf);
  performance.mark("view-best-so-far");
  renderImportance(imp);
  performance.mark("view-importance");
  renderParallel(par);
  renderLineage(dec.lineage);
  performance.mark("view-parallel");
  performance.mark("search-views");
}

// a sweep of several objectives: every trial at its best epoch, the front, the chosen one; the
// observed front's hypervolume against epochs and seconds (analysis/front.py computes both)
function renderFront(f) {
  document.getElementById("front-box").hidden = false;
  const [x, y, z] = f.objectives;
  const name = (p) => `${p.label} (trial ${p.trial_id})` + (p.dominated_by.length ? `; statistically dominated by ${p.dominated_by.join(", ")}` : "");
  const groups = [
    ["behind the front", (p) => p.keeps && p.front !== 0, { color: "#9e9e9e", size: 7 }],
    ["breaks a constraint", (p) => !p.keeps, { color: "#e53935", symbol: "x", size: 9 }],
    ["Pareto front", (p) => p.front === 0, { color: "#1e88e5", size: 11, line: { color: "#263238", width: 1 } }],
    ["statistically dominated", (p) => p.dominated_by.length > 0,
      { color: "rgba(0,0,0,0)", size: 20, line: { color: "#e53935", width: 2 } }],
  ];
  const traces = [];
  const onFront = f.points.filter((p) => p.front === 0).sort((a, b) => a.values[0] - b.values[0]);
  if (!z && onFront.length > 1) traces.push({ x: onFront.map((p) => p.values[0]), y: onFront.map((p) => p.values[1]),
    mode: "lines", type: "scatter", line: { color: "#1e88e5", width: 1 }, hoverinfo: "skip", showlegend: false });
  for (const [group, keep, marker] of groups) {
    const pts = f.points.filter(keep);
    if (!pts.length) continue;
    const coloured = z && group !== "breaks a constraint" && group !== "statistically dominated";
    traces.push({ x: pts.map((p) => p.values[0]), y: pts.map((p) => p.values[1]), text: pts.map(name), name: group,
      mode: "markers", type: "scatter", hoverinfo: "text+x+y",
      marker: coloured ? { ...marker, color: pts.map((p) => p.values[2]), colorscale: "Viridis", showscale: group === "Pareto front",
        colorbar: { title: { text: `${z[0]} (${z[1]})` } } } : marker });
  }
  const chosen = f.chosen && f.points.find((p) => p.trial_id === f.chosen.trial_id);
  const xs = f.points.map((p) => p.values[0]).filter((v) => v !== null);
  const right = chosen && chosen.values[0] > (Math.min(...xs) + Math.max(...xs)) / 2; // its label towards the middle
  if (chosen) traces.push({ x: [chosen.values[0]], y: [chosen.values[1]], text: [`${chosen.label} (chosen)`], name: "chosen",
    mode: "markers+text", textposition: right ? "top left" : "top right", type: "scatter", hoverinfo: "text+x+y",
    marker: { symbol: "star", size: 20, color: "#fb8c00", line: { color: "#263238", width: 1 } } });
  Plotly.react("front", traces, { margin: { t: 10, r: 10 }, xaxis: { title: { text: `${x[0]} (${x[1]})` } },
    yaxis: { title: { text: `${y[0]} (${y[1]})` } }, legend: { orientation: "h", y: -0.2 } }, PLOT);
  const limits = f.constraints.length ? ` Constraints: ${f.constraints.join("; ")}.` : "";
  document.getElementById("front-note").textContent = "Each trial at its best epoch." + limits +
    (f.chosen ? ` Chosen: ${f.chosen.reason}.` : "") + (f.dominance ? ` ${f.dominance}` : "");
  const hv = f.hypervolume;
  const curve = (xs) => [{ x: xs, y: hv.hypervolume, mode: "lines", type: "scatter", line: { shape: "hv", width: 2, color: "#1e88e5" } }];
  const layout = (title) => ({ margin: { t: 10, r: 10, b: 40 }, xaxis: { title: { text: title } },
    yaxis: { title: { text: "hypervolume" }, range: [0, 1.02] } });
  Plotly.react("hv-epochs", curve(hv.epochs), layout("epochs trained (every trial's)"), PLOT);
  Plotly.react("hv-seconds", curve(hv.seconds), layout(hv.seconds_are), PLOT);
  document.getElementById("hv-note").textContent = `Hypervolume of the observed front (every reported epoch that keeps the constraints), normalised: ${hv.caption}.`;
}

// "done" says how: a sweep its time budget ended ended as planned
function stateText(s) {
  return s.state === "done" && s.ended_by ? `done (${s.ended_by})` : s.state;
}

async function sweepPage() {
  const base = `/api/sweeps/${encodeURIComponent(sweepId)}`;
  const curvesAsked = getJSON(base + "/curves");
  loadPlotly();
  const [summary, trials] = await Promise.all([getJSON(base), getJSON(base + "/trials")]);
  document.title = `sweeplab: ${summary.name}`;
  document.getElementById("title").textContent = summary.name;
  const state = document.getElementById("state");
  state.textContent = stateText(summary);
  state.className = `badge ${summary.state}`;
  const t = summary.trials;
  const more = [[t.paused, "paused at a rung"], [t.time_up, "cut off by the time budget"], [t.interrupted, "interrupted"]]
    .filter(([n]) => n).map(([n, what]) => `, ${n} ${what}`).join("");
  document.getElementById("summary").textContent =
    `${summary.experiment || "-"} · ${summary.metric} (${summary.mode}) · ${summary.scheduler} + ${summary.searcher} · ` +
    `seed ${summary.seed ?? "-"} · ${t.total} trials: ${t.running} running, ${t.done} done, ${t.stopped} stopped early, ` +
    `${t.failed} failed${more} · ${summary.trial_hours.toFixed(3)} trial-hours` +
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
  if (summary.objectives && summary.objectives.length) {
    renderFront(await getJSON(`${base}/front`));
    performance.mark("view-front");
  }
  await searchViews(base);
  stamp();
  if (summary.state === "running") setTimeout(sweepPage, REFRESH_MS);
}

function show(error) {
  document.querySelector("main").prepend(el("p", { class: "badge failed", text: String(error) }));
}

// --- several sweeps side by side ---------------------------------------------------------

async function comparePage() {
  const ids = new URLSearchParams(location.search).get("ids") || "";
  const data = await getJSON(`/api/compare?ids=${encodeURIComponent(ids)}`);
  document.getElementById("title").textContent = data.sweeps.map((s) => s.name).join(" vs ");
  const keys = [...new Set(data.sweeps.flatMap((s) => Object.keys((s.chosen || {}).config || {})))];
  document.querySelector("#compare-chosen thead").replaceChildren(el("tr", {}, el("th", { text: "Sweep" }),
    el("th", { text: "Search" }), el("th", { text: data.metric }), ...keys.map((k) => el("th", { text: k }))));
  document.querySelector("#compare-chosen tbody").replaceChildren(...data.sweeps.map((s) => el("tr", { "data-sweep": s.id },
    el("td", {}, el("a", { href: `/sweep/${encodeURIComponent(s.id)}`, text: s.name })),
    el("td", { text: `${s.scheduler} + ${s.searcher}` }), el("td", { text: s.chosen ? fmt(s.chosen.value) : "-" }),
    ...keys.map((k) => el("td", { text: fmt(s.chosen ? s.chosen.config[k] : null) })))));
  document.getElementById("compare-tables").replaceChildren(...data.sweeps.map((s) => el("div", {}, el("h3", { text: s.name }),
    el("table", { class: "grid" }, el("thead", {}, el("tr", {}, ...["Model", data.metric, "Epochs", "Status"].map((h) => el("th", { text: h })))),
      el("tbody", {}, ...s.trials.map((t) => el("tr", {}, el("td", { text: t.label }), el("td", { text: fmt(t.best) }),
        el("td", { text: t.iterations }), el("td", { text: t.status }))))))));
  await loadPlotly();
  Plotly.react("compare-curves", data.sweeps.map((s) => ({ x: s.curve.epochs, y: s.curve.best, name: s.name, mode: "lines", type: "scatter" })),
    { margin: { t: 10, r: 10 }, xaxis: { title: { text: "epochs spent" } }, yaxis: { title: { text: `best ${data.metric}` },
      range: padded(data.sweeps.flatMap((s) => s.curve.best)) } }, PLOT);
  performance.mark("compare");
  stamp();
}

const pageName = document.body.dataset.page;
({ sweep: sweepPage, compare: comparePage }[pageName] || indexPage)().catch(show);
