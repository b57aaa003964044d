// minipush console: the little glue htmx needs.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  // Send the CSRF token with every htmx request.
  document.body.addEventListener("htmx:configRequest", function (evt) {
    if (meta) evt.detail.headers["X-CSRF-Token"] = meta.content;
  });
  // Validation failures come back as 422 with the re-rendered form: swap them.
  document.body.addEventListener("htmx:beforeSwap", function (evt) {
    var s = evt.detail.xhr.status;
    if (s === 422 || s === 409) {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
    }
  });
  // An error slot (data-error-for="<input id>") marks its input and field
  // red while it holds a message: the live checks swap the slots alone.
  function markErrors() {
    document.querySelectorAll("[data-error-for]").forEach(function (slot) {
      var input = document.getElementById(slot.dataset.errorFor);
      var bad = !slot.hidden && slot.textContent.trim() !== "";
      if (input) input.setAttribute("aria-invalid", bad ? "true" : "false");
      var field = slot.closest(".field");
      if (field) field.classList.toggle("has-error", bad);
    });
  }
  document.body.addEventListener("htmx:afterSettle", markErrors);
  document.body.addEventListener("htmx:oobAfterSwap", markErrors);
  // Keyword picker: rows move up and down (the form posts the checked
  // boxes in row order), chosen rows are numbered, a search box hides rows.
  function numberRows(tbody) {
    var n = 0;
    tbody.querySelectorAll("tr").forEach(function (tr) {
      var box = tr.querySelector("input[type=checkbox]"), no = tr.querySelector("[data-order-no]");
      if (no) no.textContent = box && box.checked ? String(++n) : "";
    });
  }
  function numberAll() { document.querySelectorAll("[data-order-rows]").forEach(numberRows); }
  document.addEventListener("click", function (evt) {
    var b = evt.target.closest && evt.target.closest("[data-move]");
    if (!b) return;
    var tr = b.closest("tr"), tbody = tr && tr.parentNode;
    if (!tbody || !tbody.hasAttribute("data-order-rows")) return;
    if (b.dataset.move === "up" && tr.previousElementSibling) tbody.insertBefore(tr, tr.previousElementSibling);
    if (b.dataset.move === "down" && tr.nextElementSibling) tbody.insertBefore(tr.nextElementSibling, tr);
    numberRows(tbody);
    b.focus();
  });
  document.addEventListener("change", function (evt) {
    var tbody = evt.target.closest && evt.target.closest("[data-order-rows]");
    if (tbody) numberRows(tbody);
  });
  document.addEventListener("input", function (evt) {
    var sel = evt.target.dataset && evt.target.dataset.filterRows;
    if (!sel) return;
    var q = evt.target.value.trim().toLowerCase();
    document.querySelectorAll(sel + " tr").forEach(function (tr) {
      var cell = tr.querySelector("[data-filter-text]");
      tr.hidden = q !== "" && cell !== null && cell.textContent.toLowerCase().indexOf(q) < 0;
    });
  });
  numberAll();
  document.body.addEventListener("htmx:afterSettle", numberAll);
  function boosted(el) {
    var b = el.closest("[hx-boost]");
    return b !== null && b.getAttribute("hx-boost") === "true";
  }
  // Confirm destructive actions: <form data-confirm="...">. Boosted forms
  // ask through htmx's confirm hook (htmx would ignore a cancelled submit);
  // plain forms through the submit event.
  document.body.addEventListener("htmx:confirm", function (evt) {
    var el = evt.detail.elt;
    var f = el && (el.tagName === "FORM" ? el : el.closest("form"));
    if (!f || !f.dataset.confirm) return;
    evt.preventDefault();
    if (window.confirm(f.dataset.confirm)) evt.detail.issueRequest(true);
  });
  document.addEventListener("submit", function (evt) {
    var f = evt.target;
    if (f && f.dataset && f.dataset.confirm && !boosted(f) && !window.confirm(f.dataset.confirm)) {
      evt.preventDefault();
    }
  }, true);
})();

