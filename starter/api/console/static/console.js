// cx-sla console: local times, countdowns, the board's refresh without a reload, the browser's UTC offset on
// forms with a date. Hand-written, no dependencies; every page works without it (times in UTC, a 30 s reload).
(function () {
  "use strict";
  var REFRESH_MS = 3000;

  function two(n) { return (n < 10 ? "0" : "") + n; }

  function left(ms) {
    var s = Math.round(Math.abs(ms) / 1000), d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600),
        m = Math.floor(s % 3600 / 60), text = (d ? d + "d " : "") + (d || h ? h + "h " : "") + two(m) + "m " + two(s % 60) + "s";
    return ms >= 0 ? text + " left" : "overdue by " + text;
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-countdown]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("datetime"));
      if (isNaN(at)) { return; }
      el.textContent = left(at - now);
      el.classList.toggle("overdue", at <= now);
    });
  }

  function localTimes(root) {
    root.querySelectorAll("time[data-local]").forEach(function (el) {
      var at = new Date(el.getAttribute("datetime"));
      if (!isNaN(at)) { el.textContent = at.toLocaleString(); el.title = el.getAttribute("datetime"); }
    });
  }

  function summarise(body) {
    var summary = document.getElementById("summary");
    if (!summary) { return; }
    var rows = body.querySelectorAll("tr[data-id]"), risk = 0, breached = 0;
    rows.forEach(function (r) {
      if (r.dataset.signal === "breached") { breached += 1; } else if (r.dataset.signal === "at-risk") { risk += 1; }
    });
    var text = rows.length + (rows.length === 1 ? " open complaint shown" : " open complaints shown") + ", nearest deadline first: " + breached + " breached, " + risk +
      " at risk.";
    if (summary.textContent !== text) { summary.textContent = text; }
  }

  function refresh(body) {
    var url = body.getAttribute("data-refresh-url");
    fetch(url, {credentials: "same-origin", headers: {"X-Cxsla-Fragment": "1"}}).then(function (response) {
      if (response.status === 401) { window.location.assign("/ui/signin"); return null; }
      return response.ok ? response.text() : null;
    }).then(function (html) {
      if (html === null) { return; }
      var checked = {}, focused = document.activeElement, keep = null;
      body.querySelectorAll("input[name=ids]:checked").forEach(function (box) { checked[box.value] = true; });
      if (focused && body.contains(focused)) {  // the keyboard stays where it was: same control, same complaint
        keep = {kind: focused.tagName, id: focused.closest("tr") && focused.closest("tr").dataset.id};
      }
      body.innerHTML = html;
      body.querySelectorAll("input[name=ids]").forEach(function (box) { box.checked = !!checked[box.value]; });
      if (keep && keep.id) {
        var row = body.querySelector('tr[data-id="' + CSS.escape(keep.id) + '"]');
        var again = row && row.querySelector(keep.kind === "A" ? "a" : "input");
        if (again) { again.focus({preventScroll: true}); }
      }
      localTimes(body);
      tick();
      summarise(body);
    }).catch(function () { /* the next refresh tries again */ });
  }

  function offsets() {
    // minutes east of UTC at the moment each date names (getTimezoneOffset is west-positive)
    document.querySelectorAll("form").forEach(function (form) {
      form.addEventListener("submit", function () {
        var field = form.querySelector("input[data-tz-offset]"), date = form.querySelector("input[type=datetime-local]");
        if (!field) { return; }
        var when = date && date.value ? new Date(date.value) : new Date();
        field.value = String(-when.getTimezoneOffset());
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var zone = document.querySelector("[data-tz]");
    if (zone) { zone.textContent = Intl.DateTimeFormat().resolvedOptions().timeZone || "local"; }
    localTimes(document);
    tick();
    offsets();
    setInterval(tick, 1000);
    var all = document.querySelector("[data-pick-all]");
    if (all) {  // shown only with the script, which is what ticks the rows
      all.hidden = false;
      all.addEventListener("change", function () {
        document.querySelectorAll("input[name=ids]").forEach(function (box) { box.checked = all.checked; });
      });
    }
    var body = document.querySelector("[data-refresh-url]");
    if (body) { summarise(body); setInterval(function () { refresh(body); }, REFRESH_MS); }
  });
}());
