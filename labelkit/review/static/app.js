"use strict";
// One flagged example at a time; on a task with attributes, one attribute at a time;
// on a spans task, one span of a text at a time.
// Example text, labels and attribute names are only ever set with textContent.
const state = {
  labels: [], attributes: [], attribute: null, nextAttribute: null, kind: null,
  item: null, shownAt: 0, busy: false, keyDropped: false, progress: null, configured: false,
  // A span item's pending edit: new bounds (code points) that Enter, a or a number key
  // store, as a boundary fix ("fix") or a span no source caught ("missed"); the token
  // cursor, and where a keyboard selection started.
  draft: null, draftKind: null, cursor: 0, anchor: null,
  // The digits of a label's number typed so far, where more than nine labels have keys.
  typed: "",
};

function reviewer() { return $("reviewer").value.trim(); }
// This tab's attribute and focus, kept over a reload.
const PASS_KEY = "labelkit-pass";
function focus() { return $("focus").value; }
function say(message) { $("status").textContent = shown(message); }
// Said to screen readers alone: what an answer saved, where the cursor went.
function announce(message) { $("announce").textContent = shown(message); }
const SHORTCUTS_KEY = "labelkit-shortcuts";
// One-key shortcuts can be turned off (WCAG 2.1.4): a screen reader's browse mode and
// speech input type those letters for their own ends (trial 61b).
function shortcutsOn() { return $("shortcuts").checked; }

