// archcalc report page: collapse by block, sort by any column, filter, derivation on click.
// Plain browser JavaScript, no library, no network. The table is in the HTML already; this
// script only shows, hides and reorders its rows.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("archcalc-data").textContent);
  var table = document.getElementById("layers");
  var tbody = table.tBodies[0];
  var rows = Array.prototype.slice.call(tbody.rows);
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var filter = document.getElementById("filter");
  var status = document.getElementById("status");
  var explainBox = document.getElementById("explain");
  var diagram = document.getElementById("diagram");
  var collapsed = new Set();
  var sort = { column: -1, direction: 0 };  // direction 1 ascending, -1 descending, 0 none
  var byId = new Map();
  rows.forEach(function (tr) { byId.set(tr.dataset.id, tr); });

  function ancestors(tr) {
    return tr.dataset.ancestors ? tr.dataset.ancestors.split(" ") : [];
  }

  function refresh() {
    var text = filter.value.trim().toLowerCase();
    var flat = sort.direction !== 0 || text !== "";
    var shown = 0;
    rows.forEach(function (tr) {
      var visible;
      if (flat) {  // sorted or filtered: the layers alone, whatever is collapsed
        visible = tr.classList.contains("layer") &&
          (text === "" || tr.cells[1].textContent.toLowerCase().indexOf(text) >= 0 ||
           tr.cells[1].querySelector("span[title]").title.toLowerCase().indexOf(text) >= 0 ||
           tr.cells[2].textContent.toLowerCase().indexOf(text) >= 0);
      } else {
        visible = !ancestors(tr).some(function (g) { return collapsed.has(g); });
      }
      tr.classList.toggle("hidden", !visible);
      if (visible && tr.classList.contains("layer")) { shown += 1; }
      if (tr.classList.contains("group")) {
        tr.querySelector("button.toggle").setAttribute(
          "aria-expanded", collapsed.has(tr.dataset.id) ? "false" : "true");
      }
    });
    table.classList.toggle("flat", flat);
    status.textContent = shown + " of " + data.rows + " layers shown" +
      (sort.direction ? " · sorted by " + heads[sort.column].textContent.trim() +
       (sort.direction > 0 ? " ascending" : " descending") : "") +
      (text ? " · filter “" + text + "”" : "");
  }

  function value(tr, column, numeric) {
    var raw = tr.cells[column].dataset.v;
    return numeric ? Number(raw) : raw.toLowerCase();
  }

  function sortBy(column) {
    var numeric = heads[column].classList.contains("num");
    if (sort.column !== column) { sort = { column: column, direction: 1 }; }
    else { sort.direction = sort.direction === 1 ? -1 : sort.direction === -1 ? 0 : 1; }
    var ordered = rows.slice();
    if (sort.direction === 0) {
      ordered.sort(function (a, b) { return a.dataset.order - b.dataset.order; });
    } else {
      ordered.sort(function (a, b) {
        var x = value(a, column, numeric), y = value(b, column, numeric);
        var c = x < y ? -1 : x > y ? 1 : 0;
        return c * sort.direction || a.dataset.order - b.dataset.order;
      });
    }
    var fragment = document.createDocumentFragment();
    ordered.forEach(function (tr) { fragment.appendChild(tr); });
    tbody.appendChild(fragment);
    heads.forEach(function (th, i) {
      th.setAttribute("aria-sort", i !== sort.column || sort.direction === 0 ? "none" :
        sort.direction > 0 ? "ascending" : "descending");
    });
    refresh();
  }

  function setDepth(depth) {
    collapsed.clear();
    rows.forEach(function (tr) {
      if (tr.classList.contains("group") && depth !== null &&
          Number(tr.dataset.level) >= depth) {
        collapsed.add(tr.dataset.id);
      }
    });
    document.querySelectorAll("button[data-depth]").forEach(function (b) {
      b.classList.toggle("active", b.dataset.depth === String(depth === null ? "all" : depth));
    });
    refresh();
  }

  function diagramNode(id) {
    if (!diagram) { return null; }
    var found = null;
    diagram.querySelectorAll("g.node").forEach(function (g) {
      var title = g.querySelector("title");
      if (title && title.textContent === id) { found = g; }
    });
    return found;
  }

  function select(tr, scroll) {
    rows.forEach(function (r) { r.classList.remove("selected"); });
    tr.classList.add("selected");
    if (tr.classList.contains("layer")) {
      explainBox.textContent = data.explain[Number(tr.dataset.row)];
    } else {
      var c = tr.cells;
      explainBox.textContent = tr.cells[1].textContent.trim() + "\n" +
        "output " + c[3].textContent + "\nparams " + c[4].textContent + "\nMACs " +
        c[5].textContent + "\nFLOPs " + c[6].textContent + "\nmemory " + c[7].textContent +
        "\n\nthe sums over its layers (rows " + (Number(tr.dataset.first) + 1) + " to " +
        (Number(tr.dataset.last) + 1) + ")";
    }
    if (diagram) {
      diagram.querySelectorAll("g.node.selected").forEach(function (g) {
        g.classList.remove("selected");
      });
      var ids = [tr.dataset.id].concat(ancestors(tr).reverse());
      for (var i = 0; i < ids.length; i += 1) {  // the box itself, or the block drawn for it
        var g = diagramNode(ids[i]);
        if (g) { g.classList.add("selected"); break; }
      }
    }
    if (scroll) {
      var hidden = ancestors(tr).filter(function (g) { return collapsed.has(g); });
      hidden.forEach(function (g) { collapsed.delete(g); });
      if (hidden.length) { refresh(); }
      tr.scrollIntoView({ block: "center" });
    }
  }

  heads.forEach(function (th, i) {
    th.querySelector("button").addEventListener("click", function () { sortBy(i); });
  });
  tbody.addEventListener("click", function (event) {
    var tr = event.target.closest("tr");
    if (!tr) { return; }
    if (event.target.closest("button.toggle")) {
      var id = tr.dataset.id;
      if (collapsed.has(id)) { collapsed.delete(id); } else { collapsed.add(id); }
      refresh();
      return;
    }
    select(tr, false);
  });
  tbody.addEventListener("keydown", function (event) {
    var tr = event.target.closest("tr");
    if (tr && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      if (tr.classList.contains("group")) { tr.querySelector("button.toggle").click(); }
      else { select(tr, false); }
    }
  });
  filter.addEventListener("input", refresh);
  document.querySelectorAll("button[data-depth]").forEach(function (b) {
    b.addEventListener("click", function () {
      setDepth(b.dataset.depth === "all" ? null : Number(b.dataset.depth));
    });
  });
  document.querySelectorAll("button[data-zoom]").forEach(function (b) {
    b.addEventListener("click", function () {
      if (diagram) { diagram.classList.toggle("fit", b.dataset.zoom === "fit"); }
    });
  });
  if (diagram) {
    diagram.classList.add("fit");
    diagram.addEventListener("click", function (event) {
      var g = event.target.closest("g.node");
      var title = g && g.querySelector("title");
      var tr = title && byId.get(title.textContent);
      if (tr) { select(tr, true); }
    });
  }
  setDepth(data.initialDepth);
}());