// ---- Dashboard charts (owner: dashboard) -----------------------------------
// A chart is an element with data-chart; its data is the JSON in the
// <script type="application/json"> named by data-chart-data, already in the
// page's language. ECharts (vendored, global `echarts`) is loaded on first
// need from data-echarts-src, so only pages that draw a chart pay for it.
// htmx:load fires for the first page and for every boosted swap.
(function () {
  "use strict";
  var waiting = null;
  function withECharts(src, fn) {
    if (window.echarts) { fn(); return; }
    if (waiting) { waiting.push(fn); return; }
    waiting = [fn];
    var s = document.createElement("script");
    s.src = src;
    s.onload = function () { var q = waiting; waiting = null; q.forEach(function (f) { f(); }); };
    s.onerror = function () { waiting = null; };
    document.head.appendChild(s);
  }
  var colors = { sent: "#1677ff", delivered: "#07c160", failed: "#f5222d" };
  function draw(el) {
    if (el.dataset.chartDrawn) return;
    var src = document.getElementById(el.dataset.chartData);
    if (!src) return;
    var data = JSON.parse(src.textContent);
    el.dataset.chartDrawn = "1";
    withECharts(el.dataset.echartsSrc, function () {
      if (!el.isConnected) return;
      var chart = window.echarts.init(el);
      chart.setOption({
        color: data.series.map(function (s) { return colors[s.key] || "#888"; }),
        tooltip: { trigger: "axis" },
        legend: { top: 0 },
        grid: { left: 56, right: 16, top: 40, bottom: 28 },
        xAxis: { type: "category", data: data.days },
        yAxis: { type: "value", minInterval: 1 },
        series: data.series.map(function (s) {
          return s.key === "failed"
            ? { name: s.name, type: "bar", data: s.data, barMaxWidth: 18 }
            : { name: s.name, type: "line", data: s.data, symbolSize: 6 };
        })
      });
      el.dataset.chartReady = "1";
    });
  }
  document.addEventListener("htmx:load", function (evt) {
    var root = evt.detail.elt;
    if (!root || !root.querySelectorAll) return;
    if (root.matches("[data-chart]")) draw(root);
    root.querySelectorAll("[data-chart]").forEach(draw);
  });
  // Free a chart whose element htmx removes.
  document.addEventListener("htmx:beforeCleanupElement", function (evt) {
    var el = evt.detail.elt;
    if (el && el.dataset && el.dataset.chartDrawn && window.echarts) {
      var c = window.echarts.getInstanceByDom(el);
      if (c) c.dispose();
    }
  });
  window.addEventListener("resize", function () {
    if (!window.echarts) return;
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var c = window.echarts.getInstanceByDom(el);
      if (c) c.resize();
    });
  });
  // A select marked data-autosubmit submits its form when changed (the
  // dashboard's account selector).
  document.addEventListener("change", function (evt) {
    var t = evt.target;
    if (t && t.matches && t.matches("select[data-autosubmit]") && t.form) t.form.requestSubmit();
  });
})();

// ---- Account form and page (issue 11, security): copy the push URL, and
// show the plaintext-mode warning only while plaintext is chosen. ----
(function () {
  "use strict";
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    // Plain-HTTP consoles have no clipboard API: select and copy.
    var ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.style.position = "fixed";
    ta.style.opacity = "0";
    document.body.appendChild(ta);
    ta.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(ta);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }
  // <button data-copy="element-id" data-copied="Copied">Copy</button>
  document.addEventListener("click", function (evt) {
    var b = evt.target.closest && evt.target.closest("[data-copy]");
    if (!b) return;
    var src = document.getElementById(b.dataset.copy);
    if (!src) return;
    var label = b.textContent;
    copyText(src.textContent.trim()).then(function () {
      b.textContent = b.dataset.copied || label;
      setTimeout(function () { b.textContent = label; }, 1500);
    }, function () {
      var r = document.createRange();
      r.selectNodeContents(src); // at least select it for Ctrl+C
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(r);
    });
  });
  // <div data-when-push-mode="plain"> shows only while that mode is selected.
  document.addEventListener("change", function (evt) {
    var sel = evt.target;
    if (!sel.matches || !sel.matches('select[name="push_mode"]')) return;
    var form = sel.form || document;
    form.querySelectorAll("[data-when-push-mode]").forEach(function (el) {
      el.hidden = el.dataset.whenPushMode !== sel.value;
    });
  });
})();

// ---- Campaign run chart (campaign page only) -------------------------------
// The progress card carries <div data-run-chart="RUN"> and, beside it,
// <script type="application/json" data-run-chart-data="RUN"> with
// {labels, series:[{key,name,data}]}. The card is swapped by htmx every
// 2 s while a run goes on: each swap draws the new card's chart (the old
// instance is disposed with its element). ECharts is loaded only by the
// campaign page; when it arrives after the card, its load event draws.
(function () {
  var colors = { accepted: "#1677ff", delivered: "#07c160", failed: "#f5222d" }; // as the dashboard's
  var drawn = []; // instances drawn so far: disposed once their element is gone
  function drawRunCharts(root) {
    if (!window.echarts || !root || !root.querySelectorAll) return;
    drawn = drawn.filter(function (c) {
      if (document.body.contains(c.getDom())) return true;
      c.dispose();
      return false;
    });
    var els = root.querySelectorAll("[data-run-chart]:not([data-drawn])");
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      var src = document.querySelector('[data-run-chart-data="' + el.getAttribute("data-run-chart") + '"]');
      if (!src) continue;
      var d;
      try { d = JSON.parse(src.textContent); } catch (e) { continue; }
      var chart = window.echarts.init(el, null, { renderer: "canvas" });
      drawn.push(chart);
      chart.setOption({
        animation: false,
        grid: { left: 48, right: 16, top: 32, bottom: 28 },
        tooltip: { trigger: "axis" },
        legend: { top: 0 },
        xAxis: { type: "category", data: d.labels },
        yAxis: { type: "value", minInterval: 1 },
        series: d.series.map(function (s) {
          return { name: s.name, type: s.key === "accepted" ? "bar" : "line", data: s.data,
            itemStyle: { color: colors[s.key] }, showSymbol: false };
        })
      });
      el.setAttribute("data-drawn", "1");
    }
  }
  document.addEventListener("DOMContentLoaded", function () { drawRunCharts(document); });
  document.addEventListener("htmx:afterSettle", function () { drawRunCharts(document); });
  document.addEventListener("load", function (evt) {
    var t = evt.target;
    if (t && t.tagName === "SCRIPT" && /echarts/.test(t.src || "")) drawRunCharts(document);
  }, true);
  window.addEventListener("resize", function () {
    drawn.forEach(function (c) { c.resize(); });
  });
})();
