// thetawheel dashboard, in the page:
// - live updates: every N seconds (body data-refresh-seconds; 0 = never, as on error pages) fetch this page
//   again and swap the content of <main> and the clock in place — no reload. Never while a form is being
//   edited or submitted; a failed fetch leaves the page as it is and says "update failed, retrying".
//   Top-level elements of <main> marked data-static (charts) are kept as they are. After each update
//   window.thetawheelCharts.refresh() runs when another script defined it.
// - tables with class "sortable" sort by a click on a header; the opportunities filter by symbol / right.
// - forms are not submitted twice (the clicked button shows its data-busy text meanwhile).
(function () {
  "use strict";
  var body = document.body;
  var seconds = parseInt(body.dataset.refreshSeconds || "0", 10);
  var remaining = seconds;
  var submitting = false;
  var failed = false;
  var inFlight = false;
  var sortState = load("thetawheel-sort") || {}; // table id -> {col, dir}
  var filterText = sessionStorage.getItem("thetawheel-filter") || "";

  function load(key) {
    try { return JSON.parse(sessionStorage.getItem(key) || "null"); } catch (e) { return null; }
  }

  function note(text, isError) {
    var el = document.getElementById("refresh-note");
    if (!el) return;
    el.textContent = text;
    el.classList.toggle("refresh-failed", !!isError);
  }

  document.addEventListener("submit", function (event) {
    submitting = true;
    var button = event.target.querySelector("button[type=submit]");
    if (button) {
      button.disabled = true;
      button.textContent = button.dataset.busy || "Sending…";
    }
  });

  // A form is being edited: focus in one of its fields, or a field changed from what the page rendered.
  function editing() {
    var el = document.activeElement;
    if (el && el.form && /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName)) return true;
    var fields = document.querySelectorAll("main form input, main form select, main form textarea");
    for (var i = 0; i < fields.length; i++) {
      var f = fields[i];
      if (f.type === "hidden") continue;
      if (f.tagName === "SELECT") {
        for (var j = 0; j < f.options.length; j++) {
          if (f.options[j].selected !== f.options[j].defaultSelected) return true;
        }
      } else if (f.type === "checkbox" || f.type === "radio") {
        if (f.checked !== f.defaultChecked) return true;
      } else if (f.value !== f.defaultValue) {
        return true;
      }
    }
    return false;
  }

  function isStatic(el) {
    return el.hasAttribute("data-static");
  }

  // Swap the fresh page's <main> children and clock into this page, keeping data-static elements.
  function swap(doc) {
    var main = document.querySelector("main");
    var fresh = doc.querySelector("main");
    if (!main || !fresh) throw new Error("no content in the response");
    var kept = {};
    Array.prototype.forEach.call(main.children, function (el) {
      if (el.id && isStatic(el)) kept[el.id] = el;
    });
    var nodes = [];
    Array.prototype.forEach.call(main.querySelectorAll(":scope > .flash"), function (el) {
      nodes.push(el); // a flash message from the last action stays until the user leaves the page
    });
    var scripts = {};
    Array.prototype.forEach.call(main.querySelectorAll(":scope > script[src]"), function (el) {
      scripts[el.getAttribute("src")] = el;
    });
    Array.prototype.forEach.call(fresh.children, function (el) {
      if (el.id && kept[el.id]) nodes.push(kept[el.id]);
      else if (el.tagName === "SCRIPT") { // scripts run once: keep the loaded one, never run a copy
        var old = scripts[el.getAttribute("src")];
        if (old) nodes.push(old);
      } else nodes.push(document.importNode(el, true));
    });
    var focused = document.activeElement && document.activeElement.id ? document.activeElement : null;
    var caret = focused && typeof focused.selectionStart === "number" ? focused.selectionStart : null;
    main.replaceChildren.apply(main, nodes);
    enhance();
    if (focused && !main.contains(focused)) { // e.g. the filter box: keep typing where you were
      var again = document.getElementById(focused.id);
      if (again) {
        again.focus();
        if (caret !== null && typeof again.setSelectionRange === "function") again.setSelectionRange(caret, caret);
      }
    }
    var clock = document.getElementById("clock");
    var freshClock = doc.getElementById("clock");
    if (clock && freshClock) clock.replaceWith(document.importNode(freshClock, true));
  }

  function update() {
    if (inFlight) return;
    inFlight = true;
    note("· updating…");
    fetch(window.location.pathname + window.location.search, {
      headers: { "X-Thetawheel-Live": "1", Accept: "text/html" },
      credentials: "same-origin",
      cache: "no-store",
      redirect: "follow",
    })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (!response.ok) throw new Error("HTTP " + response.status);
        if (response.redirected && new URL(response.url).pathname !== window.location.pathname) {
          throw new Error("signed out? reload the page");
        }
        if (type.indexOf("text/html") !== 0) throw new Error("not a page");
        return response.text();
      })
      .then(function (html) {
        if (submitting || editing()) return; // the user started something meanwhile: keep their page
        swap(new DOMParser().parseFromString(html, "text/html"));
        failed = false;
        body.dataset.liveUpdates = String(parseInt(body.dataset.liveUpdates || "0", 10) + 1);
        if (window.thetawheelCharts && typeof window.thetawheelCharts.refresh === "function") {
          try { window.thetawheelCharts.refresh(); } catch (e) { /* charts report their own errors */ }
        }
      })
      .catch(function (err) {
        failed = String(err && err.message ? err.message : err);
      })
      .then(function () {
        inFlight = false;
        remaining = seconds;
        show();
      });
  }

  function show() {
    if (failed) note("· update failed (" + failed + "), retrying in " + remaining + " s", true);
    else note("· next update in " + remaining + " s");
  }

  function tick() {
    if (submitting) {
      note("· sending…");
      return;
    }
    if (inFlight) return;
    remaining -= 1;
    if (remaining <= 0) {
      if (editing()) {
        remaining = 5;
        note("· updates paused while you edit");
        return;
      }
      update();
      return;
    }
    show();
  }

  // -- tables: sort by a header click; filter the opportunities -------------------------------------
  function cellValue(row, col) {
    var cell = row.cells[col];
    if (!cell) return "";
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent;
    var text = raw.trim();
    var cleaned = text.replace(/[$,%\s]/g, "").replace(/^−/, "-");
    if (/^-?\d*\.?\d+/.test(cleaned)) return parseFloat(cleaned);
    if (text === "—" || text === "") return null;
    return text.toLowerCase();
  }

  function sortTable(table, col, dir) {
    var tbody = table.tBodies[0];
    if (!tbody) return;
    var rows = Array.prototype.slice.call(tbody.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, col), y = cellValue(b, col);
      if (x === null && y === null) return 0;
      if (x === null) return 1; // empty cells last either way
      if (y === null) return -1;
      if (typeof x !== typeof y) { x = String(x); y = String(y); }
      return (x < y ? -1 : x > y ? 1 : 0) * dir;
    });
    rows.forEach(function (r) { tbody.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.setAttribute("aria-sort", i === col ? (dir > 0 ? "ascending" : "descending") : "none");
    });
  }

  function applyFilter() {
    var table = document.getElementById("opportunities");
    var input = document.getElementById("opportunity-filter");
    if (input && input.value !== filterText) input.value = filterText;
    if (!table) return;
    var terms = filterText.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      var cell = row.querySelector("[data-filter]");
      var hay = (cell ? cell.getAttribute("data-filter") : row.textContent).toLowerCase();
      var ok = terms.every(function (t) { return hay.indexOf(t) !== -1; });
      row.hidden = !ok;
      if (ok) shown += 1;
    });
    var count = document.getElementById("filter-count");
    if (count) count.textContent = terms.length ? shown + " of " + table.tBodies[0].rows.length + " shown" : "";
  }

  function enhance() {
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
      var state = sortState[table.id];
      if (state) sortTable(table, state.col, state.dir);
    });
    applyFilter();
  }

  document.addEventListener("click", function (event) {
    var th = event.target.closest && event.target.closest("table.sortable thead th");
    if (!th || th.hasAttribute("data-nosort")) return;
    var table = th.closest("table");
    var col = th.cellIndex;
    var state = sortState[table.id];
    var dir = state && state.col === col ? -state.dir : 1;
    sortState[table.id] = { col: col, dir: dir };
    sessionStorage.setItem("thetawheel-sort", JSON.stringify(sortState));
    sortTable(table, col, dir);
  });

  document.addEventListener("input", function (event) {
    if (event.target.id !== "opportunity-filter") return;
    filterText = event.target.value;
    sessionStorage.setItem("thetawheel-filter", filterText);
    applyFilter();
  });

  enhance();
  window.thetawheelLive = { update: update };
  if (seconds > 0) {
    show();
    window.setInterval(tick, 1000);
  }
})();
