/*
 * Presence heartbeats from an open conversation page: "viewing" every ~8 s, "replying" while the
 * person types in the reply box; shows who else is there. Load with
 *   <script src="{% static 'inbox/presence.js' %}" defer></script>
 * and mark up one container:
 *
 *   <div data-presence-url="{% url 'inbox:presence' conversation.pk %}"   (required: the POST endpoint)
 *        data-presence-csrf="{{ csrf_token }}"         (optional: else the csrftoken cookie or any
 *                                                      csrfmiddlewaretoken input on the page is used)
 *        data-presence-input="#reply-text"             (optional: CSS selector of the reply box;
 *                                                      typing there sends "replying" at once)
 *        data-presence-output="#presence-text"         (optional: CSS selector of an element, ideally
 *                                                      role="status", that gets "Sam is viewing")
 *        data-presence-interval="8">                   (optional: seconds between heartbeats, 3–60)
 *
 * The endpoint answers {"others": [{user_id, name, state}], "text": "Sam is viewing"}. The person
 * counts as replying for 15 s after their last keystroke. Heartbeats pause while the tab is hidden
 * (the entry then expires on the server after about 20 s) and a "leave" is sent when the page goes.
 */
(function () {
  "use strict";

  var TYPING_MS = 15000;
  var container = document.querySelector("[data-presence-url]");
  if (!container) return;

  var url = container.getAttribute("data-presence-url");
  var seconds = parseInt(container.getAttribute("data-presence-interval") || "8", 10);
  if (!(seconds >= 3 && seconds <= 60)) seconds = 8;
  var inputSelector = container.getAttribute("data-presence-input");
  var outputSelector = container.getAttribute("data-presence-output");
  var input = inputSelector ? document.querySelector(inputSelector) : null;
  var output = outputSelector ? document.querySelector(outputSelector) : null;
  var lastTyped = 0;
  var lastSentState = null;
  var timer = null;
  var stopped = false;

  function csrfToken() {
    var fromAttribute = container.getAttribute("data-presence-csrf");
    if (fromAttribute) return fromAttribute;
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    var field = document.querySelector('input[name="csrfmiddlewaretoken"]');
    return field ? field.value : "";
  }

  function currentState() {
    return Date.now() - lastTyped < TYPING_MS ? "replying" : "viewing";
  }

  function body(extra) {
    var params = new URLSearchParams();
    params.set("state", currentState());
    if (extra) Object.keys(extra).forEach(function (k) { params.set(k, extra[k]); });
    return params;
  }

  function show(text) {
    if (!output) return;
    if (output.textContent !== text) output.textContent = text;
    output.hidden = !text;
  }

  function send() {
    if (stopped) return;
    lastSentState = currentState();
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      redirect: "manual",
      headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json", "X-Background": "presence" },
      body: body(),
    })
      .then(function (response) {
        if (response.type === "opaqueredirect" || (response.status >= 400 && response.status < 500)) {
          // Signed out, or the conversation is no longer theirs: stop quietly.
          stopped = true;
          return null;
        }
        return response.ok ? response.json() : null;
      })
      .then(function (data) { if (data) show(data.text || ""); })
      .catch(function () { /* a hint only: try again on the next beat */ })
      .then(schedule);
  }

  function schedule() {
    if (timer) window.clearTimeout(timer);
    timer = null;
    if (stopped || document.hidden) return;
    timer = window.setTimeout(send, seconds * 1000);
  }

  if (input) {
    input.addEventListener("input", function () {
      lastTyped = Date.now();
      // Tell colleagues straight away when typing starts, not at the next beat.
      if (lastSentState !== "replying") send();
    });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      if (timer) window.clearTimeout(timer);
      timer = null;
    } else {
      send();
    }
  });

  window.addEventListener("pagehide", function () {
    if (stopped || !navigator.sendBeacon) return;
    var params = body({ leave: "1", csrfmiddlewaretoken: csrfToken() });
    navigator.sendBeacon(url, params);
  });

  send();
})();
