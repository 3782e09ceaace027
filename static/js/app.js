// Debrief's own page behaviour; no inline scripts, so the Content-Security-Policy can forbid them.
document.addEventListener("click", (event) => {
  const target = event.target;
  if (target instanceof HTMLInputElement && target.classList.contains("invite-link")) {
    target.select();
  }
});