function showProgress(progress) {
  if (!progress) return;
  state.progress = progress;
  // In focus mode the counts cover the items asking about that label only; in a pass
  // over one attribute, that attribute's items.
  $("progress").textContent = shown((state.attribute ? `${state.attribute}: ` : "") +
    (focus() ? `${focus()} items: ` : "") +
    `${progress.reviewed} done` + (progress.skipped ? ` (${progress.skipped} of them only skipped)` : "") +
    ` · ${progress.remaining} remaining · ` +
    `${progress.errors_found} ${progress.errors_found === 1 ? "error" : "errors"} found`);
  // Where the reviewer is, in a tab's name too.
  document.title = `labelkit review · ${progress.remaining} remaining`;
  const parts = (progress.attributes || []).map((counts) => {
    const current = counts.attribute === state.attribute;
    const part = document.createElement(current ? "strong" : "span");
    if (current) part.setAttribute("aria-current", "true");
    part.textContent = shown(`${counts.attribute} ${counts.reviewed}/${counts.queued}`);
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
    fragment.append(shown(chars.slice(cursor, span.start).join("")));
    const mark = document.createElement("mark");
    mark.textContent = shown(chars.slice(span.start, span.end).join(""));
    mark.title = shown(`${span.source} → ${span.label}`);
    const at = state.item.choices.indexOf(span.label);
    mark.className = at < 0 ? "label-other" : `label-${at % 6}`;
    fragment.append(mark);
    cursor = span.end;
  }
  fragment.append(shown(chars.slice(cursor).join("")));
  return fragment;
}

// Offsets from the server count code points (Python's string indices); a JS string
// counts UTF-16 units. units[i] is the unit index of code point i (one past the end too).
function unitsOf(text) {
  const units = [];
  let unit = 0;
  for (const char of text) {
    units.push(unit);
    unit += char.length;
  }
  units.push(unit);
  return units;
}

function spanSegments(item) {
  // The text cut at every bound shown: other spans, the span under review, the pending
  // edit, the cursor token and a selection being made; each piece keeps its code-point
  // start (data-start) so a mouse selection maps back to offsets.
  const units = unitsOf(item.text);
  const length = units.length - 1;
  const token = item.tokens[state.cursor];
  const selecting = state.anchor === null ? null : selection();
  const asked = item.candidate ?? item.given_label;
  // Each span's type is written after it (``tag``): the span asked about with a "?".
  const marks = [
    ...item.spans.map((span) => ({
      ...span, kind: `label-${item.choices.indexOf(span.label) % 6}`, tag: span.label,
    })),
    {
      ...item.span,
      kind: "review",
      label: asked,
      tag: asked && asked !== "none" ? `${asked}?` : "?",
      type: item.choices.indexOf(asked),
    },
    state.draft && {
      ...state.draft,
      kind: "draft",
      label: "new bounds",
      tag: spanThere() ? "the same bounds" : `new bounds, ${draftLabel()}`,
    },
    token && { start: token[0], end: token[1], kind: "cursor", label: "cursor" },
    selecting && { ...selecting, kind: "selecting", label: "selection" },
  ].filter(Boolean);
  const cuts = [...new Set([0, length, ...marks.flatMap((m) => [m.start, m.end])])]
    .filter((at) => at >= 0 && at <= length).sort((a, b) => a - b);
  const fragment = document.createDocumentFragment();
  for (let i = 0; i + 1 < cuts.length; i++) {
    const [start, end] = [cuts[i], cuts[i + 1]];
    const over = marks.filter((m) => m.start <= start && end <= m.end);
    const piece = document.createElement(over.length ? "mark" : "span");
    piece.dataset.start = String(start);
    piece.textContent = shown(item.text.slice(units[start], units[end]));
    if (over.length) {
      piece.className = over.map((m) => m.kind).join(" ");
      // The span under review in its type's colour (trial 32: always the first type's).
      const review = over.find((m) => m.kind === "review");
      if (review && review.type >= 0) piece.dataset.type = String(review.type % 6);
      piece.title = shown(over.map((m) => (m.kind === "cursor" ? "cursor" : m.label)).join(", "));
      const tags = over.filter((m) => m.tag && m.end === end).map((m) => m.tag);
      if (tags.length) piece.dataset.tag = shown(tags.join(", "));
    }
    fragment.append(piece);
  }
  return fragment;
}

function selection() {
  // The keyboard selection: from the anchor token to the cursor token.
  const tokens = state.item.tokens;
  const [first, last] = [Math.min(state.anchor, state.cursor), Math.max(state.anchor, state.cursor)];
  return { start: tokens[first][0], end: tokens[last][1] };
}

function snapped(start, end) {
  // A selection widened to the word tokens it touches; null when it touches none.
  const touched = state.item.tokens.filter(([s, e]) => e > start && s < end);
  if (!touched.length) return null;
  return { start: touched[0][0], end: touched[touched.length - 1][1] };
}

function moveBound(bound, step) {
  // The pending edit (else the span under review) with one bound moved by a token.
  const tokens = state.item.tokens;
  const from = state.draft ?? state.item.span;
  let first = tokens.findIndex(([, e]) => e > from.start);
  let last = tokens.findLastIndex(([s]) => s < from.end);
  if (first < 0 || last < first) return;
  const was = [first, last];
  if (bound === "start") first = Math.min(Math.max(first + step, 0), last);
  else last = Math.max(Math.min(last + step, tokens.length - 1), first);
  if (first === was[0] && last === was[1]) {
    // Trial 58d: "]" on a one-word span did nothing, without a word.
    const inward = (bound === "start") === (step > 0);
    say(`The ${bound} cannot move ${step < 0 ? "left" : "right"}: ` + (inward
      ? "the span is one word."
      : `the text ${step < 0 ? "begins" : "ends"} there.`));
    return;
  }
  setDraft({ start: tokens[first][0], end: tokens[last][1] }, state.draftKind ?? "fix");
}

function setDraft(bounds, kind) {
  const same = bounds && kind === "fix" &&
    bounds.start === state.item.span.start && bounds.end === state.item.span.end;
  state.draft = same ? null : bounds;
  state.draftKind = same || !bounds ? null : kind;
  showSpans();
}

function codePointAt(node, offset) {
  // A DOM selection point (a node and a UTF-16 offset in it) as a code-point offset.
  const text = $("text");
  if (node.nodeType === Node.TEXT_NODE) {
    const piece = node.parentElement;
    return Number(piece.dataset.start) + Array.from(node.data.slice(0, offset)).length;
  }
  if (node === text) {
    const next = text.childNodes[offset];
    return next ? Number(next.dataset.start) : Array.from(state.item.text).length;
  }
  const start = Number(node.dataset.start);
  return offset === 0 ? start : start + Array.from(node.textContent).length;
}

function selectWithMouse() {
  const chosen = window.getSelection();
  if (!state.item?.span || !chosen || chosen.isCollapsed || !chosen.rangeCount) return;
  const range = chosen.getRangeAt(0);
  const text = $("text");
  if (!text.contains(range.startContainer) || !text.contains(range.endContainer)) return;
  const bounds = snapped(
    codePointAt(range.startContainer, range.startOffset),
    codePointAt(range.endContainer, range.endOffset),
  );
  chosen.removeAllRanges();
  if (bounds === null) {
    say("That selection covers no word.");
    return;
  }
  state.anchor = null;
  setDraft(bounds, "missed");
}

function spanThere() {
  // A missed span drawn on a span the text already has (trial 68d: its BRAND, shown as
  // such, became the reviewed span's PART on Enter, unsaid).
  const draft = state.draft;
  if (state.draftKind !== "missed" || !draft) return undefined;
  return state.item.spans.find((span) => span.start === draft.start && span.end === draft.end);
}

function draftLabel() {
  // What Enter and a store for a pending edit: a span already there keeps its type;
  // else the reviewed span's type, else the first type.
  const there = spanThere();
  if (there) return there.label;
  const candidate = state.item.candidate;
  return candidate && candidate !== "none" ? candidate : state.labels[0];
}

function showSpans() {
  const item = state.item;
  $("text").replaceChildren(spanSegments(item));
  // The span asked about (or the edit, or the cursor) in view in a long text's box.
  $("text").querySelector("mark.draft, mark.review, mark.cursor")?.scrollIntoView({ block: "nearest" });
  if (state.draft) {
    const units = unitsOf(item.text);
    const words = item.text.slice(units[state.draft.start], units[state.draft.end]);
    const there = spanThere();
    const what = state.draftKind === "fix" ? "New bounds"
      : there ? `Already a span (${there.label})` : "Missed span";
    // Trial 62d: a drag from "Harbour." to "The" across a blank line was saved unsaid.
    const across = /\n[^\S\n]*\n/.test(words) ? " It crosses a paragraph break." : "";
    $("draft").textContent = shown(`${what}: "${words}".${across} Enter saves ` +
      `${draftLabel()}; ${typeKeys()} another type; Esc cancels.`);
  } else if (state.anchor !== null) {
    $("draft").textContent = "Selecting: move with ← →; m ends the selection, Enter or a saves it, Esc cancels.";
  } else {
    $("draft").textContent = "";
  }
}

function saveDraft(label) {
  if (!state.draft) return;
  answer(state.draftKind, label, { start: state.draft.start, end: state.draft.end });
}

function button(text, key, onClick, primary = false) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = shown(key ? `${text} (${key})` : text);
  if (key) element.dataset.key = key;
  element.className = primary ? "primary" : "";
  element.addEventListener("click", onClick);
  return element;
}

