"use strict";
// The review's numbers as tables; every value is set with textContent.

function fill(table, rows) {
  if (!rows.length) {
    table.replaceChildren();
    const caption = table.createCaption();
    caption.textContent = "none yet";
    return;
  }
  const head = table.createTHead().insertRow();
  for (const column of Object.keys(rows[0])) {
    const cell = document.createElement("th");
    cell.textContent = shown(column);
    head.append(cell);
  }
  const body = table.createTBody();
  for (const row of rows) {
    const line = body.insertRow();
    for (const value of Object.values(row)) {
      line.insertCell().textContent =
        typeof value === "number" && !Number.isInteger(value) ? value.toFixed(3) : shown(value ?? "–");
    }
  }
}

async function start() {
  try {
    const summary = await call("/api/summary");
    fill($("stats"), Object.entries(summary.stats).map(([measure, value]) => ({ measure, value })));
    fill($("per-label"), summary.per_label);
    fill($("agreement"), summary.agreement);
  } catch (error) {
    $("status").textContent = `Could not load the summary: ${error.message}`;
  }
}

start();
