"use strict";
// Rules an LLM proposed, one at a time: y accepts, n rejects.
// A rule and the model's name are written by an LLM: only ever set with textContent.
const state = { suggestion: null, rulesFile: null, busy: false };

function say(message) { $("status").textContent = shown(message); }
function share(value) { return `${(100 * value).toFixed(1)}%`; }

function accuracy(s) {
  const judged = s.correct + s.incorrect;
  if (!judged) return "no dev gold where it votes";
  return `${s.accuracy.toFixed(3)} (95% interval ${s.accuracy_low.toFixed(2)}–` +
    `${s.accuracy_high.toFixed(2)}) on ${judged} dev examples`;
}

function show(answer) {
  const s = answer.suggestion;
  state.suggestion = s;
  state.rulesFile = answer.rules_file;
  $("workspace").textContent = shown(answer.workspace);
  $("no-rules-file").hidden = answer.rules_file !== null || s === null;
  $("accept").disabled = answer.rules_file === null;
  $("card").hidden = s === null;
  if (s === null) {
    $("progress").textContent = "";
    say("No proposed rules are waiting. Run labelkit suggest-lfs to ask an LLM for some.");
    return;
  }
  const { decided, total } = answer.progress;
  $("progress").textContent = `${decided + 1} of ${total}`;
  $("rule").textContent = shown(s.rule);
  $("coverage").textContent = share(s.coverage);
  $("overlaps").textContent = share(s.overlaps);
  $("conflicts").textContent = share(s.conflicts);
  $("accuracy").textContent = accuracy(s);
  $("model").textContent = shown(s.model);
}

async function load() {
  try {
    show(await call("/api/suggestions/next"));
  } catch (error) {
    say(`Could not load the proposed rules: ${error.message}`);
  }
}

async function decide(decision) {
  const s = state.suggestion;
  if (!s || state.busy) return;
  if (decision === "accept" && state.rulesFile === null) {
    say("Accepting needs a rule file: restart with labelkit serve --rules PATH.");
    return;
  }
  state.busy = true;
  try {
    const answer = await call("/api/suggestions/decide", { id: s.id, decision });
    const next = await call("/api/suggestions/next");
    show(next);
    if (next.suggestion !== null) {
      say(answer.appended === null ? `Rejected ${s.rule}` :
        `Appended ${answer.appended} to ${answer.rules_file}`);
    }
  } catch (error) {
    say(`Not saved: ${error.message}`);
  } finally {
    state.busy = false;
  }
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "y") decide("accept");
  else if (event.key === "n") decide("reject");
});
$("accept").addEventListener("click", () => decide("accept"));
$("reject").addEventListener("click", () => decide("reject"));

load();
