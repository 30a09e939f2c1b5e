// The import's progress bar: asks the server how far the import got until it is over, then
// reloads the page to show the result.
(function () {
  "use strict";
  var box = document.getElementById("import-running");
  if (!box) { return; }
  var bar = document.getElementById("import-progress");
  var text = document.getElementById("import-progress-text");
  var url = box.getAttribute("data-status-url");
  function ask() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (answer) { return answer.json(); })
      .then(function (status) {
        bar.max = status.total;
        bar.value = status.done;
        text.textContent = status.done.toLocaleString("en") + " of " +
          status.total.toLocaleString("en") + " rows (" + status.percent + "%)";
        if (status.state === "running") { window.setTimeout(ask, 700); } else { window.location.reload(); }
      })
      .catch(function () { window.setTimeout(ask, 2000); });
  }
  window.setTimeout(ask, 300);
}());
