// Kepu editor page: preview per audience/channel, item audience overrides, pin/boost/block rules.
// Every piece of item text is put in the page with textContent (never innerHTML), so a title
// such as "<script>…" is shown as text and never runs.
"use strict";

const KEY_STORAGE = "kepu.editor.apiKey";
const API = new URL("../", window.location.href).pathname.replace(/\/$/, "") + "/v1";

const state = { audiences: [], channels: {}, topics: {}, formats: {}, currentItem: null };
const KINDS = { pin: "置顶", boost: "加权", block: "屏蔽" };
const SOURCES = { editor: "编辑", auto: "自动" };

function $(id) { return document.getElementById(id); }

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "className") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function apiKey() { return window.localStorage.getItem(KEY_STORAGE) || ""; }

function showMessage(text, kind = "info") {
  const box = $("message");
  box.textContent = text;
  box.className = `message ${kind}`;
  box.hidden = false;
  window.clearTimeout(showMessage.timer);
  showMessage.timer = window.setTimeout(() => { box.hidden = true; }, 6000);
}

async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  const key = apiKey();
  if (key) headers["X-API-Key"] = key;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!response.ok) {
    const err = (data && data.error) || {};
    const where = err.field ? `（${err.field}）` : "";
    throw new Error(`${response.status} ${err.message || response.statusText}${where}`);
  }
  return data;
}

function audienceLabel(id) {
  const found = state.audiences.find((a) => a.id === id);
  return found ? found.label : id;
}

function fillSelect(select, options, { blank } = {}) {
  select.replaceChildren();
  if (blank) select.append(el("option", { value: "" }, blank));
  for (const [value, label] of options) select.append(el("option", { value }, label));
}

// ---- preview ---------------------------------------------------------------------------------

function renderCards(list, items) {
  list.replaceChildren();
  if (!items.length) {
    list.append(el("li", { className: "empty" }, "没有可推荐的内容"));
    return;
  }
  for (const item of items) {
    const tags = el("span", { className: "tags" });
    for (const a of item.audiences || []) tags.append(el("span", { className: "tag" }, audienceLabel(a)));
    for (const t of item.topics || []) tags.append(el("span", { className: "tag topic" }, state.topics[t] || t));
    const card = el("li", { className: "card", dataset: { itemId: item.id } },
      el("div", { className: "card-head" },
        el("span", { className: "format" }, state.formats[item.format] || item.format),
        el("button", { type: "button", className: "title link", onclick: () => openItem(item.id) }, item.title)),
      el("p", { className: "summary" }, item.summary || ""),
      el("p", { className: "reason" }, item.reason ? `推荐理由：${item.reason}` : ""),
      el("p", { className: "meta" }, tags, el("span", { className: "score" }, `分数 ${Number(item.score).toFixed(3)}`)));
    list.append(card);
  }
}

async function loadPreview(audience, list, title, meta) {
  const channel = $("channel").value;
  const k = $("k").value || "10";
  // Only the latest request for a column may render: an older, slower answer must not overwrite it.
  const ticket = (Number(list.dataset.ticket) || 0) + 1;
  list.dataset.ticket = String(ticket);
  title.textContent = `${audienceLabel(audience)} · ${state.channels[channel] || channel}`;
  const data = await call("GET", `/audiences/${encodeURIComponent(audience)}/preview?channel=${encodeURIComponent(channel)}&k=${encodeURIComponent(k)}`);
  if (list.dataset.ticket !== String(ticket)) return;
  meta.textContent = `模型版本 ${data.model_version || "（无，按受众热度）"}`;
  renderCards(list, data.items);
  list.dataset.audience = audience;
  list.dataset.channel = channel;
}

async function refreshPreview() {
  try {
    const jobs = [loadPreview($("audience").value, $("preview-list"), $("column-a-title"), $("column-a-meta"))];
    if ($("compare-toggle").checked) {
      jobs.push(loadPreview($("audience-b").value, $("preview-list-b"), $("column-b-title"), $("column-b-meta")));
    }
    await Promise.all(jobs);
  } catch (err) {
    showMessage(`预览失败：${err.message}`, "error");
  }
}

// ---- item detail and audience override ------------------------------------------------------

