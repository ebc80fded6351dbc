// Live tables of the SVI 34 00 console: every table with a data-source is refilled from that JSON
// address every data-refresh seconds. Cells are set with textContent: nothing from the server is
// ever parsed as HTML.
"use strict";

(function () {
  function text(value, column) {
    if (value === null || value === undefined) return "—";
    if (column === "seconds") return Math.round(value) + " s";
    if (column.endsWith("_s")) return value + " s";
    if (typeof value === "object") {
      const parts = Object.entries(value).map(([k, v]) => k + " = " + v);
      return parts.length ? parts.join(", ") : "—";
    }
    return String(value);
  }

  function status(table, message, stale) {
    const note = document.querySelector(".live-status[data-for='" + table.id + "']");
    if (!note) return;
    note.textContent = message;
    note.classList.toggle("stale", stale);
  }

  async function refresh(table) {
    const columns = table.dataset.columns.split(",");
    try {
      const response = await fetch(table.dataset.source, {headers: {Accept: "application/json"},
                                                          credentials: "same-origin", cache: "no-store"});
      if (!response.ok) throw new Error("HTTP " + response.status);
      const rows = (await response.json())[table.dataset.key] || [];
      const body = document.createElement("tbody");
      for (const row of rows) {
        const tr = body.insertRow();
        for (const column of columns) tr.insertCell().textContent = text(row[column], column);
      }
      if (!rows.length) {
        const cell = body.insertRow().insertCell();
        cell.colSpan = columns.length;
        cell.textContent = table.id === "live-calls" ? "aucun appel en cours" : "aucune donnée";
        cell.parentElement.className = "empty";
      }
      table.tBodies[0].replaceWith(body);
      status(table, "actualisé à " + new Date().toLocaleTimeString("fr-FR") + " · " + rows.length + " ligne(s)", false);
    } catch (error) {
      status(table, "pas de mise à jour (" + error.message + ") : nouvel essai dans " + table.dataset.refresh + " s", true);
    }
  }

  for (const table of document.querySelectorAll("table[data-source]")) {
    const seconds = Math.max(1, Number(table.dataset.refresh) || 2);
    refresh(table);
    setInterval(() => refresh(table), seconds * 1000);
  }
})();
