/* Forms that answer in place. A refused form is shown again at the address it was posted to: put the
   page's own address back (data-page-url), so a reload or Enter shows the page instead of a URL that only
   takes POSTs; then bring the first error into view and put the cursor in its field. */
(function () {
  "use strict";
  const page = document.querySelector("[data-page-url]");
  if (page && window.location.pathname !== new URL(page.dataset.pageUrl, window.location.href).pathname) {
    window.history.replaceState(null, "", page.dataset.pageUrl);
  }
  const error = document.querySelector(".field-invalid, .form-errors");
  if (!error) {
    return;
  }
  const details = error.closest("details");
  if (details) {
    details.open = true;
  }
  error.scrollIntoView({ block: "center" });
  const field = error.matches(".field-invalid") ? error : error.closest("form");
  const input = field && field.querySelector("input:not([type=hidden]), select, textarea");
  if (input) {
    input.focus({ preventScroll: true });
  }
})();
