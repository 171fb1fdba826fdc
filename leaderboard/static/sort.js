// Sortable tables, as progressive enhancement: without JS the tables keep their ranked order.
// Each header of a table.sortable becomes a button; cells sort by data-sort, else by their text.
"use strict";
document.querySelectorAll("table.sortable").forEach((table) => {
  const heads = Array.from(table.tHead.rows[0].cells);
  const value = (row, col) => {
    const cell = row.cells[col];
    const raw = cell.dataset.sort ?? cell.textContent.trim();
    const number = Number(raw);
    return raw !== "" && !Number.isNaN(number) ? number : raw.toLowerCase();
  };
  heads.forEach((th, col) => {
    if ("nosort" in th.dataset) return;
    const button = document.createElement("button");
    const label = document.createElement("span");
    button.type = "button";
    button.className = "sort";
    label.append(...th.childNodes);
    button.append(label);
    th.append(button);
    button.addEventListener("click", () => {
      const ascending = th.getAttribute("aria-sort") !== "ascending";
      heads.forEach((h) => h.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      const rows = Array.from(table.tBodies[0].rows);
      rows.sort((a, b) => {
        const x = value(a, col), y = value(b, col);
        const order = typeof x === "number" && typeof y === "number"
          ? (x === y ? 0 : x < y ? -1 : 1)
          : String(x).localeCompare(String(y));
        return ascending ? order : -order;
      });
      table.tBodies[0].append(...rows);
    });
  });
});

// Legends toggle their lines, also progressive enhancement: without JS every line is drawn.
// A legend item hides (or shows again) the series of that label in the charts of its section.
document.querySelectorAll("ul.legend li[data-label]").forEach((item) => {
  const section = item.closest("section") ?? document;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "toggle";
  button.setAttribute("aria-pressed", "true");
  button.append(...item.childNodes);
  item.append(button);
  button.addEventListener("click", () => {
    const shown = button.getAttribute("aria-pressed") !== "true";
    button.setAttribute("aria-pressed", String(shown));
    section.querySelectorAll("svg g.series").forEach((g) => {
      if (g.dataset.label === item.dataset.label) g.classList.toggle("hidden", !shown);
    });
  });
});
