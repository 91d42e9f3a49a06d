"use strict";
// What the review, summary and proposed-rules pages share: element lookup and the
// JSON API call (same-origin, JSON bodies only: the server refuses anything else).
const $ = (id) => document.getElementById(id);

// A value from the data as shown: a bidirectional override or isolate in it would
// reorder what follows ("evil\u202Egnp.exe" reads "evil exe.png"), labels and other
// fields included, so each shows as the replacement character (trial 46). One code
// point for one: span offsets still hold.
const shown = (value) => String(value).replace(/[\u202A-\u202E\u2066-\u2069]/g, "\uFFFD");

// The server's token, when it has one: taken from the link the page was opened by
// (?token=), kept in this tab's sessionStorage (this origin's alone: unlike a cookie,
// no other port of the host sees it) and dropped from the address bar and history.
const TOKEN_KEY = "labelkit_token";
(() => {
  const url = new URL(window.location.href);
  const given = url.searchParams.get("token");
  if (given === null) return;
  sessionStorage.setItem(TOKEN_KEY, given);
  url.searchParams.delete("token");
  history.replaceState(history.state, "", url);
})();

async function fetchWithToken(path, options = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = { ...(options.headers || {}) };
  // Percent-encoded: a header holds Latin-1 alone, and the token may be any text. Not
  // in Authorization, which a proxy's own login (Basic) takes.
  if (token !== null) headers["X-Labelkit-Token"] = encodeURIComponent(token);
  return fetch(path, { credentials: "omit", ...options, headers });
}

async function call(path, body) {
  const options = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  const response = await fetchWithToken(path, options);
  const answer = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
  return answer;
}
