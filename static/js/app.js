// Debrief's own page behaviour; no inline scripts, so the Content-Security-Policy can forbid them.
// Every page works without this file; it adds: the phone menu, local and relative times, busy
// buttons that cannot double-submit, the transcript finder, and opening a folded transcript at a
// linked line.
"use strict";

document.addEventListener("click", (event) => {
  const target = event.target;
  if (target instanceof HTMLInputElement && target.classList.contains("invite-link")) {
    target.select();
  }
});

// ---- forms: confirm, then show the button working and refuse a second submit -----------------
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement)) return;
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
    return;
  }
  // htmx sends these itself and re-enables them when its request ends.
  if (form.hasAttribute("hx-post") || form.hasAttribute("hx-get")) return;
  if (form.dataset.submitting === "true") {
    event.preventDefault();
    return;
  }
  form.dataset.submitting = "true";
  const button = event.submitter || form.querySelector("button[type=submit], button:not([type])");
  if (button) {
    button.setAttribute("aria-busy", "true");
    // Disabled only after this event: a disabled submitter would drop its name=value from the post.
    setTimeout(() => button.setAttribute("aria-disabled", "true"), 0);
  }
});

// A page restored from the back/forward cache must be usable again.
window.addEventListener("pageshow", () => {
  for (const form of document.querySelectorAll("form[data-submitting]")) {
    delete form.dataset.submitting;
    for (const b of form.querySelectorAll("[aria-busy]")) {
      b.removeAttribute("aria-busy");
      b.removeAttribute("aria-disabled");
    }
  }
});

// ---- the phone menu -----------------------------------------------------------------------------
function setUpMenu() {
  const nav = document.getElementById("site-nav");
  const toggle = nav && nav.querySelector(".nav-toggle");
  if (!nav || !toggle) return;
  nav.classList.add("js-nav");
  toggle.hidden = false;
  toggle.addEventListener("click", () => {
    const open = nav.classList.toggle("open");
    toggle.setAttribute("aria-expanded", String(open));
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && nav.classList.contains("open")) {
      nav.classList.remove("open");
      toggle.setAttribute("aria-expanded", "false");
      toggle.focus();
    }
  });
}

// ---- times in the viewer's zone -----------------------------------------------------------------
const exact = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });
const dateAndTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const UNITS = [
  ["minute", 60, 60],
  ["hour", 3600, 24],
  ["day", 86400, 7],
];

/** "3 min ago", "in 2 hours", "yesterday" for moments within a week; otherwise null. */
function relativeText(date, now) {
  const seconds = Math.round((date.getTime() - now) / 1000);
  if (Math.abs(seconds) < 45) return "just now";
  for (const [unit, size, limit] of UNITS) {
    const n = Math.round(seconds / size);
    if (Math.abs(n) < limit) return relative.format(n, unit);
  }
  return null;
}

function localiseTimes(root) {
  const now = Date.now();
  for (const el of root.querySelectorAll("time[data-time]")) {
    const date = new Date(el.getAttribute("datetime"));
    if (Number.isNaN(date.getTime())) continue;
    el.title = exact.format(date);
    if (el.dataset.time === "day") {
      el.textContent = dateOnly.format(date);
    } else {
      el.textContent = relativeText(date, now) ?? dateAndTime.format(date);
    }
  }
}

// ---- the transcript: find lines, open at a linked line ------------------------------------------
function setUpTranscript() {
  const input = document.querySelector("input[data-filter-lines]");
  const list = input && document.querySelector(input.dataset.filterLines);
  if (input && list) {
    input.closest(".transcript-find").hidden = false;
    const count = document.getElementById(input.getAttribute("aria-describedby"));
    const lines = Array.from(list.children);
    input.addEventListener("input", () => {
      const needle = input.value.trim().toLocaleLowerCase();
      let shown = 0;
      for (const line of lines) {
        const hit = !needle || line.textContent.toLocaleLowerCase().includes(needle);
        line.hidden = !hit;
        if (hit) shown += 1;
      }
      if (count) count.textContent = needle ? `${shown.toLocaleString()} of ${lines.length.toLocaleString()} lines` : "";
    });
  }
  openAtHash();
  window.addEventListener("hashchange", openAtHash);
}

function openAtHash() {
  if (!location.hash.startsWith("#line-")) return;
  const line = document.getElementById(decodeURIComponent(location.hash.slice(1)));
  if (!line) return;
  const panel = line.closest("details");
  if (panel && !panel.open) panel.open = true;
  line.scrollIntoView({ block: "center" });
}

function start() {
  setUpMenu();
  localiseTimes(document);
  setUpTranscript();
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}

// Fragments htmx swaps in (sync progress, customer links) get local times too, and their forms
// become sendable again once htmx's request ends.
document.addEventListener("htmx:afterSwap", (event) => localiseTimes(event.target));
