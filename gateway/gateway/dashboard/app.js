// Một Cửa dashboard: the public ranking, each unit's figures and Decision 766 index, and a unit head's view.
// Plain browser JavaScript, no build step. Everything shown is put in the page with textContent (never
// innerHTML), so no figure or name from the API can become markup. The API is this page's own origin (the
// gateway); the access token lives in sessionStorage (this tab only) and is sent in the Authorization header,
// never in a URL.
"use strict";

(function () {
  const API = "/api/v1";
  const CLIENT_ID = "motcua-app";
  const TOKEN_KEY = "motcua.dashboard.token";
  const LOGIN_KEY = "motcua.dashboard.login";
  const TZ = "Asia/Ho_Chi_Minh";
  const BY_LABEL = {
    on_time_rate: "Tỷ lệ giải quyết đúng hạn (%)",
    avg_processing_days: "Thời gian giải quyết trung bình (ngày làm việc)",
    satisfaction: "Điểm hài lòng trung bình (trên 5)",
    online_share: "Tỷ lệ nộp hồ sơ trực tuyến (%)",
  };
  const KIND_LABEL = { unit: "Cơ quan, đơn vị", centre: "Trung tâm phục vụ hành chính công" };
  const COLOURS = {
    early: "#1b7f3b", on_time: "#58b368", late: "#c0392b", rate: "#1f5fa8", online: "#e08a00",
    counter: "#7d5ba6", centre: "#2aa198", post: "#8c6d46", lost: "#e5b3ad", missing: "#b8b8b8",
  };

  // ---- formatting (Vietnamese conventions: 1.234 and 97,5%) ----
  const int = new Intl.NumberFormat("vi-VN", { maximumFractionDigits: 0 });
  const oneDecimal = new Intl.NumberFormat("vi-VN", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  const pct = (r) => (r === null || r === undefined ? null : oneDecimal.format(r * 100) + "%");
  const days = (d) => (d === null || d === undefined ? null : oneDecimal.format(d) + " ngày");
  const score = (s) => (s === null || s === undefined ? null : oneDecimal.format(s) + "/5");
  const dateFmt = new Intl.DateTimeFormat("vi-VN", { timeZone: "UTC", day: "2-digit", month: "2-digit", year: "numeric" });
  const dateTimeFmt = new Intl.DateTimeFormat("vi-VN", {
    timeZone: TZ, day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit",
  });
  const isoDay = (s) => dateFmt.format(new Date(s + "T00:00:00Z"));
  const NO_DATA = "Chưa có số liệu";

  function periodLabel(period, start, end) {
    const d = new Date(start + "T00:00:00Z");
    const y = d.getUTCFullYear();
    const names = {
      day: "Ngày " + isoDay(start),
      month: "Tháng " + (d.getUTCMonth() + 1) + "/" + y,
      quarter: "Quý " + (Math.floor(d.getUTCMonth() / 3) + 1) + "/" + y,
      year: "Năm " + y,
    };
    return (names[period] || period) + " (từ " + isoDay(start) + " đến " + isoDay(end) + ")";
  }

  function shortPeriod(period, start) {
    const d = new Date(start + "T00:00:00Z");
    if (period === "month") return String(d.getUTCMonth() + 1).padStart(2, "0") + "/" + d.getUTCFullYear();
    if (period === "quarter") return "Q" + (Math.floor(d.getUTCMonth() / 3) + 1) + "/" + d.getUTCFullYear();
    if (period === "year") return String(d.getUTCFullYear());
    return isoDay(start);
  }

  function today() {
    // en-CA formats as YYYY-MM-DD: today's date in Vietnam, whatever the browser's zone.
    return new Intl.DateTimeFormat("en-CA", { timeZone: TZ }).format(new Date());
  }

  // ---- DOM helpers ----
  const $ = (id) => document.getElementById(id);
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  function setStatus(text, isError) {
    const s = $("status");
    s.textContent = text || "";
    s.classList.toggle("error", Boolean(isError));
  }
  // A figure cell: the value (or "Chưa có số liệu") and, below it, the count it rests on.
  function figureCell(label, field, value, basis) {
    return el("td", { "data-label": label, dataset: { field } }, el("div", {},
      el("span", { class: value === null ? "value none" : "value" }, value === null ? NO_DATA : value),
      el("span", { class: "basis" }, basis)));
  }

  // ---- API ----
  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && (problem.detail || problem.title)) || "HTTP " + status);
      this.status = status;
    }
  }
  async function getJson(path, params, token) {
    const url = API + path + (params ? "?" + new URLSearchParams(params) : "");
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    const resp = await fetch(url, { headers, credentials: "omit", cache: "no-store" });
    const body = await resp.json().catch(() => null);
    if (!resp.ok) throw new ApiError(resp.status, body);
    return body;
  }
  // Every page of a cursor-paginated list (at most `pages` pages).
  async function getAll(path, params, token, pages) {
    let items = [];
    let cursor = null;
    for (let i = 0; i < (pages || 10); i++) {
      const page = await getJson(path, cursor ? { ...params, cursor } : params, token);
      items = items.concat(page.items);
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    return items;
  }

  // ---- state in the address's fragment: #/route?period=…&date=… (shareable; never a token) ----
  function readRoute() {
    const raw = location.hash.replace(/^#/, "") || "/";
    const [path, query] = raw.split("?");
    const q = new URLSearchParams(query || "");
    const pick = (name, allowed, dflt) => (allowed.includes(q.get(name)) ? q.get(name) : dflt);
    const date = /^\d{4}-\d{2}-\d{2}$/.test(q.get("date") || "") ? q.get("date") : today();
    return {
      path,
      period: pick("period", ["day", "month", "quarter", "year"], "month"),
      date,
      kind: pick("kind", ["unit", "centre"], "unit"),
      by: pick("by", Object.keys(BY_LABEL), "on_time_rate"),
    };
  }
  function hrefFor(path, route) {
    const q = new URLSearchParams({ period: route.period, date: route.date, kind: route.kind, by: route.by });
    return "#" + path + "?" + q;
  }

  // A long name on a category axis, in lines of about `width` characters (a phone has no room for one line).
  function wrapped(width) {
    return function (value) {
      const words = String(this.getLabelForValue(value)).split(" ");
      const lines = [""];
      for (const w of words) {
        const last = lines.length - 1;
        if (lines[last] && (lines[last] + " " + w).length > width) lines.push(w);
        else lines[last] = lines[last] ? lines[last] + " " + w : w;
      }
      return lines;
    };
  }
  const narrow = () => window.innerWidth < 720;

  const charts = {};
  function drawChart(id, config) {
    if (charts[id]) charts[id].destroy();
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options);
    charts[id] = new Chart($(id), config);
  }

  // ---- the public ranking ----
  async function showRanking(route) {
    const data = await getJson("/public/ranking", {
      period: route.period, date: route.date, kind: route.kind, by: route.by,
    });
    $("ranking-period").textContent = KIND_LABEL[route.kind] + " · " + periodLabel(data.period, data.start, data.end);
    const body = $("ranking-table").tBodies[0];
    body.replaceChildren(...data.items.map((item) => rankingRow(item, route)));
    const ranked = data.items.filter((i) => i.rank !== null).slice(0, 10);
    const value = (i) => (data.by === "on_time_rate" || data.by === "online_share" ? i.value * 100 : i.value);
    drawChart("ranking-chart", {
      type: "bar",
      data: {
        labels: ranked.map((i) => i.unit_name),
        datasets: [{ label: BY_LABEL[data.by], data: ranked.map(value), backgroundColor: COLOURS.rate }],
      },
      options: { indexAxis: "y", scales: { y: { ticks: { callback: wrapped(narrow() ? 14 : 40) } } } },
    });
  }

  function rankingRow(f, route) {
    const res = f.resolved, rec = f.received, sat = f.satisfaction;
    return el("tr", { dataset: { unit: f.unit_code }, class: f.rank === null ? "unranked" : null },
      el("td", { "data-label": "Hạng", dataset: { field: "rank" } },
        f.rank === null ? el("span", { class: "value none" }, "Chưa xếp hạng") : el("span", { class: "value" }, String(f.rank))),
      el("td", { "data-label": "Cơ quan, đơn vị", class: "name" },
        el("a", { href: hrefFor("/don-vi/" + encodeURIComponent(f.unit_code), route) }, f.unit_name)),
      figureCell("Giải quyết đúng hạn", "on_time_rate", pct(f.on_time_rate),
        int.format(res.early + res.on_time) + "/" + int.format(res.total) + " hồ sơ đúng hạn"),
      figureCell("Thời gian giải quyết trung bình", "avg_processing_days", days(f.avg_processing_days),
        int.format(res.total) + " hồ sơ đã giải quyết"),
      figureCell("Mức độ hài lòng", "satisfaction", score(sat.average),
        int.format(sat.ratings) + " lượt đánh giá"),
      figureCell("Nộp trực tuyến", "online_share", pct(f.online_share),
        int.format(rec.online) + "/" + int.format(rec.total) + " hồ sơ tiếp nhận"));
  }

  // ---- one unit: figures, series, Decision 766 index ----
  function yearBack(isoDate) {
    const d = new Date(isoDate + "T00:00:00Z");
    const from = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 11, 1));
    const to = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0));
    return [from.toISOString().slice(0, 10), to.toISOString().slice(0, 10)];
  }

  async function showUnit(route, code) {
    const [from, to] = yearBack(route.date);
    const path = "/public/units/" + encodeURIComponent(code);
    const [series, index] = await Promise.all([
      getJson(path + "/statistics", { period: "month", from, to }),
      getJson(path + "/index", { period: "quarter", date: route.date }),
    ]);
    const stats = await getJson("/public/statistics", {
      period: route.period, date: route.date, kind: series.kind, unit: code,
    });
    $("back-to-ranking").setAttribute("href", hrefFor("/", route));
    $("unit-name").textContent = series.unit_name;
    $("unit-period").textContent = KIND_LABEL[series.kind] + " · " + periodLabel(stats.period, stats.start, stats.end);
    showCards(stats.items[0]);
    showSeries(series.series);
    showIndex(index);
  }

  function showCards(f) {
    const cards = $("unit-cards");
    if (!f) {
      cards.replaceChildren(el("p", {}, NO_DATA + " trong kỳ này."));
      return;
    }
    const res = f.resolved, rec = f.received, sat = f.satisfaction;
    const card = (field, label, value, basis) =>
      el("div", { class: "card", dataset: { field } },
        el("dt", {}, label),
        el("dd", {}, el("span", { class: value === null ? "value none" : "value" }, value === null ? NO_DATA : value),
          el("span", { class: "basis" }, basis)));
    cards.replaceChildren(
      card("received", "Hồ sơ tiếp nhận", int.format(rec.total),
        "Trực tuyến " + int.format(rec.online) + " · Trực tiếp " + int.format(rec.counter) + " · Trung tâm " +
        int.format(rec.service_centre) + " · Bưu chính " + int.format(rec.post)),
      card("resolved", "Đã giải quyết", int.format(res.total),
        "Trước hạn " + int.format(res.early) + " · Đúng hạn " + int.format(res.on_time) + " · Quá hạn " + int.format(res.late)),
      card("on_time_rate", "Giải quyết đúng hạn", pct(f.on_time_rate),
        int.format(res.early + res.on_time) + "/" + int.format(res.total) + " hồ sơ đúng hạn"),
      card("avg_processing_days", "Thời gian giải quyết trung bình", days(f.avg_processing_days),
        int.format(res.total) + " hồ sơ đã giải quyết"),
      card("online_share", "Nộp trực tuyến", pct(f.online_share),
        int.format(rec.online) + "/" + int.format(rec.total) + " hồ sơ tiếp nhận"),
      card("satisfaction", "Mức độ hài lòng", score(sat.average),
        int.format(sat.ratings) + " lượt đánh giá" +
        (sat.satisfied_share === null ? "" : " · " + pct(sat.satisfied_share) + " hài lòng")),
      card("in_progress", "Đang giải quyết", int.format(f.in_progress), int.format(f.overdue) + " hồ sơ đang quá hạn"),
      card("paid_online", "Thanh toán trực tuyến", int.format(f.paid_online), "hồ sơ nộp phí, lệ phí trực tuyến"),
      card("results_electronic", "Trả kết quả điện tử", int.format(f.results_electronic), "hồ sơ có kết quả điện tử"),
      card("once_only", "Thành phần dùng lại dữ liệu sẵn có",
        f.components_total ? pct(f.once_only_components / f.components_total) : null,
        int.format(f.once_only_components) + "/" + int.format(f.components_total) + " thành phần hồ sơ"),
      card("supplement_requests", "Yêu cầu bổ sung", int.format(f.supplement_requests),
        int.format(f.refusals) + " hồ sơ bị từ chối"));
  }

  function showSeries(series) {
    const labels = series.map((f) => shortPeriod(f.period, f.start));
    // one stacked bar per month, a part per [label, colour, value of a month's figures]
    const stackedBars = (id, parts) => drawChart(id, {
      type: "bar",
      data: { labels, datasets: parts.map(([label, colour, value]) => (
        { label, data: series.map(value), backgroundColor: colour, stack: "s" })) },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } },
    });
    stackedBars("chart-resolved", [
      ["Trước hạn", COLOURS.early, (f) => f.resolved.early],
      ["Đúng hạn", COLOURS.on_time, (f) => f.resolved.on_time],
      ["Quá hạn", COLOURS.late, (f) => f.resolved.late],
    ]);
    const line = (label, colour, values) => ({ label, data: values, borderColor: colour, backgroundColor: colour });
    const asPct = (r) => (r === null ? null : Math.round(r * 1000) / 10);
    drawChart("chart-rates", {
      type: "line",
      data: { labels, datasets: [
        line("Đúng hạn", COLOURS.rate, series.map((f) => asPct(f.on_time_rate))),
        line("Nộp trực tuyến", COLOURS.online, series.map((f) => asPct(f.online_share))),
      ] },
      options: { scales: { y: { min: 0, max: 100 } } },
    });
    stackedBars("chart-channels", [
      ["Trực tuyến", COLOURS.online, (f) => f.received.online],
      ["Trực tiếp", COLOURS.counter, (f) => f.received.counter],
      ["Trung tâm phục vụ", COLOURS.centre, (f) => f.received.service_centre],
      ["Bưu chính", COLOURS.post, (f) => f.received.post],
    ]);
    const rows = series.slice().reverse().map((f) => el("tr", { dataset: { start: f.start } },
      el("td", { "data-label": "Kỳ" }, shortPeriod(f.period, f.start)),
      figureCell("Tiếp nhận", "received", int.format(f.received.total), ""),
      figureCell("Đã giải quyết", "resolved", int.format(f.resolved.total), ""),
      figureCell("Đúng hạn", "on_time_rate", pct(f.on_time_rate),
        int.format(f.resolved.early + f.resolved.on_time) + "/" + int.format(f.resolved.total)),
      figureCell("Thời gian trung bình", "avg_processing_days", days(f.avg_processing_days),
        int.format(f.resolved.total) + " hồ sơ"),
      figureCell("Nộp trực tuyến", "online_share", pct(f.online_share),
        int.format(f.received.online) + "/" + int.format(f.received.total)),
      figureCell("Hài lòng", "satisfaction", score(f.satisfaction.average),
        int.format(f.satisfaction.ratings) + " lượt")));
    $("series-table").tBodies[0].replaceChildren(...rows);
  }

  function points(p, max) {
    return oneDecimal.format(p) + "/" + int.format(max) + " điểm";
  }

  function showIndex(index) {
    $("index-period").textContent = periodLabel(index.period, index.start, index.end);
    $("index-total").replaceChildren(
      "Tổng điểm: ", el("strong", { id: "index-points" }, oneDecimal.format(index.points)),
      " / " + int.format(index.max) + " điểm");
    $("index-not-measured").textContent = index.not_measured > 0
      ? oneDecimal.format(index.not_measured) + " điểm thuộc các tiêu chí nền tảng chưa đo được: không được tính, " +
        "không ước đoán."
      : "Mọi tiêu chí đều đã được đo.";
    const groups = index.groups;
    const lost = (g) => Math.max(0, Math.round((g.max - g.points - g.not_measured) * 10) / 10);
    drawChart("chart-index", {
      type: "bar",
      data: { labels: groups.map((g) => g.name), datasets: [
        { label: "Điểm đạt", data: groups.map((g) => g.points), backgroundColor: COLOURS.early, stack: "i" },
        { label: "Điểm chưa đạt", data: groups.map(lost), backgroundColor: COLOURS.lost, stack: "i" },
        { label: "Chưa đo được", data: groups.map((g) => g.not_measured), backgroundColor: COLOURS.missing, stack: "i" },
      ] },
      options: { indexAxis: "y", scales: {
        x: { stacked: true, beginAtZero: true },
        y: { stacked: true, ticks: { callback: wrapped(narrow() ? 14 : 40) } },
      } },
    });
    $("index-groups").replaceChildren(...groups.map((g) => el("section", { class: "group", dataset: { group: g.key } },
      el("h3", {}, g.name, " ", el("span", { class: "points" }, points(g.points, g.max))),
      el("meter", { min: "0", max: String(g.max), value: String(g.points) }),
      g.not_measured > 0 ? el("p", { class: "not-measured-note" }, oneDecimal.format(g.not_measured) + " điểm chưa đo được") : null,
      el("div", { class: "table-scroll" }, el("table", { class: "figures inputs cards-on-phone" },
        el("thead", {}, el("tr", {}, ...["Tiêu chí", "Kết quả", "Điểm", "Nguồn số liệu", "Cách tính"]
          .map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, ...g.inputs.map((i) => el("tr", { class: i.measured ? null : "not-measured", dataset: { input: i.key } },
          el("td", { "data-label": "Tiêu chí" }, i.name),
          el("td", { "data-label": "Kết quả" }, i.measured
            ? (i.value === null ? NO_DATA : (i.value <= 1 ? pct(i.value) : oneDecimal.format(i.value)))
            : el("span", { class: "badge" }, "Chưa đo")),
          el("td", { "data-label": "Điểm" }, i.measured ? points(i.points, i.max) : "— /" + int.format(i.max) + " điểm"),
          el("td", { "data-label": "Nguồn số liệu" }, i.source_vi || i.source || ""),
          el("td", { "data-label": "Cách tính" }, i.formula_vi || i.formula || "")))))))));
  }

  // ---- the unit head's view (login: authorization code + PKCE, as the platform's app does) ----
  const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const redirectUri = () => location.origin + location.pathname.replace(/[^/]*$/, "");

  async function startLogin() {
    const verifier = b64url(crypto.getRandomValues(new Uint8Array(48)));
    const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
    const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
    sessionStorage.setItem(LOGIN_KEY, JSON.stringify({ verifier, state, back: location.hash }));
    const params = new URLSearchParams({
      response_type: "code", client_id: CLIENT_ID, redirect_uri: redirectUri(), scope: "openid", state,
      code_challenge: challenge, code_challenge_method: "S256",
    });
    location.assign("/oauth/authorize?" + params);
  }

  // Back from the login page with ?code=…&state=… (or ?error=…): the code is exchanged at once and removed
  // from the address, so it is neither kept in the history nor shown.
  async function finishLogin() {
    const q = new URLSearchParams(location.search);
    if (!q.has("code") && !q.has("error")) return;
    const pending = JSON.parse(sessionStorage.getItem(LOGIN_KEY) || "null");
    sessionStorage.removeItem(LOGIN_KEY);
    history.replaceState(null, "", location.pathname + ((pending && pending.back) || "#/lanh-dao"));
    if (q.has("error")) throw new Error("Đăng nhập không thành công (" + q.get("error") + ").");
    if (!pending || pending.state !== q.get("state")) throw new Error("Phiên đăng nhập không hợp lệ, vui lòng thử lại.");
    const resp = await fetch("/oauth/token", {
      method: "POST", credentials: "omit",
      body: new URLSearchParams({
        grant_type: "authorization_code", code: q.get("code"), redirect_uri: redirectUri(),
        client_id: CLIENT_ID, code_verifier: pending.verifier,
      }),
    });
    if (!resp.ok) throw new Error("Không đổi được mã đăng nhập lấy phiên làm việc, vui lòng thử lại.");
    sessionStorage.setItem(TOKEN_KEY, (await resp.json()).access_token);
  }

  function claims(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0))));
    } catch (e) {
      return {};
    }
  }

  function dossierRows(items) {
    if (!items.length) return [el("tr", { class: "empty" }, el("td", { colspan: "5" }, "Không có hồ sơ nào."))];
    return items.map((i) => el("tr", { dataset: { code: i.code } },
      el("td", { "data-label": "Mã hồ sơ" }, el("span", { class: "code" }, i.code)),
      el("td", { "data-label": "Thủ tục" }, i.procedure.name),
      el("td", { "data-label": "Bước hiện tại" }, i.current_step_name || i.current_step || ""),
      el("td", { "data-label": "Hạn giải quyết" }, dateTimeFmt.format(new Date(i.due_at))),
      el("td", { "data-label": "Trạng thái" }, i.status_label)));
  }

  function followUpRows(items) {
    if (!items.length) return [el("tr", { class: "empty" }, el("td", { colspan: "5" }, "Không có việc nào cần xử lý."))];
    return items.map((f) => el("tr", { dataset: { code: f.dossier_code, id: f.id } },
      el("td", { "data-label": "Mã hồ sơ" }, el("span", { class: "code" }, f.dossier_code)),
      el("td", { "data-label": "Điểm đánh giá" }, int.format(f.rating.overall) + "/5"),
      el("td", { "data-label": "Nhận xét" }, f.rating.comment || ""),
      el("td", { "data-label": "Hạn xử lý" }, dateTimeFmt.format(new Date(f.due_at))),
      el("td", { "data-label": "Trạng thái" }, f.status === "open" ? "Đang mở" : "Đã xử lý")));
  }

  async function showHead() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    $("head-login").hidden = Boolean(token);
    $("head-view").hidden = !token;
    if (!token) return;
    const who = claims(token);
    $("head-who").textContent = "Xin chào " + (who.name || "") + (who.unit ? " · Đơn vị " + who.unit : "");
    try {
      // Follow-ups are for unit heads and provincial operators only: another officer's 403 there leaves the rest.
      const [overdue, dueSoon, followUps] = await Promise.all([
        getAll("/work-queue", { overdue: "true", limit: "100" }, token),
        getAll("/work-queue", { due_soon: "true", limit: "100" }, token),
        getAll("/follow-ups", { status: "open" }, token).catch((e) => {
          if (e instanceof ApiError && e.status === 403) return null;
          throw e;
        }),
      ]);
      $("overdue-count").textContent = "(" + int.format(overdue.length) + ")";
      $("due-soon-count").textContent = "(" + int.format(dueSoon.length) + ")";
      $("overdue-table").tBodies[0].replaceChildren(...dossierRows(overdue));
      $("due-soon-table").tBodies[0].replaceChildren(...dossierRows(dueSoon));
      $("follow-ups-count").textContent = followUps === null ? "" : "(" + int.format(followUps.length) + ")";
      $("follow-ups-table").tBodies[0].replaceChildren(...(followUps === null
        ? [el("tr", { class: "empty" }, el("td", { colspan: "5" }, "Chỉ lãnh đạo đơn vị xem được các việc này."))]
        : followUpRows(followUps)));
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        sessionStorage.removeItem(TOKEN_KEY);
        $("head-login").hidden = false;
        $("head-view").hidden = true;
        throw new Error("Phiên đăng nhập đã hết hạn, vui lòng đăng nhập lại.");
      }
      if (e instanceof ApiError && e.status === 403) {
        throw new Error("Tài khoản này không phải tài khoản cán bộ của đơn vị: không xem được hồ sơ của đơn vị.");
      }
      throw e;
    }
  }

  // ---- routing ----
  async function render() {
    const route = readRoute();
    const form = $("filters");
    form.elements.period.value = route.period;
    form.elements.date.value = route.date;
    form.elements.kind.value = route.kind;
    form.elements.by.value = route.by;
    const unit = route.path.match(/^\/don-vi\/(.+)$/);
    const view = route.path === "/lanh-dao" ? "head" : unit ? "unit" : "ranking";
    for (const v of ["ranking", "unit", "head"]) $("view-" + v).hidden = v !== view;
    form.hidden = view === "head";
    form.classList.toggle("unit-only", view === "unit");
    $("nav-ranking").setAttribute("href", hrefFor("/", route));
    document.body.dataset.state = "loading";
    setStatus("Đang tải số liệu…");
    try {
      if (view === "ranking") await showRanking(route);
      else if (view === "unit") await showUnit(route, decodeURIComponent(unit[1]));
      else await showHead();
      setStatus("");
      document.body.dataset.state = "ready";
    } catch (e) {
      setStatus(e instanceof ApiError && e.status === 404 ? "Không tìm thấy đơn vị này." : e.message, true);
      document.body.dataset.state = "error";
    }
  }

  function onFilter() {
    const route = readRoute();
    const form = $("filters");
    if (!form.elements.date.value) return;
    location.hash = hrefFor(route.path, {
      period: form.elements.period.value, date: form.elements.date.value,
      kind: form.elements.kind.value, by: form.elements.by.value,
    });
  }

  document.addEventListener("DOMContentLoaded", async () => {
    $("filters").addEventListener("change", onFilter);
    $("filters").addEventListener("submit", (e) => e.preventDefault());
    $("login").addEventListener("click", () => startLogin().catch((e) => setStatus(e.message, true)));
    $("logout").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      render();
    });
    window.addEventListener("hashchange", render);
    let loginError = null;
    try {
      await finishLogin();
    } catch (e) {
      loginError = e.message;
    }
    await render();
    if (loginError) {
      setStatus(loginError, true);
      document.body.dataset.state = "error";
    }
  });
})();
