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
  // Confirm destructive actions on plain forms: <form data-confirm="...">.
  document.addEventListener("submit", function (evt) {
    var f = evt.target;
    if (f && f.dataset && f.dataset.confirm && !window.confirm(f.dataset.confirm)) {
      evt.preventDefault();
    }
  }, true);
})();