async function openItem(id) {
  try {
    const item = await call("GET", `/items/${encodeURIComponent(id)}`);
    state.currentItem = item;
    $("item-panel").hidden = false;
    $("item-title").textContent = item.title;
    $("item-summary").textContent = item.summary || "";
    $("item-id").textContent = item.id;
    $("item-format").textContent = state.formats[item.format] || item.format;
    $("item-topics").textContent = (item.topics || []).map((t) => state.topics[t] || t).join("、");
    const body = $("item-tags");
    body.replaceChildren();
    for (const tag of item.audiences || []) {
      body.append(el("tr", {},
        el("td", {}, audienceLabel(tag.audience)),
        el("td", {}, Number(tag.score).toFixed(2)),
        el("td", {}, SOURCES[tag.source] || tag.source),
        el("td", {}, tag.reason || "")));
    }
    if (!(item.audiences || []).length) body.append(el("tr", {}, el("td", { colspan: "4" }, "尚未标注受众")));
    const chosen = new Set((item.audiences || []).map((t) => t.audience));
    const boxes = $("override-boxes");
    boxes.replaceChildren();
    for (const a of state.audiences) {
      const input = el("input", { type: "checkbox", value: a.id, name: "override" });
      input.checked = chosen.has(a.id);
      boxes.append(el("label", { className: "check" }, input, ` ${a.label}`));
    }
    await loadHistory(id);
  } catch (err) {
    showMessage(`读取内容失败：${err.message}`, "error");
  }
}

async function loadHistory(id) {
  const list = $("item-history");
  list.replaceChildren();
  if (!apiKey()) {
    list.append(el("li", { className: "muted" }, "输入编辑密钥后可查看修改记录"));
    return;
  }
  try {
    const data = await call("GET", `/items/${encodeURIComponent(id)}/audiences`);
    for (const h of data.history) {
      const names = (tags) => tags.map((t) => audienceLabel(t.audience || t)).join("、") || "无";
      list.append(el("li", {}, `${new Date(h.at).toLocaleString("zh-CN")} ${h.actor}（${SOURCES[h.source] || h.source}）：${names(h.old)} → ${names(h.new)}`));
    }
    if (!data.history.length) list.append(el("li", { className: "muted" }, "暂无记录"));
  } catch (err) {
    list.append(el("li", { className: "muted" }, `无法读取记录：${err.message}`));
  }
}

async function saveOverride(event) {
  event.preventDefault();
  const item = state.currentItem;
  if (!item) return;
  const audiences = [...document.querySelectorAll("input[name=override]:checked")].map((i) => i.value);
  const note = $("override-note").value.trim();
  try {
    await call("PUT", `/items/${encodeURIComponent(item.id)}/audiences`, note ? { audiences, note } : { audiences });
    showMessage(`已更新《${item.title}》的受众`, "ok");
    await openItem(item.id);
    await refreshPreview();
  } catch (err) {
    showMessage(`保存失败：${err.message}`, "error");
  }
}

// ---- rules -----------------------------------------------------------------------------------

function localToIso(value) { return value ? new Date(value).toISOString() : null; }

function windowText(rule) {
  const fmt = (v) => (v ? new Date(v).toLocaleString("zh-CN") : "…");
  return `${fmt(rule.starts_at)} — ${fmt(rule.ends_at)}`;
}

async function loadRules() {
  const body = $("rules-body");
  body.replaceChildren();
  if (!apiKey()) {
    body.append(el("tr", {}, el("td", { colspan: "9", className: "muted" }, "输入编辑密钥后可管理规则")));
    return;
  }
  try {
    const data = await call("GET", "/rules");
    for (const rule of data.rules) {
      const amount = rule.kind === "pin" ? `第 ${rule.position + 1} 位` : rule.kind === "boost" ? `×${rule.weight}` : "";
      body.append(el("tr", { dataset: { ruleId: String(rule.id) } },
        el("td", {}, String(rule.id)),
        el("td", {}, KINDS[rule.kind] || rule.kind),
        el("td", {}, rule.item_id),
        el("td", {}, amount),
        el("td", {}, rule.audience ? audienceLabel(rule.audience) : "全部"),
        el("td", {}, rule.channel ? state.channels[rule.channel] || rule.channel : "全部"),
        el("td", {}, windowText(rule)),
        el("td", {}, rule.created_by || ""),
        el("td", {}, el("button", { type: "button", className: "danger", onclick: () => expireRule(rule.id) }, "失效"))));
    }
    if (!data.rules.length) body.append(el("tr", {}, el("td", { colspan: "9", className: "muted" }, "暂无规则")));
  } catch (err) {
    body.append(el("tr", {}, el("td", { colspan: "9", className: "muted" }, `无法读取规则：${err.message}`)));
  }
}