// Each choice's key comes with the item (ReviewItem.keys): class numbers answer by their
// own numbers (labels 0 to 3: key 2 answers "2"; trials 53a and 63b), other labels by
// their place from 1, typed in as many digits as they have (typeNumber).
function typeNumber(digit) {
  // Trial 56b: with 30 labels, typing 17 stored label 1 and dropped the 7. A number is
  // picked once no other starts with the digits typed; Enter picks it before (1 of 1-19).
  const { choices, keys } = state.item;
  const typed = state.typed + digit;
  const index = keys.indexOf(typed);
  const longer = keys.some((key) => key !== typed && key.startsWith(typed));
  state.typed = longer ? typed : "";
  if (longer) {
    say(index < 0 ? `${typed}…` : `${typed}: Enter picks ${choices[index]}, or type its next digit.`);
  } else if (index < 0) {
    say(`No label has the number ${typed}.`);
  } else {
    pickNumbered(index);
  }
}

function pickNumbered(index) {
  const label = state.item.choices[index];
  if (ruledOut(label)) say(`${label} was ruled out by an earlier answer.`);
  else pick(label);
}

function typedKey(key) {
  // Enter, Escape and Backspace while a number is being typed; true when the key was one.
  if (!state.typed || !["Enter", "Escape", "Backspace"].includes(key)) return false;
  const index = state.item.keys.indexOf(state.typed);
  if (key === "Backspace" && state.typed.length > 1) {
    state.typed = state.typed.slice(0, -1);
    say(`${state.typed}…`);
    return true;
  }
  state.typed = "";
  say("");
  if (key === "Enter" && index >= 0) pickNumbered(index);
  return true;
}

