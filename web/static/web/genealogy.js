// The genealogy graph: elements from the server (#elements), drawn by Cytoscape.js: breadth-first
// levels (supplier lots on top and the item at the bottom upstream, the other way round
// downstream) while every level fits across the screen; when a level is wider (the 260 sheets
// cut from one slurry's rolls) the same levels, each wrapped into rows of ROW nodes, kind by
// kind, so that a code stays legible when zoomed in (a ring of 350 was not).
// Exposed as window.genealogy for the browser tests.
const ROW = 24;
const GAP_X = 70;
const GAP_Y = 46;

function wrappedLevels(nodes, upstream) {
  const byDepth = {};
  for (const node of nodes) (byDepth[node.data.depth] ||= []).push(node);
  const depths = Object.keys(byDepth).map(Number).sort((a, b) => (upstream ? b - a : a - b));
  const positions = {};
  let y = 0;
  for (const depth of depths) {
    const level = byDepth[depth].sort((a, b) => a.data.kind.localeCompare(b.data.kind) || a.data.id.localeCompare(b.data.id));
    const width = Math.min(level.length, ROW);
    level.forEach((node, index) => {
      positions[node.data.id] = { x: ((index % ROW) - (width - 1) / 2) * GAP_X, y: y + Math.floor(index / ROW) * GAP_Y };
    });
    y += Math.ceil(level.length / ROW) * GAP_Y + GAP_Y * 1.5;
  }
  return positions;
}

document.addEventListener("DOMContentLoaded", () => {
  const container = document.getElementById("graph");
  if (!container || !window.cytoscape) return;
  const elements = JSON.parse(document.getElementById("elements").textContent);
  const root = elements.nodes.find((node) => node.data.root);
  const upstream = container.dataset.direction === "upstream";
  const widths = {};
  for (const node of elements.nodes) widths[node.data.depth] = (widths[node.data.depth] || 0) + 1;
  const levels = {
    name: "breadthfirst",
    directed: false, // levels by distance from the item, whichever way the links point
    roots: root ? [root.data.id] : undefined,
    spacingFactor: 0.9,
    transform: upstream ? (node, pos) => ({ x: pos.x, y: -pos.y }) : undefined,
  };
  const wide = Math.max(...Object.values(widths)) > 40;
  const positions = wide ? wrappedLevels(elements.nodes, upstream) : {};
  const rows = { name: "preset", positions: (node) => positions[node.id()], fit: true, padding: 20 };
  const cy = cytoscape({
    container,
    elements,
    wheelSensitivity: 0.3,
    style: [
      { selector: "node", style: {
          "background-color": "data(colour)", label: "data(label)", "font-size": 9, color: "#222",
          "text-valign": "bottom", "text-margin-y": 3, width: 18, height: 18 } },
      { selector: "node[?root]", style: { width: 30, height: 30, "font-size": 12, "font-weight": "bold" } },
      { selector: 'node[status = "on_hold"]', style: { "border-width": 4, "border-color": "#e74c3c" } },
      { selector: 'node[status = "scrapped"]', style: { "border-width": 3, "border-style": "dashed", "border-color": "#222", opacity: 0.6 } },
      { selector: "edge", style: {
          width: 1, "line-color": "#aab", "target-arrow-color": "#aab", "target-arrow-shape": "triangle",
          "curve-style": "bezier", "arrow-scale": 0.6 } },
      { selector: "edge:selected, edge.hover", style: { label: "data(step)", "font-size": 8, "line-color": "#333" } },
    ],
    layout: wide ? rows : levels,
  });
  cy.on("tap", "node", (event) => { window.location.href = event.target.data("url"); });
  cy.on("mouseover", "edge", (event) => {
    const edge = event.target;
    edge.addClass("hover");
    edge.style("label", [edge.data("step"), edge.data("stretch")].filter(Boolean).join(" "));
  });
  cy.on("mouseout", "edge", (event) => { event.target.removeClass("hover"); event.target.removeStyle("label"); });
  document.getElementById("fit")?.addEventListener("click", () => cy.fit(undefined, 20));
  window.genealogy = cy;
});
