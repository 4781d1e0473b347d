// relay's web console: one WebSocket for live rows and actions, plain DOM, no build step.
"use strict";
(() => {
  const token = document.body.dataset.token;
  const rows = new Map();          // invocation id -> row
  let selected = null;
  let socket = null;
  const $ = (id) => document.getElementById(id);
  const tbody = document.querySelector("#invocations tbody");

  const fmtTime = (epoch) => new Date(epoch * 1000).toLocaleTimeString([], { hour12: false });
  const fmtMs = (ms) => (ms == null ? "" : ms < 10 ? ms.toFixed(1) + " ms" : Math.round(ms) + " ms");
  const cell = (text, cls) => {
    const td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    if (cls) td.className = cls;
    return td;
  };

  function renderRow(row) {
    let tr = document.querySelector(`tr[data-id="${CSS.escape(row.id)}"]`);
    if (!tr) {
      tr = document.createElement("tr");
      tr.dataset.id = row.id;
      tr.addEventListener("click", () => open(row.id));
      tbody.prepend(tr);
    }
    tr.replaceChildren(
      cell(fmtTime(row.at)),
      cell(row.path || row.function),
      cell(row.trigger),
      cell(fmtMs(row.duration_ms), "num"),
      cell(row.cold == null ? "" : row.cold ? "cold" : "warm"),
    );
    const status = cell(row.status, "status-" + row.status);
    status.dataset.role = "status";
    if (row.source !== "relay" && row.source !== "direct") {
      const src = document.createElement("span");
      src.className = "src";
      src.textContent = row.source;
      status.append(src);
    }
    if (row.differs) {
      const d = document.createElement("span");
      d.className = "differs";
      d.textContent = "≠ cloud";
      status.append(d);
    }
    if (row.error) status.title = row.error;
    tr.append(status);
    tr.classList.toggle("selected", row.id === selected);
    while (tbody.children.length > 500) tbody.lastChild.remove();
  }

  function renderTimeline() {
    const svg = $("timeline");
    const width = svg.clientWidth || 600, height = svg.clientHeight || 90;
    const recent = [...rows.values()].filter((r) => r.duration_ms != null).slice(-60);
    const max = Math.max(1, ...recent.map((r) => r.duration_ms));
    const bar = width / 60;
    const ns = "http://www.w3.org/2000/svg";
    svg.replaceChildren();
    recent.forEach((r, i) => {
      const h = Math.max(2, (r.duration_ms / max) * (height - 18));
      const rect = document.createElementNS(ns, "rect");
      rect.setAttribute("x", String(i * bar + 1));
      rect.setAttribute("y", String(height - h - 2));
      rect.setAttribute("width", String(Math.max(1, bar - 2)));
      rect.setAttribute("height", String(h));
      rect.setAttribute("class", r.status);
      const title = document.createElementNS(ns, "title");
      title.textContent = `${r.path || r.function}: ${fmtMs(r.duration_ms)} ${r.status}`;
      rect.append(title);
      svg.append(rect);
    });
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", "6");
    label.setAttribute("y", "12");
    label.textContent = recent.length ? `max ${fmtMs(max)} · last ${recent.length}` : "no invocations yet";
    svg.append(label);
    $("count").textContent = rows.size ? `(${rows.size})` : "";
  }

  function renderFunctions(functions) {
    const body = document.querySelector("#functions tbody");
    body.replaceChildren(...functions.map((f) => {
      const tr = document.createElement("tr");
      tr.dataset.name = f.name;
      tr.append(cell(f.path || f.name), cell(f.invocations, "num"), cell(f.reloads, "num"),
                cell(f.last_error || "", f.last_error ? "error-cell" : ""));
      return tr;
    }));
  }

  async function open(id) {
    selected = id;
    document.querySelectorAll("#invocations tr.selected").forEach((tr) => tr.classList.remove("selected"));
    document.querySelector(`tr[data-id="${CSS.escape(id)}"]`)?.classList.add("selected");
    const response = await fetch(`/api/invocation?id=${encodeURIComponent(id)}&token=${token}`);
    if (!response.ok) return;
    const d = await response.json();
    $("detail").hidden = false;
    $("detail-title").textContent = `${d.path || d.function} · ${d.status}`;
    $("detail-event").textContent = d.event;
    $("detail-result").textContent = d.result;
    $("detail-logs").textContent = d.logs;
    $("detail-context").textContent = JSON.stringify(d.context, null, 2);
    $("cloud").hidden = d.cloud_result == null;
    $("detail-cloud").textContent = d.cloud_result || "";
    $("differences").hidden = !(d.differences && d.differences.length);
    document.querySelector("#differences pre").textContent = (d.differences || []).join("\n");
    $("action-result").textContent = "";
    const finished = d.status !== "running";
    $("replay").disabled = !finished;
    $("save-test").disabled = !finished;
  }

  function act(op) {
    if (!selected || !socket || socket.readyState !== WebSocket.OPEN) return;
    $("action-result").textContent = op === "replay" ? "replaying…" : "writing the test…";
    socket.send(JSON.stringify({ op, id: selected }));
  }

  function onMessage(message) {
    if (message.op === "hello") {
      message.rows.forEach((row) => { rows.set(row.id, row); renderRow(row); });
      renderFunctions(message.functions);
      renderTimeline();
      document.body.dataset.ready = "1";
    } else if (message.op === "invocation") {
      rows.set(message.row.id, message.row);
      if (rows.size > 500) rows.delete(rows.keys().next().value);
      renderRow(message.row);
      renderTimeline();
      if (message.row.id === selected) open(selected);
    } else if (message.op === "functions") {
      renderFunctions(message.functions);
    } else if (message.op === "replay") {
      $("action-result").textContent = !message.ok ? `replay failed: ${message.message}`
        : message.same ? "replayed: same result as this invocation"
        : `replayed: differs — ${message.differences.join("; ")}`;
      $("action-result").dataset.replay = message.replay || "";
    } else if (message.op === "save_test") {
      $("action-result").textContent = message.ok
        ? `${message.existed ? "already saved" : "saved"}: ${message.path}` : `could not save: ${message.message}`;
    } else if (message.op === "error") {
      $("action-result").textContent = message.message;
    }
  }

  function connect() {
    socket = new WebSocket(`ws://${location.host}/ws?token=${token}`);
    socket.addEventListener("open", () => {
      $("connection").textContent = "live";
      $("connection").className = "pill on";
    });
    socket.addEventListener("message", (e) => onMessage(JSON.parse(e.data)));
    socket.addEventListener("close", () => {
      $("connection").textContent = "disconnected — retrying";
      $("connection").className = "pill off";
      setTimeout(connect, 1000);
    });
  }

  $("replay").addEventListener("click", () => act("replay"));
  $("save-test").addEventListener("click", () => act("save_test"));
  setInterval(() => socket && socket.readyState === WebSocket.OPEN
    && socket.send(JSON.stringify({ op: "functions" })), 2000);
  connect();
})();
