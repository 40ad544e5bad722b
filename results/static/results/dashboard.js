// Draws the dashboard's trend charts from the json_script data the page carries (#results-trend).
// Gaps (null) are buckets with nothing to count: Chart.js leaves them out rather than drawing zero.
(function () {
  "use strict";

  function draw() {
    var source = document.getElementById("results-trend");
    if (!source || typeof Chart === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    var common = { responsive: true, maintainAspectRatio: false, animation: false };
    window.resultsCharts = [
      new Chart(document.getElementById("chart-scores"), {
        type: "line",
        data: {
          labels: data.labels,
          datasets: [
            { label: "NPS", data: data.nps, borderColor: "#1f6f8b", backgroundColor: "#1f6f8b" },
            { label: "CSAT % satisfied", data: data.csat_satisfied_percent, borderColor: "#b35c00", backgroundColor: "#b35c00" },
          ],
        },
        options: Object.assign({}, common, { scales: { y: { min: -100, max: 100 } } }),
      }),
      new Chart(document.getElementById("chart-ces"), {
        type: "line",
        data: {
          labels: data.labels,
          datasets: [{ label: "CES mean", data: data.ces_mean, borderColor: "#5a3d8a", backgroundColor: "#5a3d8a" }],
        },
        options: Object.assign({}, common, { scales: { y: { min: 1, max: 7 } } }),
      }),
      new Chart(document.getElementById("chart-volume"), {
        data: {
          labels: data.labels,
          datasets: [
            { type: "bar", label: "Responses", data: data.responses, backgroundColor: "#1f6f8b", yAxisID: "count" },
            { type: "bar", label: "Invitations sent", data: data.invitations_sent, backgroundColor: "#9cc3d0", yAxisID: "count" },
            { type: "line", label: "Response rate %", data: data.response_rate, borderColor: "#b35c00", backgroundColor: "#b35c00", yAxisID: "rate" },
          ],
        },
        options: Object.assign({}, common, {
          scales: {
            count: { type: "linear", position: "left", beginAtZero: true },
            rate: { type: "linear", position: "right", beginAtZero: true, grid: { drawOnChartArea: false } },
          },
        }),
      }),
    ];
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
