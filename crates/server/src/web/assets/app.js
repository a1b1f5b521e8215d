// atmpflow web pages: the little script they use. Everything works without it
// (plain forms, server-rendered pages); it adds scanner comfort and countdowns.
(function () {
  "use strict";
  // A barcode scanner types the code and presses Enter: in a scan field that
  // is not the last one of its form, Enter moves to the next scan field
  // instead of submitting half a label.
  document.addEventListener("keydown", function (ev) {
    var el = ev.target;
    if (ev.key !== "Enter" || !el || !el.hasAttribute || !el.hasAttribute("data-scan")) return;
    var fields = Array.prototype.slice.call(el.form.querySelectorAll("[data-scan]"));
    var i = fields.indexOf(el);
    if (i >= 0 && i < fields.length - 1) {
      ev.preventDefault();
      fields[i + 1].focus();
    }
  });
  // Hold-time countdowns: <span data-deadline="UNIX SECONDS" data-over="TEXT">.
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function tick() {
    var now = Date.now() / 1000;
    var els = document.querySelectorAll("[data-deadline]");
    for (var i = 0; i < els.length; i++) {
      var left = Math.floor(Number(els[i].getAttribute("data-deadline")) - now);
      if (left <= 0) {
        els[i].textContent = els[i].getAttribute("data-over");
        els[i].className = "bad";
      } else {
        var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
        els[i].textContent = h + ":" + pad(m) + ":" + pad(s);
      }
    }
  }
  tick();
  setInterval(tick, 1000);
  // A scenario file chosen with <input type="file" data-load-into="ID"> is read
  // into the text area ID (nothing is sent until the form is submitted).
  document.addEventListener("change", function (ev) {
    var el = ev.target;
    if (!el || !el.getAttribute || !el.getAttribute("data-load-into") || !el.files || !el.files[0]) return;
    var into = document.getElementById(el.getAttribute("data-load-into"));
    var reader = new FileReader();
    reader.onload = function () { into.value = reader.result; };
    reader.readAsText(el.files[0]);
  });
  // A running simulation, comparison or study: <progress data-events="URL"
  // data-status="URL"> follows the run's server-sent events (or, without
  // them or when the stream fails, polls its status); the page reloads when
  // the run has ended (then it shows the report).
  var bar = document.querySelector("progress[data-status]");
  if (bar) {
    var count = document.getElementById("run-count");
    var show = function (s) {
      bar.value = s.done;
      if (count) count.textContent = s.done;
    };
    var poll = function () {
      fetch(bar.getAttribute("data-status"), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (s) {
          show(s);
          if (s.finished) window.location.reload();
          else setTimeout(poll, 400);
        })
        .catch(function () { setTimeout(poll, 2000); });
    };
    var events = bar.getAttribute("data-events");
    if (events && window.EventSource) {
      var ended = false;
      var es = new EventSource(events);
      es.addEventListener("progress", function (ev) { show(JSON.parse(ev.data)); });
      es.addEventListener("end", function (ev) {
        ended = true;
        es.close();
        show(JSON.parse(ev.data));
        window.location.reload();
      });
      es.onerror = function () {
        if (ended) return;
        es.close();
        if (window.fetch) setTimeout(poll, 400);
      };
    } else if (window.fetch) {
      setTimeout(poll, 400);
    }
  }
})();
