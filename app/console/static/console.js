// The live progress bar of a sync: polls the run (through the console, with the session's
// cookie) until it ends. The element's data-state/data-done/data-total mirror the API's run.
(function () {
  "use strict";
  var box = document.querySelector(".progress[data-run]");
  if (!box) { return; }
  var ENDED = ["succeeded", "partial", "failed", "cancelled", "paused"];
  var bar = box.querySelector("progress");
  var text = box.querySelector(".progress-text");
  var state = box.querySelector(".progress-state");
  var eta = box.querySelector(".progress-eta");

  function show(run) {
    var done = run.progress.done, total = run.progress.total;
    box.dataset.state = run.state;
    box.dataset.done = String(done);
    box.dataset.total = total === null ? "" : String(total);
    state.textContent = run.state;
    text.textContent = total === null ? done + " contacts" : done + " of " + total;
    if (total) {
      bar.value = Math.round((100 * done) / total);
    } else if (ENDED.indexOf(run.state) >= 0) {
      bar.value = 100;
    } else {
      bar.removeAttribute("value"); // indeterminate: a first backfill has no total yet
    }
    eta.textContent = run.eta_seconds !== null && ENDED.indexOf(run.state) < 0
      ? "· about " + Math.ceil(run.eta_seconds) + " s left" : "";
  }

  function poll() {
    fetch("/console/syncs/" + box.dataset.run + "/progress", { credentials: "same-origin" })
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (run) {
        if (run === null) { return; }
        show(run);
        if (ENDED.indexOf(run.state) < 0) { window.setTimeout(poll, 400); }
      })
      .catch(function () { window.setTimeout(poll, 2000); });
  }
  poll();
})();
