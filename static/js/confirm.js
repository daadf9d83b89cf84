/* Asks before destructive POSTs: a form with data-confirm="question" submits only once confirmed. */
document.addEventListener("submit", (event) => {
  const question = event.target.dataset && event.target.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
