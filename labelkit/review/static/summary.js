"use strict";
// The review's numbers as tables; every value is set with textContent.

// A measure's name in words (trial 61b: a screen reader read "errors underscore found").
function words(name) { return name.replaceAll("_", " "); }

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
    cell.textContent = shown(words(column));
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
    fill($("stats"), Object.entries(summary.stats).map(([measure, value]) => ({ measure: words(measure), value })));
    fill($("per-label"), summary.per_label);
    fill($("agreement"), summary.agreement);
  } catch (error) {
    $("status").textContent = `Could not load the summary: ${error.message}`;
  }
}

// The downloads go through fetch: a plain link would not carry the token.
async function download(event) {
  event.preventDefault();
  const link = event.currentTarget;
  try {
    const response = await fetchWithToken(link.getAttribute("href"));
    if (!response.ok) {
      const answer = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
      throw new Error(answer.error || `HTTP ${response.status}`);
    }
    const saved = document.createElement("a");
    saved.href = URL.createObjectURL(await response.blob());
    saved.download = link.getAttribute("download");
    saved.click();
    URL.revokeObjectURL(saved.href);
  } catch (error) {
    $("status").textContent = `Could not download the cleaned set: ${error.message}`;
  }
}

for (const link of document.querySelectorAll("a[download]")) link.addEventListener("click", download);
start();
