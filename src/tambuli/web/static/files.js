// The upload's progress bar: sends the form itself so the browser reports how much is sent,
// then shows the page the server answers with (the results and the new list).
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest || !window.FormData) { return; }
  var box = document.getElementById("upload-progress-box");
  var bar = document.getElementById("upload-progress");
  var text = document.getElementById("upload-progress-text");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.upload.addEventListener("progress", function (progress) {
      if (!progress.lengthComputable) { return; }
      var percent = Math.round(progress.loaded * 100 / progress.total);
      bar.value = percent;
      text.textContent = percent + "% sent";
    });
    request.addEventListener("load", function () {
      text.textContent = "Done";
      document.open();
      document.write(request.responseText);
      document.close();
    });
    request.addEventListener("error", function () {
      text.textContent = "The upload failed: check the connection and try again.";
    });
    box.hidden = false;
    text.textContent = "0% sent";
    request.send(new FormData(form));
  });
}());
