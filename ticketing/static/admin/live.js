/* Live figures: an element with data-live-url is refreshed in place from that URL (an HTML
   fragment the server renders) every data-live-every seconds while the page is visible.
   Without JavaScript the page is the same, as of when it was loaded. */
(function () {
  "use strict";
  function refresh(element) {
    if (document.hidden) { return; }
    fetch(element.getAttribute("data-live-url"), {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (response) {
        // Sent to the login page (the session ended): show it, rather than inside the figures.
        if (response.redirected) { window.location.reload(); return null; }
        return response.ok ? response.text() : null;
      })
      .then(function (html) { if (html !== null) { element.innerHTML = html; } })
      .catch(function () { /* the next tick tries again */ });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-url]").forEach(function (element) {
      var every = parseInt(element.getAttribute("data-live-every"), 10) || 5;
      window.setInterval(function () { refresh(element); }, every * 1000);
    });
  });
})();
