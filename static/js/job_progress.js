/* Live job page: while the job is queued or running, poll its API every second and move the progress
   bar, status and message; once it ends, reload so the server renders the error or the report. */
(function () {
  "use strict";
  const panel = document.getElementById("job-live");
  const url = panel && panel.dataset.pollUrl;
  if (!url) {
    return;
  }
  const INTERVAL_MS = 1000;
  const ACTIVE_STATUSES = ["queued", "running"];
  const bar = panel.querySelector(".progress-bar");
  const progress = document.getElementById("job-progress");
  const percent = document.getElementById("job-percent");
  const message = document.getElementById("job-message");
  const status = document.getElementById("job-status");

  function show(job) {
    const value = Math.round(Math.max(0, Math.min(1, Number(job.progress) || 0)) * 100);
    bar.style.width = value + "%";
    progress.setAttribute("aria-valuenow", String(value));
    percent.textContent = value + "%";
    message.textContent = job.message || "";
    status.textContent = job.status.charAt(0).toUpperCase() + job.status.slice(1);
    status.className = "status status-" + job.status;
  }

  async function poll() {
    let job;
    try {
      const response = await fetch(url, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store",
      });
      if ([401, 403, 404].includes(response.status)) {
        return; // Signed out or the job is gone: polling again cannot help.
      }
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      job = await response.json();
    } catch (error) {
      // A network blip or a restarting server: keep the page and try again a little later.
      window.setTimeout(poll, INTERVAL_MS * 3);
      return;
    }
    show(job);
    if (ACTIVE_STATUSES.includes(job.status)) {
      window.setTimeout(poll, INTERVAL_MS);
    } else {
      window.location.reload();
    }
  }

  window.setTimeout(poll, INTERVAL_MS);
})();
