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