function filterLabels() {
  // The label buttons whose name holds what is typed in the filter (/): with 30 labels,
  // one found by name in a few keys (trial 56b: label 28 took 31 Tab presses).
  const wanted = $("label-filter").value.trim().toLowerCase();
  const buttons = [...$("choices").querySelectorAll("button[data-label]")];
  for (const element of buttons) {
    element.hidden = !element.dataset.label.toLowerCase().includes(wanted);
  }
  return buttons.filter((element) => !element.hidden);
}

function keyRange(keys) {
  return keys.length > 1 ? `${keys[0]}–${keys[keys.length - 1]}` : keys[0] ?? "";
}

function typeKeys() {
  // A span's types are its item's choices but the last, "none".
  return keyRange(state.item.keys.slice(0, state.labels.length));
}

function render(item, notice = "") {
  const previous = state.item;
  state.item = item;
  $("card").hidden = item === null;
  if (item === null) {
    // What is left is on other reviewers' screens (trial 54d: "the queue is empty"
    // while names that never answered held every item).
    const held = state.progress?.remaining ?? 0;
    say(held > 0
      ? `${held} ${held === 1 ? "item" : "items"} left, on other reviewers' screens; ` +
        "one left unanswered comes back to the queue after a few minutes."
      : focus() ? `Nothing left suggested as ${focus()}.` : "The queue is empty. Thank you!");
    return;
  }
  say(notice);
  // One question about one candidate, worded by the server as in the terminal.
  $("question").textContent = shown(item.question);
  if (item.span) {
    // Every screen starts without an edit; a new item's cursor is on its span's first
    // token (after a missed span beside it is saved, the same item comes back, cursor
    // kept; one over it replaces its span, and the next item comes up).
    state.draft = null;
    state.draftKind = null;
    state.anchor = null;
    if (previous?.example_id !== item.example_id || previous?.attribute !== item.attribute) {
      state.cursor = Math.max(0, item.tokens.findIndex(([, end]) => end > item.span.start));
    }
    showSpans();
  } else {
    $("text").replaceChildren(highlighted(item.text, item.spans));
    // A long text's first match in view (trial 62d: the attribute's one mention in a
    // review of 9,000 characters was below the box's fold, and nothing scrolled to it).
    $("text").scrollTop = 0;
    $("text").querySelector("mark")?.scrollIntoView({ block: "nearest" });
  }
  $("reasons").textContent = shown(item.reasons);
  $("votes").textContent = shown(Object.entries(item.votes)
    .map(([source, label]) => `${source}: ${label}`).join(" · ") || "none");
  const fields = Object.entries(item.fields);
  $("fields").textContent = shown(fields.map(([name, value]) => `${name}: ${value}`).join(" · "));
  $("fields").hidden = $("fields-name").hidden = !fields.length;
  const choices = [];
  for (const key of ["a", "r"]) {
    if (!keyDoes(key)) continue;
    const element = button(keyDoes(key), key, () => yesNo(key), key === "a");
    element.classList.add("answer");
    choices.push(element);
  }
  if (numbersAsked()) {
    item.choices.forEach((label, i) => {
      if (ruledOut(label)) return;
      const element = button(label, item.keys[i], () => pick(label));
      element.dataset.label = label;
      element.classList.add("answer");
      choices.push(element);
    });
  }
  state.typed = "";
  $("label-filter").value = "";
  $("filter").hidden = !numbersAsked() || item.choices.length <= 9;
  if (state.nextAttribute) {
    choices.push(button(`next: ${state.nextAttribute}`, "→", switchAttribute));
  }
  choices.push(button("skip", "s", () => answer("skip")));
  choices.push(button("ambiguous", "?", () => answer("ambiguous")));
  choices.push(button("undo", "u", undo));
  $("choices").replaceChildren(...choices);
  // The key hints say what the keys do on this screen, as the buttons do (trial 49b:
  // "a yes · r no" after r had turned the question into "which label?", "n next
  // attribute" with none left, "1–9 type" with two types).
  $("number-keys").textContent = keyRange(item.keys);
  $("yes-no-keys").hidden = !keyDoes("a") && !keyDoes("r");
  $("label-keys").hidden = !numbersAsked();
  $("filter-keys").hidden = $("filter").hidden;
  $("next-attribute").hidden = !state.nextAttribute;
  $("type-keys").textContent = typeKeys();
  state.shownAt = performance.now();
  readQuestion();
}

