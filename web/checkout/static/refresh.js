/* The return page while a payment is in progress: ask payhub every few seconds whether the
   outcome is known (the page itself, fetched in the background) and load it only then, instead
   of <meta http-equiv="refresh"> reloading the page under the reader (WCAG 2.2.1). A button
   stops the automatic updates; "refresh it now" always works. Without JavaScript, a
   <noscript> meta refresh does the polling. */
(function () {
  "use strict";
  var box = document.querySelector("[data-refresh-url]");
  if (!box || !window.fetch || !window.DOMParser) { return; }
  var url = box.getAttribute("data-refresh-url");
  var seconds = parseInt(box.getAttribute("data-refresh-seconds") || "4", 10);
  var stop = document.getElementById("refresh-stop");
  var stopped = false;
  var timer = null;

  function go() { window.location.replace(url); }

  function schedule() {
    if (!stopped) { timer = window.setTimeout(poll, seconds * 1000); }
  }

  function poll() {
    window.fetch(url, {cache: "no-store", credentials: "same-origin", redirect: "manual"})
      .then(function (answer) {
        // a level-1 payment ends with a redirect to the portal: let the browser follow it
        if (answer.type === "opaqueredirect" || (answer.status >= 300 && answer.status < 400)) {
          go();
          return null;
        }
        return answer.ok ? answer.text() : null;
      })
      .then(function (html) {
        if (html === null || html === undefined) { schedule(); return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        if (doc.querySelector("[data-refresh-url]")) { schedule(); } else { go(); }
      })
      .catch(schedule);
  }

  if (stop) {
    stop.hidden = false;
    stop.addEventListener("click", function () {
      stopped = true;
      window.clearTimeout(timer);
      stop.hidden = true;
      var note = document.getElementById("refresh-stopped");
      if (note) { note.hidden = false; }
    });
  }
  schedule();
}());
