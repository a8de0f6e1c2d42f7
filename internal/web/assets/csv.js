// sensorhub CSV: the cells of a CSV file the pages make, quoted as RFC 4180
// says and neutralised as the server's CSV is (internal/csvsafe): a text
// cell that a spreadsheet would run as a formula gets a leading '; a plain
// number stays a number.
window.sensorhubCSV = (function () {
  "use strict";
  const plainNumber = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
  function cell(v) {
    let s = v === undefined || v === null ? "" : String(v);
    if (s !== "" && "=+-@\t\r".includes(s[0]) && !plainNumber.test(s)) s = "'" + s;
    if (/[",\n\r]/.test(s)) s = '"' + s.replace(/"/g, '""') + '"';
    return s;
  }
  return { cell, line: (cells) => cells.map(cell).join(",") };
})();
