// Draws the plots of an item page with Plotly: the data and the stretches come from the server
// (#plots); each stretch that went into a daughter item is a shaded band along the x axis.
document.addEventListener("DOMContentLoaded", () => {
  const source = document.getElementById("plots");
  const area = document.getElementById("plot-area");
  if (!source || !area || !window.Plotly) return;
  for (const plot of JSON.parse(source.textContent)) {
    const div = document.createElement("div");
    div.className = "plot";
    area.appendChild(div);
    const shapes = plot.bands.map((band, index) => ({
      type: "rect", xref: "x", yref: "paper", x0: band.from, x1: band.to, y0: 0, y1: 1,
      fillcolor: index % 2 ? "#2980b9" : "#27ae60", opacity: 0.12, line: { width: 0 },
      label: { text: band.label, textposition: "top center", font: { size: 9 } },
    }));
    if (plot.low !== null && plot.low !== undefined) {
      for (const y of [plot.low, plot.high]) {
        shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, y0: y, y1: y, line: { dash: "dot", color: "#c0392b", width: 1 } });
      }
    }
    // The specification limits that apply to the item: lower and upper solid red, target dashed green.
    const limits = plot.limits || null;
    if (limits) {
      div.dataset.limits = limits.text;
      const lines = [["lower", limits.lower, "#c0392b", "solid"], ["upper", limits.upper, "#c0392b", "solid"],
        ["target", limits.target, "#27ae60", "dash"]];
      for (const [name, y, color, dash] of lines) {
        if (y === null || y === undefined) continue;
        shapes.push({ type: "line", name: `limit-${name}`, xref: "paper", x0: 0, x1: 1, y0: y, y1: y,
          line: { color, width: 1.5, dash }, label: { text: `${name} ${y}`, textposition: "end", font: { size: 10, color } } });
      }
    }
    const traces = [{
      x: plot.x, y: plot.y, mode: "lines+markers", marker: { size: 3 }, name: plot.y_title,
      hovertemplate: "%{y:.4~g} at %{x:.4~g}<extra></extra>", // 4 significant digits, as the tables
    }];
    const flags = plot.flags || [];
    if (flags.some(Boolean)) {
      traces.push({ x: plot.x.filter((_, i) => flags[i]), y: plot.y.filter((_, i) => flags[i]), mode: "markers",
        marker: { size: 7, color: "#c0392b", symbol: "x" }, name: "outside specification limits" });
    }
    Plotly.newPlot(div, traces, {
      title: { text: plot.title }, shapes, height: 360, margin: { t: 40, r: 10, b: 40, l: 60 },
      xaxis: { title: { text: plot.x_title } }, yaxis: { title: { text: plot.y_title } },
    }, { responsive: true, displaylogo: false });
  }
});
