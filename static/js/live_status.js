/* Live statuses in tables: an element with data-live-url (a job's or a version's API address) polls it
   while the status is queued, running or training, and shows the new status, the row's progress bar
   (data-live-progress) and, once a version is scored, its test accuracy (data-live-accuracy). */
(function () {
  "use strict";
  const ACTIVE = ["queued", "running", "training"];
  const INTERVAL_MS = 3000;

  function title(status) {
    return status.charAt(0).toUpperCase() + status.slice(1);
  }

  function show(element, data) {
    element.textContent = title(data.status);
    element.className = "status status-" + data.status;
    const row = element.closest("tr");
    if (!row) {
      return;
    }
    const bar = row.querySelector("[data-live-progress]");
    if (bar && typeof data.progress === "number") {
      const value = Math.round(Math.max(0, Math.min(1, data.progress)) * 100);
      bar.querySelector(".progress-bar").style.width = value + "%";
      bar.querySelector(".progress-bar").className = "progress-bar status-bg-" + data.status;
      const text = row.querySelector("[data-live-percent]");
      if (text) {
        text.textContent = value + "%";
      }
    }
    const accuracy = row.querySelector("[data-live-accuracy]");
    const metrics = data.metrics || {};
    if (accuracy && typeof metrics.accuracy === "number") {
      accuracy.textContent = (metrics.accuracy * 100).toFixed(1) + "%";
    }
  }

  function follow(element) {
    async function poll() {
      let data;
      try {
        const response = await fetch(element.dataset.liveUrl, {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
          cache: "no-store",
        });
        if (!response.ok) {
          return; // Gone or signed out: polling again cannot help.
        }
        data = await response.json();
      } catch (error) {
        window.setTimeout(poll, INTERVAL_MS * 3);
        return;
      }
      show(element, data);
      if (ACTIVE.includes(data.status)) {
        window.setTimeout(poll, INTERVAL_MS);
      }
    }
    window.setTimeout(poll, INTERVAL_MS);
  }

  document.querySelectorAll("[data-live-url]").forEach(follow);
})();
