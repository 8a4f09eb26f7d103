// thetawheel Overview charts: read /api/v1/charts/... for the chosen range and draw them with Chart.js
// (vendored: static/vendor/chartjs). window.thetawheelCharts.refresh() redraws them (the page's live update
// may call it); without such calls they refresh themselves every data-refresh-seconds of <body>.
// After each drawing the section carries data-state="drawn" and data-draws (a counter), every card
// data-points (how many values it shows) — for people and tests alike.
(function () {
  "use strict";
  var section = document.getElementById("charts");
  if (!section) return;
  var statusEl = document.getElementById("charts-status");
  var seconds = parseInt(document.body.dataset.refreshSeconds || "30", 10);
  var charts = {};
  var generation = 0;
  var lastRefresh = 0;
  var draws = 0;

  var css = window.getComputedStyle(document.documentElement);
  function color(name, fallback) {
    return (css.getPropertyValue(name) || "").trim() || fallback;
  }
  var C = {
    accent: color("--accent", "#1f3a5f"),
    pos: color("--pos", "#137333"),
    neg: color("--neg", "#c5221f"),
    warn: color("--warn", "#b06000"),
    muted: color("--muted", "#6b7480"),
    line: color("--line", "#e1e4e8"),
  };

  var usd0 = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", maximumFractionDigits: 0 });
  var usd2 = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", minimumFractionDigits: 2 });
  function money(v) {
    return v === null || v === undefined ? "—" : usd2.format(v);
  }
  // An axis tick in dollars, short ("$1.04M", "$250K", "$50") with as many decimals as the tick step
  // needs to tell neighbouring ticks apart.
  function axisMoney(value, index, ticks) {
    if (value === 0) return "$0";
    var step = ticks.length > 1 ? Math.abs(ticks[1].value - ticks[0].value) : Math.abs(value);
    var big = Math.max(Math.abs(ticks[0].value), Math.abs(ticks[ticks.length - 1].value));
    var unit = big >= 1e6 ? 1e6 : big >= 1e4 ? 1e3 : 1;
    var suffix = unit === 1e6 ? "M" : unit === 1e3 ? "K" : "";
    var digits = step > 0 ? Math.min(4, Math.max(0, Math.ceil(-Math.log10(step / unit) - 1e-9))) : 0;
    var text = (Math.abs(value) / unit).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
    return (value < 0 ? "−$" : "$") + text + suffix;
  }
  var etDay = new Intl.DateTimeFormat("en-US", { timeZone: "America/New_York", month: "short", day: "numeric" });
  var etTime = new Intl.DateTimeFormat("en-US", {
    timeZone: "America/New_York", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });
  var etIso = new Intl.DateTimeFormat("en-CA", { timeZone: "America/New_York", year: "numeric", month: "2-digit", day: "2-digit" });

  function tsLabel(ts, bucket) { // an hourly point on two lines: day, then time of day
    var d = new Date(ts);
    return bucket === "hour" ? [etDay.format(d), etTime.format(d)] : etDay.format(d);
  }
  function dayLabel(day) { // "2026-11-03" → "Nov 3"
    var p = day.split("-");
    return etDay.format(new Date(Date.UTC(+p[0], +p[1] - 1, +p[2], 17)));
  }
  function monthLabel(month) { // "2026-11" → "Nov 2026"
    var p = month.split("-");
    return new Date(Date.UTC(+p[0], +p[1] - 1, 15)).toLocaleString("en-US", { month: "short", year: "numeric", timeZone: "UTC" });
  }

  function fromDay(days) { // today in New York − (days − 1), as YYYY-MM-DD
    var p = etIso.format(new Date()).split("-");
    var t = Date.UTC(+p[0], +p[1] - 1, +p[2]) - (days - 1) * 86400000;
    return new Date(t).toISOString().slice(0, 10);
  }

  function scales(xTitle, yTitle, opts) {
    opts = opts || {};
    var money = { title: { display: true, text: yTitle }, ticks: { callback: axisMoney }, grid: { color: C.line } };
    var other = { title: { display: true, text: xTitle }, ticks: { autoSkip: true, autoSkipPadding: 12, maxRotation: 0, maxTicksLimit: 6 }, grid: { display: false } };
    if (opts.horizontal) {
      money.title.text = xTitle;
      other.title.text = yTitle;
      other.ticks = { autoSkip: false };
      return { x: money, y: other };
    }
    if (opts.beginAtZero) money.beginAtZero = true;
    return { x: other, y: money };
  }

  function baseOptions(extra) {
    var o = {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { label: function (ctx) { return (ctx.dataset.label ? ctx.dataset.label + ": " : "") + money(ctx.raw); } } },
      },
    };
    for (var k in extra) o[k] = extra[k];
    return o;
  }

  function card(name) {
    return section.querySelector('[data-chart="' + name + '"]');
  }

  // Draw (or update in place) the chart ``name`` with Chart.js ``config``; ``count`` values are shown.
  function draw(name, count, config) {
    var el = card(name);
    el.dataset.points = String(count);
    el.dataset.empty = count === 0 ? "true" : "false";
    el.querySelector(".chart-empty").hidden = count !== 0;
    var chart = charts[name];
    if (chart && chart.config.type === config.type) {
      chart.data = config.data;
      chart.options = config.options;
      chart.update("none");
    } else {
      if (chart) chart.destroy();
      charts[name] = new window.Chart(document.getElementById("chart-" + name), config);
    }
  }

  function drawNetLiq(body) {
    var pts = body.points;
    draw("net-liquidation", pts.length, {
      type: "line",
      data: {
        labels: pts.map(function (p) { return tsLabel(p.ts, body.bucket); }),
        datasets: [{ label: "Net liquidation", data: pts.map(function (p) { return p.net_liquidation_usd; }),
          borderColor: C.accent, backgroundColor: C.accent, pointRadius: pts.length > 60 ? 0 : 2, borderWidth: 2, tension: 0.1 }],
      },
      options: baseOptions({ scales: scales("Time (US/Eastern, per " + body.bucket + ")", "Net liquidation ($)") }),
    });
  }

  function drawDailyPnl(body) {
    var days = body.days;
    var values = days.map(function (d) { return d.pnl_usd; });
    draw("daily-pnl", days.length, {
      type: "bar",
      data: {
        labels: days.map(function (d) { return dayLabel(d.trading_day); }),
        datasets: [{ label: "P&L", data: values,
          backgroundColor: values.map(function (v) { return v < 0 ? C.neg : C.pos; }) }],
      },
      options: baseOptions({ scales: scales("Trading day", "P&L ($ per day)", { beginAtZero: true }) }),
    });
  }

  function premiumTooltip(rows) {
    return { callbacks: {
      label: function (ctx) { return "Net: " + money(ctx.raw); },
      afterLabel: function (ctx) {
        var r = rows[ctx.dataIndex];
        return "credits " + money(r.credits_usd) + ", debits " + money(r.debits_usd) + ", commissions " + money(r.commissions_usd);
      },
    } };
  }

  function drawPremium(body) {
    var months = body.months;
    var traded = months.filter(function (m) { return m.legs > 0; }).length;
    var o = baseOptions({ scales: scales("Month (US/Eastern)", "Net premium ($ per month)", { beginAtZero: true }) });
    o.plugins.tooltip = premiumTooltip(months);
    draw("premium-month", traded ? months.length : 0, {
      type: "bar",
      data: {
        labels: months.map(function (m) { return monthLabel(m.month); }),
        datasets: [{ label: "Net premium", data: months.map(function (m) { return m.net_premium_usd; }), backgroundColor: C.pos }],
      },
      options: o,
    });
    var syms = body.symbols;
    var so = baseOptions({ indexAxis: "y", scales: scales("Net premium ($ in range)", "Symbol", { horizontal: true }) });
    so.plugins.tooltip = premiumTooltip(syms);
    draw("premium-symbol", syms.length, {
      type: "bar",
      data: {
        labels: syms.map(function (s) { return s.symbol; }),
        datasets: [{ label: "Net premium", data: syms.map(function (s) { return s.net_premium_usd; }), backgroundColor: C.accent }],
      },
      options: so,
    });
  }

  function drawCollateral(body) {
    var now = body.now;
    var known = now.net_liquidation_usd !== null;
    var free = now.free_usd === null ? null : Math.max(0, now.free_usd);
    var o = baseOptions({ indexAxis: "y", scales: scales("Dollars ($)", "", { horizontal: true }) });
    o.scales.x.stacked = true;
    o.scales.y.stacked = true;
    o.scales.y.title.display = false;
    o.plugins.legend = { display: true, position: "bottom", labels: { boxWidth: 12 } };
    o.plugins.title = { display: now.csp_limit_usd !== null, color: C.muted,
      text: "CSP limit " + usd0.format(now.csp_limit_usd) + " (" + Math.round(now.csp_limit_fraction * 100) +
        " % of net liq.) · used " + usd0.format(now.csp_total_usd) };
    draw("collateral-now", known ? 3 : 0, {
      type: "bar",
      data: {
        labels: ["Now"],
        datasets: [
          { label: "Puts held", data: [now.csp_held_usd], backgroundColor: C.accent },
          { label: "Pending", data: [now.csp_pending_usd], backgroundColor: C.warn },
          { label: "Free", data: [free], backgroundColor: C.pos },
        ],
      },
      options: o,
    });
    var h = body.history;
    var ho = baseOptions({ scales: scales("Time (US/Eastern, per " + body.bucket + ")", "Dollars ($)", { beginAtZero: true }) });
    ho.plugins.legend = { display: true, position: "bottom", labels: { boxWidth: 12 } };
    var radius = h.length > 60 ? 0 : 2;
    draw("collateral-history", h.length, {
      type: "line",
      data: {
        labels: h.map(function (p) { return tsLabel(p.ts, body.bucket); }),
        datasets: [
          { label: "Maintenance margin (used)", data: h.map(function (p) { return p.maint_margin_usd; }),
            borderColor: C.neg, backgroundColor: C.neg, pointRadius: radius, borderWidth: 2 },
          { label: "Available funds (free)", data: h.map(function (p) { return p.available_funds_usd; }),
            borderColor: C.pos, backgroundColor: C.pos, pointRadius: radius, borderWidth: 2 },
        ],
      },
      options: ho,
    });
  }

  function getJson(url) {
    return window.fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (body) {
        if (!resp.ok) throw new Error((body && body.error) || "HTTP " + resp.status);
        return body;
      });
    });
  }

  function setStatus(text, isError) {
    statusEl.textContent = text;
    statusEl.classList.toggle("error", !!isError);
  }

  // Fetch the four endpoints for the current range and redraw; returns a Promise.
  function refresh() {
    var mine = ++generation;
    lastRefresh = Date.now();
    if (!window.Chart) {
      section.dataset.state = "error";
      setStatus("The chart library did not load (static/vendor/chartjs).", true);
      return Promise.resolve();
    }
    var days = parseInt(section.dataset.rangeDays || "90", 10);
    var query = "?from=" + encodeURIComponent(fromDay(days));
    var d = section.dataset;
    return Promise.all([
      getJson(d.urlNetLiquidation + query),
      getJson(d.urlDailyPnl + query),
      getJson(d.urlPremium + query),
      getJson(d.urlCollateral + query),
    ]).then(function (bodies) {
      if (mine !== generation) return; // a newer refresh (another range) is under way
      drawNetLiq(bodies[0]);
      drawDailyPnl(bodies[1]);
      drawPremium(bodies[2]);
      drawCollateral(bodies[3]);
      var r = bodies[0].range;
      draws += 1;
      section.dataset.draws = String(draws);
      section.dataset.state = "drawn";
      setStatus(dayLabel(r.from_day) + " – " + dayLabel(r.to_day) + " " + r.to_day.slice(0, 4) + " (" + r.days +
        " days) · drawn " + new Date().toISOString().slice(11, 19) + " UTC", false);
    }).catch(function (err) {
      if (mine !== generation) return;
      section.dataset.state = "error";
      setStatus("Charts not updated: " + err.message, true);
    });
  }

  section.querySelectorAll(".charts-range button").forEach(function (button) {
    button.addEventListener("click", function () {
      section.querySelectorAll(".charts-range button").forEach(function (b) {
        b.setAttribute("aria-pressed", b === button ? "true" : "false");
      });
      section.dataset.rangeDays = button.dataset.rangeDays;
      refresh();
    });
  });

  var lastExternal = 0;
  window.thetawheelCharts = {
    refresh: function () { // for the page's live update: while it calls, the charts' own timer stays quiet
      lastExternal = Date.now();
      return refresh();
    },
  };
  refresh();
  if (seconds > 0) {
    window.setInterval(function () {
      var now = Date.now();
      if (document.hidden || now - lastExternal < seconds * 1500) return;
      if (now - lastRefresh >= seconds * 1000 - 250) refresh();
    }, seconds * 1000);
  }
})();
