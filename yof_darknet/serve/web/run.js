// The run of `serve --run runs/NAME`: Table II (map/table2.csv) and the run's figures.

const FIGURES = [
  ["results.png", "Training curves (loss, mAP)", "`yof-darknet train` writes it"],
  ["pr_curves.png", "Precision-recall curves", "`yof-darknet map` writes it into map/"],
  ["confusion_matrix.png", "Confusion matrix", "`yof-darknet map` writes it into map/"],
];

function element(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  Object.assign(node, attributes);
  return node;
}

function table(rows) {
  const node = element("table", undefined, { id: "table2" });
  const [header, ...body] = rows;
  const head = node.createTHead().insertRow();
  for (const cell of header) head.append(element("th", cell));
  const tbody = node.createTBody();
  for (const row of body) {
    const tr = tbody.insertRow();
    if (row[2] === "mAP") tr.className = "total";
    for (const cell of row) tr.insertCell().textContent = cell;
  }
  return node;
}

export function showRun(run, section) {
  section.hidden = false;
  section.append(element("h2", `Run ${run.name}`), element("p", run.path, { className: "path" }));
  section.append(element("h3", "Table II"));
  section.append(
    run.table.length ? table(run.table) : element("p", run.table_hint, { className: "missing" }),
  );
  for (const [name, title, maker] of FIGURES) {
    const figure = element("figure");
    figure.append(element("figcaption", title));
    if (run.figures[name])
      figure.append(element("img", undefined, { src: `/run/${name}`, alt: title }));
    else
      figure.append(element("p", `no ${name} in ${run.path}: ${maker}`, { className: "missing" }));
    section.append(figure);
  }
}
