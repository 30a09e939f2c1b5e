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

  function showRecipientFields() {
    var chosen = form.querySelector("input[name=kind]:checked");
    var kind = chosen ? chosen.value : "number";
    form.querySelectorAll(".recipient").forEach(function (box) {
      box.hidden = box.getAttribute("data-kind") !== kind;
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
  form.addEventListener("change", function () { showRecipientFields(); later(); });
  showRecipientFields();
  if (form.querySelector("#message").value) { refresh(); }
})();
