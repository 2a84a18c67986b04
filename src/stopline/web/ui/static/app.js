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
