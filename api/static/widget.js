/*
 * Kepu recommendation strip for the museum website.
 *
 *   <div id="kepu-strip"></div>
 *   <script src="https://kepu.example.org/widget.js" data-target="#kepu-strip"
 *           data-audience="youth" data-k="6" async></script>
 *
 * Options (data-* attributes on the script tag, or KepuWidget.render({...})):
 *   target    CSS selector of the container (default "#kepu-strip")
 *   api       API base URL (default: the origin the script was loaded from)
 *   audience  youth|farmers|workers|seniors|officials|public — used while we know nothing else
 *   k         number of cards (1..100, default 6)
 *   userId    a logged-in visitor's id (otherwise an anonymous session id kept in localStorage)
 *   apiKey    only if the server does not accept public reads/events (an ingest key; it is visible!)
 *   senior    "true" | "false": default of the 适老化 (seniors') mode — larger type, higher contrast,
 *             fewer words per card (title only, at most two lines), bigger tap targets
 *
 * The seniors' mode can also be switched by the visitor (the 大字模式 button in the strip) or by the
 * embedding page at any time with KepuWidget.setSeniorMode(true|false); the last choice is remembered
 * in localStorage ("kepu.seniorMode") and wins over the page's default on the next visit.
 *
 * It calls GET /v1/recommendations?channel=web, renders cards with textContent only (item text is
 * never parsed as HTML), and posts impression and click events to POST /v1/events carrying the
 * experiment label of the response, so the operators can measure click-through per variant.
 */
