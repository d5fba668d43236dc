// The report's charts, drawn from the same JSON the API answers (embedded in the page).
(function () {
  "use strict";
  var report = JSON.parse(document.getElementById("report-data").textContent);
  var COLORS = ["#2563eb", "#16a34a", "#d97706", "#dc2626", "#7c3aed", "#0891b2", "#64748b"];
  Chart.defaults.animation = false; // drawn at once: a screenshot shows the figures

  function pct(rate) { return rate === null ? null : Math.round(rate * 10000) / 100; }

  // Conversion: all leads, sales-ready leads, then each status at `since`.
  if (typeof report.lift !== "string" && typeof report.conversion_by_status !== "string") {
    var labels = ["all", "sales_ready (lift)"], values = [pct(report.lift.all.rate), pct(report.lift.sales_ready.rate)];
    Object.keys(report.conversion_by_status).sort().forEach(function (status) {
      labels.push(status);
      values.push(pct(report.conversion_by_status[status].rate));
    });
    new Chart(document.getElementById("chart-conversion"), {
      type: "bar",
      data: { labels: labels, datasets: [{ label: "converted (%)", data: values, backgroundColor: COLORS[0] }] },
      options: { scales: { y: { beginAtZero: true, title: { display: true, text: "%" } } } }
    });
  }

  // Status mix: one stacked series per status, a point per week.
  var statuses = [];
  report.status_mix.forEach(function (point) {
    Object.keys(point.counts).forEach(function (s) { if (statuses.indexOf(s) < 0) { statuses.push(s); } });
  });
  statuses.sort();
  new Chart(document.getElementById("chart-status-mix"), {
    type: "bar",
    data: {
      labels: report.status_mix.map(function (p) { return p.at.slice(0, 16).replace("T", " "); }),
      datasets: statuses.map(function (s, i) {
        return { label: s, backgroundColor: COLORS[i % COLORS.length],
                 data: report.status_mix.map(function (p) { return p.counts[s] || 0; }) };
      })
    },
    options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } }
  });

  // Flows: each from → to pair with its count.
  var flowLabels = [], flowValues = [];
  Object.keys(report.flows.matrix).sort().forEach(function (from) {
    Object.keys(report.flows.matrix[from]).sort().forEach(function (to) {
      flowLabels.push(from + " → " + to);
      flowValues.push(report.flows.matrix[from][to]);
    });
  });
  new Chart(document.getElementById("chart-flows"), {
    type: "bar",
    data: { labels: flowLabels, datasets: [{ label: "status changes", data: flowValues, backgroundColor: COLORS[4] }] },
    options: { indexAxis: "y", scales: { x: { beginAtZero: true } } }
  });
})();
