// sensorhub locale: numbers and dates in the pages' scripts written as the
// server writes them (package locale). The server puts the locale's tag
// in <html lang>, the zone in data-zone, and the Go layouts of its date
// and time in data-date and data-time; the browser's Intl gives the
// numbers and the wall time in the zone, the layouts put them in order.
window.sensorhubLocale = (function () {
  "use strict";
  const root = document.documentElement;
  const lang = root.lang || "en";
  const zone = root.dataset.zone || undefined;
  const datePattern = root.dataset.date || "2006-01-02";
  const timePattern = root.dataset.time || "15:04:05";
  const wall = new Intl.DateTimeFormat("en-US", { timeZone: zone, year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
  const pad = (n) => String(n).padStart(2, "0");

  // fill writes the instant t (ms or Date) with a Go layout's parts.
  function fill(layout, t) {
    const p = {};
    for (const x of wall.formatToParts(new Date(t))) p[x.type] = x.value;
    const h = parseInt(p.hour, 10) % 24, h12 = h % 12 || 12;
    const parts = { "2006": p.year, "01": pad(p.month), "02": pad(p.day), "15": pad(h), "03": pad(h12), "04": p.minute, "05": p.second,
      PM: h < 12 ? "AM" : "PM", "1": String(+p.month), "2": String(+p.day), "3": String(h12) };
    return layout.replace(/2006|15|01|02|03|04|05|PM|1|2|3/g, (k) => parts[k]);
  }

  // Go's x/text writes the French thousands separator as a no-break space
  // (U+00A0); recent browsers write a narrow one (U+202F).
  const same = (s) => s.replace(/\u202f/g, "\u00a0");
  const fixed = {};
  function number(v, decimals) {
    const f = fixed[decimals] || (fixed[decimals] = new Intl.NumberFormat(lang, { minimumFractionDigits: decimals, maximumFractionDigits: decimals }));
    return same(f.format(v));
  }
  const shown = new Intl.NumberFormat(lang, { maximumFractionDigits: 3 });
  const decimalComma = number(1.5, 1).includes(",");

  return {
    lang,
    zone,
    number,
    // value writes a reading's value as the dashboard shows it: at most
    // three decimals.
    value: (v) => same(shown.format(v)),
    date: (t) => fill(datePattern, t),
    time: (t) => fill(timePattern, t),
    dateTime: (t) => fill(datePattern, t) + " " + fill(timePattern, t),
    // csvTime writes t as spreadsheets read a time, in the zone.
    csvTime: (t) => fill("2006-01-02 15:04:05", t),
    // The CSV separator and decimal mark of the locale, as the server's.
    csv: { sep: decimalComma ? ";" : ",", decimalComma },
  };
})();
