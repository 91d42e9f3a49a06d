"use strict";
// What the review, summary and proposed-rules pages share: element lookup and the
// JSON API call (same-origin, JSON bodies only: the server refuses anything else).
const $ = (id) => document.getElementById(id);

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
