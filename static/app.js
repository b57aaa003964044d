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
