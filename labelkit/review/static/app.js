"use strict";
// One flagged example at a time; on a task with attributes, one attribute at a time.
// Example text, labels and attribute names are only ever set with textContent.
const $ = (id) => document.getElementById(id);
const state = {
  labels: [], attributes: [], attribute: null, nextAttribute: null,
  item: null, shownAt: 0, busy: false,
};

async function call(path, body) {
  const options = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  const response = await fetch(path, { credentials: "same-origin", ...options });
  const answer = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
  return answer;
}

function reviewer() { return $("reviewer").value.trim(); }
function focus() { return $("focus").value; }
function say(message) { $("status").textContent = message; }

function showProgress(progress) {
  if (!progress) return;
  // In focus mode the counts cover the items asking about that label only; in a pass
  // over one attribute, that attribute's items.
  $("progress").textContent = (state.attribute ? `${state.attribute}: ` : "") +
    (focus() ? `${focus()} items: ` : "") +
    `${progress.reviewed} done · ${progress.remaining} remaining · ` +
    `${progress.errors_found} errors found`;
  const parts = (progress.attributes || []).map((counts) => {
    const part = document.createElement(counts.attribute === state.attribute ? "strong" : "span");
    part.textContent = `${counts.attribute} ${counts.reviewed}/${counts.queued}`;
    return part;
  });
  $("by-attribute").replaceChildren(...parts.flatMap((part, i) => (i ? [" · ", part] : [part])));
}

function highlighted(text, spans) {
  // Spans count code points (Python's string indices), so slice code points too.
  const chars = Array.from(text);
  const fragment = document.createDocumentFragment();
  let cursor = 0;
  for (const span of spans) {
    if (span.start < cursor) continue;
    fragment.append(chars.slice(cursor, span.start).join(""));
    const mark = document.createElement("mark");
    mark.textContent = chars.slice(span.start, span.end).join("");
    mark.title = `${span.source} → ${span.label}`;
    mark.className = `label-${state.item.choices.indexOf(span.label) % 6}`;
    fragment.append(mark);
    cursor = span.end;
  }
  fragment.append(chars.slice(cursor).join(""));
  return fragment;
}

function button(text, key, onClick, primary = false) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = `${text} (${key})`;
  element.dataset.key = key;
  if (primary) element.className = "primary";
  element.addEventListener("click", onClick);
  return element;
}

function render(item, notice = "") {
  state.item = item;
  $("card").hidden = item === null;
  if (item === null) {
    say(focus() ? `Nothing left suggested as ${focus()}.` : "The queue is empty. Thank you!");
    return;
  }
  say(notice);
  // One question about one candidate, worded by the server as in the terminal.
  $("question").textContent = item.question;
  $("text").replaceChildren(highlighted(item.text, item.spans));
  $("reasons").textContent = item.reasons;
  $("votes").textContent = Object.entries(item.votes)
    .map(([source, label]) => `${source}: ${label}`).join(" · ") || "none";
  const choices = [];
  for (const key of ["a", "r"]) {
    if (keyDoes(key)) choices.push(button(keyDoes(key), key, () => yesNo(key), key === "a"));
  }
  if (numbersAsked()) {
    item.choices.forEach((label, i) => {
      if (i < 9) choices.push(button(label, String(i + 1), () => answer("label", label)));
    });
  }
  if (state.nextAttribute) {
    choices.push(button(`next: ${state.nextAttribute}`, "n", switchAttribute));
  }
  choices.push(button("skip", "s", () => answer("skip")));
  choices.push(button("ambiguous", "?", () => answer("ambiguous")));
  choices.push(button("undo", "u", undo));
  $("choices").replaceChildren(...choices);
  $("number-keys").textContent = `1–${Math.min(item.choices.length, 9)}`;
  state.shownAt = performance.now();
}

function keyDoes(key) {
  // What a (yes) and r (no) do on this item, as the server words it; nothing once its
  // candidate was ruled out.
  return state.item?.yes_no?.[key] ?? null;
}

function switchAttribute() {
  if (state.busy || !state.nextAttribute) return;
  state.attribute = state.nextAttribute;
  load();
}

function numbersAsked() { return !focus() || !state.item?.candidate; }

