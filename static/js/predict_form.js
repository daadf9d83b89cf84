/* The quick test and ensemble forms: preview the chosen file before it is sent, keep upload and URL
   mutually exclusive (the server refuses both at once), and show that a prediction is under way, since
   fetching a URL and running the model can take a few seconds. */
(function () {
  "use strict";
  const form = document.querySelector(".predict-form");
  if (!form) {
    return;
  }
  const file = form.querySelector("input[type=file]");
  const url = form.querySelector("input[type=url]");
  const preview = document.getElementById("predict-preview");
  let previewUrl = null;

  function showPreview(chosen) {
    if (previewUrl) {
      URL.revokeObjectURL(previewUrl);
      previewUrl = null;
    }
    preview.hidden = !chosen;
    if (chosen) {
      previewUrl = URL.createObjectURL(chosen);
      preview.src = previewUrl;
    } else {
      preview.removeAttribute("src");
    }
  }

  file.addEventListener("change", () => {
    const chosen = file.files && file.files[0];
    if (chosen) {
      url.value = "";
    }
    showPreview(chosen);
  });
  url.addEventListener("input", () => {
    if (url.value) {
      file.value = "";
      showPreview(null);
    }
  });
  const button = form.querySelector("button[type=submit]");
  const idleText = button.textContent;
  form.addEventListener("submit", () => {
    // Disabled only once the browser has taken the form's data, so the submission itself goes ahead.
    window.setTimeout(() => {
      button.disabled = true;
      button.textContent = form.dataset.busyText || idleText;
    }, 0);
  });
  // Back to this page from the result (bfcache): the button must work again.
  window.addEventListener("pageshow", () => {
    button.disabled = false;
    button.textContent = idleText;
  });
})();