function readQuestion() {
  // A new item's question takes the focus, so that a screen reader reads it (trial 61b:
  // only the progress line was read, and a tag's next question is often the same words);
  // not from the name box, a menu or the comment, where the reviewer is typing.
  const question = $("question");
  const now = document.activeElement;
  if (now !== document.body && now !== question && !$("card").contains(now)) return;
  if (["INPUT", "TEXTAREA"].includes(now.tagName)) return;
  // Focus on the element that has it already is no event: nothing would be read.
  if (now === question) question.blur();
  question.focus({ preventScroll: true });
}

function ruledOut(label) {
  // A label an earlier answer said no to: it keeps its number, but is not offered.
  return state.item?.ruled_out?.includes(label) ?? false;
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

function numbersAsked() {
  // A pending span edit takes its type by number in every mode, as its line says
  // (trial 58d: in a focus pass "1–4 another type" was shown and the keys did nothing).
  if (state.draft || state.anchor !== null) return true;
  // A tag's two answers are yes and no, which a and r give (trial 55b: four buttons).
  if (state.kind === "multilabel" && state.item?.candidate) return false;
  return !focus() || !state.item?.candidate;
}

function yesNo(key) {
  // A yes to a span's pending edit (or open selection) stores it. A no is about the span
  // under review, so it waits until the edit is saved or cancelled (trial 32: it dropped
  // the edit without a word).
  if (key === "a" && endSelection()) {
    saveDraft(draftLabel());
    return;
  }
  if (key === "r" && (state.draft || state.anchor !== null)) {
    say("Enter saves the new bounds, Esc cancels them; then r says no to the span.");
    return;
  }
  // The candidate shown goes with the answer: the server refuses it if it has changed.
  if (keyDoes(key)) answer(key === "a" ? "accept" : "reject", state.item.candidate);
}

function pick(label) {
  // A label for the item, or the type of a span's pending edit (or open selection).
  if (!endSelection()) {
    answer("label", label);
  } else if (state.labels.includes(label)) {
    saveDraft(label);
  } else {
    say("New bounds need an entity type.");
  }
}

function moveCursor(step) {
  const last = state.item.tokens.length - 1;
  state.cursor = Math.min(Math.max(state.cursor + step, 0), last);
  showSpans();
  const [start, end] = state.item.tokens[state.cursor];
  const units = unitsOf(state.item.text);
  announce(`Cursor on "${state.item.text.slice(units[start], units[end])}".`);
}

function markKey() {
  // m starts a selection at the cursor; m again makes it a missed span to save.
  if (state.anchor === null) {
    state.anchor = state.cursor;
    showSpans();
    return;
  }
  endSelection();
}

function endSelection() {
  // A selection still open becomes the pending edit, as m would make it (trial 32: a
  // yes during a selection dropped it and accepted the span under review); true when
  // an edit is pending.
  if (state.item?.span && state.anchor !== null) {
    const bounds = selection();
    state.anchor = null;
    setDraft(bounds, "missed");
  }
  return Boolean(state.draft);
}

function cancelEdit() {
  state.anchor = null;
  setDraft(null, null);
}

function spanKey(key) {
  // The keys of a span item beyond those of every item; true when the key was one.
  const does = {
    y: () => yesNo("a"), n: () => yesNo("r"), x: () => yesNo("r"),
    Enter: () => endSelection() && saveDraft(draftLabel()), Escape: cancelEdit,
    "[": () => moveBound("start", -1), "]": () => moveBound("start", 1),
    ",": () => moveBound("end", -1), ".": () => moveBound("end", 1),
    ArrowLeft: () => moveCursor(-1), ArrowRight: () => moveCursor(1), m: markKey,
  }[key];
  if (does) does();
  return Boolean(does);
}

// Each load's number: a pass changed while an older load was on its way asks again,
// and the older answer, arriving last on a busy machine, must not draw over the newer;
// ``drawn`` is the number of the load on screen.
let loads = 0;
let drawn = 0;

async function load() {
  const mine = ++loads;
  if (!reviewer()) {
    $("card").hidden = true;
    say("Type your name to start reviewing.");
    $("reviewer").focus();
    return;
  }
  const asked = { reviewer: reviewer() };
  if (focus()) asked.focus = focus();
  if (state.attribute) asked.attribute = state.attribute;
  try {
    const answer = await call("/api/next", asked);
    if (mine !== loads) {
      // The server gave the older pass an item, and took back the one on screen (the
      // second read: another reviewer was then given it too): ask for it again.
      if (drawn > mine) load();
      return;
    }
    drawn = mine;
    let notice = "";
    if (state.attributes.length) {
      // The server names the pass: the one asked for, the one with most left, or the
      // next one when the asked one has run out.
      state.attribute = answer.attribute;
      state.nextAttribute = answer.next_attribute;
      $("attribute").value = answer.attribute ?? "";
      if (answer.moved_from) notice = `Nothing left to ask about ${answer.moved_from}; now ${answer.attribute}.`;
    }
    // This tab's pass, for a reload to ask the same (trial 57c: a reload went to the
    // attribute with most left, and showed another item).
    sessionStorage.setItem(PASS_KEY, JSON.stringify({ attribute: state.attribute, focus: focus() }));
    showProgress(answer.progress);
    render(answer.item, notice);
    return answer.item !== null;
  } catch (error) {
    if (mine === loads) say(`Could not load the next example: ${error.message}`);
  }
  return false;
}

function sayIfDropped(drew) {
  // After a save or an undo: the keys pressed while it was under way were not taken.
  // Said beside what the page says already, and only over a text to answer (the
  // second read: it replaced "The queue is empty", and a failed load's error).
  const dropped = state.keyDropped;
  state.keyDropped = false;
  if (!dropped || !drew) return;
  const said = $("status").textContent;
  say(`${said ? `${said} ` : ""}A key pressed while the page was saving was not taken: answer this text now.`);
}

async function answer(action, label, bounds = {}) {
  // A key pressed while the last answer is saved answers nothing: the next text is not
  // shown yet. The page says so once it is (trial 64c: ten keys 150 ms apart stored
  // five answers, and nothing said so).
  if (state.busy) state.keyDropped = true;
  if (state.busy || !state.item) return;
  state.busy = true;
  state.keyDropped = false;
  // The comment sent; one typed while the answer is on its way stays for the next.
  const comment = $("comment").value.trim();
  try {
    // The answer is stored before the next example is asked for.
    const saved = await call("/api/answer", {
      reviewer: reviewer(),
      focus: focus() || null,
      attribute: state.item.attribute,
      example_id: state.item.example_id,
      action,
      label: label ?? null,
      comment: comment || null,
      seconds: (performance.now() - state.shownAt) / 1000,
      ...bounds,
    });
    if ($("comment").value.trim() === comment) $("comment").value = "";
    showProgress(saved.progress);
    announce(savedAs(action, label));
    sayIfDropped(await load());
  } catch (error) {
    say(`Not saved: ${error.message}. Press the key again to retry.`);
  } finally {
    state.busy = false;
  }
}

function savedAs(action, answer) {
  // A tag's answers are yes and no: the tag is what was said of; an aspect's answer goes
  // with its aspect ("room negative").
  const kind = state.kind;
  const attribute = state.item?.attribute;
  const label = kind === "multilabel" ? attribute
    : kind === "aspects" && attribute ? `${attribute} ${answer}` : answer;
  if (kind === "multilabel" && action === "label") return `Saved: ${attribute}, ${answer}.`;
  const said = {
    accept: `yes, ${label}`, reject: `no, not ${label}`, label, skip: "skipped",
    ambiguous: "ambiguous", fix: `new bounds, ${label}`, missed: `missed span, ${label}`,
  }[action];
  return `Saved: ${said ?? action}.`;
}

async function undo() {
  if (state.busy) state.keyDropped = true;
  if (state.busy) return;
  state.busy = true;
  state.keyDropped = false;
  try {
    const undone = await call("/api/undo", {
      reviewer: reviewer(), focus: focus() || null, attribute: state.attribute,
    });
    // Nothing in this pass: the server took back the latest answer, in its own pass.
    if (undone.attribute) state.attribute = undone.attribute;
    const drew = await load();
    if (!undone.undone) say("Nothing to undo.");
    else if (undone.attribute) say(`Took back your last answer, on ${undone.attribute}.`);
    else announce("Took back your last answer.");
    sayIfDropped(drew);
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
  // Off, the character keys do nothing; the arrows, Enter and Escape still move a span's
  // cursor, save and cancel an edit (the second read: no keyboard path was left).
  if (!shortcutsOn() && event.key.length === 1) return;
  // A held key repeats: it would answer items nobody read (trial 49b: six in a second).
  if (event.repeat) {
    event.preventDefault();
    return;
  }
  const key = event.key;
  if (state.item && typedKey(key)) {
    event.preventDefault();
    return;
  }
  if (state.item?.span && !state.busy && spanKey(key)) {
    event.preventDefault();
    return;
  }
  if (key === "c") {
    event.preventDefault();
    $("comment").focus();
  } else if (key === "/" && !$("filter").hidden) {
    event.preventDefault();
    state.typed = "";  // a number begun before is dropped, not picked by a later Enter
    $("label-filter").focus();
  } else if (key === "u" && (state.draft || state.anchor !== null)) {
    // An edit open: u cancels it, and takes back no answer (trial 58d: it undid an
    // answer on another text, unseen).
    cancelEdit();
    say("Edit cancelled; u again takes back your last answer.");
  } else if (key === "u") {
    undo();
  } else if (key === "a" || key === "y") {
    // Yes and no have the keys of span review and the suggestions page (trial 49a: n
    // was "next attribute" here, and a reviewer's "no" moved on without a word).
    yesNo("a");
  } else if (key === "r" || key === "n" || key === "x") {
    yesNo("r");
  } else if (key === "ArrowRight") {
    event.preventDefault();
    switchAttribute();
  } else if (key === "s") {
    answer("skip");
  } else if (key === "?") {
    answer("ambiguous");
  } else if (state.item && numbersAsked() && /^[0-9]$/.test(key)) {
    typeNumber(key);
  }
});

$("label-filter").addEventListener("input", () => {
  // What the filter left, said (trial 61b: nothing told a screen reader what matched).
  const left = filterLabels().map((element) => element.dataset.label);
  announce(left.length
    ? `${left.length} ${left.length === 1 ? "label matches" : "labels match"}: ${left.slice(0, 5).join(", ")}`
    : "No label matches.");
});
$("label-filter").addEventListener("keydown", (event) => {
  // Enter picks the first label left; Escape clears the filter. The document's listener
  // then takes the focus back to the page's keys.
  if (event.key === "Enter") {
    const [first] = filterLabels();
    if (first) first.click();
  } else if (event.key === "Escape") {
    $("label-filter").value = "";
    filterLabels();
  }
});

// On the document: a drag over the text may end beyond it.
document.addEventListener("mouseup", selectWithMouse);

$("reviewer").addEventListener("change", () => {
  localStorage.setItem("labelkit-reviewer", reviewer());
  // Before the config is back, start() loads with the name: a load now would race it,
  // and the later of the two would draw the item again over an edit begun on the first
  // (a CI run: a span's new bounds vanished after they were drawn).
  if (state.configured) load();
});
// A menu gives the keys back once chosen (trial 57c: `s`, meant as skip, went to the
// attribute menu's type-ahead and switched the pass to screen). A closed menu changes
// on each arrow key, so a choice made by keys takes effect on Enter or on leaving the
// menu, not on every step through it (trial 61b: each step switched the pass).
function onChosen(menu, choose) {
  let browsing = false;
  let pending = false;
  let was = menu.value;
  menu.addEventListener("focus", () => { was = menu.value; });
  menu.addEventListener("mousedown", () => { browsing = false; });
  menu.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && pending) {
      // Escape leaves the menu as it was.
      menu.value = was;
      pending = false;
      say("");
    }
    browsing = !["Enter", "Escape", "Tab"].includes(event.key);
  });
  menu.addEventListener("change", () => {
    if (browsing) {
      pending = true;
      say(`Enter switches to ${menu.selectedOptions[0]?.textContent ?? ""}.`);
      return;
    }
    // Chosen at once: the blur that follows has nothing pending (the second read: keys
    // then the mouse loaded twice).
    pending = false;
    say("");
    menu.blur();
    choose();
  });
  menu.addEventListener("blur", () => {
    browsing = false;
    if (!pending) return;
    pending = false;
    say("");
    choose();
  });
}
onChosen($("focus"), load);
onChosen($("attribute"), () => {
  state.attribute = $("attribute").value;
  load();
});
$("shortcuts").addEventListener("change", () => {
  localStorage.setItem(SHORTCUTS_KEY, shortcutsOn() ? "on" : "off");
  $("keys-off").hidden = shortcutsOn();
});

