/* Draws the dashboards' charts with Chart.js (static/vendor/chartjs, from the npm registry).
   Each <canvas data-chart="ID"> reads its figures from the JSON block #ID (json_script). The canvas has
   role="img" and an aria-label; the text summary and the data table next to it carry the same figures. */
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") return;
  // Colours with at least 3:1 contrast on white, and a different dash and point shape per series (not colour alone).
  var COLOURS = ["#1d5fa8", "#b4321f", "#2e7d32", "#6a3d9a"];
  var DASHES = [[], [6, 4], [2, 3], [10, 3, 2, 3]];
  var POINTS = ["circle", "rect", "triangle", "rectRot"];

  function draw(canvas) {
    var source = document.getElementById(canvas.getAttribute("data-chart"));
    if (!source) return;
    var spec = JSON.parse(source.textContent);
    var datasets = spec.datasets.map(function (dataset, index) {
      var colour = COLOURS[index % COLOURS.length];
      return Object.assign({
        borderColor: colour,
        backgroundColor: spec.type === "bar" ? colour : colour,
        borderDash: spec.type === "line" ? DASHES[index % DASHES.length] : [],
        pointStyle: POINTS[index % POINTS.length],
        pointRadius: spec.labels.length > 60 ? 0 : 3,
        borderWidth: 2,
        spanGaps: true
      }, dataset);
    });
    var valueAxis = {beginAtZero: true, title: {display: !!spec.yLabel, text: spec.yLabel}, ticks: {precision: 0}};
    if (spec.max) valueAxis.max = spec.max;
    var horizontal = spec.indexAxis === "y";
    new window.Chart(canvas, {
      type: spec.type,
      data: {labels: spec.labels, datasets: datasets},
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        indexAxis: horizontal ? "y" : "x",
        plugins: {legend: {display: datasets.length > 1, labels: {usePointStyle: true}}},
        scales: horizontal ? {x: valueAxis} : {y: valueAxis}
      }
    });
  }

  document.querySelectorAll("canvas[data-chart]").forEach(draw);
})();
