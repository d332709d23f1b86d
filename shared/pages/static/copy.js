document.querySelectorAll("button[data-copy]").forEach(function (b) {
  b.hidden = false;
  b.addEventListener("click", function () {
    var done = function () { b.textContent = "Link copied"; };
    var manual = function () { var f = document.getElementById("share-url"); f.focus(); f.select(); };
    if (navigator.clipboard) { navigator.clipboard.writeText(b.getAttribute("data-copy")).then(done, manual); } else { manual(); }
  });
});
