/* The admin seat map: draw it, click seats to choose them for blocking, show the seat under the pointer,
   and keep the colours live by polling the API's seat map (the browser revalidates it with its
   ETag, so an unchanged map costs a 304). Without JavaScript there is no picture, and the
   range form (section, row, seats from/to) still blocks and unblocks seats. */
(function () {
  "use strict";

  var svg = document.getElementById("seatmap");
  if (!svg) { return; }
  var SVG_NS = "http://www.w3.org/2000/svg";
  var STATUS_NAMES = { a: "available", h: "held", s: "sold", b: "blocked", n: "none" };

  // Draw the squares from the page's compact drawing (views/admin/pictures.py, decision
  // 0060): four deltas a seat (id, x, y, number), row labels and sections as runs, one class,
  // status and category character a seat. Each square gets its <title> as before.
  function runs(list, count) {
    var values = new Array(count);
    for (var r = 0; r < list.length; r++) {
      var end = r + 1 < list.length ? list[r + 1][0] : count;
      for (var i = list[r][0]; i < end; i++) { values[i] = list[r][1]; }
    }
    return values;
  }

  function draw(data) {
    var count = data.k.length;
    var rows = runs(data.r, count);
    var parts = runs(data.t, count);
    var fragment = document.createDocumentFragment();
    var id = 0, x = 0, y = 0, number = 0;
    for (var i = 0; i < count; i++) {
      id += data.d[4 * i]; x += data.d[4 * i + 1]; y += data.d[4 * i + 2]; number += data.d[4 * i + 3];
      var rect = document.createElementNS(SVG_NS, "rect");
      var css = data.classes[parseInt(data.k[i], 36)];
      var title = data.sections[parts[i]] + " · row " + rows[i] + " · seat " + number;
      if (data.s) {
        var status = STATUS_NAMES[data.s[i]];
        css += " st-" + status;
        title += " · " + (status === "none" ? "not on sale" : status);
        if (data.c[i] !== "-") { title += " · " + data.categories[parseInt(data.c[i], 36)]; }
      }
      rect.setAttribute("class", css);
      rect.setAttribute("x", data.margin + x * data.pitch);
      rect.setAttribute("y", data.top + y * data.pitch);
      rect.setAttribute("data-seat", id);
      var label = document.createElementNS(SVG_NS, "title");
      label.textContent = title;
      rect.appendChild(label);
      fragment.appendChild(rect);
    }
    svg.appendChild(fragment);
  }

  var source = document.getElementById("seatmap-data");
  if (source) { draw(JSON.parse(source.textContent)); }
  var info = document.getElementById("seat-info");
  var field = document.getElementById("selected-seats");
  var summary = document.getElementById("selection-summary");
  var clear = document.getElementById("clear-selection");
  var STATES = ["available", "held", "sold", "blocked", "none"];
  var selected = new Set();
  var selectable = svg.classList.contains("selectable");

  function seatOf(target) {
    return target && target.closest ? target.closest("rect[data-seat]") : null;
  }

  function statusOf(seat) {
    for (var i = 0; i < STATES.length; i++) {
      if (seat.classList.contains("st-" + STATES[i])) { return STATES[i]; }
    }
    return null;
  }

  function describe(seat) {
    var title = seat.querySelector("title");
    return title ? title.textContent : "";
  }

  function showSelection() {
    if (!field) { return; }
    field.value = Array.from(selected).join(",");
    if (summary) {
      summary.textContent = selected.size
        ? selected.size + " seat(s) chosen on the map."
        : "Click available or blocked seats on the map to choose them, or give a range below.";
    }
    if (clear) { clear.hidden = selected.size === 0; }
  }

  svg.addEventListener("mouseover", function (event) {
    var seat = seatOf(event.target);
    if (seat && info) { info.textContent = describe(seat); }
  });

  svg.addEventListener("click", function (event) {
    var seat = seatOf(event.target);
    if (!seat) { return; }
    if (info) { info.textContent = describe(seat); }
    var status = statusOf(seat);
    if (!selectable || !field || (status !== "available" && status !== "blocked")) { return; }
    var id = seat.getAttribute("data-seat");
    if (selected.has(id)) {
      selected.delete(id);
      seat.classList.remove("selected");
    } else {
      selected.add(id);
      seat.classList.add("selected");
    }
    showSelection();
  });

  if (clear) {
    clear.addEventListener("click", function () {
      selected.forEach(function (id) {
        var seat = svg.querySelector('rect[data-seat="' + id + '"]');
        if (seat) { seat.classList.remove("selected"); }
      });
      selected.clear();
      showSelection();
    });
  }

  // Live updates: recolour seats whose status changed since the page was drawn.
  var liveUrl = svg.getAttribute("data-live-url");
  var liveStatus = document.getElementById("live-status");
  if (!liveUrl) { return; }
  var seats = {};
  svg.querySelectorAll("rect[data-seat]").forEach(function (seat) {
    seats[seat.getAttribute("data-seat")] = seat;
  });

  function apply(body) {
    var col = { id: body.columns.indexOf("id"), status: body.columns.indexOf("status") };
    var counts = { available: 0, held: 0, sold: 0, blocked: 0 };
    body.seats.forEach(function (row) {
      var seat = seats[String(row[col.id])];
      var status = row[col.status];
      counts[status] = (counts[status] || 0) + 1;
      if (!seat) { return; }
      var before = statusOf(seat);
      if (before === status) { return; }
      seat.classList.remove("st-" + before);
      seat.classList.add("st-" + status);
      var title = seat.querySelector("title");
      if (title) {
        var parts = title.textContent.split(" · ");
        parts[3] = status;
        title.textContent = parts.join(" · ");
      }
      if (status !== "available" && status !== "blocked" && selected.has(String(row[col.id]))) {
        selected.delete(String(row[col.id]));
        seat.classList.remove("selected");
        showSelection();
      }
    });
    Object.keys(counts).forEach(function (status) {
      var label = document.querySelector('[data-count="' + status + '"]');
      if (label) { label.textContent = "(" + counts[status] + ")"; }
    });
  }

  function poll() {
    if (document.hidden) { return; }
    fetch(liveUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(response.status); }
        return response.json();
      })
      .then(function (body) {
        apply(body);
        if (liveStatus) { liveStatus.textContent = "updated " + new Date().toLocaleTimeString(); }
      })
      .catch(function () {
        if (liveStatus) { liveStatus.textContent = "live updates paused (connection problem)"; }
      });
  }

  window.setInterval(poll, 5000);
})();
