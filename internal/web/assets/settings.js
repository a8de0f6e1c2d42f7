// Settings: a delete asks first.
document.querySelectorAll("button[data-confirm]").forEach((b) => {
  b.addEventListener("click", (e) => {
    if (!confirm(b.dataset.confirm)) e.preventDefault();
  });
});

// A notifier's form shows the fields of its type only (an e-mail's SMTP
// settings, a webhook's URL); the others keep their values.
const type = document.getElementById("f-type");
if (type) {
  const show = () => {
    document.querySelectorAll(".field[data-only]").forEach((f) => {
      f.hidden = f.dataset.only !== type.value;
    });
  };
  type.addEventListener("change", show);
  show();
}
