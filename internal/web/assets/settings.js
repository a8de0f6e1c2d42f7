// Settings: a delete asks first.
document.querySelectorAll("button[data-confirm]").forEach((b) => {
  b.addEventListener("click", (e) => {
    if (!confirm(b.dataset.confirm)) e.preventDefault();
  });
});
