// Kepu dashboard: catalog coverage, reach, top items, A/B experiments and model versions, drawn with the
// vendored Apache ECharts from the /v1/stats/... endpoints (editor key). Every chart has its table on the
// page and a CSV download. Item text goes in with textContent only (never innerHTML).
"use strict";

const KEY_STORAGE = "kepu.editor.apiKey"; // shared with the editor page
const API = new URL("../", window.location.href).pathname.replace(/\/$/, "") + "/v1";
const COLORS = ["#0b6e4f", "#c2410c", "#1d4ed8", "#7c3aed", "#b91c1c", "#0f766e", "#a16207", "#475569"];
const METRIC_LABELS = { impressions: "曝光", clicks: "点击", ctr: "点击率" };
const labels = { audiences: {}, topics: {}, channels: {} };
const charts = {};

function $(id) { return document.getElementById(id); }

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "className") node.className = value;
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
}

async function fetchApi(path) {
  const headers = { Accept: "application/json" };
  if (apiKey()) headers["X-API-Key"] = apiKey();
  const response = await fetch(API + path, { headers });
  if (!response.ok) {
    let err = {};
    try { err = (await response.json()).error || {}; } catch (_) { /* not JSON */ }
    const where = err.field ? `（${err.field}）` : "";
    throw new Error(`${response.status} ${err.message || response.statusText}${where}`);
  }
  return response;
}

async function getJson(path) { return (await fetchApi(path)).json(); }

