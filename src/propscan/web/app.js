// propscan reading page. The article is untrusted: it only ever reaches the page through
// textContent and DOM nodes, never through markup. No external requests: everything comes
// from this server. Offsets from the API are Python string indices (code points); JavaScript
// strings count UTF-16 units, so offsets are converted before any slice.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

  const state = {
    analysis: null, // the API's answer, unchanged
    units: null, // code point index -> UTF-16 index, or null when they coincide
    techniques: new Map(), // label -> {label, name, definition, example, color}
    hidden: new Set(), // technique labels switched off in the legend
    threshold: 0,
    segments: [], // spans covering each highlighted segment, by data-seg
  };

  // ------------------------------------------------------------------ offsets and scores
  function unitOffsets(text) {
    if (!/[\uD800-\uDFFF]/.test(text)) return null;
    const units = [];
    let u = 0;
    for (const ch of text) {
      units.push(u);
      u += ch.length;
    }
    units.push(u);
    return units;
  }

  const toUnit = (i) => (state.units ? state.units[i] : i);
  const scoreOf = (span) => (span.score === null || span.score === undefined ? 0 : span.score);

  function visibleSpans() {
    if (!state.analysis) return [];
    return state.analysis.spans.filter(
      (s) => scoreOf(s) >= state.threshold && !state.hidden.has(s.technique),
    );
  }

  // The same rules as the analyzer (propscan.sentences): a sentence's evidence is the spans touching
  // it, which the model's sentence map turns into the probability that it holds a technique (with
  // no map, analyses of older models: its best span's score); the article scores the mean.
  const EPSILON = 1e-3;
  const sentenceMap = () => state.analysis.sentence_calibration || {};
  const calibrated = () => "intercept" in sentenceMap();
  function sentenceProbability(best, count) {
    if (!calibrated()) return best;
    const map = sentenceMap();
    const has = count > 0 ? 1 : 0;
    const clipped = Math.min(Math.max(best, EPSILON), 1 - EPSILON);
    // A span never lowers its sentence below one with none: the evidence adds 0 or more.
    const added = Math.max(
      map.has_span * has + map.best_logit * has * Math.log(clipped / (1 - clipped)) + map.log_spans * Math.log1p(count),
      0,
    );
    return 1 / (1 + Math.exp(-(added + map.intercept)));
  }

  function sentenceScores(spans) {
    return state.analysis.sentences.map((sentence) => {
      let best = 0;
      let count = 0;
      for (const s of spans) {
        if (s.start < sentence.end && s.end > sentence.start) {
          best = Math.max(best, scoreOf(s));
          count += 1;
        }
      }
      return { start: sentence.start, end: sentence.end, score: sentenceProbability(best, count), spans: count };
    });
  }

  // With a sentence map the scores are probabilities, so their sum is the expected number of
  // sentences that hold a technique: said in words beside the article score.
  function scoreMeaning(sentences) {
    if (!calibrated()) return "";
    const expected = Math.round(sentences.reduce((total, s) => total + s.score, 0));
    return `about ${expected} of ${sentences.length} sentences hold a technique`;
  }

  const mean = (values) => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0);
  const round4 = (x) => Math.round(x * 10000) / 10000;

  function technique(label) {
    return state.techniques.get(label) || { label, name: label, definition: "", example: "", color: "#dddddd" };
  }

  function paint(labels) {
    const colors = labels.slice(0, 4).map((l) => technique(l).color);
    if (colors.length === 1) return colors[0];
    const step = 100 / colors.length;
    const stops = colors.map((c, i) => `${c} ${(i * step).toFixed(2)}% ${((i + 1) * step).toFixed(2)}%`);
    return `linear-gradient(to bottom, ${stops.join(", ")})`;
  }

  // ------------------------------------------------------------------ the highlighted article
  // Cut the text at every span boundary; each piece knows every span covering it, so overlapping
  // spans stay readable: the piece is striped with one band per technique and lists them all.
  function buildArticle(doc, spans, onMark) {
    const text = state.analysis.text;
    const cuts = new Set([0, text.length]);
    const items = spans
      .map((span) => ({ span, a: toUnit(span.start), b: toUnit(span.end) }))
      .sort((x, y) => x.a - y.a || y.b - x.b);
    for (const it of items) {
      cuts.add(it.a);
      cuts.add(it.b);
    }
    const points = [...cuts].sort((x, y) => x - y);
    const fragment = doc.createDocumentFragment();
    let active = [];
    let next = 0;
    for (let k = 0; k < points.length - 1; k += 1) {
      const a = points[k];
      const b = points[k + 1];
      active = active.filter((it) => it.b > a);
      while (next < items.length && items[next].a <= a) {
        if (items[next].b > a) active.push(items[next]);
        next += 1;
      }
      const piece = text.slice(a, b);
      if (!active.length) {
        fragment.append(doc.createTextNode(piece));
        continue;
      }
      const covering = active.map((it) => it.span).sort((x, y) => scoreOf(y) - scoreOf(x));
      const labels = [...new Set(covering.map((s) => s.technique))];
      const mark = doc.createElement("mark");
      mark.textContent = piece;
      mark.className = labels.length > 1 ? "hl overlap" : "hl";
      mark.style.background = paint(labels);
      mark.dataset.techniques = labels.join("|");
      onMark(mark, covering, a);
      fragment.append(mark);
    }
    return fragment;
  }

  function render() {
    const analysis = state.analysis;
    if (!analysis) return;
    const spans = visibleSpans();
    state.segments = [];
    const article = $("article");
    article.replaceChildren(
      buildArticle(document, spans, (mark, covering, unitStart) => {
        mark.tabIndex = 0;
        mark.dataset.seg = String(state.segments.length);
        mark.dataset.start = String(unitStart);
        mark.setAttribute("aria-describedby", "tooltip");
        state.segments.push(covering);
      }),
    );
    hideTip();

    const sentences = sentenceScores(spans);
    const score = mean(sentences.map((s) => s.score));
    $("article-score").textContent = score.toFixed(2);
    $("article-score").dataset.score = String(score);
    $("article-score-meaning").textContent = scoreMeaning(sentences);
    const count = $("span-count");
    count.textContent = `${spans.length} of ${analysis.spans.length} spans shown`;
    count.dataset.visible = String(spans.length);
    $("threshold-value").textContent = state.threshold.toFixed(2);
    renderLegend();
    renderDensity(sentences);
  }

  // ------------------------------------------------------------------ legend
  function buildLegend() {
    const legend = $("legend");
    legend.replaceChildren();
    const counts = new Map();
    for (const s of state.analysis.spans) counts.set(s.technique, (counts.get(s.technique) || 0) + 1);
    if (!counts.size) {
      const p = document.createElement("p");
      p.className = "empty";
      p.textContent = "No propaganda technique was found in this article.";
      legend.append(p);
      return;
    }
    const labels = [...counts.keys()].sort((x, y) => counts.get(y) - counts.get(x) || x.localeCompare(y));
    for (const label of labels) {
      const t = technique(label);
      const button = document.createElement("button");
      button.type = "button";
      button.className = "legend-item";
      button.dataset.technique = label;
      button.title = t.definition;
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = t.color;
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = t.name;
      const n = document.createElement("span");
      n.className = "count";
      button.append(swatch, name, n);
      button.addEventListener("click", () => {
        if (state.hidden.has(label)) state.hidden.delete(label);
        else state.hidden.add(label);
        render();
      });
      legend.append(button);
    }
    const all = document.createElement("button");
    all.type = "button";
    all.id = "show-all";
    all.className = "show-all";
    all.textContent = "Show all";
    all.addEventListener("click", () => {
      state.hidden.clear();
      render();
    });
    legend.append(all);
  }

  function renderLegend() {
    for (const button of $("legend").querySelectorAll(".legend-item")) {
      const label = button.dataset.technique;
      const n = state.analysis.spans.filter((s) => s.technique === label && scoreOf(s) >= state.threshold).length;
      button.querySelector(".count").textContent = String(n);
      button.dataset.count = String(n);
      button.setAttribute("aria-pressed", state.hidden.has(label) ? "false" : "true");
      button.setAttribute("aria-label", `${technique(label).name}: ${n} spans, ${state.hidden.has(label) ? "hidden" : "shown"}`);
    }
    const all = $("show-all");
    if (all) all.hidden = state.hidden.size === 0;
  }

  // ------------------------------------------------------------------ sentence density bar
  // Grey where no span is shown: such a sentence still scores the share of them that hold a technique.
  function heat(sentence) {
    return sentence.spans > 0 ? `rgba(190, 20, 20, ${(0.15 + 0.85 * sentence.score).toFixed(3)})` : "#ececec";
  }

  function renderDensity(sentences) {
    const bar = $("density");
    bar.replaceChildren();
    let densest = -1;
    sentences.forEach((s, i) => {
      const cell = document.createElement("button");
      cell.type = "button";
      cell.tabIndex = -1; // the highlights are the keyboard path; the bar is an overview
      cell.className = "cell";
      cell.style.flexGrow = String(Math.max(1, s.end - s.start));
      cell.style.background = heat(s);
      cell.title = `Sentence ${i + 1}: score ${s.score.toFixed(2)}` + (s.spans > 0 ? "" : " (no span shown)");
      cell.dataset.score = String(s.score);
      cell.addEventListener("click", () => scrollToOffset(s.start, s.end));
      bar.append(cell);
      if (s.spans > 0 && (densest < 0 || s.score > sentences[densest].score)) densest = i;
    });
    $("density-summary").textContent =
      densest < 0
        ? "No sentence holds a span at this threshold."
        : `Densest: sentence ${densest + 1} of ${sentences.length} (score ${sentences[densest].score.toFixed(2)}).`;
  }

  function scrollToOffset(start, end) {
    const a = toUnit(start);
    const b = toUnit(end);
    for (const mark of $("article").querySelectorAll("mark.hl")) {
      const at = Number(mark.dataset.start);
      if (at >= a && at < b) {
        mark.focus();
        return;
      }
    }
    // No highlight in that sentence: scroll to its text.
    let offset = 0;
    for (const node of $("article").childNodes) {
      const length = node.textContent.length;
      if (offset + length > a) {
        const target = node.nodeType === Node.TEXT_NODE ? node : node.firstChild;
        const range = document.createRange();
        range.setStart(target, a - offset);
        range.setEnd(target, Math.min(length, b - offset));
        const rect = range.getBoundingClientRect();
        window.scrollTo({ top: window.scrollY + rect.top - 80, behavior: "smooth" });
        return;
      }
      offset += length;
    }
  }

  // ------------------------------------------------------------------ tooltip
  function tipItem(span) {
    const t = technique(span.technique);
    const item = document.createElement("div");
    item.className = "tip-item";
    const head = document.createElement("p");
    head.className = "tip-head";
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = t.color;
    const name = document.createElement("strong");
    name.className = "tip-name";
    name.textContent = t.name;
    const score = document.createElement("span");
    score.className = "tip-score";
    score.textContent = `confidence ${scoreOf(span).toFixed(2)}`;
    head.append(swatch, name, score);
    const definition = document.createElement("p");
    definition.className = "tip-definition";
    definition.textContent = t.definition;
    const quote = document.createElement("p");
    quote.className = "tip-text";
    const text = span.text.length > 160 ? `${span.text.slice(0, 157)}...` : span.text;
    quote.textContent = `“${text}”`;
    item.append(head, definition, quote);
    const alternatives = span.alternatives || [];
    if (alternatives.length) {
      const others = document.createElement("p");
      others.className = "tip-alternatives";
      others.textContent =
        "Or: " + alternatives.map((alt) => `${technique(alt.technique).name} ${alt.score.toFixed(2)}`).join(", ");
      item.append(others);
    }
    return item;
  }

  function showTip(mark) {
    const covering = state.segments[Number(mark.dataset.seg)];
    if (!covering) return;
    const tip = $("tooltip");
    tip.replaceChildren(...covering.map(tipItem));
    tip.hidden = false;
    if (window.matchMedia("(max-width: 600px)").matches) {
      tip.style.left = "";
      tip.style.top = "";
      return; // pinned to the bottom of the screen by the stylesheet
    }
    const rect = mark.getBoundingClientRect();
    const width = tip.offsetWidth;
    const left = Math.min(Math.max(8, rect.left), document.documentElement.clientWidth - width - 8);
    tip.style.left = `${left + window.scrollX}px`;
    tip.style.top = `${rect.bottom + window.scrollY + 6}px`;
  }

  function hideTip() {
    $("tooltip").hidden = true;
  }

  function wireArticle() {
    const article = $("article");
    article.addEventListener("mouseover", (event) => {
      const mark = event.target.closest("mark.hl");
      if (mark) showTip(mark);
    });
    article.addEventListener("mouseout", (event) => {
      const to = event.relatedTarget;
      if (!(to instanceof Element) || !to.closest("mark.hl")) hideTip();
    });
    article.addEventListener("focusin", (event) => {
      const mark = event.target.closest("mark.hl");
      if (mark) showTip(mark);
    });
    article.addEventListener("focusout", hideTip);
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape") hideTip();
    });
  }

  // ------------------------------------------------------------------ talking to the API
  function authHeaders(extra) {
    const headers = new Headers(extra || {});
    const key = propscanKey.header($("api-key"));
    if (key) headers.set("X-API-Key", key);
    return headers;
  }

  function describeError(status, body) {
    const detail = body && body.detail;
    if (status === 401) $("key-box").open = true;
    if (Array.isArray(detail)) {
      return detail.map((e) => `${(e.loc || []).slice(1).join(".") || "body"}: ${e.msg}`).join("; ");
    }
    if (typeof detail === "string") return detail;
    return `the server answered ${status}`;
  }

  async function call(path, options = {}) {
    const response = await fetch(path, { ...options, headers: authHeaders(options.headers), credentials: "same-origin" });
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      body = null;
    }
    if (!response.ok) throw new Error(describeError(response.status, body));
    return body;
  }

  async function loadTechniques() {
    if (state.techniques.size) return;
    const answer = await call("/v1/techniques");
    for (const t of answer.data) state.techniques.set(t.label, t);
  }

  async function run(label, request) {
    const status = $("status");
    const buttons = [$("analyze-button"), $("fetch-button")];
    status.textContent = `Analyzing ${label}…`;
    status.className = "";
    for (const button of buttons) button.disabled = true;
    try {
      const [analysis] = await Promise.all([request(), loadTechniques()]);
      show(analysis);
      status.textContent = `Analyzed ${label}: ${analysis.spans.length} spans in ${analysis.sentences.length} sentences.`;
    } catch (error) {
      status.textContent = `Could not analyze ${label}: ${error.message}`;
      status.className = "error";
    } finally {
      for (const button of buttons) button.disabled = false;
    }
  }

  function analyzeText(text) {
    return run("the pasted text", () =>
      call("/v1/analyze", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text, threshold: 0 }),
      }),
    );
  }

  // The server fetches the page (when its operator allows it) and answers with the extracted text.
  function analyzeUrl(url) {
    return run(url, () =>
      call("/v1/analyze", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ url, threshold: 0 }),
      }),
    );
  }

  function analyzeFile(file) {
    const form = new FormData();
    form.append("file", file, file.name);
    return run(file.name, () => call("/v1/analyze", { method: "POST", body: form }));
  }

  function show(analysis) {
    state.analysis = analysis;
    state.units = unitOffsets(analysis.text);
    state.hidden.clear();
    $("article-input").value = analysis.text;
    $("model-name").textContent = analysis.model;
    const warnings = $("warnings");
    warnings.replaceChildren(
      ...analysis.warnings.map((w) => {
        const li = document.createElement("li");
        li.textContent = w;
        return li;
      }),
    );
    buildLegend();
    render();
    $("result").hidden = false;
  }

  // ------------------------------------------------------------------ exports
  function safeId() {
    const id = (state.analysis.id || "article").replace(/[^\w.-]+/g, "_");
    return id || "article";
  }

  function viewAnalysis() {
    const spans = visibleSpans();
    const sentences = sentenceScores(spans).map((s) => ({ start: s.start, end: s.end, score: round4(s.score) }));
    return {
      ...state.analysis,
      score: round4(mean(sentences.map((s) => s.score))),
      spans,
      sentences,
      view: { threshold: state.threshold, hidden_techniques: [...state.hidden] },
    };
  }

  function download(name, type, content) {
    const url = URL.createObjectURL(new Blob([content], { type }));
    const link = document.createElement("a");
    link.href = url;
    link.download = name;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 5000);
  }

  function exportTsv() {
    // SemEval-2020 Task 11 TC format; offsets stay the API's (code points), as the task's scorer expects.
    const id = safeId();
    return visibleSpans().map((s) => `${id}\t${s.technique}\t${s.start}\t${s.end}\n`).join("");
  }

  const REPORT_CSS = `
    body { font: 16px/1.6 Georgia, "Times New Roman", serif; color: #1a1a1a; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }
    h1, h2, p.meta, table, ul.legend { font-family: system-ui, sans-serif; }
    p.meta { color: #444; font-size: 0.9rem; }
    .article { white-space: pre-wrap; overflow-wrap: anywhere; border-top: 1px solid #ccc; padding-top: 1rem; }
    mark { color: #000; border-radius: 2px; padding: 0.05em 0; -webkit-box-decoration-break: clone; box-decoration-break: clone; }
    mark.overlap { border-bottom: 2px solid #333; }
    ul.legend { list-style: none; padding: 0; font-size: 0.9rem; }
    ul.legend li { margin: 0.4rem 0; }
    .swatch { display: inline-block; width: 0.9em; height: 0.9em; border: 1px solid #888; vertical-align: middle; margin-right: 0.4em; }
    table { border-collapse: collapse; width: 100%; font-size: 0.85rem; }
    th, td { text-align: left; border-bottom: 1px solid #ddd; padding: 0.25rem 0.4rem; vertical-align: top; }
    @media print { mark { -webkit-print-color-adjust: exact; print-color-adjust: exact; } }
  `;

  function el(doc, tag, text, className) {
    const node = doc.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  // A standalone page: built as a DOM, so the serializer escapes the article; no script at all.
  function exportHtml() {
    const analysis = state.analysis;
    const spans = visibleSpans();
    const view = viewAnalysis();
    const meaning = scoreMeaning(view.sentences);
    const doc = document.implementation.createHTMLDocument("propscan report");
    const charset = doc.createElement("meta");
    charset.setAttribute("charset", "utf-8");
    const csp = doc.createElement("meta");
    csp.setAttribute("http-equiv", "Content-Security-Policy");
    csp.setAttribute("content", "default-src 'none'; style-src 'unsafe-inline'");
    const viewport = doc.createElement("meta");
    viewport.setAttribute("name", "viewport");
    viewport.setAttribute("content", "width=device-width, initial-scale=1");
    const title = analysis.metadata && analysis.metadata.title ? String(analysis.metadata.title) : analysis.id || "article";
    doc.title = `propscan report: ${title}`;
    doc.head.prepend(charset, csp, viewport);
    doc.head.append(el(doc, "style", REPORT_CSS));

    const body = doc.body;
    body.append(el(doc, "h1", `propscan report: ${title}`));
    body.append(
      el(
        doc,
        "p",
        `Article score ${view.score.toFixed(2)}` +
          (meaning ? ` (${meaning})` : "") +
          ` · ${spans.length} spans at confidence ≥ ${state.threshold.toFixed(2)}` +
          (state.hidden.size ? ` (hidden: ${[...state.hidden].map((l) => technique(l).name).join(", ")})` : "") +
          ` · model ${analysis.model} · ${new Date().toISOString().slice(0, 10)}`,
        "meta",
      ),
    );
    const counts = new Map();
    for (const s of spans) counts.set(s.technique, (counts.get(s.technique) || 0) + 1);
    const legend = el(doc, "ul", undefined, "legend");
    for (const [label, n] of [...counts].sort((x, y) => y[1] - x[1])) {
      const t = technique(label);
      const li = doc.createElement("li");
      const swatch = el(doc, "span", undefined, "swatch");
      swatch.style.background = t.color;
      li.append(swatch, el(doc, "strong", `${t.name} (${n})`), doc.createTextNode(`: ${t.definition}`));
      legend.append(li);
    }
    body.append(el(doc, "h2", "Techniques"), legend);
    const article = el(doc, "div", undefined, "article");
    article.append(
      buildArticle(doc, spans, (mark, covering) => {
        mark.title = covering.map((s) => `${technique(s.technique).name} (${scoreOf(s).toFixed(2)})`).join("; ");
      }),
    );
    body.append(el(doc, "h2", "Article"), article);
    const table = doc.createElement("table");
    const head = doc.createElement("tr");
    for (const column of ["#", "technique", "confidence", "start", "end", "text"]) head.append(el(doc, "th", column));
    table.append(head);
    spans.forEach((s, i) => {
      const row = doc.createElement("tr");
      for (const value of [i + 1, technique(s.technique).name, scoreOf(s).toFixed(2), s.start, s.end, s.text]) {
        row.append(el(doc, "td", String(value)));
      }
      table.append(row);
    });
    body.append(el(doc, "h2", "Spans"), table);
    return `<!doctype html>\n${doc.documentElement.outerHTML}\n`;
  }

  // ------------------------------------------------------------------ wiring
  function wire() {
    $("analyze-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = $("article-input").value;
      if (!text.trim()) {
        $("status").textContent = "Paste an article first, or drop a .txt or .html file.";
        $("status").className = "error";
        return;
      }
      analyzeText(text);
    });
    $("article-input").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("analyze-form").requestSubmit();
    });
    const fetchUrl = () => {
      const url = $("url-input").value.trim();
      if (!/^https?:\/\/\S+$/i.test(url)) {
        $("status").textContent = "Type the address of a page first, starting with http:// or https://.";
        $("status").className = "error";
        return;
      }
      analyzeUrl(url);
    };
    $("fetch-button").addEventListener("click", fetchUrl);
    $("url-input").addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      event.preventDefault(); // Enter here fetches the link instead of submitting the pasted text
      fetchUrl();
    });
    $("file-input").addEventListener("change", (event) => {
      const [file] = event.target.files;
      if (file) analyzeFile(file);
      event.target.value = "";
    });
    const zone = $("drop-zone");
    for (const target of [zone, $("article-input")]) {
      target.addEventListener("dragover", (event) => {
        event.preventDefault();
        zone.classList.add("over");
      });
      target.addEventListener("dragleave", () => zone.classList.remove("over"));
      target.addEventListener("drop", (event) => {
        event.preventDefault();
        zone.classList.remove("over");
        const [file] = event.dataTransfer.files;
        if (file) analyzeFile(file);
      });
    }
    $("threshold").addEventListener("input", (event) => {
      state.threshold = Number(event.target.value);
      render();
    });
    $("export-json").addEventListener("click", () =>
      download(`${safeId()}.propscan.json`, "application/json", `${JSON.stringify(viewAnalysis(), null, 2)}\n`),
    );
    $("export-tsv").addEventListener("click", () =>
      download(`${safeId()}.propscan.tsv`, "text/tab-separated-values", exportTsv()),
    );
    $("export-html").addEventListener("click", () =>
      download(`${safeId()}.propscan.html`, "text/html", exportHtml()),
    );
    state.threshold = Number($("threshold").value); // a reload may keep the slider where it was
    wireArticle();
  }

  // The corpus page links each example here as /?document=ID&run=N: show that stored document,
  // already analyzed by propscan batch, exactly as an article analyzed on this page.
  function openStored() {
    const params = new URLSearchParams(window.location.search);
    const id = params.get("document");
    if (!id) return;
    const runId = params.get("run");
    const query = runId ? `?run=${encodeURIComponent(runId)}` : "";
    run(`stored document ${id}`, () => call(`/v1/corpus/documents/${encodeURIComponent(id)}${query}`));
  }

  wire();
  propscanKey.wire($("api-key"), openStored); // a key entered after a 401 opens the stored document
  openStored();
})();
