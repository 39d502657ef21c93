/* The gate on a phone (decision 0044). Without JavaScript the form posts and the page reloads
   with the verdict; with it:
   - a scan is posted in the background and only the verdict is swapped in, inside the page's
     live region, so the screen reader announces it and the code field keeps the focus for
     handheld scanners that type the code and press Enter ("keyboard wedge");
   - "Scan with the camera" reads QR codes from the phone's camera with the browser's
     BarcodeDetector where it exists, else with the vendored jsQR, loaded only then.
   Both paths submit the same form to the same view as a typed code. */
(function () {
  "use strict";

  var SAME_SCAN_MS = 3000;   // the same code seen again this soon is the same ticket still in view
  var FRAME_MS = 120;        // camera frames decoded about 8 times a second: enough, and cool
  var MAX_SIDE = 800;        // frames are scaled down to this before jsQR reads them

  function onReady(callback) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", callback);
    } else {
      callback();
    }
  }

  onReady(function () {
    var form = document.getElementById("gate-form");
    var input = document.getElementById("gate-code");
    var region = document.getElementById("verdict-region");
    if (!form || !input || !region || !window.fetch || !window.DOMParser || !window.URLSearchParams) {
      return;  // the plain form still works
    }
    var queue = Promise.resolve();

    function send(code, fromKeyboard) {
      var body = new URLSearchParams(new FormData(form));
      body.set("code", code);
      return fetch(form.action, {
        method: "POST", body: body, credentials: "same-origin", headers: {"Accept": "text/html"}
      }).then(function (response) {
        return response.text().then(function (html) {
          var page = new DOMParser().parseFromString(html, "text/html");
          var verdict = page.getElementById("verdict-region");
          if (!verdict) {  // logged out, or an error page: show it as it is
            window.location.assign(response.url);
            return;
          }
          region.innerHTML = verdict.innerHTML;
          var token = page.querySelector("#gate-form input[name=csrf_token]");
          var mine = form.querySelector("input[name=csrf_token]");
          if (token && mine) { mine.value = token.value; }
        });
      }).catch(function () {
        // The network dropped: fall back to the plain form post, which shows its own error.
        input.value = code;
        form.submit();
      }).then(function () {
        // The field was emptied on submit; a fast scanner may be typing the next code into it
        // by now, so it is only given the focus back, never cleared here.
        if (fromKeyboard && document.activeElement !== input) {
          input.focus();
        }
      });
    }

    // Scans are sent one after another, in the order they were read.
    function enqueue(code, fromKeyboard) {
      code = (code || "").trim();
      if (!code) { return; }
      queue = queue.then(function () { return send(code, fromKeyboard); });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var code = input.value;
      input.value = "";  // a fast scanner may already be typing the next code
      enqueue(code, true);
    });

    setUpCamera(enqueue);
  });

  function setUpCamera(enqueue) {
    var box = document.getElementById("camera");
    var toggle = document.getElementById("camera-toggle");
    var view = document.getElementById("camera-view");
    var video = document.getElementById("camera-video");
    var status = document.getElementById("camera-status");
    if (!box || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      return;  // no camera API (or not a secure context): the code field is the way
    }
    box.hidden = false;
    var stream = null;
    var decode = null;
    var last = {code: null, at: 0};

    function say(text) { status.textContent = text; }

    function loadScript(src) {
      return new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = src;
        script.onload = resolve;
        script.onerror = function () { reject(new Error("could not load the QR decoder")); };
        document.head.appendChild(script);
      });
    }

    function jsQRDecoder() {
      var canvas = document.createElement("canvas");
      var context = canvas.getContext("2d", {willReadFrequently: true});
      return loadScript(box.getAttribute("data-fallback")).then(function () {
        box.setAttribute("data-decoder", "jsqr");
        return function (frame) {
          var scale = Math.min(1, MAX_SIDE / Math.max(frame.videoWidth, frame.videoHeight));
          canvas.width = Math.round(frame.videoWidth * scale);
          canvas.height = Math.round(frame.videoHeight * scale);
          context.drawImage(frame, 0, 0, canvas.width, canvas.height);
          var image = context.getImageData(0, 0, canvas.width, canvas.height);
          var found = window.jsQR(image.data, image.width, image.height, {inversionAttempts: "dontInvert"});
          return Promise.resolve(found ? found.data : null);
        };
      });
    }

    function chooseDecoder() {
      if (decode) { return Promise.resolve(decode); }
      var native = window.BarcodeDetector && window.BarcodeDetector.getSupportedFormats
        ? window.BarcodeDetector.getSupportedFormats() : Promise.resolve([]);
      return native.then(function (formats) {
        if (formats.indexOf("qr_code") === -1) { return jsQRDecoder(); }
        var detector = new window.BarcodeDetector({formats: ["qr_code"]});
        box.setAttribute("data-decoder", "barcode-detector");
        return function (frame) {
          return detector.detect(frame).then(function (codes) { return codes.length ? codes[0].rawValue : null; });
        };
      }, jsQRDecoder).then(function (chosen) { decode = chosen; return chosen; });
    }

    function tick() {
      if (!stream) { return; }
      var frame = video.readyState >= 2 && video.videoWidth ? decode(video) : Promise.resolve(null);
      frame.then(function (code) {
        var now = Date.now();
        if (code && (code !== last.code || now - last.at > SAME_SCAN_MS)) {
          enqueue(code, false);
          say("Code read; the verdict is above. Point at the next ticket.");
        }
        if (code) { last = {code: code, at: now}; }
      }, function () { /* a frame that could not be read: try the next one */ })
        .then(function () { window.setTimeout(tick, FRAME_MS); });
    }

    function start() {
      say("Starting the camera…");
      navigator.mediaDevices.getUserMedia({video: {facingMode: {ideal: "environment"}}, audio: false})
        .then(function (media) {
          stream = media;
          video.srcObject = media;
          view.hidden = false;
          toggle.setAttribute("aria-pressed", "true");
          toggle.textContent = "Stop the camera";
          return Promise.all([video.play(), chooseDecoder()]);
        })
        .then(function () {
          say("Point the camera at the ticket's QR code.");
          tick();
        })
        .catch(function (error) {
          stop();
          say("The camera is not available (" + (error && error.name || "error") + "). Type or scan the code instead.");
          view.hidden = false;
        });
    }

    function stop() {
      if (stream) { stream.getTracks().forEach(function (track) { track.stop(); }); }
      stream = null;
      video.srcObject = null;
      view.hidden = true;
      toggle.setAttribute("aria-pressed", "false");
      toggle.textContent = "Scan with the camera";
    }

    toggle.addEventListener("click", function () { if (stream) { stop(); } else { start(); } });
    // A phone in a pocket should not keep the camera (and its battery) running.
    document.addEventListener("visibilitychange", function () { if (document.hidden) { stop(); } });
  }
})();
