// The batch page's evidence forms: send the chosen file straight to the bucket through a
// presigned PUT (POST .../evidence/presign), so a file of any allowed size skips the api
// function and its payload limit, then confirm it (POST .../evidence/confirm), which checks
// and attaches it and comes back to the page. Without JavaScript the form posts the file.
(function () {
  "use strict";
  if (!window.fetch || !window.FormData || !window.URLSearchParams) {
    return;
  }
  var forms = document.querySelectorAll("form.evidence-form");
  Array.prototype.forEach.call(forms, function (form) {
    var status = form.querySelector(".evidence-status");
    var button = form.querySelector("button[type=submit]");
    function say(text, isError) {
      status.textContent = text;
      status.className = "evidence-status " + (isError ? "alert error" : "alert");
      status.hidden = false;
    }
    form.addEventListener("submit", function (ev) {
      var file = form.elements.file.files && form.elements.file.files[0];
      if (!file) {
        return;
      }
      ev.preventDefault();
      button.disabled = true;
      var csrf = form.elements.csrf.value;
      var fields = new URLSearchParams();
      fields.set("csrf", csrf);
      fields.set("size", String(file.size));
      say("Sending " + file.name + "…");
      fetch(form.getAttribute("data-presign"), { method: "POST", body: fields, credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (res) {
          return res.json().catch(function () { return null; }).then(function (body) {
            if (!res.ok || !body || !body.url) {
              throw new Error(body && body.error ? body.error : "The file could not be sent (" + res.status + "). Reload the page and try again.");
            }
            return body;
          });
        })
        .then(function (p) {
          return new Promise(function (resolve, reject) {
            var x = new XMLHttpRequest();
            x.open(p.method, p.url);
            Object.keys(p.headers || {}).forEach(function (k) { x.setRequestHeader(k, p.headers[k]); });
            x.onload = function () {
              if (x.status >= 200 && x.status < 300) { resolve(p); return; }
              reject(new Error("The bucket refused the file (" + x.status + "). Reload the page and try again."));
            };
            x.onerror = function () { reject(new Error("The file could not be sent. Check the connection and try again.")); };
            x.send(file);
          });
        })
        .then(function (p) {
          say("Checking " + file.name + "…");
          var confirm = document.createElement("form");
          confirm.method = "post";
          confirm.action = form.getAttribute("data-confirm");
          confirm.hidden = true;
          [["csrf", csrf], ["key", p.key], ["name", file.name], ["show", form.elements.show ? form.elements.show.value : ""]].forEach(function (kv) {
            var i = document.createElement("input");
            i.type = "hidden";
            i.name = kv[0];
            i.value = kv[1];
            confirm.appendChild(i);
          });
          document.body.appendChild(confirm);
          confirm.submit();
        })
        .catch(function (e) {
          button.disabled = false;
          say(e.message, true);
        });
    });
  });
})();
