// The ksql-py web console: plain JavaScript over the server's own REST API (no build step, no CDN).
//
//   POST /ksql            statements, SHOW / DESCRIBE / EXPLAIN for the browsers
//   POST /query-stream    SELECTs (delimited JSON: a header line, then one array per row), live for push queries
//   POST /close-query     the Stop button
//   POST /query           PRINT (text lines)
//   GET  /topics/{t}/records, /connectors, /schema-registry/..., /metrics, /clusterStatus, /info
//
// Basic auth: the browser asks for credentials when it loads the page and sends them with every call.
"use strict";

// ---------------------------------------------------------------------------------------------------------
// DOM helpers

const $ = (selector, root = document) => root.querySelector(selector);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";
function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function notice(text) { return el("div", {class: "notice", text}); }
function badge(text, kind) { return el("span", {class: `badge ${kind || text || ""}`, text: text || "?"}); }
function props(pairs) {
  return el("dl", {class: "props"}, pairs.filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => [el("dt", {text: k}), el("dd", {}, v)]));
}
function fmtNumber(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  return n >= 100 ? Math.round(n).toLocaleString() : (Math.round(n * 10) / 10).toString();
}
function fmtTime(ms) {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString().replace("T", " ").replace("Z", "");
}
function escapeRegExp(text) { return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }
function quoteIdent(name) { return /^[A-Z_][A-Z0-9_]*$/.test(name) ? name : "`" + name + "`"; }

// ---------------------------------------------------------------------------------------------------------
// The REST API

class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.message || body.errorMessage)) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

// fetch() against this server (absolute URLs: the page's own may carry user:password, which fetch refuses).
// With Basic auth on, the browser sends the credentials it asked for when the page loaded, and asks again
// itself should the server refuse them.
async function call(path, {method = "GET", body, accept = "application/json", signal} = {}) {
  const headers = {Accept: accept};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return fetch(location.origin + path, {
    method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin"});
}

async function callJson(path, options) {
  const response = await call(path, options);
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = {message: text}; }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

// Statement(s) through POST /ksql, with the session's SET properties and DEFINE variables.
async function ksql(sql) {
  return callJson("/ksql", {method: "POST", accept: "application/vnd.ksql.v1+json",
    body: {ksql: sql, streamsProperties: session.properties(), sessionVariables: session.variables}});
}

// ---------------------------------------------------------------------------------------------------------
// Session: SET / UNSET / DEFINE / UNDEFINE are kept here (as ksqlDB's CLI does) and sent with every request.

const session = {
  overrides: {},
  variables: {},
  properties() {
    const base = $("#earliest").checked ? {"auto.offset.reset": "earliest"} : {};
    return {...base, ...this.overrides};
  },
  // the statement's effect when it is a session statement, else null
  apply(sql) {
    let m = sql.match(/^\s*SET\s+'([^']+)'\s*=\s*'([^']*)'\s*;?\s*$/i);
    if (m) { this.overrides[m[1]] = m[2]; return `Property '${m[1]}' set to '${m[2]}' for this session.`; }
    m = sql.match(/^\s*UNSET\s+'([^']+)'\s*;?\s*$/i);
    if (m) { delete this.overrides[m[1]]; return `Property '${m[1]}' unset.`; }
    m = sql.match(/^\s*DEFINE\s+([A-Za-z_][A-Za-z0-9_]*)\s*=\s*'((?:[^']|'')*)'\s*;?\s*$/i);
    if (m) { this.variables[m[1]] = m[2].replace(/''/g, "'"); return `Variable ${m[1]} defined.`; }
    m = sql.match(/^\s*UNDEFINE\s+([A-Za-z_][A-Za-z0-9_]*)\s*;?\s*$/i);
    if (m) { delete this.variables[m[1]]; return `Variable ${m[1]} undefined.`; }
    return null;
  },
};

