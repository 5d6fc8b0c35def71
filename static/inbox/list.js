/*
 * The inbox list, live: polls the updates endpoint every 3 s while the tab is visible and swaps in
 * the server-rendered rows, keeping ticked boxes and focus, and announcing new conversations.
 *
 * Reads from the page (templates/inbox/list.html):
 *   #inbox-results         data-updates-url (the endpoint), data-token (opaque, from the server),
 *                          (on a page after the first the server sends a notice instead of rows)
 *   #inbox-tabs            replaced with the status tabs (counts) when rows change
 *   #inbox-live-status     an aria-live="polite" region for announcements
 *   #inbox-notice, #inbox-notice-link   the "New conversations … show the first page" notice
 *   #select-all-wrap, #select-all       "select all on this page" (revealed by this script)
 */
(function () {
  "use strict";

  var POLL_MS = 3000;
  var results = document.getElementById("inbox-results");
  if (!results) return;

  var updatesUrl = results.getAttribute("data-updates-url");
  var token = results.getAttribute("data-token");
  var status = document.getElementById("inbox-live-status");
  var timer = null;
  var inFlight = false;
  var stopped = false;
  var failures = 0;

  function rowIds() {
    return Array.prototype.map.call(results.querySelectorAll("[data-id]"), function (row) {
      return row.getAttribute("data-id");
    });
  }

  function rowBoxes() {
    return results.querySelectorAll('input[type="checkbox"][name="ids"]');
  }

  function announce(text) {
    if (!status) return;
    // Clearing first makes a repeated message be announced again.
    status.textContent = "";
    window.setTimeout(function () { status.textContent = text; }, 50);
  }

  // ------------------------------------------------------------------ select all on this page
  var selectAllWrap = document.getElementById("select-all-wrap");
  var selectAll = document.getElementById("select-all");

  function syncSelectAll() {
    if (!selectAll) return;
    var boxes = rowBoxes();
    var ticked = Array.prototype.filter.call(boxes, function (b) { return b.checked; }).length;
    selectAll.checked = boxes.length > 0 && ticked === boxes.length;
    selectAll.indeterminate = ticked > 0 && ticked < boxes.length;
  }

  if (selectAll && selectAllWrap) {
    selectAllWrap.hidden = false;
    selectAll.addEventListener("change", function () {
      Array.prototype.forEach.call(rowBoxes(), function (box) { box.checked = selectAll.checked; });
      selectAll.indeterminate = false;
    });
    results.addEventListener("change", function (event) {
      if (event.target && event.target.name === "ids") syncSelectAll();
    });
  }

  // ------------------------------------------------------------------------------ live updates
  function updatesRequestUrl() {
    var params = new URLSearchParams(window.location.search);
    params.set("since", token);
    return updatesUrl + "?" + params.toString();
  }

  function swapResults(html) {
    var before = rowIds();
    var ticked = {};
    Array.prototype.forEach.call(rowBoxes(), function (box) { if (box.checked) ticked[box.value] = true; });
    var active = document.activeElement;
    var focusId = active && results.contains(active) ? active.id : null;
    var hadFocus = active && results.contains(active);

    results.innerHTML = html;

    Array.prototype.forEach.call(rowBoxes(), function (box) { if (ticked[box.value]) box.checked = true; });
    syncSelectAll();
    if (hadFocus) {
      var again = focusId ? document.getElementById(focusId) : null;
      (again || results).focus();
    }
    var seen = {};
    before.forEach(function (id) { seen[id] = true; });
    return rowIds().filter(function (id) { return !seen[id]; }).length;
  }

  function applyPresence(map) {
    Object.keys(map).forEach(function (id) {
      var row = results.querySelector('[data-id="' + id + '"]');
      var cell = row && row.querySelector("[data-presence]");
      if (!cell) return;
      cell.textContent = map[id];
      cell.hidden = !map[id];
    });
  }

  function showNotice(firstUrl) {
    var notice = document.getElementById("inbox-notice");
    var link = document.getElementById("inbox-notice-link");
    if (!notice) return;
    if (link && firstUrl) link.setAttribute("href", firstUrl);
    if (notice.hidden) {
      notice.hidden = false;
      announce("New conversations have arrived. Show the first page to see them.");
    }
  }

  function stop(message) {
    stopped = true;
    if (timer) window.clearTimeout(timer);
    announce(message);
    var notice = document.getElementById("inbox-notice");
    if (notice) {
      notice.hidden = false;
      notice.textContent = message;
    }
  }

  function handle(data) {
    if (data.token) token = data.token;
    if (typeof data.results_html === "string") {
      var added = swapResults(data.results_html);
      var tabs = document.getElementById("inbox-tabs");
      if (tabs && typeof data.tabs_html === "string") tabs.innerHTML = data.tabs_html;
      if (added > 0) announce(added === 1 ? "1 new conversation" : added + " new conversations");
    }
    if (data.presence) applyPresence(data.presence);
    if (data.notice) showNotice(data.first_url);
  }

  function poll() {
    timer = null;
    if (stopped || inFlight || document.hidden) return;
    inFlight = true;
    fetch(updatesRequestUrl(), {
      credentials: "same-origin",
      // X-Background: a request the person did not make; the idle-timeout timer should not count it.
      headers: { "Accept": "application/json", "X-Requested-With": "fetch", "X-Background": "poll" },
      redirect: "manual",
    })
      .then(function (response) {
        if (response.status === 204) return null;
        if (response.type === "opaqueredirect" || response.status === 401 || response.status === 403) {
          stop("Live updates stopped: you were signed out. Reload the page to sign in again.");
          return null;
        }
        if (response.status >= 400 && response.status < 500) {
          stop("Live updates stopped. Reload the page.");
          return null;
        }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        failures = 0;
        if (data) handle(data);
      })
      .catch(function () {
        // The server or network hiccuped: keep trying, more slowly.
        failures = Math.min(failures + 1, 5);
      })
      .then(function () {
        inFlight = false;
        schedule();
      });
  }

  function schedule() {
    if (stopped || document.hidden) return;
    if (timer) window.clearTimeout(timer);
    timer = window.setTimeout(poll, POLL_MS * (1 + failures));
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      if (timer) window.clearTimeout(timer);
      timer = null;
    } else if (!stopped) {
      // Back on the tab: catch up at once.
      poll();
    }
  });

  schedule();
})();