async function start() {
  // Before the first wait: set once the config is back, the saved name would wipe one
  // typed meanwhile, and the Enter that followed would start nothing.
  $("reviewer").value = localStorage.getItem("labelkit-reviewer") || "";
  $("shortcuts").checked = localStorage.getItem(SHORTCUTS_KEY) !== "off";
  $("keys-off").hidden = shortcutsOn();
  try {
    const config = await call("/api/config");
    state.labels = config.labels;
    state.attributes = config.attributes;
    state.kind = config.kind;
    $("keys").hidden = config.kind === "spans";
    $("span-keys").hidden = config.kind !== "spans";
    $("workspace").textContent = shown(config.workspace);
    // The texts' language, for a screen reader's voice; the page's own words are English.
    // spaCy's "xx" (many languages) is none of HTML's: unknown, so no voice is forced.
    $("text").lang = config.lang === "xx" ? "" : config.lang;
    for (const name of config.attributes) {
      const option = document.createElement("option");
      option.value = name;
      option.textContent = shown(name);
      $("attribute").append(option);
    }
    $("attribute-choice").hidden = !config.attributes.length;
    // A spans pass focuses on one entity type ("none" is no span's type).
    for (const label of config.kind === "spans" ? config.labels : config.answers) {
      const option = document.createElement("option");
      option.value = label;
      // A tag's answers are yes and no: the pass is over what the flagger suggests.
      option.textContent = shown(config.kind === "multilabel" ? `suggested ${label}` : `is this ${label}?`);
      $("focus").append(option);
    }
    const pass = JSON.parse(sessionStorage.getItem(PASS_KEY) || "{}");
    if (config.attributes.includes(pass.attribute)) state.attribute = pass.attribute;
    if ([...$("focus").options].some((option) => option.value === pass.focus)) {
      $("focus").value = pass.focus;
    }
  } catch (error) {
    say(error.message);
    return;
  }
  state.configured = true;
  await load();
}

start();