// Statements of a script, split at the semicolons outside strings, quoted identifiers and comments.
function splitStatements(text) {
  const statements = [];
  let start = 0, i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "'" || c === '"' || c === "`") {
      i++;
      while (i < text.length && !(text[i] === c && text[i + 1] !== c)) i += text[i] === c ? 2 : 1;
      i++;
    } else if (c === "-" && text[i + 1] === "-") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? text.length : end + 2;
    } else if (c === ";") {
      statements.push(text.slice(start, i + 1));
      start = ++i;
    } else i++;
  }
  if (stripComments(text.slice(start)).trim()) statements.push(text.slice(start));
  return statements.map(s => s.trim()).filter(s => stripComments(s).replace(/;/g, "").trim());
}
function stripComments(sql) { return sql.replace(/--[^\n]*/g, "").replace(/\/\*[\s\S]*?\*\//g, ""); }
function firstWord(sql) { return (stripComments(sql).trim().match(/^[A-Za-z]+/) || [""])[0].toUpperCase(); }

// ---------------------------------------------------------------------------------------------------------
// Catalogue: streams, tables and their columns (for the sidebar, completion and the browsers)

const catalogue = {
  sources: [],       // source descriptions (SHOW STREAMS/TABLES EXTENDED)
  functions: [],
  async refresh() {
    try {
      const [streams, tables] = await ksql("SHOW STREAMS EXTENDED; SHOW TABLES EXTENDED;");
      this.sources = [...streams.sourceDescriptions, ...tables.sourceDescriptions]
        .sort((a, b) => a.name.localeCompare(b.name));
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      this.sources = [];
    }
    renderSourceTree();
  },
  async loadFunctions() {
    try {
      const [entity] = await ksql("SHOW FUNCTIONS;");
      this.functions = (entity.functions || []).map(f => f.name);
    } catch { this.functions = []; }
  },
  find(name) {
    const upper = name.replace(/`/g, "").toUpperCase();
    return this.sources.find(s => s.name.toUpperCase() === upper);
  },
};

function renderSourceTree() {
  const filter = $("#source-filter").value.trim().toUpperCase();
  const tree = $("#source-tree");
  tree.replaceChildren();
  const shown = catalogue.sources.filter(s => !filter || s.name.toUpperCase().includes(filter));
  if (!shown.length) {
    tree.append(el("li", {class: "empty", text: catalogue.sources.length ? "No match." : "No streams or tables yet."}));
    return;
  }
  for (const source of shown) {
    const columns = el("ul", {class: "columns", hidden: true}, source.fields.map(f =>
      el("li", {title: "Insert into the editor", onclick: () => insertText(quoteIdent(f.name))},
        el("span", {text: f.name + (f.type === "KEY" ? " 🔑" : "")}), el("span", {class: "type", text: typeName(f.schema)}))));
    const node = el("div", {class: "node", title: "Click: columns · Double-click: query it",
      onclick: () => { columns.hidden = !columns.hidden; },
      ondblclick: () => { showView("editor"); setEditor(pushQueryOf(source)); }},
    el("span", {class: `kind ${source.type.toLowerCase()}`, text: source.type === "TABLE" ? "T" : "S"}),
    el("span", {text: source.name}));
    tree.append(el("li", {}, node, columns));
  }
}

function typeName(schema) {
  if (!schema) return "";
  if (schema.type === "ARRAY") return `ARRAY<${typeName(schema.memberSchema)}>`;
  if (schema.type === "MAP") return `MAP<STRING, ${typeName(schema.memberSchema)}>`;
  if (schema.type === "STRUCT") return `STRUCT<${(schema.fields || []).map(f => `${f.name} ${typeName(f.schema)}`).join(", ")}>`;
  if (schema.type === "DECIMAL" && schema.parameters) return `DECIMAL(${schema.parameters.precision}, ${schema.parameters.scale})`;
  return schema.type;
}

function pushQueryOf(source) { return `SELECT * FROM ${quoteIdent(source.name)} EMIT CHANGES;`; }

// ---------------------------------------------------------------------------------------------------------
// Editor: completion and history

const KEYWORDS = `SELECT FROM WHERE EMIT CHANGES FINAL CREATE OR REPLACE STREAM TABLE SOURCE AS INSERT INTO VALUES WITH
  KAFKA_TOPIC VALUE_FORMAT KEY_FORMAT FORMAT PARTITIONS REPLICAS TIMESTAMP TIMESTAMP_FORMAT WRAP_SINGLE_VALUE
  VALUE_SCHEMA_ID GROUP BY HAVING PARTITION WINDOW TUMBLING HOPPING SESSION SIZE ADVANCE GRACE PERIOD RETENTION
  JOIN LEFT RIGHT FULL OUTER INNER ON WITHIN LIMIT SHOW LIST DESCRIBE EXTENDED DROP DELETE TOPIC TOPICS TERMINATE
  ALL PRINT BEGINNING INTERVAL QUERIES STREAMS TABLES FUNCTIONS FUNCTION PROPERTIES VARIABLES TYPES CONNECTORS
  CONNECTOR SINK EXPLAIN SET UNSET DEFINE UNDEFINE PAUSE RESUME KEY PRIMARY HEADERS HEADER STRING VARCHAR INT
  INTEGER BIGINT DOUBLE BOOLEAN DECIMAL ARRAY MAP STRUCT DATE TIME BYTES CASE WHEN THEN ELSE END AND OR NOT NULL
  IS IN LIKE BETWEEN DISTINCT CAST IF EXISTS TRUE FALSE ROWTIME ROWPARTITION ROWOFFSET WINDOWSTART WINDOWEND
  SECONDS MINUTES HOURS DAYS MILLISECONDS TYPE ASSERT`.split(/\s+/).filter(Boolean);
const SOURCE_CONTEXT = /\b(FROM|JOIN|INTO|DESCRIBE|EXTENDED|STREAM|TABLE|EXISTS)\s+$/i;

const completion = {
  items: [],
  index: 0,
  from: 0,
  open: false,

  candidates(text, caret) {
    const before = text.slice(0, caret);
    const qualified = before.match(/([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z0-9_]*)$/);
    if (qualified) {  // SOURCE.col
      const source = catalogue.find(qualified[1]) || this.aliasSource(text, qualified[1]);
      const prefix = qualified[2].toUpperCase();
      return {from: caret - qualified[2].length, items: (source ? source.fields : [])
        .filter(f => f.name.toUpperCase().startsWith(prefix)).map(f => ({text: f.name, hint: typeName(f.schema)}))};
    }
    const word = (before.match(/[A-Za-z_][A-Za-z0-9_]*$/) || [""])[0];
    const prefix = word.toUpperCase();
    const context = before.slice(0, before.length - word.length);
    const sources = catalogue.sources.map(s => ({text: s.name, hint: s.type.toLowerCase()}));
    const statement = text.slice(text.lastIndexOf(";", caret - 1) + 1, text.indexOf(";", caret) < 0 ? text.length : text.indexOf(";", caret));
    const mentioned = catalogue.sources.filter(s => new RegExp(`\\b${escapeRegExp(s.name)}\\b`, "i").test(statement));
    const columns = mentioned.flatMap(s => s.fields.map(f => ({text: f.name, hint: `${s.name} column`})));
    const keywords = KEYWORDS.map(k => ({text: k, hint: "keyword"}));
    const functions = catalogue.functions.map(f => ({text: f, hint: "function"}));
    const ordered = SOURCE_CONTEXT.test(context) ? [...sources, ...keywords]
      : [...columns, ...sources, ...keywords, ...functions];
    if (!prefix && !SOURCE_CONTEXT.test(context)) return {from: caret, items: []};
    const seen = new Set();
    const items = ordered.filter(c => {
      const key = c.text.toUpperCase();
      if (!key.startsWith(prefix) || key === prefix || seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    return {from: caret - word.length, items: items.slice(0, 60)};
  },

  aliasSource(text, alias) {
    const m = text.match(new RegExp(`\\b([A-Za-z_][A-Za-z0-9_]*)\\s+(?:AS\\s+)?${alias}\\b`, "i"));
    return m ? catalogue.find(m[1]) : null;
  },

  show(force) {
    const area = $("#sql");
    const {from, items} = this.candidates(area.value, area.selectionStart);
    if (!items.length || (!force && area.selectionStart !== area.selectionEnd)) return this.hide();
    this.items = items;
    this.from = from;
    this.index = 0;
    this.open = true;
    const list = $("#completions");
    list.replaceChildren(...items.map((item, i) => el("li", {
      class: i === 0 ? "active" : "", onmousedown: e => { e.preventDefault(); this.index = i; this.accept(); }},
    el("span", {text: item.text}), el("span", {class: "hint", text: item.hint}))));
    const {top, left} = caretOffset(area);
    list.style.top = `${top + 20}px`;
    list.style.left = `${Math.min(left, area.clientWidth - 200)}px`;
    list.hidden = false;
  },

  hide() { this.open = false; $("#completions").hidden = true; },

  move(delta) {
    this.index = (this.index + delta + this.items.length) % this.items.length;
    const list = $("#completions");
    [...list.children].forEach((li, i) => li.classList.toggle("active", i === this.index));
    list.children[this.index].scrollIntoView({block: "nearest"});
  },

  accept() {
    const area = $("#sql");
    const item = this.items[this.index];
    area.setRangeText(item.text, this.from, area.selectionStart, "end");
    this.hide();
    area.focus();
  },
};

// The caret's pixel position inside the textarea (a hidden mirror with the same text up to the caret).
function caretOffset(area) {
  const style = getComputedStyle(area);
  const mirror = el("div");
  for (const p of ["fontFamily", "fontSize", "lineHeight", "paddingTop", "paddingLeft", "paddingRight", "borderTopWidth",
    "borderLeftWidth", "tabSize", "letterSpacing"]) mirror.style[p] = style[p];
  Object.assign(mirror.style, {position: "absolute", visibility: "hidden", whiteSpace: "pre-wrap", wordWrap: "break-word",
    width: `${area.clientWidth}px`});
  mirror.textContent = area.value.slice(0, area.selectionStart);
  const marker = el("span", {text: "\u200b"});
  mirror.append(marker);
  document.body.append(mirror);
  const top = marker.offsetTop - area.scrollTop + area.offsetTop;
  const left = marker.offsetLeft - area.scrollLeft + area.offsetLeft;
  mirror.remove();
  return {top, left};
}

const history = {
  KEY: "ksql.console.history",
  MAX: 100,
  position: -1,
  entries() { try { return JSON.parse(localStorage.getItem(this.KEY)) || []; } catch { return []; } },
  add(text) {
    const entries = [text, ...this.entries().filter(e => e !== text)].slice(0, this.MAX);
    localStorage.setItem(this.KEY, JSON.stringify(entries));
    this.position = -1;
    this.render();
  },
  step(delta) {
    const entries = this.entries();
    if (!entries.length) return;
    this.position = Math.max(-1, Math.min(entries.length - 1, this.position + delta));
    setEditor(this.position < 0 ? "" : entries[this.position], false);
  },
  render() {
    const select = $("#history");
    select.replaceChildren(el("option", {value: "", text: `History (${this.entries().length})`}),
      ...this.entries().map((e, i) => el("option", {value: String(i), text: e.replace(/\s+/g, " ").slice(0, 90)})));
  },
};

function setEditor(text, focus = true) {
  const area = $("#sql");
  area.value = text;
  if (focus) { area.focus(); area.setSelectionRange(text.length, text.length); }
}

function insertText(text) {
  showView("editor");
  const area = $("#sql");
  area.setRangeText(text, area.selectionStart, area.selectionEnd, "end");
  area.focus();
}

function setupEditor() {
  const area = $("#sql");
  area.addEventListener("keydown", e => {
    if (completion.open) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") { e.preventDefault(); completion.move(e.key === "ArrowDown" ? 1 : -1); return; }
      if (e.key === "Enter" || e.key === "Tab") { if (!e.ctrlKey && !e.metaKey) { e.preventDefault(); completion.accept(); return; } }
      if (e.key === "Escape") { e.preventDefault(); completion.hide(); return; }
    }
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter") { e.preventDefault(); completion.hide(); runEditor(); return; }
    if (e.ctrlKey && e.key === " ") { e.preventDefault(); completion.show(true); return; }
    if (e.ctrlKey && (e.key === "ArrowUp" || e.key === "ArrowDown")) { e.preventDefault(); history.step(e.key === "ArrowUp" ? 1 : -1); return; }
    if (e.key === "Tab") { e.preventDefault(); area.setRangeText("  ", area.selectionStart, area.selectionEnd, "end"); }
  });
  area.addEventListener("input", e => {
    if (e.inputType && e.inputType.startsWith("insert") && /[A-Za-z_.]$/.test(area.value.slice(0, area.selectionStart))) completion.show(false);
    else completion.hide();
  });
  area.addEventListener("blur", () => setTimeout(() => completion.hide(), 150));
  $("#run").onclick = runEditor;
  $("#stop").onclick = () => runner.stop();
  $("#clear-editor").onclick = () => setEditor("");
  $("#history").onchange = e => {
    if (e.target.value !== "") setEditor(history.entries()[Number(e.target.value)]);
    e.target.value = "";
  };
  history.render();
}

// ---------------------------------------------------------------------------------------------------------
// Running statements: results as grids, push queries live

const MAX_GRID_ROWS = 2000;

const runner = {
  active: null,  // {queryId, controller} of the query that is streaming

  async stop() {
    const active = this.active;
    if (!active) return;
    $("#stop").disabled = true;
    if (active.queryId) {
      try { await callJson("/close-query", {method: "POST", body: {queryId: active.queryId}}); } catch { /* ended already */ }
    }
    setTimeout(() => active.controller.abort(), 1500);  // the server ends the stream; this is the backstop
  },
};

function setStatus(text, kind = "") {
  const status = $("#result-status");
  status.className = `status ${kind}`;
  status.textContent = text;
}

async function runEditor() {
  const area = $("#sql");
  const selected = area.value.slice(area.selectionStart, area.selectionEnd);
  const text = (selected.trim() ? selected : area.value).trim();
  if (!text) return;
  history.add(text);
  if (runner.active) await runner.stop();
  const statements = splitStatements(text);
  const results = $("#results");
  results.replaceChildren();
  $("#row-count").textContent = "";
  let summary = null;
  for (const [i, sql] of statements.entries()) {
    const block = el("div", {class: "result-block"}, statements.length > 1 ? el("h4", {text: sql.replace(/\s+/g, " ").slice(0, 140)}) : null);
    results.append(block);
    setStatus(statements.length > 1 ? `Running statement ${i + 1} of ${statements.length}…` : "Running…");
    try {
      summary = await runStatement(sql, block);
    } catch (err) {
      block.append(errorBlock(err));
      setStatus(err.message.split("\n")[0], "error");
      summary = undefined;
      break;
    }
  }
  if (summary !== undefined) {
    setStatus(summary && statements.length === 1 ? summary
      : `Done (${statements.length} statement${statements.length === 1 ? "" : "s"}).`);
  }
  if (statements.some(s => /^(CREATE|DROP|ALTER)\b/i.test(firstWord(s) + " "))) catalogue.refresh();
}

function errorBlock(err) {
  let text = err.message;
  if (err.body && err.body.statementText) text += `\n\nStatement: ${err.body.statementText}`;
  return el("div", {class: "message error", text});
}

async function runStatement(sql, block) {
  const local = session.apply(sql);
  if (local !== null) { block.append(el("div", {class: "message ok", text: local})); return null; }
  const word = firstWord(sql);
  if (word === "SELECT") return streamQuery(sql, block);
  if (word === "PRINT") return streamPrint(sql, block);
  const entities = await ksql(sql);
  for (const entity of entities) block.append(renderEntity(entity));
  return null;
}

// A SELECT over /query-stream: the header line, then one JSON array per row, as they come.
async function streamQuery(sql, block) {
  const controller = new AbortController();
  const response = await call("/query-stream", {method: "POST", accept: "application/vnd.ksqlapi.delimited.v1",
    signal: controller.signal, body: {sql, properties: session.properties(), sessionVariables: session.variables}});
  if (!response.ok) {
    const text = await response.text();
    let body;
    try { body = JSON.parse(text); } catch { body = {message: text}; }
    throw new ApiError(response.status, body);
  }
  const grid = new Grid(block);
  const active = {queryId: null, controller};
  const isPush = /\bEMIT\s+(CHANGES|FINAL)\b/i.test(stripComments(sql));
  let ended = "";
  try {
    for await (const line of lines(response.body.getReader())) {
      const message = JSON.parse(line);
      if (Array.isArray(message)) {
        grid.add(message);
      } else if (message.queryId !== undefined && message.columnNames) {
        active.queryId = message.queryId;
        grid.setColumns(message.columnNames, message.columnTypes);
        if (isPush) {
          runner.active = active;
          $("#stop").disabled = false;
          setStatus(`Streaming ${message.queryId} — rows appear as they arrive`, "live");
        }
      } else if (message["@type"] || message.errorMessage || message.message) {
        throw new ApiError(200, message);
      }
    }
    ended = isPush ? "Stopped" : "Done";
  } catch (err) {
    if (err.name !== "AbortError") throw err;
    ended = "Stopped";
  } finally {
    grid.flush();
    if (runner.active === active) runner.active = null;
    $("#stop").disabled = true;
  }
  return `${ended}: ${grid.count} row${grid.count === 1 ? "" : "s"}${active.queryId ? ` (${active.queryId})` : ""}.`;
}

// PRINT over /query: text lines, until its LIMIT or Stop.
async function streamPrint(sql, block) {
  const controller = new AbortController();
  const response = await call("/query", {method: "POST", accept: "application/json", signal: controller.signal,
    body: {ksql: sql, streamsProperties: session.properties()}});
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const out = el("pre", {class: "text"});
  block.append(out);
  runner.active = {queryId: null, controller};
  $("#stop").disabled = false;
  setStatus("Printing — records appear as they arrive", "live");
  try {
    for await (const line of lines(response.body.getReader())) out.append(line + "\n");
  } catch (err) {
    if (err.name !== "AbortError") throw err;
  } finally {
    runner.active = null;
    $("#stop").disabled = true;
  }
  return "Print ended.";
}

async function* lines(reader) {
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, {stream: true});
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (line) yield line;
    }
  }
  if (buffer.trim()) yield buffer.trim();
}

// A results grid that takes rows as they come. Rows are buffered and drawn once per animation frame (a push
// query from the earliest offset can deliver thousands at once); past MAX_GRID_ROWS the oldest are dropped.
class Grid {
  constructor(parent) {
    this.table = el("table", {class: "grid results-grid"});
    this.body = el("tbody");
    this.table.append(el("thead"), this.body);
    parent.append(this.table);
    this.count = 0;
    this.pending = [];
    this.scheduled = false;
  }
  setColumns(names, types = []) {
    this.table.tHead.replaceChildren(el("tr", {}, names.map((n, i) => el("th", {}, n, el("span", {class: "type", text: types[i] || ""})))));
  }
  add(values) {
    this.count++;
    this.pending.push(values);
    if (this.pending.length > MAX_GRID_ROWS) this.pending.shift();
    if (!this.scheduled) {
      this.scheduled = true;
      requestAnimationFrame(() => this.flush());
    }
  }
  flush() {
    this.scheduled = false;
    if (!this.pending.length) return;
    const scroller = $("#results");
    const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
    const highlight = this.count > this.pending.length && this.pending.length < 50;  // live rows, not a backlog
    const rows = document.createDocumentFragment();
    for (const values of this.pending) rows.append(el("tr", {class: highlight ? "fresh" : ""}, values.map(cell)));
    this.pending = [];
    this.body.append(rows);
    const excess = this.body.rows.length - MAX_GRID_ROWS;
    for (let i = 0; i < excess; i++) this.body.rows[0].remove();
    $("#row-count").textContent = `${this.count.toLocaleString()} row${this.count === 1 ? "" : "s"}` +
      (this.count > MAX_GRID_ROWS ? ` (last ${MAX_GRID_ROWS.toLocaleString()} shown)` : "");
    if (atBottom) scroller.scrollTop = scroller.scrollHeight;
  }
}

function cell(value) {
  if (value === null || value === undefined) return el("td", {class: "null", text: "null"});
  if (typeof value === "number") return el("td", {class: "num", text: String(value)});
  const text = typeof value === "object" ? JSON.stringify(value) : String(value);
  return el("td", {text, title: text.length > 60 ? text : null});
}

function grid(columns, rows, {onclick, selected} = {}) {
  const table = el("table", {class: "grid"},
    el("thead", {}, el("tr", {}, columns.map(c => el("th", {text: c})))),
    el("tbody", {}, rows.map((r, i) => {
      const tr = el("tr", {class: [onclick ? "clickable" : "", selected === i ? "selected" : ""].join(" ")},
        r.map(v => v instanceof Node ? el("td", {}, v) : cell(v)));
      if (onclick) tr.addEventListener("click", () => onclick(i, tr));
      return tr;
    })));
  return el("div", {class: "grid-wrap"}, table);
}

// One /ksql entity, shown by its @type.
function renderEntity(entity) {
  const type = entity["@type"];
  switch (type) {
  case "currentStatus":
    return el("div", {class: "message ok"}, entity.commandStatus.message || entity.commandStatus.status);
  case "streams":
  case "tables":
    return grid(["Name", "Kafka topic", "Key format", "Value format", "Windowed"],
      entity[type].map(s => [s.name, s.topic, s.keyFormat, s.valueFormat, String(s.isWindowed)]));
  case "kafka_topics":
  case "kafka_topics_extended":
    return grid(["Topic", "Partitions", "Replicas"],
      entity.topics.map(t => [t.name, (t.replicaInfo || []).length, (t.replicaInfo || [])[0] ?? ""]));
  case "queries":
    return grid(["Query ID", "State", "Sinks", "Query"],
      entity.queries.map(q => [q.id, badge(q.state), (q.sinks || []).join(", "), q.queryString]));
  case "sourceDescription":
    return sourceCard(entity.sourceDescription);
  case "source_descriptions":
    return el("div", {}, entity.sourceDescriptions.map(sourceCard));
  case "queryDescription":
    return queryCard(entity.queryDescription);
  case "query_descriptions":
    return el("div", {}, entity.queryDescriptions.map(queryCard));
  case "properties":
    return grid(["Property", "Scope", "Value"], entity.properties.map(p => [p.name, p.scope, p.value]));
  case "function_names":
    return grid(["Function", "Type", "Category"], entity.functions.map(f => [f.name, f.type, f.category]));
  case "connector_list":
    return grid(["Connector", "Type", "Class", "State"],
      (entity.connectors || []).map(c => [c.name, c.type, c.className, c.state]));
  default:
    if (entity.message && entity.statementText !== undefined && type && type.endsWith("error")) {
      return el("div", {class: "message error", text: entity.message});
    }
    return el("pre", {class: "text", text: JSON.stringify(entity, null, 2)});
  }
}

function sourceCard(d) {
  return el("div", {class: "card"},
    el("div", {class: "page-head"}, el("h2", {text: d.name}), badge(d.type.toLowerCase(), "")),
    fieldsGrid(d.fields),
    props([["Kafka topic", d.topic], ["Partitions", d.partitions], ["Key format", d.keyFormat],
      ["Value format", d.valueFormat], ["Timestamp", d.timestamp], ["Window", d.windowType],
      ["Statistics", d.statistics], ["Error statistics", d.errorStats],
      ["Written by", (d.writeQueries || []).map(q => q.id).join(", ")],
      ["Read by", (d.readQueries || []).map(q => q.id).join(", ")]]),
    d.statement ? el("code", {class: "sql", text: d.statement}) : null);
}

function fieldsGrid(fields) {
  return grid(["Column", "Type", ""], fields.map(f => [f.name, typeName(f.schema),
    f.type === "KEY" ? "key" : f.type === "HEADER" ? `header${f.headerKey ? ` (${f.headerKey})` : ""}` : ""]));
}

function queryCard(q) {
  return el("div", {class: "card"},
    el("div", {class: "page-head"}, el("h2", {text: q.id || "(statement)"}), q.state ? badge(q.state) : null),
    el("code", {class: "sql", text: q.statementText}),
    props([["Sources", (q.sources || []).join(", ")], ["Sinks", (q.sinks || []).join(", ")],
      ["Statistics", q.statistics], ["Error statistics", q.errorStats]]),
    q.logicalPlan ? [el("h3", {text: "Logical plan"}), el("pre", {class: "text", text: q.logicalPlan})] : null,
    q.executionPlan ? [el("h3", {text: "Execution plan"}), el("pre", {class: "text", text: q.executionPlan})] : null,
    q.topology ? [el("h3", {text: "Topology"}), el("pre", {class: "text", text: q.topology})] : null);
}

// ---------------------------------------------------------------------------------------------------------
// Views

const views = {};
let currentView = "editor";

function showView(name) {
  if (!document.getElementById(`view-${name}`)) name = "editor";
  currentView = name;
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== `view-${name}`;
  for (const link of document.querySelectorAll("#nav a")) link.classList.toggle("active", link.dataset.view === name);
  if (location.hash !== `#${name}` && !location.hash.startsWith(`#${name}/`)) history_replace(`#${name}`);
  if (views[name]) views[name]();
}
function history_replace(hash) { window.history.replaceState(null, "", hash); }

function page(name, title, ...children) {
  const section = $(`#view-${name}`);
  section.replaceChildren(el("div", {class: "page"}, el("div", {class: "page-head"}, el("h2", {text: title}),
    el("span", {class: "spacer"}), el("button", {onclick: () => views[name](), text: "Refresh"})), ...children));
  return section.firstChild;
}

async function guarded(target, work) {
  try {
    await work();
  } catch (err) {
    target.append(el("div", {class: "message error", text: err.message}));
  }
}

// Streams and tables: the list, and the chosen one's description
function sourceView(kind) {
  return async function render(selectedName) {
    const name = kind === "STREAM" ? "streams" : "tables";
    const detail = el("div", {class: "card empty", text: `Choose a ${kind.toLowerCase()}.`});
    const listHolder = el("div");
    const root = page(name, kind === "STREAM" ? "Streams" : "Tables", el("div", {class: "split"}, listHolder, detail));
    await guarded(root, async () => {
      await catalogue.refresh();
      const sources = catalogue.sources.filter(s => s.type === kind);
      if (!sources.length) { listHolder.append(notice(`No ${name} yet: create one in the editor.`)); return; }
      const choose = async (i, tr) => {
        listHolder.querySelectorAll("tr.selected").forEach(r => r.classList.remove("selected"));
        if (tr) tr.classList.add("selected");
        const [entity] = await ksql(`DESCRIBE ${quoteIdent(sources[i].name)} EXTENDED;`);
        const d = entity.sourceDescription;
        const card = sourceCard(d);
        card.append(el("div", {class: "buttons"},
          el("button", {class: "primary", text: "Push query", onclick: () => { showView("editor"); setEditor(pushQueryOf(d)); }}),
          kind === "TABLE" ? el("button", {text: "Pull query", onclick: () => { showView("editor"); setEditor(`SELECT * FROM ${quoteIdent(d.name)};`); }}) : null,
          el("button", {text: "Browse topic", onclick: () => openTopic(d.topic)})));
        root.querySelector(".split").lastChild.replaceWith(card);
      };
      listHolder.append(grid(["Name", "Topic", "Key", "Value"],
        sources.map(s => [s.name, s.topic, s.keyFormat, s.valueFormat]), {onclick: (i, tr) => guarded(root, () => choose(i, tr))}));
      const index = sources.findIndex(s => s.name === selectedName);
      if (index >= 0) await choose(index, listHolder.querySelectorAll("tbody tr")[index]);
    });
  };
}
views.streams = sourceView("STREAM");
views.tables = sourceView("TABLE");

// Topics: the list, and a chosen topic's messages by partition and offset
const topicState = {topic: null, partition: "", offset: "", limit: 50, includeInternal: false};

function openTopic(topic) {
  Object.assign(topicState, {topic, partition: "", offset: ""});
  showView("topics");
}

views.topics = async function renderTopics() {
  const listHolder = el("div");
  const messages = el("div", {class: "card empty", text: "Choose a topic to see its messages."});
  const internal = el("input", {type: "checkbox", onchange: e => { topicState.includeInternal = e.target.checked; views.topics(); }});
  internal.checked = topicState.includeInternal;
  const root = page("topics", "Topics", el("label", {class: "check"}, internal, "show internal topics"),
    el("div", {class: "split"}, listHolder, messages));
  await guarded(root, async () => {
    const [entity] = await ksql(topicState.includeInternal ? "SHOW ALL TOPICS;" : "SHOW TOPICS;");
    const topics = entity.topics;
    if (!topics.length) { listHolder.append(notice("No topics yet.")); return; }
    const names = topics.map(t => t.name);
    listHolder.append(grid(["Topic", "Partitions"], topics.map(t => [t.name, (t.replicaInfo || []).length]), {
      selected: names.indexOf(topicState.topic),
      onclick: i => { Object.assign(topicState, {topic: names[i], partition: "", offset: ""}); views.topics(); }}));
    if (topicState.topic) root.querySelector(".split").lastChild.replaceWith(await topicMessages());
  });
};

async function topicMessages() {
  const card = el("div", {class: "card topic-messages"});
  const query = new URLSearchParams({limit: String(topicState.limit)});
  if (topicState.partition !== "") query.set("partition", topicState.partition);
  if (topicState.offset !== "") query.set("offset", topicState.offset);
  let page;
  try {
    page = await callJson(`/topics/${encodeURIComponent(topicState.topic)}/records?${query}`);
  } catch (err) {
    card.append(el("h2", {text: topicState.topic}), el("div", {class: "message error", text: err.message}));
    return card;
  }
  const reload = () => topicMessages().then(next => card.replaceWith(next));
  const partitions = el("select", {onchange: e => { topicState.partition = e.target.value; topicState.offset = ""; reload(); }},
    el("option", {value: "", text: "All partitions"}),
    page.partitions.map(p => el("option", {value: String(p.partition), text: `Partition ${p.partition}`})));
  partitions.value = topicState.partition;
  const offset = el("input", {type: "number", min: "0", placeholder: "newest", value: topicState.offset, style: "width: 110px",
    onchange: e => { topicState.offset = e.target.value; reload(); }});
  const limit = el("select", {onchange: e => { topicState.limit = Number(e.target.value); reload(); }},
    [20, 50, 100, 500].map(n => el("option", {value: String(n), text: `${n} per partition`})));
  limit.value = String(topicState.limit);
  const spans = topicState.partition === "" ? page.partitions : page.partitions.filter(p => String(p.partition) === topicState.partition);
  const start = Math.min(...spans.map(p => p.startOffset));
  const first = page.records.length ? Math.min(...page.records.map(r => r.offset)) : null;
  const last = page.records.length ? Math.max(...page.records.map(r => r.offset)) : null;
  const jump = value => () => { topicState.offset = value === "" ? "" : String(Math.max(0, value)); reload(); };
  const detail = el("div");
  card.append(
    el("div", {class: "page-head"}, el("h2", {text: topicState.topic}),
      el("span", {class: "muted", text: `key ${page.keyFormat} · value ${page.valueFormat}`})),
    el("div", {class: "toolbar", style: "padding: 0"}, partitions, el("label", {class: "check"}, "from offset", offset), limit,
      el("span", {class: "spacer"}),
      el("button", {text: "Oldest", onclick: jump(start)}),
      el("button", {text: "◀ Older", disabled: first === null || first <= start, onclick: jump(first - topicState.limit)}),
      el("button", {text: "Newer ▶", disabled: last === null || spans.every(p => last + 1 >= p.endOffset), onclick: jump(last + 1)}),
      el("button", {text: "Newest", onclick: jump("")})),
    grid(["Partition", "Messages", "First offset", "Next offset"],
      page.partitions.map(p => [p.partition, p.endOffset - p.startOffset, p.startOffset, p.endOffset])),
    page.records.length
      ? grid(["Partition", "Offset", "Timestamp", "Key", "Value"],
        page.records.map(r => [r.partition, r.offset, fmtTime(r.timestamp), r.key, r.value]),
        {onclick: i => detail.replaceChildren(recordDetail(page.records[i]))})
      : notice("No messages in this range."),
    detail);
  return card;
}

function recordDetail(record) {
  let value = record.value;
  try { value = JSON.stringify(JSON.parse(record.value), null, 2); } catch { /* not JSON: as it is */ }
  return el("div", {class: "card"},
    props([["Partition", record.partition], ["Offset", record.offset], ["Timestamp", `${fmtTime(record.timestamp)} (${record.timestamp})`],
      ["Key", record.key ?? "null"], ["Headers", record.headers.length ? record.headers.map(h => `${h.key}=${h.value}`).join(", ") : "none"]]),
    el("pre", {class: "text", text: value ?? "null"}));
}

// Queries: state, throughput, lag and errors, each query's charts; the chosen query's details
views.queries = async function renderQueries(selectedId) {
  const listHolder = el("div");
  const charts = el("div", {class: "charts"});
  const detail = el("div");
  const root = page("queries", "Persistent queries", listHolder, el("h3", {text: "Throughput and lag"}), charts, detail);
  await guarded(root, async () => {
    await monitor.sample();
    const queries = monitor.queries;
    if (!queries.length) { listHolder.append(notice("No persistent queries are running.")); charts.append(notice("Charts appear when a query runs.")); return; }
    const show = async id => {
      const [entity] = await ksql(`EXPLAIN ${id};`);
      const card = queryCard(entity.queryDescription);
      const errors = entity.queryDescription.queryErrors || [];
      if (errors.length) card.append(el("h3", {text: "Errors"}), grid(["Time", "Type", "Message"], errors.map(e => [fmtTime(e.timestamp), e.type, e.errorMessage])));
      card.append(el("div", {class: "buttons"}, el("button", {class: "danger", text: `Terminate ${id}`, onclick: async () => {
        if (!confirm(`Terminate ${id}?`)) return;
        await guarded(card, async () => { await ksql(`TERMINATE ${id};`); views.queries(); });
      }})));
      detail.replaceChildren(card);
      card.scrollIntoView({block: "nearest"});
    };
    const render = () => {
      listHolder.replaceChildren(grid(["Query", "State", "Sources → sinks", "Records/s", "Lag", "Errors"],
        monitor.queries.map(q => {
          const now = monitor.latest(q.id);
          return [q.id, badge(q.state), `${(q.sources || []).join(", ")} → ${(q.sinks || []).join(", ")}`,
            fmtNumber(now.rate), fmtNumber(now.lag), (q.queryErrors || []).length || failedCount(q) || 0];
        }), {onclick: i => guarded(detail, () => show(monitor.queries[i].id))}));
      charts.replaceChildren(...monitor.queries.map(q => queryCharts(q, () => guarded(detail, () => show(q.id)))));
    };
    render();
    monitor.onSample = () => { if (currentView === "queries") render(); };
    if (selectedId) await show(selectedId);
  });
};

function failedCount(q) {
  const m = (q.errorStats || "").match(/failed-messages:\s*([\d.]+)/);
  return m ? Number(m[1]) : 0;
}

// One query's card of charts: records/s and lag over the last samples
function queryCharts(query, onclick) {
  const samples = monitor.history.get(query.id) || [];
  const span = Math.round((monitor.HISTORY * monitor.PERIOD_MS) / 60000);
  const sources = [monitor.rateSource, monitor.lagSource].filter(Boolean);
  return el("div", {class: "chart-pair", title: "Show this query's details", onclick},
    el("h4", {}, el("span", {text: query.id}), badge(query.state)),
    chart("records/s", samples.map(s => s.rate), "#2563eb", monitor.rateSource),
    chart("lag (records)", samples.map(s => s.lag), "#d97706", monitor.lagSource),
    el("div", {class: "chart-foot", text: `last ${span} min${sources.length ? ` · from ${[...new Set(sources)].join(", ")}` : ""}`}));
}

// A line chart of the last samples (SVG), or a note when the figure is not available.
function chart(title, values, color, source) {
  const known = values.filter(v => v !== null && v !== undefined);
  const box = el("div", {class: "chart"});
  const last = known.length ? known[known.length - 1] : null;
  box.append(el("div", {class: "chart-head"}, el("span", {text: title}), el("b", {text: source ? fmtNumber(last) : "n/a"})));
  if (!source) { box.append(el("div", {class: "muted", text: "not available: the server reports no such figure"})); return box; }
  const width = 300, height = 44, max = Math.max(1, ...known);
  const n = monitor.HISTORY;
  const x = i => (width * (i + n - values.length)) / (n - 1);
  const y = v => height - 2 - ((height - 10) * v) / max;
  const points = values.map((v, i) => (v === null || v === undefined ? null : `${x(i).toFixed(1)},${y(v).toFixed(1)}`)).filter(Boolean);
  const plot = svg("svg", {viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none"},
    svg("line", {class: "axis", x1: 0, x2: width, y1: height - 2, y2: height - 2}),
    svg("text", {x: 2, y: 8}, fmtNumber(max)));
  if (points.length > 1) {
    plot.append(svg("polygon", {class: "area", fill: color, points: `${points[0].split(",")[0]},${height - 2} ${points.join(" ")} ${points[points.length - 1].split(",")[0]},${height - 2}`}));
    plot.append(svg("polyline", {class: "line", stroke: color, points: points.join(" ")}));
  }
  box.append(plot);
  return box;
}

// Samples of every persistent query's throughput and lag, taken every PERIOD_MS while the console is in view.
// Throughput: the total-messages counter of SHOW QUERIES EXTENDED's statistics (ksqlDB's format), or a
// records-in counter of /metrics. Lag: /metrics' lag gauges, else /clusterStatus' per-query offset lag.
const monitor = {
  PERIOD_MS: 3000,
  HISTORY: 60,
  queries: [],
  history: new Map(),     // query id -> [{t, total, rate, lag}]
  metricsAvailable: true,
  rateSource: null,
  lagSource: null,
  onSample: null,
  timer: null,

  latest(id) { const h = this.history.get(id) || []; return h[h.length - 1] || {}; },

  async sample() {
    const [entities, metrics, cluster] = await Promise.all([
      ksql("SHOW QUERIES EXTENDED;"),
      this.metricsAvailable ? call("/metrics", {accept: "text/plain"}).then(async r => {
        if (r.status === 404) { this.metricsAvailable = false; return null; }
        return r.ok ? parsePrometheus(await r.text()) : null;
      }).catch(() => null) : null,
      callJson("/clusterStatus").catch(() => null),
    ]);
    this.queries = (entities[0].queryDescriptions || []).filter(q => q.id).sort((a, b) => a.id.localeCompare(b.id));
    const now = Date.now();
    const lags = clusterLags(cluster);
    for (const q of this.queries) {
      const fromMetrics = metrics ? queryFigures(metrics, q.id) : {};
      const statsTotal = statistic(q.statistics, "total-messages");
      const total = statsTotal ?? fromMetrics.recordsIn ?? null;
      if (statsTotal !== null) this.rateSource = "SHOW QUERIES EXTENDED";
      else if (fromMetrics.recordsIn !== undefined) this.rateSource = "/metrics";
      const lag = fromMetrics.lag ?? (lags[q.id] !== undefined ? lags[q.id] : null);
      if (fromMetrics.lag !== undefined) this.lagSource = "/metrics";
      else if (lags[q.id] !== undefined) this.lagSource = this.lagSource || "/clusterStatus";
      const series = this.history.get(q.id) || [];
      const previous = series[series.length - 1];
      const rate = total === null ? null
        : previous && previous.total !== null ? Math.max(0, (total - previous.total) / ((now - previous.t) / 1000))
          : statistic(q.statistics, "messages-per-sec");
      series.push({t: now, total, rate, lag});
      if (series.length > this.HISTORY) series.shift();
      this.history.set(q.id, series);
    }
    for (const id of [...this.history.keys()]) if (!this.queries.some(q => q.id === id)) this.history.delete(id);
  },

  start() {
    const tick = async () => {
      if (document.visibilityState === "visible") {  // charts have a history by the time they are opened
        try { await this.sample(); if (this.onSample) this.onSample(); } catch { /* the next tick tries again */ }
      }
      this.timer = setTimeout(tick, this.PERIOD_MS);
    };
    this.timer = setTimeout(tick, this.PERIOD_MS);
  },
};

// A figure of a ksqlDB statistics string ("messages-per-sec: 1.5 total-messages: 12 ...")
function statistic(text, name) {
  const m = (text || "").match(new RegExp(`(?:^|\\s)${name}:\\s*([-\\d.]+)`));
  return m ? Number(m[1]) : null;
}

function clusterLags(status) {
  const lags = {};
  if (!status || !status.clusterStatus) return lags;
  for (const host of Object.values(status.clusterStatus)) {
    const stores = (host.hostStoreLags || {}).stateStoreLags || {};
    for (const [id, lag] of Object.entries(stores)) if (lag && typeof lag.offsetLag === "number") lags[id] = (lags[id] || 0) + lag.offsetLag;
  }
  return lags;
}

// Prometheus' text format -> [{name, labels, value}]
function parsePrometheus(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    for (const [, k, v] of (m[2] || "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v.replace(/\\(.)/g, "$1");
    samples.push({name: m[1], labels, value: Number(m[3])});
  }
  return samples;
}

// One query's records-in counter and lag (summed over partitions) among /metrics' samples.
function queryFigures(samples, id) {
  const figures = {};
  for (const s of samples) {
    const owner = s.labels.query_id ?? s.labels.query;
    if (owner !== id || Number.isNaN(s.value)) continue;
    if (/records?_(in|consumed)(_total)?$/.test(s.name)) figures.recordsIn = (figures.recordsIn || 0) + s.value;
    else if (/lag$/.test(s.name)) figures.lag = (figures.lag || 0) + s.value;
  }
  return figures;
}

// Flow: sources -> queries -> sinks, laid out in layers (a source's layer is after its writers')
views.flow = async function renderFlow() {
  const holder = el("div", {class: "flow"});
  const root = page("flow", "Flow", el("div", {class: "legend"},
    el("span", {}, el("i", {style: "background:#fffbeb;border-color:#d97706"}), "connector"),
    el("span", {}, el("i", {style: "background:#ecfeff;border-color:#0891b2"}), "stream"),
    el("span", {}, el("i", {style: "background:#f5f3ff;border-color:#7c3aed"}), "table"),
    el("span", {}, el("i", {style: "background:#eff6ff;border-color:#2563eb"}), "persistent query")), holder);
  await guarded(root, async () => {
    const [, , connectors] = await Promise.all([catalogue.refresh(), monitor.sample(), listConnectors(true)]);
    if (!catalogue.sources.length && !(connectors || []).length) { holder.replaceWith(notice("Nothing to draw yet: create a stream.")); return; }
    holder.append(flowGraph(catalogue.sources, monitor.queries, connectors || []));
  });
};

function flowGraph(sources, queries, connectors) {
  const nodes = new Map();
  for (const c of connectors) {
    nodes.set(`c:${c.name}`, {id: `c:${c.name}`, kind: "connector", label: c.name, in: [], out: [],
      sub: `${(c.type || "").toLowerCase()} connector · ${connectorState(c)}`});
  }
  for (const s of sources) nodes.set(`s:${s.name}`, {id: `s:${s.name}`, kind: s.type.toLowerCase(), label: s.name, sub: s.topic, in: [], out: []});
  for (const q of queries) nodes.set(`q:${q.id}`, {id: `q:${q.id}`, kind: "query", label: q.id, sub: q.state || "", state: q.state, in: [], out: []});
  const edges = [];
  const link = (from, to) => {
    if (!nodes.has(from) || !nodes.has(to)) return;
    edges.push([from, to]);
    nodes.get(from).out.push(to);
    nodes.get(to).in.push(from);
  };
  for (const q of queries) {
    for (const s of q.sources || []) link(`s:${s}`, `q:${q.id}`);
    for (const s of q.sinks || []) link(`q:${q.id}`, `s:${s}`);
  }
  for (const c of connectors) {  // a source connector writes its topics, a sink connector reads them
    for (const topic of c.topics || []) {
      for (const s of sources.filter(s => s.topic === topic)) {
        if ((c.type || "").toLowerCase() === "sink") link(`s:${s.name}`, `c:${c.name}`);
        else link(`c:${c.name}`, `s:${s.name}`);
      }
    }
  }
  // layers: longest path from a node without inputs (cycles, e.g. INSERT INTO a source read upstream, are cut)
  const layer = new Map();
  const depth = (id, seen = new Set()) => {
    if (layer.has(id)) return layer.get(id);
    if (seen.has(id)) return 0;
    seen.add(id);
    const node = nodes.get(id);
    const d = node.in.length ? Math.max(...node.in.map(p => depth(p, seen))) + 1 : 0;
    layer.set(id, d);
    return d;
  };
  for (const id of nodes.keys()) depth(id);
  const columns = [];
  for (const [id, d] of layer) (columns[d] = columns[d] || []).push(id);
  const W = 172, H = 46, GX = 56, GY = 20, PAD = 20;
  const pos = new Map();
  columns.forEach((ids, c) => {
    // each node level with the average of its inputs where there is room, so edges run straight
    const wanted = id => {
      const ins = nodes.get(id).in.filter(p => pos.has(p));
      return ins.length ? ins.reduce((a, p) => a + pos.get(p).y, 0) / ins.length : 0;
    };
    if (c > 0) ids.sort((a, b) => wanted(a) - wanted(b));
    let next = PAD;
    for (const id of ids) {
      const y = Math.max(next, c > 0 ? wanted(id) : next);
      pos.set(id, {x: PAD + c * (W + GX), y});
      next = y + H + GY;
    }
  });
  const width = PAD * 2 + columns.length * W + (columns.length - 1) * GX;
  const height = PAD + Math.max(...[...pos.values()].map(p => p.y)) + H;
  const graph = svg("svg", {width, height, viewBox: `0 0 ${width} ${height}`},
    svg("defs", {}, svg("marker", {id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse"},
      svg("path", {d: "M 0 0 L 10 5 L 0 10 z", fill: "#94a3b8"}))));
  for (const [from, to] of edges) {
    const a = pos.get(from), b = pos.get(to);
    const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2;
    const mid = x1 + Math.max(30, (x2 - x1) / 2);
    graph.append(svg("path", {class: "edge", "marker-end": "url(#arrow)",
      d: x2 > x1 ? `M ${x1} ${y1} C ${mid} ${y1}, ${x2 - (mid - x1)} ${y2}, ${x2} ${y2}` : `M ${x1} ${y1} C ${x1 + 60} ${y1}, ${x2 - 60} ${y2}, ${x2} ${y2}`}));
  }
  for (const [id, p] of pos) {
    const node = nodes.get(id);
    const open = () => {
      if (node.kind === "query") { showView("queries"); views.queries(node.label); }
      else if (node.kind === "connector") showView("connectors");
      else { showView(node.kind === "table" ? "tables" : "streams"); views[node.kind === "table" ? "tables" : "streams"](node.label); }
    };
    graph.append(svg("g", {class: `node ${node.kind} ${node.state || ""}`, transform: `translate(${p.x},${p.y})`, onclick: open},
      svg("title", {}, node.kind === "query" ? `${node.label} (${node.state})`
        : node.kind === "connector" ? `${node.label}: ${node.sub}` : `${node.kind} ${node.label} on topic ${node.sub}`),
      svg("rect", {width: W, height: H, rx: 6}),
      svg("text", {x: 10, y: 19}, truncate(node.label, 21)),
      svg("text", {class: "sub", x: 10, y: 35}, node.kind === "query" || node.kind === "connector" ? truncate(node.sub, 30)
        : `${node.kind} · ${truncate(node.sub, 20)}`)));
  }
  return graph;
}
function truncate(text, n) { return text.length > n ? text.slice(0, n - 1) + "…" : text; }

// Connectors: Kafka Connect's REST API (/connectors), when the server has one.
// [{name, type, config, status, topics}], or null when the server answers 404.
async function listConnectors(withTopics = false) {
  const response = await call("/connectors?expand=status&expand=info");
  if (response.status === 404) return null;
  const text = await response.text();
  let body;
  try { body = JSON.parse(text); } catch { body = {message: text}; }
  if (!response.ok) throw new ApiError(response.status, body);
  const fetchOne = (name, what) => callJson(`/connectors/${encodeURIComponent(name)}${what}`).catch(() => null);
  const entries = Array.isArray(body)  // a Connect without ?expand: each connector apart
    ? await Promise.all(body.map(async name => ({name, info: await fetchOne(name, ""), status: await fetchOne(name, "/status")})))
    : Object.entries(body).map(([name, v]) => ({name, info: v.info, status: v.status}));
  return Promise.all(entries.map(async e => ({
    name: e.name, type: (e.info && e.info.type) || (e.status && e.status.type) || "", config: (e.info && e.info.config) || {},
    status: e.status, topics: withTopics ? (((await fetchOne(e.name, "/topics")) || {})[e.name] || {}).topics || [] : []})));
}

function connectorState(c) { return c.status && c.status.connector ? c.status.connector.state : "UNKNOWN"; }

views.connectors = async function renderConnectors() {
  const holder = el("div");
  const detail = el("div");
  const root = page("connectors", "Connectors", holder, detail);
  await guarded(root, async () => {
    const connectors = await listConnectors();
    if (connectors === null) { holder.append(notice("Connectors are not available on this server (GET /connectors answered 404).")); return; }
    if (!connectors.length) {
      holder.append(notice("No connectors. Create one in the editor with CREATE SOURCE CONNECTOR or CREATE SINK CONNECTOR."));
      return;
    }
    const act = (c, method, path) => guarded(detail, async () => {
      await callJson(`/connectors/${encodeURIComponent(c.name)}${path}`, {method});
      setTimeout(() => views.connectors(), 500);
    });
    holder.append(grid(["Connector", "Type", "Class", "State", "Tasks"], connectors.map(c => [
      c.name, c.type, c.config["connector.class"] || "", badge(connectorState(c)),
      ((c.status && c.status.tasks) || []).map(t => `${t.id}: ${t.state}`).join(", ")]), {onclick: i => {
      const c = connectors[i];
      const paused = connectorState(c) === "PAUSED";
      detail.replaceChildren(el("div", {class: "card"},
        el("div", {class: "page-head"}, el("h2", {text: c.name}), badge(connectorState(c))),
        el("div", {class: "buttons"},
          el("button", {text: paused ? "Resume" : "Pause", onclick: () => act(c, "PUT", paused ? "/resume" : "/pause")}),
          el("button", {text: "Restart", onclick: () => act(c, "POST", "/restart?includeTasks=true")})),
        grid(["Config", "Value"], Object.entries(c.config).sort().map(([k, v]) => [k, v])),
        ((c.status && c.status.tasks) || []).filter(t => t.trace).map(t => el("pre", {class: "text", text: `Task ${t.id}: ${t.trace}`}))));
    }}));
  });
};

// Schema registry: subjects, their versions and schemas (the embedded registry's Confluent REST API)
views.schemas = async function renderSchemas() {
  const listHolder = el("div");
  const detail = el("div", {class: "card empty", text: "Choose a subject."});
  const root = page("schemas", "Schema registry subjects", el("div", {class: "split"}, listHolder, detail));
  await guarded(root, async () => {
    const response = await call("/schema-registry/subjects");
    if (response.status === 404) { listHolder.append(notice("The schema registry is not available on this server.")); return; }
    const subjects = await response.json();
    if (!response.ok) throw new ApiError(response.status, subjects);
    if (!subjects.length) { listHolder.append(notice("No subjects: AVRO, PROTOBUF and JSON_SR sources register their schemas here.")); return; }
    const showSubject = async (subject, version) => {
      const base = `/schema-registry/subjects/${encodeURIComponent(subject)}/versions`;
      const versions = await callJson(base);
      const chosen = version ?? versions[versions.length - 1];
      const schema = await callJson(`${base}/${chosen}`);
      let text = schema.schema;
      try { text = JSON.stringify(JSON.parse(text), null, 2); } catch { /* PROTOBUF: as it is */ }
      const picker = el("select", {onchange: e => guarded(root, () => showSubject(subject, Number(e.target.value)))},
        versions.map(v => el("option", {value: String(v), text: `version ${v}`})));
      picker.value = String(chosen);
      root.querySelector(".split").lastChild.replaceWith(el("div", {class: "card"},
        el("div", {class: "page-head"}, el("h2", {text: subject}), el("span", {class: "spacer"}), picker),
        props([["Schema id", schema.id], ["Type", schema.schemaType || "AVRO"], ["Version", schema.version]]),
        el("pre", {class: "text", text})));
    };
    listHolder.append(grid(["Subject"], subjects.map(s => [s]), {onclick: i => guarded(root, () => showSubject(subjects[i]))}));
  });
};

views.editor = () => $("#sql").focus();

// ---------------------------------------------------------------------------------------------------------
// Server status and start-up

async function refreshServerStatus() {
  const status = $("#server-status");
  try {
    const info = (await callJson("/info")).KsqlServerInfo;
    status.replaceChildren(el("span", {class: `dot ${info.serverStatus === "RUNNING" ? "up" : "down"}`}),
      `${location.host} · v${info.version} · ${info.serverStatus.toLowerCase()}`);
  } catch (err) {
    status.replaceChildren(el("span", {class: "dot down"}), `${location.host} · ${err.message}`);
  }
}

function routeFromHash() {
  const [name, ...rest] = location.hash.replace(/^#/, "").split("/");
  const arg = rest.length ? decodeURIComponent(rest.join("/")) : undefined;
  if (name === "topics" && arg) topicState.topic = arg;
  showView(name || "editor");
}

async function start() {
  setupEditor();
  $("#source-filter").addEventListener("input", renderSourceTree);
  $("#refresh-sources").onclick = () => catalogue.refresh();
  document.querySelectorAll("#nav a").forEach(a => a.addEventListener("click", e => { e.preventDefault(); showView(a.dataset.view); }));
  window.addEventListener("hashchange", routeFromHash);
  await refreshServerStatus();
  setInterval(refreshServerStatus, 15000);
  await Promise.all([catalogue.refresh(), catalogue.loadFunctions()]);
  routeFromHash();
  monitor.start();
}

start();
