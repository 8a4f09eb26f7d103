// thetawheel dashboard: reload the page every N seconds (never mid-submit or while editing),
// show the countdown next to the "updated" clock, and block double submission of forms (the clicked
// button shows its data-busy text meanwhile).
(function () {
  "use strict";
  var seconds = parseInt(document.body.dataset.refreshSeconds || "30", 10);
  var remaining = seconds;
  var submitting = false;
  var note = document.getElementById("refresh-note");

  document.addEventListener("submit", function (event) {
    submitting = true;
    var button = event.target.querySelector("button[type=submit]");
    if (button) {
      button.disabled = true;
      button.textContent = button.dataset.busy || "Sending…";
    }
  });

  function editing() {
    var el = document.activeElement;
    return el && (el.tagName === "INPUT" || el.tagName === "SELECT" || el.tagName === "TEXTAREA");
  }

  function tick() {
    if (submitting) {
      if (note) note.textContent = "· sending…";
      return;
    }
    remaining -= 1;
    if (remaining <= 0) {
      if (editing()) {
        remaining = 5;
      } else {
        window.location.replace(window.location.pathname + window.location.search);
        return;
      }
    }
    if (note) note.textContent = "· refresh in " + remaining + " s";
  }

  if (seconds > 0) {
    if (note) note.textContent = "· refresh in " + remaining + " s";
    window.setInterval(tick, 1000);
  }
})();
