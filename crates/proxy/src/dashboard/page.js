"use strict";
// Every value from the history (client, model, project: what callers sent) reaches the page as
// text nodes (textContent / createTextNode), never as markup, so a hostile User-Agent or project
// header is shown, not run.
(function () {
  const REFRESH_MS = 5000;
  const SVG = "http://www.w3.org/2000/svg";
  const SERIES_COLORS = 7; // --s0 … --s6; the last one is everything past the top six
  const REST = "the rest";
  const token = new URLSearchParams(location.search).get("token");
  const headers = token ? { "x-headroom-proxy-token": token } : {};
  const $ = (id) => document.getElementById(id);
  const fmt = new Intl.NumberFormat();

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs) e.setAttribute(k, String(attrs[k]));
    return e;
  }
  const num = (n) => (n === null || n === undefined ? "–" : fmt.format(n));
  const ms = (n) => (n === null || n === undefined ? "–" : (n < 10 ? n.toFixed(1) : Math.round(n).toString()));

  async function get(path) {
    const r = await fetch(path, { headers, cache: "no-store" });
    let body = null;
    try { body = await r.json(); } catch (_) { /* not JSON: reported below */ }
    if (!r.ok) {
      const why = body && (body.reason || body.error) ? (body.reason || body.error) : "HTTP " + r.status;
      const e = new Error(why);
      e.status = r.status;
      throw e;
    }
    return body;
  }

  function counters(s) {
    $("c-requests").textContent = num(s.requests);
    $("c-upstream").textContent = num(s.tokens_upstream);
    $("c-saved").textContent = num(s.tokens_saved);
    $("c-pct").textContent = (s.saved_pct || 0).toFixed(1) + " %";
    $("c-money").textContent = "$" + (s.money_saved_usd || 0).toFixed(2);
    const kinds = Object.entries(s.errors || {});
    const total = kinds.reduce((a, [, n]) => a + n, 0);
    const errs = $("c-errors");
    errs.textContent = num(total);
    if (kinds.length) errs.appendChild(el("small", " " + kinds.map(([k, n]) => k + " " + n).join(", ")));
    const pp = (p) => (p ? ms(p.p50) + " / " + ms(p.p99) : "–");
    $("c-added").textContent = pp(s.latency_added_ms);
    $("c-total").textContent = pp(s.latency_total_ms);
    $("range").textContent = s.since ? "since " + new Date(s.since).toLocaleString() : "all history";
    $("prices").textContent = "Money saved prices the saved tokens as input tokens, at list prices of " + s.prices_date + ".";
  }

  // Stacked bars, one per time bucket, one colour per key (the top six keys, then the rest).
  function chart(container, split, points, keyOf, label) {
    const totals = new Map();
    for (const p of points) {
      const k = keyOf(p);
      const t = totals.get(k) || { saved: 0, requests: 0 };
      t.saved += p.tokens_saved; t.requests += p.requests;
      totals.set(k, t);
    }
    const ranked = [...totals.entries()].sort((a, b) => b[1].saved - a[1].saved || b[1].requests - a[1].requests);
    const top = ranked.slice(0, SERIES_COLORS - 1).map(([k]) => k);
    const colorOf = (k) => { const i = top.indexOf(k); return i < 0 ? SERIES_COLORS - 1 : i; };
    const buckets = [...new Set(points.map((p) => p.bucket))].sort();
    const stacks = new Map(buckets.map((b) => [b, new Array(SERIES_COLORS).fill(0)]));
    for (const p of points) stacks.get(p.bucket)[colorOf(keyOf(p))] += p.tokens_saved;
    const max = Math.max(1, ...[...stacks.values()].map((s) => s.reduce((a, b) => a + b, 0)));

    const W = 600, H = 170, L = 56, B = 24, T = 8;
    const root = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img" });
    const title = svg("title", {});
    title.textContent = "Tokens saved over time " + label;
    root.appendChild(title);
    root.appendChild(svg("line", { class: "axis", x1: L, y1: H - B, x2: W, y2: H - B }));
    for (const f of [0, 0.5, 1]) {
      const y = H - B - f * (H - B - T);
      root.appendChild(svg("line", { class: "axis", x1: L, y1: y, x2: W, y2: y, "stroke-dasharray": "2 3" }));
      const t = svg("text", { x: L - 6, y: y + 4, "text-anchor": "end" });
      t.textContent = fmt.format(Math.round(max * f));
      root.appendChild(t);
    }
    if (!buckets.length) {
      const t = svg("text", { x: (W + L) / 2, y: H / 2, "text-anchor": "middle", class: "empty" });
      t.textContent = "no requests in this period";
      root.appendChild(t);
    }
    const slot = (W - L) / Math.max(1, buckets.length);
    const bw = Math.max(2, slot * 0.7);
    buckets.forEach((b, i) => {
      let y = H - B;
      stacks.get(b).forEach((v, c) => {
        if (!v) return;
        const h = (v / max) * (H - B - T);
        y -= h;
        const r = svg("rect", { class: "bar", x: L + i * slot + (slot - bw) / 2, y: y, width: bw, height: Math.max(h, 0.5), fill: "var(--s" + c + ")" });
        const tip = svg("title", {});
        tip.textContent = b + ": " + (c < top.length ? top[c] : REST) + " " + fmt.format(v) + " tokens saved";
        r.appendChild(tip);
        root.appendChild(r);
      });
      if (i === 0 || i === buckets.length - 1 || i === Math.floor(buckets.length / 2)) {
        const t = svg("text", { x: L + i * slot + slot / 2, y: H - 6, "text-anchor": "middle" });
        t.textContent = b;
        root.appendChild(t);
      }
    });
    const legend = el("ul", null, "legend");
    const keys = top.map((k, i) => [k, i]);
    if (ranked.length > top.length) keys.push([REST, SERIES_COLORS - 1]);
    keys.forEach(([k, c]) => {
      const li = el("li");
      const sw = el("i");
      sw.style.background = "var(--s" + c + ")";
      sw.setAttribute("aria-hidden", "true");
      li.append(sw, document.createTextNode(k));
      legend.appendChild(li);
    });
    container.replaceChildren(root, legend);

    const body = split.tBodies[0];
    body.replaceChildren(...ranked.map(([k, t]) => {
      const tr = el("tr");
      tr.append(el("th", k), el("td", num(t.requests), "num"), el("td", num(t.saved), "num"));
      tr.firstChild.scope = "row";
      return tr;
    }));
  }

  function recent(rows) {
    const body = $("recent").tBodies[0];
    body.replaceChildren(...rows.map((r) => {
      const tr = el("tr");
      const when = new Date(r.at);
      const cells = [
        [isNaN(when) ? r.at : when.toLocaleString()], [r.client], [r.provider], [r.model || "–"],
        [r.project || "–"], [r.status || "–", "num"], [r.error || "", r.error ? "err" : ""],
        [ms(r.ttfb_ms), "num"], [ms(r.total_ms), "num"], [ms(r.added_ms), "num"],
        [num(r.input_tokens), "num"], [num(r.output_tokens), "num"], [num(r.tokens_saved), "num"],
      ];
      for (const [text, cls] of cells) tr.appendChild(el("td", text, cls));
      return tr;
    }));
  }

  function deployment(h) {
    const dl = $("deployment");
    const rows = [["version", h.version], ["uptime", Math.round(h.uptime_seconds || 0) + " s"], ["compression", h.compress]];
    if (h.deployment) {
      for (const k of ["profile", "preset", "runtime", "supervisor", "scope"]) rows.push([k, h.deployment[k]]);
    } else {
      rows.push(["deployment", "none (a foreground headroom proxy)"]);
    }
    const u = h.usage_history;
    if (u && typeof u === "object") {
      rows.push(["history", [u.state, u.path, u.reason].filter(Boolean).join(" · ")]);
      if (u.written !== undefined) rows.push(["rows written / dropped", num(u.written) + " / " + num(u.dropped)]);
    }
    dl.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", k), el("dd", v === undefined || v === "" ? "–" : v)]));
  }

  let busy = false;
  async function refresh() {
    if (busy) return;
    busy = true;
    const since = encodeURIComponent($("since").value);
    const banner = $("unavailable");
    try {
      fetch("/health", { cache: "no-store" }).then((r) => r.json()).then(deployment, () => {});
      const [s, points, rows] = await Promise.all([
        get("/dashboard/api/summary?since=" + since),
        get("/dashboard/api/series?since=" + since),
        get("/dashboard/api/recent?limit=200"),
      ]);
      banner.hidden = true;
      counters(s);
      chart($("chart-client"), $("split-client"), points, (p) => p.client, "by client");
      chart($("chart-model"), $("split-model"), points, (p) => p.model || "unknown", "by model");
      recent(rows);
      $("status").textContent = "Updated " + new Date().toLocaleTimeString() + "; refreshes every " + REFRESH_MS / 1000 + " s.";
    } catch (e) {
      banner.textContent = e.status === 503 ? "Usage history is not available: " + e.message
        : e.status === 401 || e.status === 403 ? "Not allowed: " + e.message
        : "Could not load the usage history: " + e.message;
      banner.hidden = false;
      $("status").textContent = "Not updated.";
    } finally {
      busy = false;
    }
  }

  $("since").addEventListener("change", refresh);
  $("refresh").addEventListener("click", refresh);
  refresh();
  setInterval(refresh, REFRESH_MS);
})();
