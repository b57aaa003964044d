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