(function () {
  "use strict";

  var SESSION_KEY = "kepu.sessionId";
  var SENIOR_KEY = "kepu.seniorMode";
  var SENIOR_STYLE_ID = "kepu-senior-style";
  var strips = [];
  var script = document.currentScript;

  // Scoped to .kepu-strip.kepu-senior so it wins over the embedding page's own card styles.
  var SENIOR_CSS = [
    ".kepu-strip.kepu-senior{background:#fff!important;color:#000!important;font-size:20px;line-height:1.5}",
    ".kepu-strip.kepu-senior .kepu-strip-title{font-size:26px;color:#000}",
    ".kepu-strip.kepu-senior .kepu-cards{grid-template-columns:repeat(auto-fill,minmax(240px,1fr));gap:16px}",
    ".kepu-strip.kepu-senior .kepu-card a{min-height:72px;padding:14px;border:2px solid #000;color:#000;",
    "background:#fff;text-decoration:none}",
    ".kepu-strip.kepu-senior .kepu-card a:focus,.kepu-strip.kepu-senior .kepu-card a:hover{outline:4px solid #0040a0;",
    "outline-offset:2px}",
    ".kepu-strip.kepu-senior .kepu-card-title{font-size:22px;font-weight:700;display:-webkit-box;",
    "-webkit-line-clamp:2;-webkit-box-orient:vertical;overflow:hidden}",
    ".kepu-strip.kepu-senior .kepu-card-reason{display:none}",
    ".kepu-strip.kepu-senior button{min-height:52px;min-width:52px;padding:10px 20px;font-size:20px;",
    "color:#fff;background:#003c78;border:2px solid #003c78;border-radius:8px}",
    ".kepu-strip .kepu-senior-toggle{margin:0 0 12px;min-height:44px;padding:8px 14px;font-size:16px;cursor:pointer;",
    "color:#123c69;background:#fff;border:2px solid #123c69;border-radius:6px}",
  ].join("");

  function storedSeniorMode() {
    try {
      var value = window.localStorage.getItem(SENIOR_KEY);
      return value === "1" ? true : value === "0" ? false : null;
    } catch (e) {
      return null;
    }
  }

  function rememberSeniorMode(on) {
    try { window.localStorage.setItem(SENIOR_KEY, on ? "1" : "0"); } catch (e) { /* storage blocked */ }
  }

  function ensureSeniorStyle() {
    if (document.getElementById(SENIOR_STYLE_ID)) return;
    var style = document.createElement("style");
    style.id = SENIOR_STYLE_ID;
    style.textContent = SENIOR_CSS;
    (document.head || document.documentElement).appendChild(style);
  }

  function randomId() {
    var bytes = new Uint8Array(12);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function sessionId() {
    try {
      var id = window.localStorage.getItem(SESSION_KEY);
      if (!id || !/^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$/.test(id)) {
        id = "s-" + randomId();
        window.localStorage.setItem(SESSION_KEY, id);
      }
      return id;
    } catch (e) {
      return "s-" + randomId(); // storage blocked: a per-page-view session is still better than none
    }
  }

  function safeUrl(value) {
    if (typeof value !== "string") return null;
    return /^(https?:\/\/|\/)/i.test(value) ? value : null;
  }

  // A root-relative cover ("/covers/ai.svg") is served by the Kepu API, not by the page embedding the
  // widget, so it is resolved against the API base URL (keeping a path prefix such as /kepu).
  function coverUrl(value, base) {
    var url = safeUrl(value);
    if (url && url.charAt(0) === "/" && url.charAt(1) !== "/") return base + url;
    return url;
  }

  function optionsFromScript() {
    if (!script) return {};
    var d = script.dataset;
    return {
      target: d.target, api: d.api, audience: d.audience, k: d.k && Number(d.k),
      userId: d.userId, apiKey: d.apiKey, title: d.title,
      senior: d.senior === undefined ? undefined : d.senior === "true",
    };
  }

  function apiBase(options) {
    if (options.api) return options.api.replace(/\/$/, "");
    if (script && script.src) return new URL(script.src, window.location.href).origin;
    return window.location.origin;
  }

  function Strip(options) {
    this.options = options;
    this.base = apiBase(options);
    this.container = typeof options.target === "string" ? document.querySelector(options.target) : options.target;
    this.session = sessionId();
    this.cursor = null;
    var stored = storedSeniorMode();
    this.senior = stored !== null ? stored : Boolean(options.senior);
    this.page = null;
  }

  // Switch the 适老化 mode on or off (re-renders the current cards) and remember the choice.
  Strip.prototype.setSeniorMode = function (on) {
    this.senior = Boolean(on);
    rememberSeniorMode(this.senior);
    if (this.page) this.render(this.page);
  };

  Strip.prototype.headers = function (json) {
    var h = { Accept: "application/json" };
    if (json) h["Content-Type"] = "application/json";
    if (this.options.apiKey) h["X-API-Key"] = this.options.apiKey;
    return h;
  };

  Strip.prototype.load = function () {
    var o = this.options;
    var params = new URLSearchParams({ channel: "web", k: String(o.k || 6), session_id: this.session });
    if (o.userId) params.set("user_id", o.userId);
    if (o.audience) params.set("audience", o.audience);
    if (this.cursor) params.set("cursor", this.cursor);
    var self = this;
    return fetch(this.base + "/v1/recommendations?" + params.toString(), { headers: this.headers(false) })
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) throw new Error((body && body.error && body.error.message) || r.statusText);
          return body;
        });
      })
      .then(function (page) {
        self.cursor = page.next_cursor;
        self.render(page);
        self.send(page.items.map(function (item, i) { return self.event(page, item, i, "impression"); }));
        return page;
      })
      .catch(function (err) {
        self.container.setAttribute("data-kepu-error", String(err.message || err));
      });
  };

  Strip.prototype.event = function (page, item, position, type) {
    var e = {
      event_id: page.request_id + "-" + position + "-" + type,
      session_id: this.session,
      item_id: item.id,
      type: type,
      channel: "web",
      position: position,
      timestamp: new Date().toISOString(),
    };
    if (this.options.userId) e.user_id = this.options.userId;
    if (page.experiment) e.experiment = page.experiment;
    return e;
  };

  Strip.prototype.send = function (events) {
    if (!events.length) return;
    fetch(this.base + "/v1/events", {
      method: "POST", headers: this.headers(true), body: JSON.stringify({ events: events }), keepalive: true,
    }).catch(function () { /* telemetry must never break the page */ });
  };

  Strip.prototype.render = function (page) {
    var self = this;
    this.page = page;
    ensureSeniorStyle(); // also holds the toggle button's look
    var root = document.createElement("section");
    root.className = this.senior ? "kepu-strip kepu-senior" : "kepu-strip";
    var heading = document.createElement("h3");
    heading.className = "kepu-strip-title";
    heading.textContent = this.options.title || "为你推荐";
    root.appendChild(heading);
    var toggle = document.createElement("button");
    toggle.type = "button";
    toggle.className = "kepu-senior-toggle";
    toggle.setAttribute("aria-pressed", this.senior ? "true" : "false");
    toggle.textContent = this.senior ? "切换到标准模式" : "大字模式";
    toggle.addEventListener("click", function () { self.setSeniorMode(!self.senior); });
    root.appendChild(toggle);
    var list = document.createElement("ul");
    list.className = "kepu-cards";
    page.items.forEach(function (item, i) {
      var li = document.createElement("li");
      li.className = "kepu-card";
      li.setAttribute("data-item-id", item.id);
      var link = document.createElement("a");
      link.href = safeUrl(item.url) || "#";
      var cover = coverUrl(item.cover_url, self.base);
      if (cover) {
        var img = document.createElement("img");
        img.src = cover;
        img.alt = "";
        img.loading = "lazy";
        link.appendChild(img);
      }
      var title = document.createElement("span");
      title.className = "kepu-card-title";
      title.textContent = item.title;
      link.appendChild(title);
      if (item.reason && !self.senior) {
        var reason = document.createElement("span");
        reason.className = "kepu-card-reason";
        reason.textContent = item.reason;
        link.appendChild(reason);
      }
      link.addEventListener("click", function () { self.send([self.event(page, item, i, "click")]); });
      li.appendChild(link);
      list.appendChild(li);
    });
    root.appendChild(list);
    if (page.next_cursor) {
      var more = document.createElement("button");
      more.type = "button";
      more.className = "kepu-more";
      more.textContent = "换一批";
      more.addEventListener("click", function () { self.load(); });
      root.appendChild(more);
    }
    this.container.replaceChildren(root);
    this.container.setAttribute("data-kepu-ready", "true");
  };

  function render(options) {
    var merged = Object.assign({ target: "#kepu-strip", k: 6 }, optionsFromScript(), options || {});
    var strip = new Strip(merged);
    if (!strip.container) throw new Error("Kepu widget: no element matches " + merged.target);
    strips.push(strip);
    strip.load();
    return strip;
  }

  // For the embedding page: switch every strip on the page (and remember it for the next visit).
  function setSeniorMode(on) {
    rememberSeniorMode(Boolean(on));
    strips.forEach(function (strip) { strip.setSeniorMode(on); });
  }

  window.KepuWidget = { render: render, sessionId: sessionId, setSeniorMode: setSeniorMode };
  if (script && script.dataset.target) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { render(); });
    else render();
  }
})();
