// Reload the page every N seconds while the "refresh" box is ticked: the user can stop it
// (WCAG 2.2.1), and the choice is remembered in this browser. No box, no refresh.
(function () {
  "use strict";
  var box = document.getElementById("auto-refresh");
  if (!box) { return; }
  var key = "payhub.ops.autorefresh";
  var seconds = parseInt(box.getAttribute("data-seconds"), 10) || 10;
  try { if (window.localStorage.getItem(key) === "off") { box.checked = false; } } catch (e) {}
  box.parentNode.hidden = false;
  box.addEventListener("change", function () {
    try { window.localStorage.setItem(key, box.checked ? "on" : "off"); } catch (e) {}
  });
  window.setInterval(function () {
    var typing = document.activeElement && document.activeElement !== box &&
      /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
    if (box.checked && !document.hidden && !typing) { window.location.reload(); }
  }, seconds * 1000);
}());
