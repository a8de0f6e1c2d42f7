// Acknowledge buttons of the alerts page: POST /api/v1/alerts/{id}/ack,
// then show the page again.
document.querySelectorAll("form.ack").forEach((form) => {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const resp = await fetch(`/api/v1/alerts/${form.dataset.id}/ack`, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]')?.content ?? "",
        },
        // Logged in, the server records the session's user: the form
        // asks for a name only without a login.
        body: JSON.stringify(data.has("by") ? { by: data.get("by"), comment: data.get("comment") } : { comment: data.get("comment") }),
      });
      if (!resp.ok) {
        const body = await resp.json().catch(() => ({}));
        throw new Error(body.error || `HTTP ${resp.status}`);
      }
      location.reload();
    } catch (err) {
      button.disabled = false;
      alert(`Not acknowledged: ${err.message}`);
    }
  });
});
