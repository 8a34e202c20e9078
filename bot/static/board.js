// The board's charts: each element with data-trend gets an ECharts line chart (served by salesbot).
(function () {
  "use strict";
  var el = document.getElementById("trend");
  if (!el || !window.echarts) { return; }
  var trend = JSON.parse(el.getAttribute("data-trend"));
  var chart = window.echarts.init(el);
  chart.setOption({
    tooltip: { trigger: "axis" },
    legend: { type: "scroll", top: 0 },
    grid: { left: 40, right: 16, top: 40, bottom: 30 },
    xAxis: { type: "category", data: trend.weeks },
    yAxis: { type: "value" },
    series: trend.series.map(function (s) { return { name: s.name, type: "line", data: s.data, connectNulls: true }; })
  });
  window.addEventListener("resize", function () { chart.resize(); });
}());
