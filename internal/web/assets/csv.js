// sensorhub CSV: the CSV files the pages make, as the server makes its own
// (internal/csvsafe, internal/locale): a UTF-8 BOM so that Excel reads °C
// and Nm³, the locale's separator, cells quoted as RFC 4180 says and
// neutralised: a text cell that a spreadsheet would run as a formula gets
// a leading '; a plain number, with a decimal point or comma, stays a
// number.
window.sensorhubCSV = (function () {
  "use strict";
  const plainNumber = /^[+-]?(\d+[.,]?\d*|[.,]\d+)([eE][+-]?\d+)?$/;
  const L = window.sensorhubLocale;
  const sep = L ? L.csv.sep : ",";
  function cell(v) {
    let s = v === undefined || v === null ? "" : String(v);
    if (s !== "" && "=+-@\t\r".includes(s[0]) && !plainNumber.test(s)) s = "'" + s;
    if (s.includes(sep) || /["\n\r]/.test(s)) s = '"' + s.replace(/"/g, '""') + '"';
    return s;
  }
  // num writes a value for the CSV: at most three decimals as the
  // dashboard shows it, no grouping, the locale's decimal mark.
  function num(v) {
    const s = String(Math.round(v * 1000) / 1000);
    return L && L.csv.decimalComma ? s.replace(".", ",") : s;
  }
  function line(cells) { return cells.map(cell).join(sep); }
  // file is a CSV file's text from its rows.
  function file(rows) { return "\ufeff" + rows.map(line).join("\n") + "\n"; }
  return { cell, num, line, file, sep };
})();
