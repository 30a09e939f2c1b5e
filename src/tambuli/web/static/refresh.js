// Pages listing messages or top-ups still in flight look again every few seconds, replacing
// the live part with the server's fresh fragment, until nothing shown is in flight.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.fetch) { return; }
  var seconds = parseInt(live.getAttribute("data-refresh-seconds") || "0", 10);
  if (!seconds) { return; }

  function inFlight() {
    var body = live.querySelector(".live-body");
    return body !== null && body.getAttribute("data-in-flight") === "true";
  }

  function look() {
    fetch(window.location.href, {
      headers: { "X-Console-Fragment": "1" },
      credentials: "same-origin"
    }).then(function (answer) {
      return answer.ok ? answer.text() : null;
    }).then(function (html) {
      if (html !== null) { live.innerHTML = html; }
      if (html === null || inFlight()) { setTimeout(look, seconds * 1000); }
    }).catch(function () { setTimeout(look, seconds * 1000); });
  }

  if (inFlight()) { setTimeout(look, seconds * 1000); }
})();