function yesNo(key) {
  // The candidate shown goes with the answer: the server refuses it if it has changed.
  if (keyDoes(key)) answer(key === "a" ? "accept" : "reject", state.item.candidate);
}

async function load() {
  if (!reviewer()) {
    $("card").hidden = true;
    say("Type your name to start reviewing.");
    $("reviewer").focus();
    return;
  }
  const query = new URLSearchParams({ reviewer: reviewer() });
  if (focus()) query.set("focus", focus());
  if (state.attribute) query.set("attribute", state.attribute);
  try {
    const answer = await call(`/api/next?${query}`);
    let notice = "";
    if (state.attributes.length) {
      // The server names the pass: the one asked for, the one with most left, or the
      // next one when the asked one has run out.
      state.attribute = answer.attribute;
      state.nextAttribute = answer.next_attribute;
      $("attribute").value = answer.attribute ?? "";
      if (answer.moved_from) notice = `Nothing left to ask about ${answer.moved_from}; now ${answer.attribute}.`;
    }
    showProgress(answer.progress);
    render(answer.item, notice);
  } catch (error) {
    say(`Could not load the next example: ${error.message}`);
  }
}

async function answer(action, label) {
  if (state.busy || !state.item) return;
  state.busy = true;
  try {
    // The answer is stored before the next example is asked for.
    const saved = await call("/api/answer", {
      reviewer: reviewer(),
      focus: focus() || null,
      attribute: state.item.attribute,
      example_id: state.item.example_id,
      action,
      label: label ?? null,
      comment: $("comment").value.trim() || null,
      seconds: (performance.now() - state.shownAt) / 1000,
    });
    $("comment").value = "";
    showProgress(saved.progress);
    await load();
  } catch (error) {
    say(`Not saved: ${error.message}. Press the key again to retry.`);
  } finally {
    state.busy = false;
  }
}

async function undo() {
  if (state.busy) return;
  state.busy = true;
  try {
    const undone = await call("/api/undo", {
      reviewer: reviewer(), focus: focus() || null, attribute: state.attribute,
    });
    await load();
    if (!undone.undone) say("Nothing to undo.");
  } catch (error) {
    say(`Could not undo: ${error.message}`);
  } finally {
    state.busy = false;
  }
}

document.addEventListener("keydown", (event) => {
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName);
  if (typing) {
    if (event.key === "Escape" || (event.key === "Enter" && event.target.tagName !== "TEXTAREA")) {
      event.target.blur();
    }
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const key = event.key;
  if (key === "c") {
    event.preventDefault();
    $("comment").focus();
  } else if (key === "u") {
    undo();
  } else if (key === "a" || key === "r") {
    yesNo(key);
  } else if (key === "n") {
    switchAttribute();
  } else if (key === "s") {
    answer("skip");
  } else if (key === "?") {
    answer("ambiguous");
  } else if (state.item && numbersAsked() && /^[1-9]$/.test(key)
             && Number(key) <= state.item.choices.length) {
    answer("label", state.item.choices[Number(key) - 1]);
  }
});

$("reviewer").addEventListener("change", () => {
  localStorage.setItem("labelkit-reviewer", reviewer());
  load();
});
$("focus").addEventListener("change", load);
$("attribute").addEventListener("change", () => {
  state.attribute = $("attribute").value;
  load();
});

async function start() {
  try {
    const config = await call("/api/config");
    state.labels = config.labels;
    state.attributes = config.attributes;
    $("workspace").textContent = config.workspace;
    $("number-keys").textContent = `1–${Math.min(config.answers.length, 9)}`;
    for (const name of config.attributes) {
      const option = document.createElement("option");
      option.value = name;
      option.textContent = name;
      $("attribute").append(option);
    }
    $("attribute-choice").hidden = !config.attributes.length;
    $("next-attribute").hidden = !config.attributes.length;
    for (const label of config.answers) {
      const option = document.createElement("option");
      option.value = label;
      option.textContent = `is this ${label}?`;
      $("focus").append(option);
    }
  } catch (error) {
    say(error.message);
    return;
  }
  $("reviewer").value = localStorage.getItem("labelkit-reviewer") || "";
  await load();
}

start();
