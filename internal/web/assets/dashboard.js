// sensorhub dashboard: draws the panels of one sensor kind for one device
// from /api/v1/series and /api/v1/latest, and keeps them live from the
// /api/v1/stream Server-Sent Events while the range ends now.
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("config").textContent);
  const zone = cfg.zone;
  // Dates and numbers as the server writes them (assets/locale.js); a
  // chart's axis, short of room, gives the day's date or the time of day.
  const L = window.sensorhubLocale;
  const fmtTime = { format: L.dateTime };
  const fmtDay = { format: L.date };
  const fmtShort = { format: (t) => L.date(t) + " " + L.time(t).replace(/:\d\d( |$)/, "$1") }; // no seconds
  const fmtNumber = { format: (v) => L.number(v, 0) };
  const fmtCost = { format: (v) => L.number(v, 2) };
  // The quick ranges come from the server ("1h", "24h", "7d", "30d").
  const rangeMs = {};
  const rangeText = {};
  for (const r of cfg.ranges) {
    const n = parseInt(r, 10);
    const days = r.endsWith("d");
    rangeMs[r] = n * (days ? 86400e3 : 3600e3);
    rangeText[r] = "the last " + n + (days ? " days" : " h");
  }
  const colors = ["#0b6bcb", "#e07b00", "#1a9b5b", "#8a4bd6", "#d23b3b", "#00a3a3"];
  const charts = {};
  const panelData = {};
  let es = null;

  // The selection lives in the URL so that a view can be shared.
  const params = new URLSearchParams(location.search);
  const state = {
    device: params.get("device") || cfg.device,
    customer: params.get("customer") || cfg.customer,
    range: params.get("range") || (params.get("from") ? "custom" : "24h"),
    from: params.get("from"),
    to: params.get("to"),
  };

  function window_() {
    if (state.range === "custom" && state.from) {
      const from = new Date(state.from).getTime();
      const to = state.to ? new Date(state.to).getTime() : Date.now();
      return { from, to, live: !state.to, text: "from " + fmtTime.format(from) + " to " + fmtTime.format(to) };
    }
    const ms = rangeMs[state.range] || rangeMs["24h"];
    const to = Date.now();
    return { from: to - ms, to, live: true, text: rangeText[state.range] || rangeText["24h"] };
  }

  function api(path, q) {
    const u = new URLSearchParams(q);
    return fetch(path + "?" + u.toString()).then(async (r) => {
      if (r.status === 404) return null;
      if (!r.ok) throw new Error((await r.json().catch(() => ({}))).error || r.statusText);
      return r.json();
    });
  }

  function series(field, w, step, agg) {
    return seriesOf(field, w, step, agg, false).then(pointsOf);
  }

  // seriesOf is the whole answer of the series API; with cost, the kWh
  // of each bucket come with their cost and CO2 when the customer has
  // prices (currency is then set).
  function seriesOf(field, w, step, agg, cost) {
    const q = { customer: state.customer, sensor: cfg.sensor, device: state.device, field, from: new Date(w.from).toISOString(), to: new Date(w.to).toISOString() };
    if (step) q.step = step;
    if (agg) q.agg = agg;
    if (cost) q.cost = "1";
    return api("/api/v1/series", q);
  }

  // pointsOf is the points of a series answer, with the step that
  // answered and the estimated part of the buckets that hold one (a
  // counter's increase across a gap).
  function pointsOf(s) {
    const pts = s ? s.points : [];
    pts.step = (s && s.step) || "";
    pts.estimated = new Map(((s && s.estimated) || []).map((e) => [e[0], e[1]]));
    return pts;
  }

  // stepMs is a step's length in milliseconds ("15m", "1h", "1d"); 0 for
  // raw points.
  function stepMs(step) {
    const m = /^(\d+)(d|h|m|s)$/.exec(step || "");
    return m ? Number(m[1]) * { d: 86400000, h: 3600000, m: 60000, s: 1000 }[m[2]] : 0;
  }

  // withGaps puts a null between two buckets further apart than a step
  // and a half (a day of 25 hours is one step), so that a line stops
  // where no reading tells of a bucket instead of joining across it.
  function withGaps(pts, ms) {
    if (!ms) return pts;
    const out = [];
    pts.forEach((pt, k) => {
      if (k > 0 && pt[0] - pts[k - 1][0] > 1.5 * ms) out.push([pts[k - 1][0] + ms, null]);
      out.push(pt);
    });
    return out;
  }

  // everyBucket adds the buckets without data between those with some, so
  // that a day without readings is an empty place in the bars, not left
  // out of the axis.
  function everyBucket(times, step) {
    const ms = stepMs(step);
    if (!ms || times.length === 0) return times;
    const days = step.endsWith("d") ? Number(step.slice(0, -1)) : 0;
    const next = (t) => {
      if (!days) return t + ms;
      const d = new Date(t);
      d.setDate(d.getDate() + days);
      return d.getTime();
    };
    const out = [times[0]];
    for (let k = 1; k < times.length; k++) {
      // A few hours of slack for days of 23 or 25 hours.
      for (let t = next(out[out.length - 1]); t < times[k] - 3 * 3600000 && out.length < 5000; t = next(t)) out.push(t);
      out.push(times[k]);
    }
    return out;
  }

  function latest() {
    return api("/api/v1/latest", { customer: state.customer, sensor: cfg.sensor, device: state.device });
  }

  function body(i) { return document.querySelector('[data-panel="' + i + '"] .body'); }

  function message(i, text) {
    if (charts[i]) { charts[i].dispose(); delete charts[i]; }
    body(i).innerHTML = "";
    const d = document.createElement("div");
    d.className = "state";
    d.textContent = text;
    body(i).appendChild(d);
  }

  function chartIn(i) {
    if (charts[i]) return charts[i];
    body(i).innerHTML = '<div class="chart" role="img"></div>';
    const el = body(i).firstChild;
    el.setAttribute("aria-label", cfg.panels[i].title);
    charts[i] = echarts.init(el, null, { renderer: "canvas" });
    return charts[i];
  }

  const round = L.value;

  const timeAxis = {
    type: "time",
    axisLabel: { formatter: (v) => fmtShort.format(v).replace(",", ""), hideOverlap: true },
  };

  function tooltip(unit) {
    return {
      trigger: "axis",
      formatter: (ps) => {
        const t = fmtTime.format(ps[0].value[0]);
        return t + "<br>" + ps.map((p) => p.marker + p.seriesName + ": <b>" + (p.value[1] === null ? "no data" : round(p.value[1])) + "</b> " + (unit || "")).join("<br>");
      },
    };
  }

  // belowPeriods finds the spans where a is below b (an air leak).
  function belowPeriods(a, b) {
    const lim = new Map(b.map((p) => [p[0], p[1]]));
    const out = [];
    let start = null;
    let last = null;
    for (const [t, v] of a) {
      const l = lim.has(t) ? lim.get(t) : (last && last.l);
      if (l === undefined || l === null) continue;
      if (v < l && start === null) start = t;
      if (v >= l && start !== null) { out.push([start, t]); start = null; }
      last = { t, l };
    }
    if (start !== null) out.push([start, a[a.length - 1][0]]);
    return out;
  }

  async function drawLine(i, p, w, kind) {
    // The server chooses a step that keeps a chart near 400 points.
    const step = p.step || "auto";
    const agg = p.agg || "";
    // Bars of kWh come with what they cost.
    const priced = kind === "bar" && agg === "increase" && p.unit === "kWh";
    const answers = await Promise.all(p.fields.map((f) => seriesOf(f, w, step, agg, priced)));
    const data = answers.map(pointsOf);
    panelData[i] = { fields: p.fields, rows: data };
    if (data.every((d) => d.length === 0)) return message(i, "No data for device " + state.device + " in " + w.text + ".");
    const ch = chartIn(i);
    if (kind === "bar") return drawBars(ch, p, data, step, priced ? answers : null, i, w);
    const s = p.fields.map((f, k) => {
      const item = { name: f, type: kind, data: withGaps(data[k], stepMs(data[k].step)), connectNulls: false, showSymbol: data[k].length < 60, color: colors[k % colors.length], animation: false };
      if (f === p.threshold) { item.lineStyle = { type: "dashed", width: 2 }; item.color = "#d23b3b"; item.step = "end"; }
      return item;
    });
    if (p.mark_below && p.threshold && p.fields.length > 1) {
      const k = p.fields.indexOf(p.threshold);
      const periods = belowPeriods(data[0], data[k] || []);
      // Name the shaded periods only while few enough to be read.
      s[0].markArea = { silent: true, label: { show: periods.length <= 4 }, itemStyle: { color: "rgba(210,59,59,0.14)" }, data: periods.map(([a, b]) => [{ xAxis: a, name: "leak" }, { xAxis: b }]) };
    }
    ch.setOption({
      grid: { left: 50, right: 16, top: 30, bottom: 28 },
      legend: { show: p.fields.length > 1, top: 0 },
      xAxis: timeAxis,
      yAxis: { type: "value", scale: true, name: p.unit || "" },
      tooltip: tooltip(p.unit),
      series: s,
    }, true);
  }

  // drawBars draws one bar per bucket over a category axis: each bar
  // stands over its own label (the day of a daily bucket), however few
  // buckets the range holds.
  function drawBars(ch, p, data, step, answers, i, w) {
    const answered = (data[0] && data[0].step) || step;
    const times = everyBucket([...new Set(data.flat().map((pt) => pt[0]))].sort((a, b) => a - b), answered);
    const label = (t) => (answered.endsWith("d") ? fmtDay.format(t) : fmtShort.format(t).replace(",", ""));
    const labels = times.map(label);
    // Per field, its value a bucket (null: no data) and the part of it
    // that is estimated (energy spread over a time without readings),
    // drawn paler on top of the measured part.
    const values = data.map((d) => { const m = new Map(d.map((pt) => [pt[0], pt[1]])); return times.map((t) => (m.has(t) ? m.get(t) : null)); });
    const parts = data.map((d, k) => times.map((t, j) => (values[k][j] === null ? null : d.estimated.get(t) || 0)));
    const s = [];
    p.fields.forEach((f, k) => {
      const color = colors[k % colors.length];
      const estimated = parts[k].some((v) => v);
      s.push({ name: f, type: "bar", stack: f, barMaxWidth: 40, color, animation: false, data: values[k].map((v, j) => (v === null ? null : v - parts[k][j])) });
      if (estimated) s.push({ name: f + " estimated", type: "bar", stack: f, barMaxWidth: 40, color, itemStyle: { opacity: 0.4 }, animation: false, data: parts[k].map((v) => v || null) });
    });
    const line = (k, j) => {
      const v = values[k][j];
      const est = parts[k][j] ? " (" + round(parts[k][j]) + " estimated: no reading)" : "";
      return p.fields[k] + ": <b>" + (v === null ? "no data" : round(v)) + "</b> " + (p.unit || "") + est;
    };
    ch.setOption({
      grid: { left: 50, right: 16, top: 30, bottom: 28 },
      legend: { show: s.length > 1, top: 0 },
      xAxis: { type: "category", data: labels, axisTick: { alignWithLabel: true } },
      yAxis: { type: "value", name: p.unit || "" },
      tooltip: {
        trigger: "axis",
        formatter: (ps) => ps[0].name + "<br>" + ps.filter((x) => !x.seriesName.endsWith(" estimated")).map((x) => {
          const k = p.fields.indexOf(x.seriesName);
          return x.marker + line(k, x.dataIndex) + (values[k][x.dataIndex] === null ? "" : costOf(answers && answers[k], times[x.dataIndex]));
        }).join("<br>"),
      },
      series: s,
    }, true);
    summary(i, answers, w);
  }

  // costOf is the cost and CO2 of the bucket at t of a priced answer, as
  // the tooltip gives them; "" without prices.
  function costOf(a, t) {
    if (!a || !a.currency) return "";
    const c = a.cost.find((pt) => pt[0] === t);
    const co2 = (a.co2_kg || []).find((pt) => pt[0] === t);
    return (c ? ", " + fmtMoney(c[1], a.currency) : "") + (co2 ? ", " + fmtNumber.format(Math.round(co2[1])) + " kg CO2" : "");
  }

  function fmtMoney(v, currency) { return fmtCost.format(v) + " " + currency; }

  // summary says under a panel of priced kWh what the range cost:
  // "the last 7 days: 1 234 kWh, 308.50 EUR, 197 kg CO2".
  function summary(i, answers, w) {
    const old = body(i).querySelector(".summary");
    if (old) old.remove();
    const priced = (answers || []).filter((a) => a && a.currency);
    if (priced.length === 0) return;
    const kwh = priced.reduce((n, a) => n + a.total.kwh, 0);
    const cost = priced.reduce((n, a) => n + a.total.cost, 0);
    const co2 = priced.every((a) => a.total.co2_kg !== undefined) ? priced.reduce((n, a) => n + a.total.co2_kg, 0) : null;
    const p = document.createElement("p");
    p.className = "summary";
    p.textContent = w.text.charAt(0).toUpperCase() + w.text.slice(1) + ": " + fmtNumber.format(Math.round(kwh)) + " kWh, " + fmtMoney(cost, priced[0].currency) +
      (co2 === null ? "" : ", " + fmtNumber.format(Math.round(co2)) + " kg CO2") + (priced.some((a) => a.cost_note) ? " (" + priced.find((a) => a.cost_note).cost_note + ")" : "");
    body(i).appendChild(p);
  }

  async function drawLatest(i, p, w, r) {
    r = r || (await latest());
    if (!r || p.fields.every((f) => r.fields[f] === undefined)) return message(i, "No data for device " + state.device + " yet.");
    panelData[i] = { fields: p.fields, rows: p.fields.map((f) => [[new Date(r.time).getTime(), r.fields[f]]]) };
    const v = r.fields[p.fields[0]];
    if (p.type === "stat") {
      if (charts[i]) { charts[i].dispose(); delete charts[i]; }
      const age = Math.max(0, Math.round((Date.now() - new Date(r.received || r.time).getTime()) / 1000));
      body(i).innerHTML = "";
      const big = document.createElement("div");
      big.className = "stat";
      big.textContent = round(v) + " ";
      const u = document.createElement("small");
      u.textContent = p.unit || (r.units && r.units[p.fields[0]]) || "";
      big.appendChild(u);
      const a = document.createElement("div");
      a.className = "age";
      a.dataset.time = r.received || r.time;
      a.textContent = "at " + fmtTime.format(new Date(r.time)) + " · " + age + " s ago";
      body(i).append(big, a);
      return;
    }
    const ch = chartIn(i);
    if (p.type === "gauge") {
      const lim = p.threshold ? r.fields[p.threshold] : undefined;
      const max = p.max || Math.max(v * 1.5, 1);
      const min = p.min || 0;
      const stops = lim === undefined ? [[1, "#1a9b5b"]] : [[(lim - min) / (max - min), "#d23b3b"], [1, "#1a9b5b"]];
      ch.setOption({
        series: [{
          type: "gauge", min, max, animation: false, radius: "95%",
          axisLine: { lineStyle: { width: 16, color: stops } },
          pointer: { width: 5 }, detail: { formatter: (x) => round(x) + " " + (p.unit || ""), fontSize: 22, offsetCenter: [0, "65%"] },
          title: { offsetCenter: [0, "88%"], fontSize: 12, color: "#5f6f80" },
          data: [{ value: v, name: lim === undefined ? "" : p.threshold + " " + round(lim) + " " + (p.unit || "") }],
        }],
      }, true);
    } else if (p.type === "pie") {
      ch.setOption({
        tooltip: { trigger: "item", formatter: (x) => x.name + ": " + round(x.value) + " " + (p.unit || "") + " (" + x.percent + "%)" },
        legend: { bottom: 0 },
        series: [{ type: "pie", radius: ["35%", "70%"], animation: false, data: p.fields.filter((f) => r.fields[f] !== undefined).map((f) => ({ name: f, value: r.fields[f] })) }],
      }, true);
    }
  }

  function table(i, head, rows) {
    if (charts[i]) { charts[i].dispose(); delete charts[i]; }
    const t = document.createElement("table");
    const tr = document.createElement("tr");
    head.forEach((h, k) => { const th = document.createElement("th"); th.textContent = h; if (k) th.className = "num"; tr.appendChild(th); });
    const thead = document.createElement("thead");
    thead.appendChild(tr);
    const tb = document.createElement("tbody");
    rows.forEach((r) => {
      const row = document.createElement("tr");
      r.forEach((c, k) => { const td = document.createElement("td"); td.textContent = c; if (k) td.className = "num"; row.appendChild(td); });
      tb.appendChild(row);
    });
    t.append(thead, tb);
    body(i).innerHTML = "";
    body(i).appendChild(t);
  }

  // figure writes a leak figure, which the server sends as null when it
  // cannot be measured.
  function figure(v, digits, unit) {
    return v === null || v === undefined ? "not measurable" : L.number(v, digits) + (unit ? " " + unit : "");
  }

  // leakMethod says how the figures are computed, with the installation
  // figures used.
  function leakMethod(rep) {
    const pr = rep.params;
    const price = pr.cost_per_nm3 + (rep.currency ? " " + rep.currency : "") + " per Nm³";
    if (rep.method === "flow") {
      const idle = (pr.idle || []).map((x) => x.days.join(", ") + (x.from ? " " + x.from + "–" + x.to : "")).join("; ");
      return "Measured by flow: the leak flow is the mean air flow (" + pr.flow + ", " + pr.flow_unit + ") of " + (rep.idle_readings || 0) +
        " readings in the non-production hours (" + idle + "), when only leaks use air; leaks run always, so the air lost is that flow x the whole time, priced at " + price + ".";
    }
    return "Measured by pressure decay: while the line is below its opening pressure, air lost = volume (" + pr.volume_l + " l) x pressure drop / atmospheric pressure (" +
      pr.atmospheric_bar + " bar), priced at " + price + ".";
  }

  function note(i, text) {
    const n = document.createElement("p");
    n.className = "age";
    n.textContent = text;
    body(i).appendChild(n);
  }

  // drawLeaks shows the leaks per day from the server: how many, how
  // long below the opening pressure, the air lost and what it costs.
  async function drawLeaks(i, w) {
    const rep = await api("/api/v1/leaks", { customer: state.customer, sensor: cfg.sensor, device: state.device, from: new Date(w.from).toISOString(), to: new Date(w.to).toISOString() });
    if (!rep) return message(i, "No leak settings for " + (cfg.title || cfg.sensor) + ".");
    panelData[i] = { fields: ["leaks", "seconds below opening pressure", "lost Nm3", "cost"], rows: ["leaks", "seconds", "lost_nm3", "cost"].map((k) => rep.days.map((d) => [new Date(d.start).getTime(), d[k]])) };
    if (rep.days.length === 0) return message(i, "Not measurable for device " + state.device + " in " + w.text + ": " + rep.reason + ".");
    const rows = rep.days.slice().reverse().map((d) => [fmtDay.format(new Date(d.start)), String(d.leaks), L.number(d.seconds / 60, 1) + " min",
      figure(d.lost_nm3, 3, "Nm³"), figure(d.flow_nl_min, 0, "Nl/min"), figure(d.cost, 2), d.reason || ""]);
    table(i, ["Day", "Leaks", "Below opening pressure", "Air lost", "Leak flow", "Cost", "Note"], rows);
    const cur = rep.currency ? " " + rep.currency : "";
    if (rep.lost_nm3 === null) {
      note(i, "Air lost not measurable over " + w.text + ": " + rep.reason + ".");
    } else {
      let year = "";
      if (rep.cost_per_year !== null && rep.year) {
        year = "; a year: " + L.number(rep.cost_per_year, 0) + cur + " (the mean cost per day over the " + L.number(rep.year.days, 1) + " days measured, " + rep.year.first + " to " + rep.year.last + ", x 365)";
      }
      note(i, "Air lost " + L.number(rep.lost_nm3, 3) + " Nm³, cost " + L.number(rep.cost, 2) + cur + " over " + w.text + year + ".");
    }
    note(i, leakMethod(rep) + " Opening pressure: the pressure at which the line's valve opens; below it, the line is losing air. " +
      "Nm³ are normal cubic metres (air at 1.01325 bar and 0 °C), Nl/min normal litres per minute.");
  }

  // drawCompressors shows the specific power of the compressors whose
  // meters are of this kind, over the range: energy over air delivered.
  async function drawCompressors(w) {
    const sec = document.getElementById("compressors");
    if (!sec || !state.customer) return;
    const list = await api("/api/v1/compressors", { customer: state.customer, sensor: cfg.sensor, from: new Date(w.from).toISOString(), to: new Date(w.to).toISOString() }).catch(() => null);
    if (!list || list.length === 0) { sec.hidden = true; return; }
    sec.hidden = false;
    const b = sec.querySelector(".body");
    b.innerHTML = "";
    const t = document.createElement("table");
    const head = document.createElement("tr");
    ["Compressor", "Energy", "Air delivered", "Specific power"].forEach((h) => { const th = document.createElement("th"); th.textContent = h; head.appendChild(th); });
    t.appendChild(head);
    list.forEach((c) => {
      const tr = document.createElement("tr");
      const sp = c.period.kw_per_nm3_min;
      [c.name, L.number(c.period.kwh, 1) + " kWh", L.number(c.period.nm3, 1) + " Nm³", sp === null ? "not known: " + c.reason : L.number(sp, 2) + " kW per Nm³/min"].forEach((v, k) => {
        const td = document.createElement("td"); td.textContent = v; if (k) td.className = "num"; tr.appendChild(td);
      });
      t.appendChild(tr);
    });
    b.appendChild(t);
    const n = document.createElement("p");
    n.className = "age";
    n.textContent = "Over " + w.text + ": the compressor's energy (kWh) over the air it delivered (Nm³) x 60, over the hours both its power meter and its flow meter read; kW per Nm³/min as compressor makers publish it (ISO 1217); lower is better.";
    b.appendChild(n);
  }

  async function drawTable(i, p, w) {
    const step = p.step || "1d";
    if (p.mark_below && p.threshold) return drawLeaks(i, w);
    // One column per field and aggregation, one row per bucket.
    const aggs = p.aggs && p.aggs.length ? p.aggs : [p.agg || "avg"];
    const cols = p.fields.flatMap((f) => aggs.map((a) => [f, a]));
    const data = await Promise.all(cols.map(([f, a]) => series(f, w, step, a)));
    panelData[i] = { fields: cols.map(([f, a]) => f + " " + a), rows: data };
    const times = [...new Set(data.flat().map((pt) => pt[0]))].sort((a, b) => b - a);
    if (times.length === 0) return message(i, "No data for device " + state.device + " in " + w.text + ".");
    const maps = data.map((d) => new Map(d.map((pt) => [pt[0], pt[1]])));
    const rows = times.map((t) => [step.endsWith("d") ? fmtDay.format(t) : fmtTime.format(t)].concat(maps.map((m) => (m.has(t) ? String(round(m.get(t))) : ""))));
    table(i, ["Time"].concat(cols.map(([f, a]) => (p.fields.length > 1 ? f + " " : "") + a)), rows);
  }

  function drawPanel(i, w, r) {
    const p = cfg.panels[i];
    let job;
    if (p.type === "line" || p.type === "bar") job = drawLine(i, p, w, p.type);
    else if (p.type === "table") job = drawTable(i, p, w);
    else job = drawLatest(i, p, w, r);
    return job.catch((e) => message(i, "Could not load: " + e.message));
  }

  function drawAll() {
    const w = window_();
    if (!state.device) {
      cfg.panels.forEach((_, i) => message(i, "No " + (cfg.title || cfg.sensor) + " device has sent anything yet."));
      return;
    }
    cfg.panels.forEach((_, i) => { if (!charts[i]) message(i, "Loading…"); drawPanel(i, w); });
    drawCompressors(w);
  }

  // Live updates: latest-value panels change at once, charts are redrawn
  // at most every 2 s.
  let redraw = null;
  function onReading(r) {
    const w = window_();
    cfg.panels.forEach((p, i) => { if (p.type === "stat" || p.type === "gauge" || p.type === "pie") drawPanel(i, w, r); });
    if (!redraw) redraw = setTimeout(() => {
      redraw = null;
      const w = window_();
      cfg.panels.forEach((p, i) => { if (p.type === "line" || p.type === "bar" || p.type === "table") drawPanel(i, w); });
    }, 2000);
  }

  const badge = document.getElementById("live");
  function setBadge(cls, text) { badge.className = "badge " + cls; badge.textContent = text; }

  function connect() {
    if (es) { es.close(); es = null; }
    const w = window_();
    if (!w.live || !state.device) { setBadge("", "paused (the range does not end now)"); return; }
    const q = new URLSearchParams({ customer: state.customer, sensor: cfg.sensor, device: state.device });
    es = new EventSource("/api/v1/stream?" + q.toString());
    es.onopen = () => setBadge("live", "live");
    es.onerror = () => setBadge("lost", "connection lost, reconnecting…");
    es.addEventListener("reading", (e) => onReading(JSON.parse(e.data)));
    es.addEventListener("dropped", () => { es.close(); setTimeout(connect, 1000); });
  }

  function pushURL() {
    const q = new URLSearchParams({ device: state.device || "", customer: state.customer || "" });
    if (state.range === "custom") { if (state.from) q.set("from", state.from); if (state.to) q.set("to", state.to); }
    else q.set("range", state.range);
    history.replaceState(null, "", location.pathname + "?" + q.toString());
    document.querySelectorAll(".ranges a").forEach((a) => a.classList.toggle("active", a.dataset.range === state.range));
  }

  function localInput(ms) {
    // datetime-local wants the wall time; show it in the configured zone.
    const parts = Object.fromEntries(new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false }).formatToParts(ms).map((x) => [x.type, x.value]));
    return parts.year + "-" + parts.month + "-" + parts.day + "T" + (parts.hour === "24" ? "00" : parts.hour) + ":" + parts.minute;
  }

  function fromInput(v) {
    // Read a wall time of the configured zone as an instant.
    if (!v) return null;
    const guess = new Date(v + "Z").getTime();
    const shown = new Date(localInput(guess) + "Z").getTime();
    return new Date(guess - (shown - guess)).toISOString();
  }

  function apply() {
    pushURL();
    const w = window_();
    document.getElementById("from").value = localInput(w.from);
    document.getElementById("to").value = localInput(w.to);
    cfg.panels.forEach((_, i) => message(i, "Loading…"));
    drawAll();
    connect();
  }

  document.querySelectorAll(".ranges a").forEach((a) => a.addEventListener("click", (e) => {
    e.preventDefault();
    state.range = a.dataset.range; state.from = null; state.to = null;
    apply();
  }));
  document.getElementById("apply").addEventListener("click", () => {
    state.range = "custom";
    state.from = fromInput(document.getElementById("from").value);
    state.to = fromInput(document.getElementById("to").value);
    apply();
  });
  // The device picker: as one types, the server suggests at most 20 of
  // this kind's devices (/api/v1/devices?q=); the page never lists them all.
  const picker = document.getElementById("device");
  const suggestions = document.getElementById("device-list");
  const deviceName = document.getElementById("device-name");
  let found = [];
  let typing = null;
  function suggest() {
    clearTimeout(typing);
    typing = setTimeout(async () => {
      const q = picker.value.trim();
      const devs = await api("/api/v1/devices", { sensor: cfg.sensor, q, limit: 20 }).catch(() => null);
      if (!devs || picker.value.trim() !== q) return;
      found = devs;
      suggestions.replaceChildren(...devs.map((d) => {
        const o = document.createElement("option");
        o.value = d.device;
        o.label = (d.name ? d.name + " · " : "") + d.customer;
        return o;
      }));
      if (devs.some((d) => d.device === q)) pick();
    }, 150);
  }
  async function pick() {
    const id = picker.value.trim();
    if (!id || id === state.device) return;
    let d = found.find((x) => x.device === id);
    if (!d) {
      const exact = await api("/api/v1/devices", { sensor: cfg.sensor, device: id, limit: 1 }).catch(() => null);
      d = exact && exact[0];
    }
    if (!d) { deviceName.textContent = "no " + (cfg.title || cfg.sensor) + " device " + id; return; }
    state.device = d.device; state.customer = d.customer;
    deviceName.textContent = (d.name ? d.name + " · " : "") + d.customer;
    const q = new URLSearchParams({ state: "all", sensor: cfg.sensor, device: state.device, customer: state.customer });
    document.getElementById("device-alerts").href = "/alerts?" + q.toString();
    apply();
  }
  picker.addEventListener("input", suggest);
  picker.addEventListener("focus", suggest);
  picker.addEventListener("change", pick);
  document.querySelectorAll(".csv").forEach((b) => b.addEventListener("click", () => {
    const i = b.closest("[data-panel]").dataset.panel;
    const d = panelData[i];
    if (!d) return;
    const times = [...new Set(d.rows.flat().map((p) => p[0]))].sort((a, b) => a - b);
    const maps = d.rows.map((r) => new Map(r.map((p) => [p[0], p[1]])));
    const CSV = window.sensorhubCSV;
    const unit = cfg.panels[i].unit;
    const rows = [["Time (" + zone + ")"].concat(d.fields.map((f) => (unit ? f + " (" + unit + ")" : f)))];
    for (const t of times) rows.push([L.csvTime(t)].concat(maps.map((m) => (m.has(t) && m.get(t) !== null ? CSV.num(m.get(t)) : ""))));
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([CSV.file(rows)], { type: "text/csv;charset=utf-8" }));
    a.download = cfg.sensor + "-" + state.device + "-" + cfg.panels[i].title.replace(/\W+/g, "-").toLowerCase() + ".csv";
    a.click();
  }));
  // One CSV of this device and the ones named beside it: every field of
  // the panels, a column per device and field, on common time buckets.
  const exportNote = document.getElementById("export-note");
  document.getElementById("export").addEventListener("click", async () => {
    const others = document.getElementById("export-devices").value.split(/[\s,;]+/).filter(Boolean);
    const devices = [...new Set([state.device].concat(others))].filter(Boolean);
    const fields = [...new Set(cfg.panels.flatMap((p) => p.fields || []))];
    const w = window_();
    const q = new URLSearchParams({ customer: state.customer || "", sensor: cfg.sensor, devices: devices.join(","), fields: fields.join(","),
      from: new Date(w.from).toISOString(), to: new Date(w.to).toISOString(), step: "auto", agg: "avg", format: "csv" });
    exportNote.textContent = "";
    const r = await fetch("/api/v1/export?" + q.toString());
    if (!r.ok) {
      exportNote.textContent = "Could not export: " + ((await r.json().catch(() => ({}))).error || r.statusText);
      return;
    }
    const a = document.createElement("a");
    a.href = URL.createObjectURL(await r.blob());
    a.download = cfg.sensor + "-" + devices.join("-") + ".csv";
    a.click();
  });
  setInterval(() => document.querySelectorAll(".age[data-time]").forEach((a) => {
    const s = Math.max(0, Math.round((Date.now() - new Date(a.dataset.time).getTime()) / 1000));
    a.textContent = a.textContent.replace(/· \d+ s ago$/, "· " + s + " s ago");
  }), 1000);
  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));
  apply();
})();
