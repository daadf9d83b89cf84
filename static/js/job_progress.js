/* Live job progress, for every page that shows a job's progress bar (includes/job_progress.html): the job
   page, and the model version page while its training runs. ``SightlineJobs.watch`` polls the job's API,
   moves the bar, status and message, and reloads once the job ends so the server renders the error or
   the report. On the job page it starts by itself; other pages load this script first and call it. */
(function () {
  "use strict";
  const ACTIVE_STATUSES = ["queued", "running"];
  // Signed out, or the job is gone: polling again cannot help.
  const FINAL_ERRORS = [401, 403, 404];

  async function getJson(url) {
    const response = await fetch(url, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
    });
    if (!response.ok) {
      const error = new Error("HTTP " + response.status);
      error.status = response.status;
      throw error;
    }
    return response.json();
  }

  function show(job) {
    const value = Math.round(Math.max(0, Math.min(1, Number(job.progress) || 0)) * 100);
    const progress = document.getElementById("job-progress");
    progress.querySelector(".progress-bar").style.width = value + "%";
    progress.setAttribute("aria-valuenow", String(value));
    document.getElementById("job-percent").textContent = value + "%";
    document.getElementById("job-message").textContent = job.message || "";
    const status = document.getElementById("job-status");
    status.textContent = job.status.charAt(0).toUpperCase() + job.status.slice(1);
    status.className = "status status-" + job.status;
  }

  /* Poll ``url`` every ``intervalMs`` while the job is active; ``whileActive`` (optional, may be async)
     runs after each update, for what else the page keeps live. */
  function watch(url, intervalMs, whileActive) {
    async function poll() {
      let job;
      try {
        job = await getJson(url);
      } catch (error) {
        if (FINAL_ERRORS.includes(error.status)) {
          return;
        }
        // A network blip or a restarting server: keep the page and try again a little later.
        window.setTimeout(poll, intervalMs * 3);
        return;
      }
      show(job);
      if (!ACTIVE_STATUSES.includes(job.status)) {
        window.location.reload();
        return;
      }
      if (whileActive) {
        await whileActive(job);
      }
      window.setTimeout(poll, intervalMs);
    }

    window.setTimeout(poll, intervalMs);
  }

  window.SightlineJobs = { getJson: getJson, watch: watch };

  const panel = document.getElementById("job-live");
  if (panel && panel.dataset.pollUrl) {
    watch(panel.dataset.pollUrl, 1000);
  }
})();
