// propscan corpus page: the views of `propscan report` over the batch database, with filters.
// Stored texts are untrusted: they reach the page only through textContent and DOM nodes.
// Each example links to the reading view (/?document=ID&run=N), which shows the stored document highlighted.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const techniques = new Map(); // label -> {label, name, color}
  const ALL = "(all techniques)";
  const UNDATED = "(undated)";
  const SVG = "http://www.w3.org/2000/svg";

  const technique = (label) => techniques.get(label) || { label, name: label, color: "#dddddd" };
  const fmt = (x, digits = 2) => Number(x).toFixed(digits);
  // Rows of runs whose model has a sentence map carry the expected share of sentences holding a technique.
  const hasShare = (row) => row.sentence_share !== null && row.sentence_share !== undefined;

  function headers() {
    const h = new Headers({ Accept: "application/json" });
    const key = propscanKey.header($("api-key"));
    if (key) h.set("X-API-Key", key);
    return h;
  }

  async function call(path) {
    const response = await fetch(path, { headers: headers(), credentials: "same-origin" });
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      body = null;
    }
    if (!response.ok) {
      if (response.status === 401) $("key-box").open = true;
      const detail = body && body.detail;
      throw new Error(typeof detail === "string" ? detail : `the server answered ${response.status}`);
    }
    return body;
  }

  function say(message, error = false) {
    $("status").textContent = message;
    $("status").className = error ? "error" : "";
  }

  function option(select, value, label) {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = label;
    select.append(o);
    return o;
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    if (text instanceof Node) td.append(text);
    else td.textContent = text;
    if (className) td.className = className;
    row.append(td);
    return td;
  }

  function swatchName(label) {
    const span = document.createElement("span");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = technique(label).color;
    span.append(swatch, document.createTextNode(label === ALL ? ALL : technique(label).name));
    return span;
  }

  function rateBar(rate, max) {
    const wrap = document.createElement("span");
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${max > 0 ? Math.max(1, (60 * rate) / max) : 0}px`;
    bar.setAttribute("aria-hidden", "true");
    wrap.append(bar, document.createTextNode(fmt(rate)));
    return wrap;
  }

  // ------------------------------------------------------------------ filters <-> URL
  const FIELDS = ["run", "by", "source", "technique", "since", "until", "min_score"];

  function query() {
    const params = new URLSearchParams();
    for (const name of FIELDS) {
      const value = $("filters").elements[name].value;
      if (value && !(name === "min_score" && Number(value) === 0)) params.set(name, value);
    }
    return params;
  }

  function restore() {
    const params = new URLSearchParams(window.location.search);
    for (const name of FIELDS) {
      if (params.has(name)) $("filters").elements[name].value = params.get(name);
    }
  }

  // ------------------------------------------------------------------ loading
  async function loadTechniques() {
    try {
      const answer = await call("/v1/techniques");
      for (const t of answer.data) techniques.set(t.label, t);
    } catch (error) {
      // Names and colours are a nicety: the labels still read.
    }
    const select = $("technique");
    const keep = select.value;
    select.replaceChildren();
    option(select, "", "all techniques");
    for (const t of techniques.values()) option(select, t.label, t.name);
    select.value = keep;
  }

  async function loadRuns() {
    const answer = await call("/v1/corpus/runs");
    const select = $("run");
    select.replaceChildren();
    for (const run of answer.data.slice().reverse()) {
      option(select, String(run.id), `run ${run.id}: ${run.model} (${run.documents} documents)`);
    }
    if (!answer.count) throw new Error("the database holds no runs yet; fill it with propscan batch");
  }

  async function loadSources() {
    const answer = await call(`/v1/corpus/sources?run=${encodeURIComponent($("run").value)}`);
    const select = $("source");
    const keep = select.value;
    select.replaceChildren();
    option(select, "", "all outlets");
    for (const s of answer.data) option(select, s.source, `${s.source} (${s.documents})`);
    select.value = keep;
  }

  async function show() {
    const params = query();
    window.history.replaceState(null, "", `/corpus?${params}`);
    say("Loading…");
    const report = await call(`/v1/corpus/report?${params}&examples=3`);
    renderRates(report);
    renderTrend(report);
    renderExamples(report);
    const run = report.run;
    $("run-summary").textContent =
      `Run ${run.id}, model ${run.model}: ${run.documents} documents, ${run.spans} spans, ${run.failures} failures.`;
    say(`${report.data.length} rows.`);
  }

  // ------------------------------------------------------------------ rates
  function renderRates(report) {
    const head = $("rates-head");
    const body = $("rates-body");
    head.replaceChildren();
    body.replaceChildren();
    const byTechnique = report.by === "technique";
    const shares = report.data.some(hasShare);
    const columns = byTechnique
      ? ["technique", "spans", "documents with it", "per 1,000 words"]
      : [
          report.by === "source" ? "outlet" : "month",
          "documents",
          "words",
          "spans",
          "per 1,000 words",
          ...(shares ? ["sentences with a technique"] : []),
          "top techniques",
        ];
    for (const name of columns) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = name;
      head.append(th);
    }
    const totals = byTechnique ? report.data : report.data.filter((r) => r.technique === ALL);
    const max = Math.max(0, ...totals.map((r) => r.rate));
    for (const row of totals) {
      const tr = document.createElement("tr");
      if (byTechnique) {
        cell(tr, swatchName(row.technique));
        cell(tr, String(row.spans));
        cell(tr, `${row.documents_with} of ${row.documents}`);
        cell(tr, rateBar(row.rate, max));
      } else {
        cell(tr, row.group);
        cell(tr, String(row.documents));
        cell(tr, row.words.toLocaleString("en"));
        cell(tr, String(row.spans));
        cell(tr, rateBar(row.rate, max));
        if (shares) cell(tr, hasShare(row) ? `${Math.round(100 * row.sentence_share)}%` : "", "share");
        const leaders = report.data.filter((r) => r.group === row.group && r.technique !== ALL).slice(0, 3);
        const list = document.createElement("span");
        leaders.forEach((r, i) => {
          if (i) list.append(document.createTextNode(", "));
          list.append(swatchName(r.technique), document.createTextNode(` ${fmt(r.rate)}`));
        });
        cell(tr, list, "leaders");
      }
      body.append(tr);
    }
  }

  // ------------------------------------------------------------------ over time
  // Grouped by month: the all-techniques rate, and the sentence share where there is one, as lines.
  function renderTrend(report) {
    const months = report.by === "month" ? report.data.filter((r) => r.technique === ALL && r.group !== UNDATED) : [];
    const charts = $("trend-charts");
    charts.replaceChildren();
    $("trend").hidden = !months.length;
    if (!months.length) return;
    months.sort((a, b) => (a.group < b.group ? -1 : 1));
    const rates = months.map((r) => [r.group, r.rate]);
    charts.append(lineChart("spans per 1,000 words", rates, Math.max(...rates.map(([, v]) => v)), (v) => fmt(v)));
    const shares = months.filter(hasShare).map((r) => [r.group, r.sentence_share]);
    if (shares.length) {
      charts.append(lineChart("sentences with a technique", shares, 1, (v) => `${Math.round(100 * v)}%`));
    }
  }

  function svg(name, attributes, text) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // One series of [month, value] points on a 0..top scale; each point says its month and value on hover.
  function lineChart(title, points, top, format) {
    const [width, height, left, right, above, below] = [600, 140, 48, 10, 22, 22];
    const x = (i) => left + (points.length > 1 ? (i * (width - left - right)) / (points.length - 1) : (width - left) / 2);
    const y = (v) => above + (height - above - below) * (1 - (top > 0 ? v / top : 0));
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${title} by month` });
    chart.append(
      svg("title", {}, `${title} by month`),
      svg("text", { x: left, y: 10, class: "chart-title" }, title),
      svg("line", { class: "axis", x1: left, x2: width - right, y1: y(0), y2: y(0) }),
      svg("text", { x: 0, y: y(top) + 4 }, format(top)),
      svg("text", { x: 0, y: y(0) + 4 }, format(0)),
      svg("text", { x: left, y: height - 4, "text-anchor": "start" }, points[0][0]),
      svg("text", { x: width - right, y: height - 4, "text-anchor": "end" }, points[points.length - 1][0]),
      svg("polyline", { points: points.map(([, v], i) => `${x(i)},${y(v)}`).join(" ") }),
    );
    points.forEach(([month, value], i) => {
      const dot = svg("circle", { cx: x(i), cy: y(value), r: 3.5, "data-month": month, "data-value": value });
      dot.append(svg("title", {}, `${month}: ${format(value)} ${title}`));
      chart.append(dot);
    });
    return chart;
  }

  // ------------------------------------------------------------------ examples
  function renderExamples(report) {
    const list = $("examples");
    list.replaceChildren();
    for (const example of report.examples) {
      const li = document.createElement("li");
      const title = document.createElement("strong");
      title.append(swatchName(example.technique));
      const meta = [example.source, example.published, example.score === null ? null : `confidence ${fmt(example.score)}`]
        .filter(Boolean)
        .join(" · ");
      const quote = document.createElement("blockquote");
      quote.textContent = example.text;
      const link = document.createElement("a");
      // The reading view (/) shows the stored document highlighted, as for an article analyzed there.
      link.href = `/?document=${encodeURIComponent(example.document_id)}&run=${encodeURIComponent(report.run.id)}`;
      link.textContent = `read it in ${example.title || example.document_id}`;
      li.append(title, document.createTextNode(` ${meta}`), quote, link);
      list.append(li);
    }
    if (!report.examples.length) {
      const li = document.createElement("li");
      li.textContent = "No spans match these filters.";
      list.append(li);
    }
  }

  // ------------------------------------------------------------------ start
  async function start() {
    restore();
    const wanted = new URLSearchParams(window.location.search);
    try {
      await Promise.all([loadTechniques(), loadRuns()]);
      if (wanted.has("run")) $("run").value = wanted.get("run");
      if (wanted.has("technique")) $("technique").value = wanted.get("technique");
      await loadSources();
      if (wanted.has("source")) $("source").value = wanted.get("source");
      await show();
    } catch (error) {
      say(error.message, true);
    }
  }

  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    show().catch((error) => say(error.message, true));
  });
  $("run").addEventListener("change", () => loadSources().catch((error) => say(error.message, true)));
  propscanKey.wire($("api-key"), start); // a key entered after a 401 fills the page
  document.addEventListener("DOMContentLoaded", start);
})();
