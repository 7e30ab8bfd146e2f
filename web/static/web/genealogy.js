// The genealogy graph: elements from the server (#elements), drawn by Cytoscape.js with its own
// layouts: breadth-first levels (raw material on top and the item at the bottom upstream, the
// other way round downstream) while every level fits across the screen; rings around the item
// (one per level) when a level is wider, as the 260 sheets cut from one slurry's rolls are.
// Exposed as window.genealogy for the browser tests.
document.addEventListener("DOMContentLoaded", () => {
  const container = document.getElementById("graph");
  if (!container || !window.cytoscape) return;
  const elements = JSON.parse(document.getElementById("elements").textContent);
  const root = elements.nodes.find((node) => node.data.root);
  const widths = {};
  for (const node of elements.nodes) widths[node.data.depth] = (widths[node.data.depth] || 0) + 1;
  const deepest = Math.max(...Object.keys(widths).map(Number));
  const levels = {
    name: "breadthfirst",
    directed: false, // levels by distance from the item, whichever way the links point
    roots: root ? [root.data.id] : undefined,
    spacingFactor: 0.9,
    transform: container.dataset.direction === "upstream" ? (node, pos) => ({ x: pos.x, y: -pos.y }) : undefined,
  };
  const rings = {
    name: "concentric",
    concentric: (node) => deepest - node.data("depth"),
    levelWidth: () => 1,
    minNodeSpacing: 6,
  };
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
    layout: Math.max(...Object.values(widths)) <= 40 ? levels : rings,
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
