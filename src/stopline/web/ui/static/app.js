// stopline: the little behaviour htmx does not cover. No build step.
(function () {
  "use strict";
  // "Select all" checkbox in tables: keeps keyboard users in control of bulk selection.
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[data-select-all]")) return;
    var scope = document.querySelectorAll("input[name='" + box.getAttribute("data-select-all") + "']");
    scope.forEach(function (other) { other.checked = box.checked; });
  });
  // Copy buttons: data-copy names the input whose value goes to the clipboard.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-copy]") : null;
    if (!button) return;
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) return;
    var done = function () {
      var label = button.getAttribute("data-label") || button.textContent;
      button.setAttribute("data-label", label);
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () { field.select(); });
    } else {
      field.select();
      try { if (document.execCommand("copy")) done(); } catch (e) { /* selected: Ctrl-C works */ }
    }
  });
  // A thread refreshed by htmx stays scrolled to its newest message.
  document.addEventListener("htmx:afterSettle", function () {
    document.querySelectorAll("[data-scroll-end]").forEach(function (el) { el.scrollTop = el.scrollHeight; });
  });
  // Workspace switcher submits when changed with the keyboard or mouse; the button remains for no-JS.
  function scrollThread() {
    var thread = document.querySelector("[data-scroll-end]");
    if (thread) thread.scrollTop = thread.scrollHeight;
  }
  document.addEventListener("DOMContentLoaded", scrollThread);
  // The live inbox swaps new messages in: keep the newest in view.
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    if (event.detail && event.detail.target && event.detail.target.id === "messages") scrollThread();
  });
})();
