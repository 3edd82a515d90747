// llm-extract review: keyboard shortcuts and the field <-> evidence link.
(function () {
  "use strict";
  function typing(el) {
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
  }
  function clear() {
    document.querySelectorAll("mark.on, .field.on").forEach(function (el) { el.classList.remove("on"); });
  }
  function marksOf(field) {
    return Array.prototype.filter.call(document.querySelectorAll("mark[data-fields]"), function (m) {
      return m.dataset.fields.split(" ").indexOf(field) >= 0;
    });
  }
  function showField(field) {
    clear();
    var marks = marksOf(field);
    marks.forEach(function (m) { m.classList.add("on"); });
    var box = document.getElementById("f-" + field);
    if (box) { box.classList.add("on"); }
    if (marks.length) { marks[0].scrollIntoView({ block: "center", behavior: "smooth" }); }
  }
  document.addEventListener("click", function (ev) {
    var jump = ev.target.closest("a.jump");
    if (jump) {
      ev.preventDefault();
      showField(jump.dataset.field);
      return;
    }
    var mark = ev.target.closest("mark[data-fields]");
    if (mark) {
      var fields = mark.dataset.fields.split(" ");
      // The most specific field (items[0].quantity before items[0]).
      fields.sort(function (a, b) { return b.length - a.length; });
      var field = fields[0];
      showField(field);
      var box = document.getElementById("f-" + field) || document.getElementById("item-" + (field.match(/^items\[(\d+)\]$/) || [])[1]);
      if (box) {
        box.scrollIntoView({ block: "center", behavior: "smooth" });
        var input = box.querySelector("input:not([type=hidden]), select, textarea");
        if (input) { input.focus({ preventScroll: true }); }
      }
    }
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    if (ev.key === "Escape") { if (document.activeElement) { document.activeElement.blur(); } clear(); return; }
    if (typing(document.activeElement)) { return; }
    var el;
    if (ev.key === "a") {
      el = document.getElementById("accept-form");
      if (el) { ev.preventDefault(); el.submit(); }
    } else if (ev.key === "n") {
      el = document.getElementById("next") || document.getElementById("start");
      if (el) { ev.preventDefault(); window.location.href = el.href; }
    } else if (ev.key === "e") {
      el = document.querySelector(".field.invalid, .field.disputed, .field") ;
      if (el) {
        ev.preventDefault();
        showField(el.dataset.field);
        el.scrollIntoView({ block: "center" });
        var input = el.querySelector("input:not([type=hidden]), select, textarea");
        if (input) { input.focus(); }
      }
    } else if (ev.key === "f") {
      // The next field a review flag names, after the one shown (wrapping round).
      var flagged = Array.prototype.slice.call(document.querySelectorAll(".field.flagged"));
      if (flagged.length) {
        ev.preventDefault();
        var at = flagged.indexOf(document.querySelector(".field.flagged.on"));
        el = flagged[(at + 1) % flagged.length];
        showField(el.dataset.field);
        el.scrollIntoView({ block: "center" });
      }
    } else if (ev.key === "?") {
      el = document.getElementById("help");
      if (el) { el.hidden = !el.hidden; }
    }
  });
  // After a save, show the saved field and its evidence.
  if (window.location.hash.indexOf("#f-") === 0) {
    var f = decodeURIComponent(window.location.hash.slice(3));
    window.addEventListener("load", function () { showField(f); });
  }
})();
