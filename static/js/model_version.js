/* The model version page: training curves (loss, accuracy per epoch) and the reliability diagram, drawn
   with Chart.js from data the page embeds. While the training job is queued or running, follow it every
   2 s with job_progress.js and redraw the curves; once the job ends, that reloads the page so the server
   renders the metrics, or the error. */
(function () {
  "use strict";
  if (!window.Chart) {
    return;
  }
  const Chart = window.Chart;
  const INTERVAL_MS = 2000;
  // Training in the train split's colour, validation in the validation split's (sightline.css).
  const TRAIN_COLOUR = "#4f46e5";
  const VAL_COLOUR = "#0ea5e9";

  function embedded(id) {
    const element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : null;
  }

  function curveChart(canvasId, title, keys, options) {
    const canvas = document.getElementById(canvasId);
    if (!canvas) {
      return null;
    }
    return new Chart(canvas, {
      type: "line",
      data: {
        labels: [],
        datasets: keys.map(([key, label, colour]) => ({
          key: key,
          label: label,
          data: [],
          borderColor: colour,
          backgroundColor: colour,
          pointRadius: 2,
          tension: 0.2,
          spanGaps: true,
        })),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        // Redrawn every poll: an animation each time would only make the lines wobble.
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { title: { display: true, text: "Epoch" }, grid: { display: false } },
          y: Object.assign({ title: { display: true, text: title } }, options),
        },
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 12, boxHeight: 12 } },
          tooltip: {
            callbacks: {
              // Epochs count across both phases; say which one an epoch belongs to.
              title: (items) => {
                const phase = items.length ? phases[items[0].dataIndex] : "";
                return "Epoch " + (items.length ? items[0].label : "") + (phase ? " (" + phase.replace("_", "-") + ")" : "");
              },
            },
          },
        },
      },
    });
  }

  let phases = [];
  const curveCharts = [
    curveChart("loss-chart", "Loss", [["loss", "Training loss", TRAIN_COLOUR], ["val_loss", "Validation loss", VAL_COLOUR]], {
      beginAtZero: true,
    }),
    curveChart(
      "accuracy-chart",
      "Accuracy",
      [["accuracy", "Training accuracy", TRAIN_COLOUR], ["val_accuracy", "Validation accuracy", VAL_COLOUR]],
      { min: 0, max: 1 },
    ),
  ].filter(Boolean);

  function showCurves(rows) {
    phases = rows.map((row) => row.phase);
    for (const chart of curveCharts) {
      chart.data.labels = rows.map((row) => row.epoch);
      for (const dataset of chart.data.datasets) {
        dataset.data = rows.map((row) => row[dataset.key]);
      }
      chart.update();
    }
  }

  function drawReliability(bins) {
    const canvas = document.getElementById("reliability-chart");
    if (!canvas || !bins.after.length) {
      return;
    }
    const labels = bins.after.map((bin) => ((bin.lower + bin.upper) / 2).toFixed(2));
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: labels,
        datasets: [
          {
            type: "line",
            label: "Perfect calibration",
            data: bins.after.map((bin) => (bin.lower + bin.upper) / 2),
            borderColor: "#98a2b3",
            borderDash: [6, 4],
            borderWidth: 1.5,
            pointRadius: 0,
          },
          {
            label: "After calibration",
            data: bins.after.map((bin) => bin.accuracy),
            backgroundColor: TRAIN_COLOUR,
            borderRadius: 2,
          },
          {
            label: "Before calibration",
            data: bins.before.map((bin) => bin.accuracy),
            backgroundColor: "#c7d2fe",
            borderRadius: 2,
          },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: {
          x: { title: { display: true, text: "Confidence (bin centre)" }, grid: { display: false } },
          y: { min: 0, max: 1, title: { display: true, text: "Accuracy" } },
        },
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 12, boxHeight: 12 } },
          tooltip: {
            callbacks: {
              afterLabel: (item) => {
                const bin = (item.datasetIndex === 2 ? bins.before : bins.after)[item.dataIndex];
                return item.datasetIndex === 0 ? "" : bin.count + " " + (bins.split || "test") + " images";
              },
            },
          },
        },
      },
    });
  }

  showCurves(embedded("curves-data") || []);
  drawReliability(embedded("reliability-data") || { before: [], after: [] });

  const panel = document.getElementById("version-live");
  const jobUrl = panel && panel.dataset.jobUrl;
  if (!jobUrl) {
    return;
  }
  const curvesUrl = panel.dataset.curvesUrl;
  const versionUrl = panel.dataset.versionUrl;

  function text(id, value) {
    const element = document.getElementById(id);
    if (element) {
      element.textContent = value;
    }
  }

  function duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    return seconds < 90 ? seconds + " s" : Math.floor(seconds / 60) + " min " + (seconds % 60) + " s";
  }

  // The version's status and its plan's live part (epochs planned and done, time per epoch, time left),
  // as the worker re-plans from the epochs it measures.
  function showVersion(version) {
    const status = document.getElementById("version-status");
    if (status) {
      status.textContent = version.status.charAt(0).toUpperCase() + version.status.slice(1);
      status.className = "status status-" + version.status;
    }
    const live = version.plan && version.plan.live;
    const facts = document.getElementById("plan-live");
    if (facts && (live || version.eta_seconds !== null)) {
      facts.hidden = false;
    }
    if (live) {
      text("plan-epochs", live.epochs_done + " of " + live.total_epochs);
      text("plan-epoch-seconds", live.epoch_seconds ? Math.round(live.epoch_seconds) + " s" : "—");
      text("plan-elapsed", duration((Date.now() - Date.parse(live.started_at)) / 1000));
    }
    if (version.eta_seconds !== null && version.eta_seconds !== undefined) {
      text("plan-eta", "about " + duration(version.eta_seconds) + (live ? "" : " once a worker starts it"));
    }
  }

  // job_progress.js, loaded before this script, moves the progress bar; the curves and the plan follow
  // each poll.
  window.SightlineJobs.watch(jobUrl, INTERVAL_MS, async function () {
    try {
      showCurves(await window.SightlineJobs.getJson(curvesUrl));
      if (versionUrl) {
        showVersion(await window.SightlineJobs.getJson(versionUrl));
      }
    } catch (error) {
      // What is drawn so far stays; the next poll tries again.
    }
  });
})();
