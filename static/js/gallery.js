/* The dataset's gallery: a picture's class menu saves as soon as it changes, and its delete button removes
   the card, both without leaving the page (the forms still work without this script, returning to the
   same picture). The views answer JSON when asked for it. */
(function () {
  "use strict";
  const grid = document.getElementById("image-grid");
  if (!grid) {
    return;
  }

  function note(card, text, isError) {
    let element = card.querySelector(".image-note");
    if (!element) {
      element = document.createElement("p");
      element.setAttribute("role", "status");
      card.appendChild(element);
    }
    element.className = "image-note small " + (isError ? "danger-text" : "muted");
    element.textContent = text;
  }

  // The form's data is read before its menu is disabled: a disabled field is left out of a FormData.
  async function send(form, data) {
    const response = await fetch(form.action, {
      method: "POST",
      body: data,
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    let answer = {};
    try {
      answer = await response.json();
    } catch (error) {
      answer = { ok: false, message: "The server did not answer (HTTP " + response.status + "). Reload and try again." };
    }
    return answer;
  }

  async function relabel(form) {
    const card = form.closest(".image-card");
    const select = form.querySelector("select");
    const data = new FormData(form);
    select.disabled = true;
    try {
      const answer = await send(form, data);
      note(card, answer.ok ? "Saved: " + (answer.label || "unlabelled") : answer.message, !answer.ok);
      select.value = answer.label || "";
    } catch (error) {
      note(card, "Not saved: the server cannot be reached.", true);
    } finally {
      select.disabled = false;
    }
  }

  async function remove(form) {
    const card = form.closest(".image-card");
    try {
      const answer = await send(form, new FormData(form));
      if (answer.ok) {
        card.remove();
        const count = document.getElementById("image-count");
        if (count && /^\d+$/.test(count.textContent.replace(/,/g, ""))) {
          count.textContent = String(Number(count.textContent.replace(/,/g, "")) - 1);
        }
      } else {
        note(card, answer.message, true);
      }
    } catch (error) {
      note(card, "Not deleted: the server cannot be reached.", true);
    }
  }

  for (const form of grid.querySelectorAll(".relabel-form")) {
    const button = form.querySelector("button");
    if (button) {
      button.hidden = true;
    }
    form.querySelector("select").addEventListener("change", () => relabel(form));
  }

  // confirm.js, loaded before, cancels the event when the user says no.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (event.defaultPrevented || !grid.contains(form)) {
      return;
    }
    event.preventDefault();
    (form.classList.contains("relabel-form") ? relabel : remove)(form);
  });
})();
