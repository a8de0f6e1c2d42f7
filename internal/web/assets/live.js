// sensorhub live page: the newest values of one device, updated from the
// /api/v1/stream Server-Sent Events; each new value flashes green. The
// browser reconnects by itself when the connection drops.
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("config").textContent);
  const L = window.sensorhubLocale; // dates and numbers as the server writes them
  const badge = document.getElementById("live");
  let lastTime = 0;

  function flash(el) {
    const box = el.closest(".readout");
    if (!box) return;
    box.classList.remove("flash");
    void box.offsetWidth; // restart the transition
    box.classList.add("flash");
    box.dataset.flashes = String((+box.dataset.flashes || 0) + 1);
    setTimeout(() => box.classList.remove("flash"), 50);
  }

  function tile(field) {
    let v = document.querySelector('[data-field="' + CSS.escape(field) + '"]');
    if (v) return v;
    const box = document.createElement("div");
    box.className = "readout";
    const label = document.createElement("div");
    label.className = "label";
    label.textContent = field;
    v = document.createElement("div");
    v.className = "value";
    v.dataset.field = field;
    box.append(label, v);
    document.getElementById("fields").appendChild(box);
    return v;
  }

  function show(r) {
    const t = new Date(r.time).getTime();
    if (t < lastTime) return; // a late reading does not replace a newer one
    lastTime = t;
    const names = Object.keys(r.fields).sort();
    for (const f of names) {
      const el = cfg.sensor === "air" ? document.querySelector('[data-field="' + CSS.escape(f) + '"]') : tile(f);
      if (!el) continue;
      el.textContent = L.value(r.fields[f]) + " " + ((r.units && r.units[f]) || "");
      flash(el);
    }
    const up = document.getElementById("updated");
    up.textContent = L.dateTime(t);
    flash(up);
    if (cfg.sensor === "air" && r.fields.Pres !== undefined && r.fields.OpenPres !== undefined) {
      const leak = r.fields.Pres < r.fields.OpenPres;
      const st = document.getElementById("status");
      st.textContent = leak ? "LEAK" : "OK";
      st.className = "value " + (leak ? "status-leak" : "status-ok");
      document.getElementById("leakmark").setAttribute("visibility", leak ? "visible" : "hidden");
      document.getElementById("flow").setAttribute("stroke", leak ? "#d23b3b" : "#58b3ff");
      flash(st);
    }
  }

  const q = new URLSearchParams({ customer: cfg.customer || "", sensor: cfg.sensor, device: cfg.device });
  fetch("/api/v1/latest?" + q.toString()).then((r) => (r.ok ? r.json() : null)).then((r) => { if (r) show(r); });

  function connect() {
    const es = new EventSource("/api/v1/stream?" + q.toString());
    es.onopen = () => { badge.className = "badge live"; badge.textContent = "live"; };
    es.onerror = () => { badge.className = "badge lost"; badge.textContent = "connection lost, reconnecting…"; };
    es.addEventListener("reading", (e) => show(JSON.parse(e.data)));
    es.addEventListener("dropped", () => { es.close(); setTimeout(connect, 1000); });
  }
  connect();
})();
