// Debrief's own page behaviour; no inline scripts, so the Content-Security-Policy can forbid them.
document.addEventListener("click", (event) => {
  const target = event.target;
  if (target instanceof HTMLInputElement && target.classList.contains("invite-link")) {
    target.select();
  }
});

// Forms marked data-confirm ask before they are sent (without JavaScript they are sent at once).
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});
