// The board's charts, drawn by the vendored ECharts (served by salesbot): the 健康度 trend lines and the
// 商机漏斗 funnel. Each chart element carries its figures as JSON in a data attribute.
(function () {
  "use strict";
  function draw(id, attribute, option) {
    var el = document.getElementById(id);
    if (!el || !window.echarts) { return; }
    var chart = window.echarts.init(el);
    chart.setOption(option(JSON.parse(el.getAttribute(attribute))));
    window.addEventListener("resize", function () { chart.resize(); });
  }
  draw("trend", "data-trend", function (trend) {
    return {
      tooltip: { trigger: "axis" },
      legend: { type: "scroll", top: 0 },
      grid: { left: 40, right: 16, top: 40, bottom: 30 },
      xAxis: { type: "category", data: trend.weeks },
      yAxis: { type: "value" },
      series: trend.series.map(function (s) { return { name: s.name, type: "line", data: s.data, connectNulls: true }; })
    };
  });
  draw("funnel", "data-chart", function (funnel) {
    return {
      tooltip: {
        trigger: "item",
        formatter: function (p) { return p.name + "：" + p.value + " 个，金额 " + funnel.amounts[p.dataIndex].toLocaleString(); }
      },
      series: [{
        type: "funnel", sort: "none", left: "5%", width: "90%", top: 10, bottom: 10, minSize: "20%",
        label: { show: true, position: "inside", formatter: "{b} {c}" },
        data: funnel.stages.map(function (name, i) { return { name: name, value: funnel.counts[i] }; })
      }]
    };
  });
}());
