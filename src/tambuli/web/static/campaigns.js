// Campaign pages: "Copy ID" buttons put a campaign's ID on the clipboard, a drip step's
// "asks a question" box shows or hides its poll answers, and a step's "Sent by" choice its
// WhatsApp fields.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button || !navigator.clipboard) { return; }
  navigator.clipboard.writeText(button.getAttribute("data-copy")).then(function () {
    var label = button.textContent;
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = label; }, 1500);
  });
});

document.addEventListener("change", function (event) {
  var box = event.target.closest("[data-question-toggle]");
  if (!box) { return; }
  var fields = document.getElementById(box.getAttribute("data-question-toggle"));
  if (fields) { fields.hidden = !box.checked; }
});

document.addEventListener("change", function (event) {
  var select = event.target.closest("[data-channel-toggle]");
  if (!select) { return; }
  var fields = document.getElementById(select.getAttribute("data-channel-toggle"));
  if (fields) { fields.hidden = select.value !== "whatsapp"; }
});
