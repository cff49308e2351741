// etcdplay web: a thin view on a play session.
//
// The server sends batches (`update`): the cluster as it is now (a fold of the
// trace, computed on the server) and the events since the last batch. This page
// only draws: messages arriving over the socket are queued and handled once per
// animation frame, so thousands of events a second cost one redraw per frame.
"use strict";

(() => {
  const ROLE_COLOURS = {
    follower: "#4f7cc9", "pre-candidate": "#d9a520", candidate: "#e07b24",
    leader: "#2e9e57", down: "#9aa0a8", unknown: "#b8bec8",
  };
  const MESSAGE_COLOURS = {
    "pre-vote": "#d9a520", vote: "#e07b24", append: "#2e6fd0", heartbeat: "#8f9bb0",
    "timeout-now": "#8a63d2", proposal: "#16a3a3", "read-index": "#a3168a", "read-reply": "#a3168a",
  };
  // A message that flies for less than this (in wall time) is stretched to
  // it, or it could never be seen; slower ones move at their true pace.
  const MIN_FLIGHT_MS = 450;
  const MAX_FLIGHTS = 200; // more is a blur, and costs frames
  const TABLES_EVERY_MS = 250; // members' table and logs: text, read at a human pace
  const MAX_EVENT_ROWS = 300;
  const MAX_POINTS = 1200; // per member and chart: 5 minutes of status
  const MAX_LATENCY_POINTS = 600; // one SVG dot each: the last 6 s at 100 writes/s
  const CHART_EVERY_MS = 2000; // a Plotly redraw is costly: see benchmarks/bench_web.py
  const NODE_R = 34;
  const TIMER_R = 43;
  const SVG_NS = "http://www.w3.org/2000/svg";

  const $ = (id) => document.getElementById(id);
  const S = {
    info: null, view: null, now: 0, recvWall: 0, paused: false, speed: 1,
    scrub: null, snapshot: null, seekBusy: false, seekWanted: null,
    flights: new Map(), pool: [], nodes: [], pos: {}, els: {},
    inbox: [], dirty: true, series: null, chartsDirty: false, chartsAt: 0, chartQueue: [], tablesDirty: false, tablesAt: 0,
    nextId: 1, pending: new Map(), played: [], lesson: [], ws: null, logKeys: {},
    stats: { frames: 0, batches: 0, messagesSeen: 0, flightsMoved: 0, charted: 0, hellos: 0, errors: 0, workMs: 0, chartMs: 0 },
  };
  window.__etcdplay = S;

  // --- the socket ------------------------------------------------------------------

  function connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${proto}://${location.host}/ws`);
    S.ws = ws;
    ws.onopen = () => setConn(true);
    ws.onmessage = (msg) => {
      S.inbox.push(msg.data);
      if (document.hidden) drain(); // no frames in a hidden tab
    };
    ws.onclose = () => {
      setConn(false);
      showNotice("disconnected from the etcdplay server (it stopped, or refused this page); retrying", true);
      setTimeout(connect, 2000);
    };
  }

  function setConn(ok) {
    const el = $("conn");
    el.textContent = ok ? "connected" : "disconnected";
    el.className = "badge " + (ok ? "ok" : "bad");
  }

  function send(obj) {
    if (!S.ws || S.ws.readyState !== WebSocket.OPEN) {
      showNotice("not connected to the server", true);
      return false;
    }
    S.ws.send(JSON.stringify(obj));
    return true;
  }

  function command(cmd, done) {
    const id = S.nextId++;
    S.pending.set(id, { cmd, done });
    send({ op: "command", id, command: cmd });
  }

  // --- messages from the server (handled once per frame) ----------------------------

  function drain() {
    const inbox = S.inbox;
    if (!inbox.length) return;
    S.inbox = [];
    for (const text of inbox) {
      let msg;
      try { msg = JSON.parse(text); } catch (e) { continue; }
      if (msg.type === "hello") onHello(msg);
      else if (msg.type === "update") onUpdate(msg);
      else if (msg.type === "snapshot") onSnapshot(msg);
      else if (msg.type === "result") onResult(msg);
      else if (msg.type === "error") showNotice(msg.message, true);
    }
  }

  function setClock(now, paused) {
    S.now = now;
    S.recvWall = performance.now();
    S.paused = paused;
  }

  function onHello(msg) {
    S.stats.hellos++;
    S.info = msg.info;
    S.speed = msg.info.speed || 1;
    S.view = msg.view;
    S.flights.clear();
    setClock(msg.now, msg.paused);
    setupPage();
    $("events").tBodies[0].textContent = "";
    addEventRows(msg.recent);
    resetSeries();
    for (const e of msg.history) chartEvent(e);
    S.played = msg.played || [];
    S.lesson = msg.lesson || [];
    renderPlayed();
    renderLesson();
    setScrub(null);
  }

  function onUpdate(msg) {
    if (!S.info) return;
    S.stats.batches++;
    S.view = msg.view;
    setClock(msg.now, msg.paused);
    if (msg.info) {
      S.info = msg.info;
      S.speed = msg.info.speed || S.speed;
      syncControls();
    }
    if (msg.played) { S.played = msg.played; renderPlayed(); }
    if (msg.lesson) { S.lesson = msg.lesson; renderLesson(); }
    const rows = [];
    for (const e of msg.events) {
      if (e.kind === "message") addFlight(e);
      else chartEvent(e);
      if (notable(e)) rows.push(e);
    }
    addEventRows(rows);
    S.dirty = true;
  }

  function onSnapshot(msg) {
    S.seekBusy = false;
    if (S.scrub !== null) {
      S.snapshot = msg;
      S.dirty = true;
    }
    if (S.seekWanted !== null) {
      const t = S.seekWanted;
      S.seekWanted = null;
      seek(t);
    }
  }

  function onResult(msg) {
    const pending = S.pending.get(msg.id);
    S.pending.delete(msg.id);
    if (!msg.ok) {
      S.stats.errors++;
      showNotice(msg.message, true);
    } else if (!msg.op && !["pause", "resume", "speed"].includes(msg.action)) {
      showNotice(msg.message + (msg.at !== undefined ? `  (t = ${msg.at.toFixed(3)} s)` : ""), false);
    }
    if (msg.op) {
      const el = $("kv-result");
      const op = msg.op;
      let text = msg.message;
      const how = `${op.latency_ms.toFixed(1)} ms · via ${op.node}`;
      if (op.value === null) text = `${op.key}: no such key · ${how}`;
      else if (op.value !== undefined) text = `value ${JSON.stringify(op.value)} · ${how}`;
      else if (op.ok) text = `${msg.action} ok · ${how}`;
      el.textContent = text;
      el.className = "result " + (msg.ok ? "ok" : "bad");
    } else if (pending && ["put", "get", "delete"].includes(pending.cmd.action)) {
      // refused before it ran (an empty key...): the "…" must not stay
      $("kv-result").textContent = msg.message;
      $("kv-result").className = "result bad";
    }
    if (pending && pending.done) pending.done(msg);
  }

  // --- page set-up ----------------------------------------------------------------

  function setupPage() {
    const info = S.info;
    const live = info.backend === "live";
    document.body.classList.toggle("live", live);
    const mode = info.mode === "replay" ? `replay of ${info.backend === "live" ? "real etcd" : "a simulation"}`
      : (live ? "real etcd" : "simulator");
    $("mode").textContent = mode;
    $("scenario-name").textContent = info.scenario || "";
    $("seed").textContent = info.seed ?? "?";
    const caps = info.capabilities || {};
    for (const el of document.querySelectorAll("[data-sim]")) el.hidden = !caps.pause;
    $("unobservable").hidden = !info.unobservable;
    $("unobservable").textContent = info.unobservable || "";
    $("logs-panel").hidden = !caps.logs;
    const canAct = caps.commands !== false;
    for (const el of $("act").querySelectorAll("button, input, select")) el.disabled = !canAct;
    if (!canAct) $("kv-result").textContent = "a recorded trace: watch, pause, step and scrub; acting needs a session";
    if (JSON.stringify(info.nodes) !== JSON.stringify(S.nodes)) buildCluster(info.nodes);
    fillSelects(info.nodes);
    syncControls();
    const hint = info.mode === "replay"
      ? `recorded in ${info.file}`
      : live
        ? "replay: etcdplay live SCENARIO.toml (the same actions on new members); watch again: etcdplay web --trace TRACE.jsonl"
        : `replay: etcdplay simulate --replay TRACE.jsonl, or etcdplay simulate SCENARIO.toml --seed ${info.seed}`;
    $("replay-hint").textContent = hint;
    $("legend").innerHTML = legendHtml(caps.messages);
  }

  function legendHtml(messages) {
    const roles = ["follower", "pre-candidate", "candidate", "leader", "down"]
      .map((r) => `<span><i style="background:${ROLE_COLOURS[r]}"></i>${r}</span>`);
    const parts = [...roles];
    if (messages) {
      for (const [t, c] of Object.entries(MESSAGE_COLOURS)) {
        if (t === "read-reply") continue;
        parts.push(`<span><i style="background:${c}"></i>${t}</span>`);
      }
      parts.push(`<span><i class="hollow" style="border-color:#2e6fd0"></i>response</span>`);
      parts.push(`<span><i style="background:#c62f2f"></i>dropped</span>`);
      parts.push(`<span><i style="background:#8a63d2"></i>election timer (ring)</span>`);
    }
    return parts.join("");
  }

  function fillSelects(nodes) {
    const opts = (any) => (any ? `<option value="">any (client picks)</option>` : "") +
      nodes.map((n) => `<option>${n}</option>`).join("");
    for (const [id, any] of [["node", false], ["delay-node", false], ["stress-node", true], ["kv-node", true]]) {
      const el = $(id);
      const keep = el.value;
      el.innerHTML = opts(any);
      if ([...el.options].some((o) => o.value === keep)) el.value = keep;
    }
  }

  function syncControls() {
    const info = S.info;
    if (!info) return;
    $("pause").textContent = S.paused ? "resume" : "pause";
    const sel = $("speed");
    const v = String(info.speed);
    if (![...sel.options].some((o) => o.value === v)) sel.add(new Option(v, v));
    if (document.activeElement !== sel) sel.value = v;
  }

  function svg(tag, attrs, parent) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    if (parent) parent.appendChild(el);
    return el;
  }

  function buildCluster(nodes) {
    S.nodes = nodes.slice();
    const root = $("cluster");
    root.textContent = "";
    const cx = 320, cy = 200, R = nodes.length > 1 ? 150 : 0;
    // Past 5 members the drawings would overlap: each is scaled to the space
    // between neighbours (the caption and hash chip then go: the members'
    // table has them), its name kept readable.
    const k = nodes.length > 5 ? Math.min(1, (2 * R * Math.sin(Math.PI / nodes.length)) / 176) : 1;
    const captions = k >= 0.75;
    S.nodeR = NODE_R * k;
    nodes.forEach((n, i) => {
      const a = -Math.PI / 2 + (2 * Math.PI * i) / nodes.length;
      S.pos[n] = [cx + R * Math.cos(a), cy + R * Math.sin(a)];
    });
    const links = svg("g", {}, root);
    S.els = { links: [], nodes: {} };
    for (let i = 0; i < nodes.length; i++) {
      for (let j = i + 1; j < nodes.length; j++) {
        const [a, b] = [nodes[i], nodes[j]];
        const line = svg("line", { class: "link", x1: S.pos[a][0], y1: S.pos[a][1], x2: S.pos[b][0], y2: S.pos[b][1] }, links);
        S.els.links.push({ a, b, line });
      }
    }
    const group = svg("g", {}, root);
    for (const n of nodes) {
      const [x, y] = S.pos[n];
      const g = svg("g", { class: "node", transform: `translate(${x},${y}) scale(${k.toFixed(3)})`, "data-node": n }, group);
      svg("circle", { class: "timer-track", r: TIMER_R }, g);
      const timer = svg("circle", { class: "timer", r: TIMER_R, transform: "rotate(-90)" }, g);
      const circle = svg("circle", { class: "node-circle", r: NODE_R }, g);
      const small = k < 0.6; // name only, at least 9 px on the page
      const name = svg("text", { class: "name", "text-anchor": "middle", y: small ? 0 : -4, "dominant-baseline": small ? "central" : "auto" }, g);
      if (small) name.style.fontSize = `${Math.max(17, 9 / k).toFixed(1)}px`;
      name.textContent = n;
      const term = svg("text", { class: "sub", "text-anchor": "middle", y: 13 }, g);
      const cap = svg("text", { class: "cap", "text-anchor": "middle", y: TIMER_R + 16 }, g);
      const chip = svg("rect", { x: -30, y: TIMER_R + 22, width: 60, height: 14, rx: 3 }, g);
      const hash = svg("text", { class: "sub", "text-anchor": "middle", y: TIMER_R + 33 }, g);
      term.style.display = small ? "none" : "";
      for (const el of [cap, chip, hash]) el.style.display = captions ? "" : "none";
      g.addEventListener("click", () => { $("node").value = n; S.dirty = true; });
      S.els.nodes[n] = { g, timer, circle, term, cap, chip, hash };
    }
    S.els.msgs = svg("g", { class: "msgs" }, root);
    S.pool = [];
    // members' log rows
    const logs = $("logs");
    logs.textContent = "";
    S.logKeys = {};
    for (const n of nodes) {
      const row = document.createElement("div");
      row.className = "logrow";
      row.innerHTML = `<span class="logname">${n}</span><span class="entries"></span><span class="idx"></span>`;
      row.dataset.node = n;
      logs.appendChild(row);
    }
  }

  // --- messages in flight ----------------------------------------------------------

  function addFlight(e) {
    S.stats.messagesSeen++;
    const now = performance.now();
    if (e.arrive !== undefined) {
      S.flights.set(e.id, { from: e.node, to: e.to, type: e.type, t0: e.t, t1: e.arrive, w0: now, dropped: null });
    } else if (e.dropped) {
      const f = S.flights.get(e.id);
      if (f) f.dropped = e.dropped;
      else S.flights.set(e.id, { from: e.node, to: e.to, type: e.type, t0: e.t, t1: e.t, w0: now, dropped: e.dropped, atSend: true });
    }
    while (S.flights.size > MAX_FLIGHTS) S.flights.delete(S.flights.keys().next().value);
  }

  function virtualNow() {
    if (S.scrub !== null) return S.scrub;
    if (S.paused) return S.now;
    const ahead = Math.min((performance.now() - S.recvWall) / 1000, 0.5);
    return S.now + ahead * S.speed;
  }

  function drawFlights(vt) {
    const wall = performance.now();
    const drawn = [];
    if (S.scrub !== null) {
      const inFlight = S.snapshot ? S.snapshot.view.in_flight : [];
      for (const m of inFlight) {
        const span = m.arrive - m.t;
        const p = span > 0 ? (vt - m.t) / span : 1;
        drawn.push({ from: m.node, to: m.to, type: m.type, p: Math.max(0, Math.min(1, p)), dropped: null });
      }
    } else {
      for (const [id, f] of S.flights) {
        const span = f.t1 - f.t0;
        const pv = span > 0 ? (vt - f.t0) / span : 1;
        const pw = (wall - f.w0) / MIN_FLIGHT_MS;
        let p = Math.min(pv, pw);
        if (f.atSend) p = Math.min(pw, 1) * 0.3; // lost at sending: it never gets far
        if (pw >= 1.6 || (p >= 1 && !f.dropped)) { S.flights.delete(id); continue; }
        p = Math.max(0, Math.min(1, p));
        if (f.lastP !== undefined && f.lastP !== p && p > 0 && p < 1) S.stats.flightsMoved++;
        f.lastP = p;
        drawn.push({ from: f.from, to: f.to, type: f.type, p, dropped: f.dropped && (p >= 1 || f.atSend) ? f.dropped : null });
      }
    }
    const group = S.els.msgs;
    while (S.pool.length < drawn.length) S.pool.push(svg("circle", { class: "msg" }, group));
    for (let i = 0; i < S.pool.length; i++) {
      const el = S.pool[i];
      const d = drawn[i];
      if (!d || !S.pos[d.from] || !S.pos[d.to]) { if (el.style.display !== "none") el.style.display = "none"; continue; }
      const [x1, y1] = S.pos[d.from], [x2, y2] = S.pos[d.to];
      // leave and arrive at the rims, not the centres
      const len = Math.hypot(x2 - x1, y2 - y1) || 1;
      const ux = (x2 - x1) / len, uy = (y2 - y1) / len;
      const r = S.nodeR ?? NODE_R;
      const sx = x1 + ux * r, sy = y1 + uy * r;
      const travel = len - 2 * r;
      const x = sx + ux * travel * d.p, y = sy + uy * travel * d.p;
      const base = d.type.replace(/-resp$/, "");
      const colour = MESSAGE_COLOURS[base] || "#555";
      const response = d.type.endsWith("-resp") || d.type === "read-reply";
      if (el.style.display === "none") el.style.display = "";
      el.setAttribute("cx", x.toFixed(1));
      el.setAttribute("cy", y.toFixed(1));
      // the look changes only when this pooled dot shows another message
      const look = d.dropped ? "dropped" : d.type;
      if (el.dataset.type !== look) {
        el.setAttribute("r", d.dropped ? 6 : (base === "heartbeat" ? 3.5 : 5));
        el.setAttribute("fill", d.dropped ? "#c62f2f" : (response ? "#fff" : colour));
        el.setAttribute("stroke", d.dropped ? "#fff" : colour);
        el.setAttribute("stroke-width", response ? 2 : 1);
        el.dataset.type = look;
      }
    }
    S.drawnFlights = drawn.length;
  }

  // --- the cluster ------------------------------------------------------------------

  function shownView() {
    if (S.scrub !== null && S.snapshot) return S.snapshot.view;
    return S.view;
  }

  function hashColour(hash) {
    if (!hash) return "#b8bec8";
    let h = 0;
    for (let i = 0; i < hash.length; i++) h = (h * 31 + hash.charCodeAt(i)) >>> 0;
    return `hsl(${h % 360}, 55%, 40%)`;
  }

  function drawTimers(view, vt) {
    const C = 2 * Math.PI * TIMER_R;
    for (const n of S.nodes) {
      const el = S.els.nodes[n];
      const m = view.nodes[n];
      if (!el || !m) continue;
      let frac = 0;
      if (m.running && m.timer_deadline !== null && m.timer_deadline !== undefined && m.timer_timeout) {
        frac = Math.max(0, Math.min(1, (m.timer_deadline - vt) / m.timer_timeout));
      }
      el.timer.setAttribute("stroke-dasharray", `${(C * frac).toFixed(1)} ${C.toFixed(1)}`);
    }
  }

  function renderCluster(view) {
    const selected = $("node").value;
    for (const n of S.nodes) {
      const el = S.els.nodes[n];
      const m = view.nodes[n] || { shown_role: "unknown" };
      const role = m.shown_role;
      el.circle.setAttribute("fill", ROLE_COLOURS[role] || ROLE_COLOURS.unknown);
      el.term.textContent = m.term !== null && m.term !== undefined ? `term ${m.term}` : "";
      const vote = m.vote && role !== "leader" ? ` · voted ${m.vote}` : "";
      el.cap.textContent = role + vote;
      el.chip.setAttribute("fill", hashColour(m.running ? m.hash : null));
      el.hash.textContent = m.running && m.hash ? m.hash.slice(-8) : "no hash";
      el.g.classList.toggle("selected", n === selected);
      el.g.dataset.role = role;
    }
    const groups = view.groups;
    const delayed = view.delayed || {};
    for (const { a, b, line } of S.els.links) {
      const cut = groups ? !sameGroup(groups, a, b) : false;
      line.setAttribute("class", "link" + (cut ? " cut" : (delayed[a] || delayed[b] ? " slow" : "")));
    }
  }

  function sameGroup(groups, a, b) {
    for (const g of groups) if (g.includes(a)) return g.includes(b);
    return true;
  }

  function renderHeader(view, vt) {
    $("clock").textContent = vt.toFixed(3);
    $("leader").textContent = view.leader || "none";
    $("term").textContent = view.term;
    const q = $("quorum");
    q.textContent = view.quorum ? "quorum" : "no quorum";
    q.className = "badge " + (view.quorum ? "ok" : "bad");
    const h = $("hashes");
    const agree = view.hashes_agree;
    h.textContent = agree === true ? "hashes agree" : agree === false ? "hashes differ" : "hashes –";
    h.className = "badge " + (agree === true ? "ok" : agree === false ? "bad" : "");
  }

  function fmtBytes(n) {
    if (n === null || n === undefined) return "–";
    if (n < 1024) return `${n} B`;
    if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
    return `${(n / (1 << 20)).toFixed(1)} MiB`;
  }

  function renderMembers(view) {
    const body = $("members").tBodies[0];
    const odd = view.hashes_agree === false;
    const rows = S.nodes.map((n) => {
      const m = view.nodes[n] || {};
      const role = m.shown_role || "unknown";
      const show = (v) => (v === null || v === undefined ? "–" : v);
      const hash = m.running && m.hash
        ? `<span class="hash${odd ? " odd" : ""}" style="background:${hashColour(m.hash)}">${m.hash.slice(-8)}</span>` : "–";
      return `<tr data-node="${n}"><td><b>${n}</b></td>` +
        `<td><span class="role" style="background:${ROLE_COLOURS[role] || "#999"}">${role}</span></td>` +
        `<td>${show(m.term)}</td><td>${show(m.vote)}</td><td>${show(m.leader)}</td>` +
        `<td>${show(m.commit)}</td><td>${show(m.applied)}</td><td>${show(m.keys)}</td><td>${hash}</td>` +
        `<td class="live-only">${fmtBytes(m.db_size)}</td></tr>`;
    }).join("");
    if (body.dataset.html !== rows) { body.innerHTML = rows; body.dataset.html = rows; }
  }

  function termColour(term) {
    return `hsl(${(term * 67 + 200) % 360}, 60%, 52%)`;
  }

  function renderLogs(view) {
    if ($("logs-panel").hidden) return;
    for (const row of $("logs").children) {
      const n = row.dataset.node;
      const m = view.nodes[n] || {};
      const key = JSON.stringify([m.log_from, m.log_terms, m.commit, m.last_index, m.running]);
      if (S.logKeys[n] === key) continue;
      S.logKeys[n] = key;
      const entries = row.children[1];
      const parts = [];
      let index = m.log_from || 1;
      for (const [term, count] of m.log_terms || []) {
        for (let i = 0; i < count; i++, index++) {
          const cls = m.commit !== null && index > m.commit ? "e uncommitted" : "e";
          parts.push(`<span class="${cls}" title="index ${index}, term ${term}" style="background:${termColour(term)}"></span>`);
        }
      }
      if (m.commit && m.log_from && m.commit >= m.log_from) {
        parts.push(`<span class="commit" style="left:${(m.commit - m.log_from + 1) * 12 - 1.5}px"></span>`);
      }
      entries.innerHTML = parts.join("");
      row.children[2].textContent = m.running === false ? "down"
        : `last ${m.last_index ?? "–"} · commit ${m.commit ?? "–"}`;
    }
  }

  // --- the event log ------------------------------------------------------------------

  function notable(e) {
    if (e.kind === "client") return e.source !== "load";
    return ["role", "vote", "leader", "fault", "load", "check", "note", "step"].includes(e.kind);
  }

  function describe(e) {
    const n = e.node || "";
    switch (e.kind) {
      case "role": return `${n} became ${e.role} (term ${e.term})`;
      case "vote": return `${n} ${e.granted ? "granted" : "refused"} ${e.pre_vote ? "pre-vote" : "vote"} to ${e.candidate} (term ${e.term})`;
      case "leader": return e.leader ? `${n} follows leader ${e.leader} (term ${e.term})` : `${n} has no leader`;
      case "fault": {
        // a partition names its groups (its nodes are every member in them)
        const who = e.groups ? e.groups.map((x) => x.join(",")).join(" | ") : (e.nodes || []).join(", ");
        return `fault: ${e.action} ${who}${e.latency_ms ? " +" + e.latency_ms + " ms" : ""}`;
      }
      case "client": {
        const lat = e.latency !== undefined ? ` ${(e.latency * 1000).toFixed(1)} ms` : "";
        const val = e.op === "get" && e.ok ? ` = ${JSON.stringify(e.value)}` : "";
        return `${e.op} ${e.key}${val} ${e.ok ? "ok" : "failed: " + (e.error || "")}${lat}${n ? " via " + n : ""}`;
      }
      case "load": return e.phase === "start"
        ? `writes start: ${e.rate}/s for ${e.duration} s under ${e.prefix}`
        : `writes end: ${e.acked} acked, ${e.failed} failed of ${e.sent}`;
      case "check": return `check ${e.name}: ${e.ok ? "ok" : "FAILED " + (e.detail || "")}`;
      case "step": return `step ${e.action}${e.nodes && e.nodes.length ? " " + e.nodes.join(",") : ""}${e.note ? " — " + e.note : ""}`;
      case "note": return `${n ? n + ": " : ""}${e.text}`;
      default: return e.kind;
    }
  }

  function addEventRows(events) {
    if (!events.length) return;
    const body = $("events").tBodies[0];
    const frag = document.createDocumentFragment();
    const start = Math.max(0, events.length - MAX_EVENT_ROWS);
    for (let i = events.length - 1; i >= start; i--) {
      const e = events[i];
      const tr = document.createElement("tr");
      tr.className = "ev-" + e.kind; // not the kind itself: .role and .note style other things
      const t = document.createElement("td");
      t.className = "t";
      t.textContent = e.t.toFixed(3);
      const d = document.createElement("td");
      d.textContent = describe(e);
      tr.append(t, d);
      frag.appendChild(tr);
    }
    body.insertBefore(frag, body.firstChild);
    while (body.rows.length > MAX_EVENT_ROWS) body.deleteRow(body.rows.length - 1);
  }

  // --- lesson and actions -----------------------------------------------------------

  function renderLesson() {
    const panel = $("lesson");
    const steps = S.lesson || [];
    panel.hidden = !steps.length && !(S.info && S.info.explain);
    if (panel.hidden) return;
    $("lesson-name").textContent = S.info.scenario;
    $("explain").textContent = (S.info.explain || "").trim();
    const lastDone = steps.reduce((acc, s, i) => (s.done ? i : acc), -1);
    $("lesson-steps").innerHTML = steps.map((s, i) => {
      const cls = i === lastDone ? "current" : s.done ? "done" : "";
      const what = s.target ? ` ${s.target}` : "";
      return `<li class="${cls}"><b>${s.at.toFixed(1)} s ${s.action}${escapeHtml(String(what))}</b>` +
        (s.note ? ` — ${escapeHtml(s.note)}` : "") + "</li>";
    }).join("");
  }

  function renderPlayed() {
    $("played").innerHTML = (S.played || []).map((s) => {
      const { at, action, note, target, groups, ...rest } = s;
      const parts = [];
      if (target !== undefined) parts.push(Array.isArray(target) ? target.join(",") : target);
      if (groups) parts.push(groups.map((g) => g.join(",")).join(" | "));
      for (const [k, v] of Object.entries(rest)) parts.push(`${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
      const args = parts.join(" ");
      return `<li>${at.toFixed(3)} s ${escapeHtml(action)} ${escapeHtml(args)}</li>`;
    }).join("");
    $("played").scrollTop = $("played").scrollHeight; // the newest action in sight
  }

  function escapeHtml(s) {
    return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  // --- charts ------------------------------------------------------------------------

  function resetSeries() {
    S.series = { term: {}, commit: {}, keys: {}, latency: { ok: { x: [], y: [] }, failed: { x: [], y: [] } } };
    for (const n of S.nodes) for (const k of ["term", "commit", "keys"]) S.series[k][n] = { x: [], y: [] };
  }

  function push(series, x, y, max = MAX_POINTS) {
    series.x.push(x);
    series.y.push(y);
    if (series.x.length > max * 1.2) {
      series.x.splice(0, series.x.length - max);
      series.y.splice(0, series.y.length - max);
    }
  }

  function chartEvent(e) {
    if (!S.series) return;
    if (e.kind === "status" && e.running) {
      for (const k of ["term", "commit", "keys"]) {
        const s = S.series[k][e.node];
        if (s && e[k] !== null && e[k] !== undefined) push(s, e.t, e[k]);
      }
      S.chartsDirty = true;
    } else if (e.kind === "client" && e.op === "put") {
      push(e.ok ? S.series.latency.ok : S.series.latency.failed, e.t, (e.latency || 0) * 1000, MAX_LATENCY_POINTS);
      S.chartsDirty = true;
    }
  }

  function layout(title, ytitle, scrub) {
    return {
      title: { text: title, font: { size: 12 }, x: 0.02, xanchor: "left" },
      margin: { l: 44, r: 8, t: 26, b: 32 },
      height: 220,
      showlegend: false,
      xaxis: { automargin: true },
      // the arrays grow in place: a new revision makes Plotly redraw them
      datarevision: S.stats.charted,
      yaxis: { title: { text: ytitle, font: { size: 11 } }, rangemode: "tozero", automargin: true },
      shapes: scrub === null ? [] : [{ type: "line", x0: scrub, x1: scrub, y0: 0, y1: 1, yref: "paper", line: { color: "#c62f2f", dash: "dot" } }],
      uirevision: "keep",
      font: { size: 11 },
    };
  }

  const CHARTS = ["term", "commit", "keys", "latency"];

  // One chart per call: a Plotly redraw is the most expensive thing this page
  // does, so frames share them out instead of one frame doing all four.
  function renderChart(name) {
    if (!window.Plotly || !S.series) return;
    const began = performance.now();
    const cfg = { displayModeBar: false, responsive: true };
    const perNode = (k) => S.nodes.map((n) => ({
      x: S.series[k][n].x, y: S.series[k][n].y, name: n, mode: "lines", line: { shape: "hv", width: 1.5 },
    }));
    const scrub = S.scrub;
    const legend = { showlegend: true, legend: { orientation: "h", y: -0.18, font: { size: 10 } }, margin: { l: 44, r: 8, t: 26, b: 46 } };
    if (name === "term") Plotly.react("chart-term", perNode("term"), { ...layout("term per member (t in s)", "term", scrub), ...legend }, cfg);
    else if (name === "commit") Plotly.react("chart-commit", perNode("commit"), { ...layout("commit index", "index", scrub), ...legend }, cfg);
    else if (name === "keys") Plotly.react("chart-keys", perNode("keys"), { ...layout("keys per member", "keys", scrub), ...legend }, cfg);
    else {
      const lat = S.series.latency;
      Plotly.react("chart-latency", [
        { x: lat.ok.x, y: lat.ok.y, name: "acked", mode: "markers", type: "scatter", marker: { size: 3, color: "#2e9e57" } },
        { x: lat.failed.x, y: lat.failed.y, name: "failed", mode: "markers", type: "scatter", marker: { size: 4, color: "#c62f2f" } },
      ], { ...layout("write latency (puts)", "ms", scrub), ...legend }, cfg);
    }
    S.stats.charted++;
    S.stats.chartMs += performance.now() - began;
  }

  // Charts may take at most a fifth of the page's time: where a redraw is slow
  // (a loaded machine, software rendering) they are redrawn less often, and the
  // cluster's animation stays smooth.
  function chartInterval() {
    const { charted, chartMs } = S.stats;
    const perChart = charted ? chartMs / charted : 0;
    return Math.max(CHART_EVERY_MS, 5 * CHARTS.length * perChart);
  }

  // --- the frame loop ------------------------------------------------------------------

  function frame() {
    const began = performance.now();
    S.stats.frames++;
    drain();
    if (S.info && S.view) {
      const vt = virtualNow();
      const view = shownView();
      const wall0 = performance.now();
      if (S.dirty) {
        renderCluster(view);
        S.tablesDirty = true;
        S.dirty = false;
      }
      if (S.tablesDirty && (S.scrub !== null || wall0 - S.tablesAt > TABLES_EVERY_MS)) {
        renderMembers(view);
        renderLogs(view);
        S.tablesDirty = false;
        S.tablesAt = wall0;
      }
      renderHeader(view, vt);
      drawTimers(view, vt);
      drawFlights(vt);
      const slider = $("slider");
      const max = Math.max(S.now, 0).toFixed(3);
      if (slider.max !== max) slider.max = max;
      if (S.scrub === null) slider.value = max;
      const wall = performance.now();
      if (S.chartQueue.length) renderChart(S.chartQueue.shift());
      else if (S.chartsDirty && wall - S.chartsAt > chartInterval()) {
        S.chartsAt = wall;
        S.chartsDirty = false;
        S.chartQueue = CHARTS.slice();
      }
    }
    S.stats.workMs += performance.now() - began;
    requestAnimationFrame(frame);
  }

  // --- notices ---------------------------------------------------------------------

  let noticeTimer = null;
  function showNotice(text, bad) {
    const el = $("notice");
    el.textContent = text;
    el.className = bad ? "" : "info";
    el.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { el.hidden = true; }, bad ? 12000 : 4000);
  }

  // --- time travel ------------------------------------------------------------------

  function seek(t) {
    if (S.seekBusy) { S.seekWanted = t; return; }
    S.seekBusy = true;
    if (!send({ op: "seek", t })) S.seekBusy = false;
  }

  function setScrub(t) {
    S.scrub = t;
    $("golive").disabled = t === null;
    $("branch").disabled = t === null || !(S.info && S.info.capabilities.branch);
    $("scrub-state").textContent = t === null ? "live" : `viewing t = ${t.toFixed(3)} s (the past)`;
    if (t === null) S.snapshot = null;
    else seek(t);
    S.dirty = true;
    S.chartsDirty = true;
    S.chartsAt = 0;
  }

  // --- controls ----------------------------------------------------------------------

  function selected(id) {
    const v = $(id).value;
    return v === "" ? undefined : v;
  }

  function wire() {
    for (const b of document.querySelectorAll("[data-act]")) {
      b.addEventListener("click", () => command({ action: b.dataset.act, node: selected("node") }));
    }
    $("partition").addEventListener("click", () => {
      const groups = $("groups").value.split("|").map((g) => g.split(/[\s,]+/).filter(Boolean)).filter((g) => g.length);
      command({ action: "partition", groups });
    });
    $("heal").addEventListener("click", () => command({ action: "heal" }));
    $("delay").addEventListener("click", () => {
      const raw = $("delay-ms").value.trim();
      const latency = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
      command({ action: "delay", node: selected("delay-node"), latency_ms: latency });
    });
    $("stress").addEventListener("click", () => {
      command({ action: "stress", count: Number($("stress-count").value), node: selected("stress-node") });
    });
    for (const op of ["put", "get", "delete"]) {
      $(op).addEventListener("click", () => {
        const cmd = { action: op, key: $("key").value, node: selected("kv-node") };
        if (op === "put") cmd.value = $("value").value;
        $("kv-result").textContent = `${op} ${cmd.key} …`;
        $("kv-result").className = "result";
        command(cmd);
      });
    }
    $("pause").addEventListener("click", () => command({ action: S.paused ? "resume" : "pause" }));
    $("step").addEventListener("click", () => command({ action: "step" }));
    $("speed").addEventListener("change", () => command({ action: "speed", speed: Number($("speed").value) }));
    $("slider").addEventListener("input", () => setScrub(Number($("slider").value)));
    $("golive").addEventListener("click", () => setScrub(null));
    $("branch").addEventListener("click", () => {
      const t = S.scrub;
      if (t === null) return;
      command({ action: "branch", t }, (r) => { if (r.ok) setScrub(null); });
    });
    $("node").addEventListener("change", () => { S.dirty = true; });
  }

  wire();
  connect();
  requestAnimationFrame(frame);
})();