// A CSV download needs the key header, so it is fetched and handed to the browser as a blob.
async function downloadCsv(name) {
  try {
    const response = await fetchApi(`/stats/${name}?format=csv`);
    const url = URL.createObjectURL(await response.blob());
    const link = el("a", { href: url, download: `${name}.csv` });
    document.body.append(link);
    link.click();
    link.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (err) {
    showMessage(`下载失败：${err.message}`, "error");
  }
}

const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)}%`);
const audienceLabel = (id) => labels.audiences[id] || id;
const channelLabel = (id) => labels.channels[id] || id;

function chart(id) {
  if (!charts[id]) {
    charts[id] = window.echarts.init($(id), null, { renderer: "svg", locale: "ZH" });
  }
  return charts[id];
}

function render(id, option, rows) {
  chart(id).setOption({ aria: { enabled: true }, color: COLORS, animation: false, ...option }, true);
  // ECharts names its container role="img"; an empty chart gets no description from it, so name it here.
  const node = $(id);
  if (!node.getAttribute("aria-label")) {
    const heading = node.closest("section").querySelector("h2");
    node.setAttribute("aria-label", `${heading.textContent}${rows ? "" : "：暂无数据"}`);
  }
  $(id).dataset.rows = String(rows);
  $(id).dataset.rendered = "true";
}

function table(node, head, rows, numeric = []) {
  const headRow = el("tr", {}, ...head.map((h, i) => el("th", { scope: "col", className: numeric.includes(i) ? "num" : "" }, h)));
  const body = el("tbody");
  for (const row of rows) {
    const tr = el("tr", row.className ? { className: row.className } : {});
    row.cells.forEach((cell, i) => tr.append(el("td", numeric.includes(i) ? { className: "num" } : {}, cell)));
    body.append(tr);
  }
  if (!rows.length) body.append(el("tr", {}, el("td", { colspan: String(head.length), className: "muted" }, "暂无数据")));
  node.replaceChildren(el("thead", {}, headRow), body);
}

function itemList(node, countNode, list, figure) {
  countNode.textContent = String(list.count);
  node.replaceChildren();
  for (const item of list.items) {
    node.append(el("li", {}, el("span", {}, `${item.title}（${item.id}）`), el("span", { className: "figure" }, figure(item))));
  }
  if (list.count > list.items.length) node.append(el("li", { className: "muted" }, `另有 ${list.count - list.items.length} 条`));
  if (!list.count) node.append(el("li", { className: "muted" }, "无"));
}

// ---- coverage ------------------------------------------------------------------------------------

function renderCoverage(data) {
  const audiences = data.audiences.map((a) => a.id);
  const topics = data.topics.map((t) => t.id);
  const max = Math.max(1, ...data.cells.map((c) => c.items));
  // At phone width the 20-odd topics go down the side (one row each) instead of across.
  const narrow = $("coverage-chart").clientWidth < 600;
  $("coverage-chart").style.height = narrow ? `${topics.length * 26 + 120}px` : "";
  chart("coverage-chart").resize();
  const topicAxis = { type: "category", data: topics.map((t) => labels.topics[t] || t), axisLabel: { interval: 0, fontSize: 11, rotate: narrow ? 0 : 50 } };
  const audienceAxis = { type: "category", data: audiences.map(audienceLabel), axisLabel: { interval: 0, fontSize: 11, rotate: narrow ? 40 : 0 } };
  const cells = data.cells.map((c) => {
    const t = topics.indexOf(c.topic);
    const a = audiences.indexOf(c.audience);
    return narrow ? [a, t, c.items] : [t, a, c.items];
  });
  const names = (v) => (narrow ? [audiences[v[0]], topics[v[1]]] : [audiences[v[1]], topics[v[0]]]);
  $("coverage-meta").textContent = `在架内容 ${data.items} 条`;
  render("coverage-chart", {
    tooltip: { formatter: (p) => { const [a, t] = names(p.value); return `${audienceLabel(a)} × ${labels.topics[t] || t}：${p.value[2]} 条`; } },
    grid: { left: 8, right: 8, top: 8, bottom: 48, containLabel: true },
    xAxis: narrow ? audienceAxis : topicAxis,
    yAxis: narrow ? { ...topicAxis, inverse: true } : audienceAxis,
    visualMap: { min: 0, max, calculable: false, orient: "horizontal", left: "center", bottom: 0, itemHeight: 120,
      inRange: { color: ["#f1f5f4", "#7fc4a6", "#0b6e4f"] }, text: ["多", "少"] },
    series: [{ type: "heatmap", name: "内容数", data: cells, label: { show: true, fontSize: 10 } }],
  }, cells.length);
  itemList($("untagged-list"), $("untagged-count"), data.untagged, () => "");
  itemList($("expiring-list"), $("expiring-count"), data.expiring, (i) => `${i.expires_at.slice(0, 10)} 到期`);
  itemList($("low-list"), $("low-count"), data.low_confidence, (i) => `最高分 ${i.score.toFixed(2)}`);
}

// ---- reach ---------------------------------------------------------------------------------------

let reachData = null;

function renderReach() {
  const data = reachData;
  const metric = $("reach-metric").value;
  const group = $("reach-group").value;
  const sums = new Map(); // group -> day -> {impressions, clicks}
  for (const r of data.rows) {
    const key = r[group];
    if (!sums.has(key)) sums.set(key, new Map());
    const day = sums.get(key).get(r.day) || { impressions: 0, clicks: 0 };
    day.impressions += r.impressions;
    day.clicks += r.clicks;
    sums.get(key).set(r.day, day);
  }
  const name = group === "audience" ? audienceLabel : channelLabel;
  const value = (d) => (!d ? (metric === "ctr" ? null : 0) : metric === "ctr" ? (d.impressions ? d.clicks / d.impressions : null) : d[metric]);
  const series = [...sums.keys()].sort().map((key) => ({
    type: "line", name: name(key), showSymbol: false, connectNulls: false,
    data: data.days.map((day) => value(sums.get(key).get(day))),
  }));
  render("reach-chart", {
    tooltip: { trigger: "axis", valueFormatter: (v) => (metric === "ctr" ? pct(v) : v) },
    legend: { type: "scroll", top: 0 },
    grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
    xAxis: { type: "category", data: data.days.map((d) => d.slice(5)), boundaryGap: false },
    yAxis: { type: "value", name: METRIC_LABELS[metric], axisLabel: metric === "ctr" ? { formatter: (v) => pct(v) } : {} },
    series,
  }, data.rows.length);
  const totals = new Map();
  for (const r of data.rows) {
    const key = `${r.audience}|${r.channel}`;
    const t = totals.get(key) || { audience: r.audience, channel: r.channel, impressions: 0, clicks: 0 };
    t.impressions += r.impressions;
    t.clicks += r.clicks;
    totals.set(key, t);
  }
  table($("reach-table"), ["受众", "渠道", "曝光", "点击", "点击率"], [...totals.values()].map((t) => ({
    cells: [audienceLabel(t.audience), channelLabel(t.channel), t.impressions, t.clicks, pct(t.impressions ? t.clicks / t.impressions : null)],
  })), [2, 3, 4]);
}

function renderTopItems(data) {
  table($("top-table"), ["受众", "名次", "内容", "曝光", "点击", "点击率"], data.items.map((i) => ({
    cells: [audienceLabel(i.audience), i.rank, i.title, i.impressions, i.clicks, pct(i.ctr)],
  })), [1, 3, 4, 5]);
}

// ---- experiments ---------------------------------------------------------------------------------

function renderExperiments(data) {
  const rows = [];
  const categories = [];
  const bars = [];
  const whiskers = [];
  for (const e of data.experiments) {
    for (const v of e.variants) {
      const index = categories.length;
      categories.push(`${e.name}/${v.name}`);
      bars.push(v.ctr);
      whiskers.push([index, v.ci_low, v.ci_high]);
      rows.push({ cells: [
        e.name, v.is_control ? `${v.name}（对照）` : v.name, v.impressions, v.clicks, pct(v.ctr),
        v.ci_low === null ? "–" : `${pct(v.ci_low)} – ${pct(v.ci_high)}`,
        v.p_value === null ? "–" : v.p_value.toFixed(4),
        v.is_control ? "–" : v.significant ? "显著" : "不显著",
      ] });
    }
  }
  render("experiments-chart", {
    title: categories.length ? undefined : { text: "暂无实验数据", left: "center", top: "middle", textStyle: { color: "#55606c", fontSize: 14 } },
    tooltip: { trigger: "axis", valueFormatter: (v) => pct(v) },
    grid: { left: 8, right: 16, top: 16, bottom: 8, containLabel: true },
    xAxis: { type: "category", data: categories, axisLabel: { interval: 0, fontSize: 11 } },
    yAxis: { type: "value", name: "点击率", axisLabel: { formatter: (v) => pct(v) } },
    series: [
      { type: "bar", name: "点击率", data: bars, barMaxWidth: 48 },
      { type: "custom", name: "95% 置信区间", data: whiskers, z: 10, renderItem: (params, api) => {
        const x = api.value(0);
        const low = api.coord([x, api.value(1)]);
        const high = api.coord([x, api.value(2)]);
        const half = 8;
        const style = { stroke: "#1f2933", lineWidth: 1.5 };
        return { type: "group", children: [
          { type: "line", shape: { x1: low[0], y1: low[1], x2: high[0], y2: high[1] }, style },
          { type: "line", shape: { x1: low[0] - half, y1: low[1], x2: low[0] + half, y2: low[1] }, style },
          { type: "line", shape: { x1: high[0] - half, y1: high[1], x2: high[0] + half, y2: high[1] }, style },
        ] };
      } },
    ],
  }, categories.length);
  table($("experiments-table"), ["实验", "变体", "曝光（样本量）", "点击", "点击率", "95% 置信区间", "p 值", "与对照相比"], rows, [2, 3, 4, 6]);
  $("experiments-note").textContent = `检验：与对照组的双比例 z 检验（双侧），p < ${data.alpha} 且每组至少 ${data.min_impressions} 次曝光才判为显著；多个变体未做多重比较校正。`;
}

// ---- models --------------------------------------------------------------------------------------

function renderModels(data) {
  // The served list's validation NDCG next to the bare model and the popularity baseline measured on the
  // same validation users (`kepu train --model auto`); older bundles' holdout figures as a fallback.
  const preferred = ["served_ndcg@10", "bare_model_ndcg@10", "popularity_ndcg@10", "ndcg@10", "recall@10"];
  const shown = preferred.filter((m) => data.metric_names.includes(m));
  const metrics = shown.length ? shown : data.metric_names.slice(0, 3);
  const versions = [...data.models].reverse(); // oldest first, left to right
  render("models-chart", {
    title: metrics.length ? undefined : { text: "暂无验证指标", left: "center", top: "middle", textStyle: { color: "#55606c", fontSize: 14 } },
    tooltip: { trigger: "axis" },
    legend: { top: 0 },
    grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
    xAxis: { type: "category", data: versions.map((m) => (m.serving ? `${m.version}（服务中）` : m.version)) },
    yAxis: { type: "value" },
    series: metrics.map((name) => ({ type: "bar", name, data: versions.map((m) => m.metrics[name] ?? null) })),
  }, versions.length);
  table($("models-table"), ["版本", "训练时间", "状态", ...data.metric_names], data.models.map((m) => ({
    className: m.serving ? "serving" : "",
    cells: [m.version, (m.created_at || "").replace("T", " ").slice(0, 16),
      m.serving ? "服务中" : m.active ? "已激活" : "",
      ...data.metric_names.map((n) => (m.metrics[n] === undefined ? "–" : Number(m.metrics[n].toFixed(4))))],
  })), data.metric_names.map((_, i) => i + 3));
}

// ---- page ----------------------------------------------------------------------------------------

async function loadAll() {
  const results = await Promise.allSettled([
    getJson("/stats/coverage").then(renderCoverage),
    getJson("/stats/reach?days=30").then((data) => { reachData = data; renderReach(); }),
    getJson("/stats/top-items?days=30&k=5").then(renderTopItems),
    getJson("/stats/experiments").then(renderExperiments),
    getJson("/stats/models").then(renderModels),
  ]);
  const failed = results.filter((r) => r.status === "rejected");
  if (failed.length) showMessage(`部分数据读取失败：${failed[0].reason.message}`, "error");
  else $("message").hidden = true;
}

async function init() {
  $("api-key").value = apiKey();
  $("key-status").textContent = apiKey() ? "已保存" : "未设置";
  $("key-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    window.localStorage.setItem(KEY_STORAGE, $("api-key").value.trim());
    $("key-status").textContent = apiKey() ? "已保存" : "未设置";
    await loadAll();
    document.body.dataset.loaded = "true";
  });
  for (const id of ["reach-metric", "reach-group"]) $(id).addEventListener("change", () => reachData && renderReach());
  for (const button of document.querySelectorAll("button.csv")) {
    button.addEventListener("click", () => downloadCsv(button.dataset.csv));
  }
  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));
  try {
    const taxonomy = await getJson("/taxonomy");
    Object.assign(labels, { topics: taxonomy.topics, channels: taxonomy.channels });
    labels.audiences = { ...taxonomy.audiences, anonymous: "匿名访客" };
  } catch (err) {
    showMessage(`读取分类失败：${err.message}`, "error");
  }
  if (apiKey()) {
    await loadAll();
    document.body.dataset.loaded = "true";
  } else {
    showMessage("请先输入编辑密钥", "info");
  }
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", init);
