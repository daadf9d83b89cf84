/* The dataset page's class distribution: images per class as bars stacked by train/val/test split.
   Data comes from the page (json_script), so the chart needs no extra request. */
(function () {
  "use strict";
  const canvas = document.getElementById("class-chart");
  const source = document.getElementById("class-chart-data");
  if (!canvas || !source || !window.Chart) {
    return;
  }
  const data = JSON.parse(source.textContent);
  // The same colours as the split badges in sightline.css, so the grid and the chart read alike.
  const colours = { train: "#4f46e5", val: "#0ea5e9", test: "#f59e0b" };
  new window.Chart(canvas, {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: data.splits.map((split) => ({
        label: split.label,
        data: split.counts,
        backgroundColor: colours[split.key],
        borderRadius: 3,
        maxBarThickness: 56,
      })),
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      // Counts, not a show: draw the final bars at once (also what screenshots and tests see).
      animation: false,
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { stacked: true, grid: { display: false } },
        y: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "Images" } },
      },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12, boxHeight: 12 } } },
    },
  });
})();
