// The compose form's live preview: the server counts, personalises and prices (one copy of
// the rules); this only sends the form as it is typed and shows the answer.
(function () {
  "use strict";
  var form = document.getElementById("compose");
  var target = document.getElementById("preview");
  var counter = document.getElementById("counter");
  if (!form || !target || !window.fetch) { return; }
  var timer = null;
  var asked = 0;

  // Each choice (a radio group: the recipient kind, WhatsApp's template or text) shows the
  // fields marked data-NAME="value" of its checked value and hides the others.
  function showChosenFields() {
    ["kind", "mode"].forEach(function (name) {
      var chosen = form.querySelector("input[name=" + name + "]:checked");
      if (!chosen) { return; }
      form.querySelectorAll("[data-" + name + "]").forEach(function (box) {
        box.hidden = box.getAttribute("data-" + name) !== chosen.value;
      });
    });
  }

  function refresh() {
    var mine = ++asked;
    fetch(form.getAttribute("data-preview-url"), {
      method: "POST",
      body: new FormData(form),
      headers: { "X-Console-Fragment": "1" },
      credentials: "same-origin"
    }).then(function (answer) {
      return answer.ok ? answer.text() : null;
    }).then(function (html) {
      if (html === null || mine !== asked) { return; }
      target.innerHTML = html;
      var chars = target.querySelector("[data-test=characters]");
      var enc = target.querySelector("[data-test=encoding]");
      var parts = target.querySelector("[data-test=parts]");
      if (counter && chars && enc && parts) {
        counter.textContent = chars.textContent + " characters · " + enc.textContent + " · " +
          parts.textContent + (parts.textContent === "1" ? " part" : " parts");
      }
    }).catch(function () { /* the Preview button still works */ });
  }

  function later() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(refresh, 250);
  }

  form.addEventListener("input", later);
  form.addEventListener("change", function () { showChosenFields(); later(); });
  showChosenFields();
  var message = form.querySelector("#message");
  if ((message && message.value) || form.hasAttribute("data-preview-at-once")) { refresh(); }
})();
