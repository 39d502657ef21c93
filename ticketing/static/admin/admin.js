/* Small progressive enhancements for every admin page (the pages work without them):
   - buttons with data-confirm ask before submitting their form. */
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var message = (button && button.getAttribute("data-confirm")) || event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });
})();
