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
  var info = new Map();  // per row, read once: its groups, whether it is a layer, its search text
  rows.forEach(function (tr) {
    byId.set(tr.dataset.id, tr);
    var full = tr.cells[1].querySelector("span[title]");
    info.set(tr, {
      ancestors: tr.dataset.ancestors ? tr.dataset.ancestors.split(" ") : [],
      layer: tr.classList.contains("layer"),
      text: ((full ? full.title : "") + " " + tr.cells[2].textContent).toLowerCase(),
      order: Number(tr.dataset.order),
      hidden: false
    });
  });
  var keys = [];  // per column, the sort key of each row, made on the first sort by it

  function ancestors(tr) { return info.get(tr).ancestors; }

  function refresh() {
    var text = filter.value.trim().toLowerCase();
    var flat = sort.direction !== 0 || text !== "";
    var shown = 0;
    rows.forEach(function (tr) {
      var row = info.get(tr);
      var visible;
      if (flat) {  // sorted or filtered: the layers alone, whatever is collapsed
        visible = row.layer && (text === "" || row.text.indexOf(text) >= 0);
      } else {
        visible = !row.ancestors.some(function (g) { return collapsed.has(g); });
      }
      if (row.hidden === visible) {  // touch the DOM only where something changes
        tr.classList.toggle("hidden", !visible);
        row.hidden = !visible;
      }
      if (visible && row.layer) { shown += 1; }
      if (!row.layer) {
        var open = collapsed.has(tr.dataset.id) ? "false" : "true";
        var toggle = tr.querySelector("button.toggle");
        if (toggle.getAttribute("aria-expanded") !== open) {
          toggle.setAttribute("aria-expanded", open);
        }
      }
    });
    table.classList.toggle("flat", flat);
    status.textContent = shown + " of " + data.rows + " layers shown" +
      (sort.direction ? " · sorted by " + heads[sort.column].textContent.trim() +
       (sort.direction > 0 ? " ascending" : " descending") : "") +
      (text ? " · filter “" + text + "”" : "");
  }

  function sortKeys(column) {
    if (!keys[column]) {
      var numeric = heads[column].classList.contains("num");
      var made = new Map();
      rows.forEach(function (tr) {
        var raw = tr.cells[column].dataset.v;
        made.set(tr, numeric ? Number(raw) : raw.toLowerCase());
      });
      keys[column] = made;
    }
    return keys[column];
  }

  function sortBy(column) {
    if (sort.column !== column) { sort = { column: column, direction: 1 }; }
    else { sort.direction = sort.direction === 1 ? -1 : sort.direction === -1 ? 0 : 1; }
    var ordered = rows.slice();
    var order = function (a, b) { return info.get(a).order - info.get(b).order; };
    if (sort.direction !== 0) {
      var key = sortKeys(column);
      order = function (a, b) {
        var x = key.get(a), y = key.get(b);
        var c = x < y ? -1 : x > y ? 1 : 0;
        return c * sort.direction || info.get(a).order - info.get(b).order;  // ties: network
      };
    }
    ordered.sort(order);
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
      var name = tr.cells[1].querySelector("b");
      explainBox.textContent = name.title + " (" + tr.cells[1].querySelector(".dim").textContent +
        ")\n" +
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
