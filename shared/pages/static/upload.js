// The upload page: send the chosen file straight to the bucket through a presigned PUT
// (POST /upload/presign), so a file of any allowed size skips the api function and its
// payload limit, then open the batch. An evidence zip, if chosen, goes first (POST
// /upload/evidence-zip, beside the file's key), so that the file's ingest reads it. Without
// JavaScript the form posts the files instead.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form || !window.fetch || !window.FormData || !window.URLSearchParams) {
    return;
  }
  var status = document.getElementById("upload-status");
  var bar = document.getElementById("upload-progress");
  var button = document.getElementById("upload");
  function say(text, isError) {
    status.textContent = text;
    status.className = isError ? "alert error" : "alert";
    status.hidden = false;
  }
  function put(p, file) {
    return new Promise(function (resolve, reject) {
      var x = new XMLHttpRequest();
      x.open(p.method, p.url);
      Object.keys(p.headers).forEach(function (k) { x.setRequestHeader(k, p.headers[k]); });
      x.upload.onprogress = function (e) {
        if (e.lengthComputable) { bar.value = Math.round(100 * e.loaded / e.total); }
      };
      x.onload = function () {
        if (x.status >= 200 && x.status < 300) { resolve(); return; }
        reject(new Error("The bucket refused the file (" + x.status + "). Reload the page and try again."));
      };
      x.onerror = function () { reject(new Error("The file could not be sent. Check the connection and try again.")); };
      x.send(file);
    });
  }
  function presign(path, fields) {
    return fetch(path, { method: "POST", body: fields, credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (res) {
        return res.json().catch(function () { return null; }).then(function (body) {
          if (!res.ok || !body || !body.url) {
            throw new Error(body && body.error ? body.error : "The upload could not start (" + res.status + "). Reload the page and try again.");
          }
          return body;
        });
      });
  }
  function send(p, file) {
    say("Uploading " + file.name + "…");
    bar.value = 0;
    bar.hidden = false;
    return put(p, file);
  }
  form.addEventListener("submit", function (ev) {
    var file = form.elements.file.files && form.elements.file.files[0];
    if (!file) {
      return;
    }
    var zip = form.elements.evidence_zip && form.elements.evidence_zip.files && form.elements.evidence_zip.files[0];
    ev.preventDefault();
    button.disabled = true;
    var fields = new URLSearchParams();
    new FormData(form).forEach(function (v, k) {
      if (k !== "file" && k !== "evidence_zip") { fields.append(k, v); }
    });
    fields.set("filename", file.name);
    fields.set("size", String(file.size));
    say("Preparing the upload of " + file.name + "…");
    presign(form.getAttribute("data-presign"), fields)
      .then(function (p) {
        if (!zip) {
          return p;
        }
        var zf = new URLSearchParams();
        zf.set("csrf", fields.get("csrf"));
        zf.set("key", p.key);
        zf.set("size", String(zip.size));
        return presign(form.getAttribute("data-presign-zip"), zf)
          .then(function (z) { return send(z, zip); })
          .then(function () {
            // The spreadsheet's URL may have expired while the zip was sent: sign it again.
            fields.set("key", p.key);
            return presign(form.getAttribute("data-presign"), fields);
          });
      })
      .then(function (p) {
        return send(p, file).then(function () { window.location.assign(p.next); });
      })
      .catch(function (e) {
        bar.hidden = true;
        button.disabled = false;
        say(e.message, true);
      });
  });
})();