async function addRule(event) {
  event.preventDefault();
  const kind = $("rule-kind").value;
  const rule = { kind, item_id: $("rule-item").value.trim() };
  if (kind === "pin") rule.position = Math.max(0, Number($("rule-position").value || 1) - 1);
  if (kind === "boost") rule.weight = Number($("rule-weight").value || 1.5);
  if ($("rule-audience").value) rule.audience = $("rule-audience").value;
  if ($("rule-channel").value) rule.channel = $("rule-channel").value;
  const starts = localToIso($("rule-start").value);
  const ends = localToIso($("rule-end").value);
  if (starts) rule.starts_at = starts;
  if (ends) rule.ends_at = ends;
  if ($("rule-note").value.trim()) rule.note = $("rule-note").value.trim();
  await createRule(rule);
}

async function createRule(rule) {
  try {
    await call("POST", "/rules", rule);
    showMessage(`已添加${KINDS[rule.kind]}规则：${rule.item_id}`, "ok");
    await Promise.all([loadRules(), refreshPreview()]);
  } catch (err) {
    showMessage(`添加规则失败：${err.message}`, "error");
  }
}

async function expireRule(id) {
  try {
    await call("DELETE", `/rules/${encodeURIComponent(id)}`);
    showMessage(`规则 ${id} 已失效`, "ok");
    await Promise.all([loadRules(), refreshPreview()]);
  } catch (err) {
    showMessage(`操作失败：${err.message}`, "error");
  }
}

function quickRule(kind) {
  const item = state.currentItem;
  if (!item) return;
  const rule = { kind, item_id: item.id, audience: $("audience").value, channel: $("channel").value };
  if (kind === "pin") rule.position = 0;
  createRule(rule);
}

function toggleRuleFields() {
  const kind = $("rule-kind").value;
  $("rule-position-label").hidden = kind !== "pin";
  $("rule-weight-label").hidden = kind !== "boost";
}

// ---- setup -----------------------------------------------------------------------------------

async function init() {
  $("api-key").value = apiKey();
  $("key-status").textContent = apiKey() ? "已保存" : "未设置";
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    window.localStorage.setItem(KEY_STORAGE, $("api-key").value.trim());
    $("key-status").textContent = apiKey() ? "已保存" : "未设置";
    loadRules();
  });
  $("preview-form").addEventListener("submit", (event) => { event.preventDefault(); refreshPreview(); });
  $("compare-toggle").addEventListener("change", () => {
    const on = $("compare-toggle").checked;
    $("compare-label").hidden = !on;
    $("column-b").hidden = !on;
    $("preview-columns").classList.toggle("two", on);
    refreshPreview();
  });
  $("override-form").addEventListener("submit", saveOverride);
  $("rule-form").addEventListener("submit", addRule);
  $("rule-kind").addEventListener("change", toggleRuleFields);
  $("item-close").addEventListener("click", () => { $("item-panel").hidden = true; });
  $("quick-pin").addEventListener("click", () => quickRule("pin"));
  $("quick-block").addEventListener("click", () => quickRule("block"));

  try {
    const [data, labels] = await Promise.all([call("GET", "/audiences"), call("GET", "/taxonomy")]);
    state.audiences = data.audiences;
    Object.assign(state, { channels: labels.channels, topics: labels.topics, formats: labels.formats });
  } catch (err) {
    showMessage(`读取受众失败：${err.message}`, "error");
    return;
  }
  const audienceOptions = state.audiences.map((a) => [a.id, `${a.label}（${a.item_count}）`]);
  fillSelect($("audience"), audienceOptions);
  fillSelect($("audience-b"), audienceOptions);
  if (state.audiences.length > 1) $("audience-b").value = state.audiences[1].id;
  fillSelect($("channel"), Object.entries(state.channels));
  fillSelect($("rule-audience"), state.audiences.map((a) => [a.id, a.label]), { blank: "全部受众" });
  fillSelect($("rule-channel"), Object.entries(state.channels), { blank: "全部渠道" });
  const params = new URLSearchParams(window.location.search);
  if (params.get("audience")) $("audience").value = params.get("audience");
  if (params.get("channel")) $("channel").value = params.get("channel");
  toggleRuleFields();
  await Promise.all([refreshPreview(), loadRules()]);
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", init);
