// Refreshes the element marked data-live-refresh every few seconds from the same page, so
// channel states stay current without reloading (and without losing the scroll position).
(function () {
  "use strict";
  var target = document.querySelector("[data-live-refresh]");
  if (!target || !window.fetch || !window.DOMParser) { return; }
  var seconds = parseInt(target.getAttribute("data-live-refresh"), 10) || 10;
  function refresh() {
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (answer) { return answer.ok ? answer.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(target.id);
        if (fresh) { target.innerHTML = fresh.innerHTML; }
      })
      .catch(function () { /* the next round tries again */ })
      .then(function () { window.setTimeout(refresh, seconds * 1000); });
  }
  window.setTimeout(refresh, seconds * 1000);
})();
