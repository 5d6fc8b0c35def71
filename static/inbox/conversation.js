/* The conversation page's reply box: a live character counter for the channel's platform and the saved-reply picker.

   The textarea #reply-text carries:
     data-counter-method  "weighted" (X, as twitter-text counts), "urls" (Mastodon: graphemes, every link 23),
                          "graphemes" (Bluesky), "codepoints" (Instagram, Facebook) or "bytes" (UTF-8)
     data-counter-method-dm  the same for a direct message
     data-limit-public / data-limit-dm   the limit for each reply mode (radio buttons name="mode")
     data-url-length      what one link counts as (23)
   The counts for X and Bluesky are close approximations; the server counts exactly when the reply is sent and the
   page comes back with its verdict if the reply is too long. Saved replies arrive already filled in by the server in
   <template id="saved-reply-text-<pk>"> elements; "Insert" adds the chosen one at the cursor (without JavaScript the
   same button posts the form and the server inserts it).
*/
(function () {
  "use strict";

  var textarea = document.getElementById("reply-text");
  if (!textarea) return;
  var output = document.querySelector("#reply-counter .reply-counter__count");
  var counterBox = document.getElementById("reply-counter");
  var live = document.getElementById("reply-counter-live");
  var urlLength = parseInt(textarea.dataset.urlLength || "23", 10);
  var URL_RE = /\bhttps?:\/\/[^\s<>"]+/gi;
  // twitter-text v3: these code point ranges weigh 1, everything else 2 (CJK, most symbols); emoji weigh 2.
  var LIGHT = [[0, 4351], [8192, 8205], [8208, 8223], [8242, 8247]];
  var EMOJI_RE = /\p{Extended_Pictographic}/u;
  var segmenter = typeof Intl !== "undefined" && Intl.Segmenter ? new Intl.Segmenter(undefined, {granularity: "grapheme"}) : null;

  function graphemes(text) {
    if (segmenter) return Array.from(segmenter.segment(text), function (s) { return s.segment; });
    return Array.from(text);
  }

  function light(codePoint) {
    for (var i = 0; i < LIGHT.length; i++) {
      if (codePoint >= LIGHT[i][0] && codePoint <= LIGHT[i][1]) return true;
    }
    return false;
  }

  function countWeighted(text) {
    var links = 0;
    var rest = text.normalize("NFC").replace(URL_RE, function () { links += 1; return ""; });
    var weight = links * urlLength;
    graphemes(rest).forEach(function (g) {
      if (EMOJI_RE.test(g)) { weight += 2; return; }
      Array.from(g).forEach(function (ch) { weight += light(ch.codePointAt(0)) ? 1 : 2; });
    });
    return weight;
  }

  function countMastodon(text) {
    var links = 0;
    var rest = text.replace(URL_RE, function () { links += 1; return ""; });
    // A remote mention @user@domain counts as @user.
    rest = rest.replace(/(^|[^\w\/=])(@[a-z0-9_][a-z0-9_.-]*)@[\w.-]+\w/gi, "$1$2");
    return links * urlLength + graphemes(rest).length;
  }

  function count(text) {
    var method = (currentMode() === "dm" ? textarea.dataset.counterMethodDm : textarea.dataset.counterMethod) || "codepoints";
    if (method === "bytes") return new TextEncoder().encode(text).length;
    if (!text.trim()) return 0;
    if (method === "weighted") return countWeighted(text);
    if (method === "urls") return countMastodon(text);
    if (method === "graphemes") return graphemes(text).length;
    return Array.from(text).length;
  }

  function currentMode() {
    var checked = document.querySelector("input[name='mode']:checked") || document.querySelector("input[name='mode']");
    return checked ? checked.value : "public";
  }

  function limit() {
    var value = currentMode() === "dm" ? textarea.dataset.limitDm : textarea.dataset.limitPublic;
    return parseInt(value || textarea.dataset.limit, 10);
  }

  var announceTimer = null;
  function update() {
    var length = count(textarea.value);
    var max = limit();
    textarea.dataset.limit = String(max);
    output.textContent = length + " of " + max + " characters";
    var over = length > max;
    counterBox.classList.toggle("reply-counter--over", over);
    // Screen readers hear the count once typing pauses, not on every key.
    window.clearTimeout(announceTimer);
    announceTimer = window.setTimeout(function () {
      live.textContent = over ? (length - max) + " characters too many" : (max - length) + " characters left";
    }, 1000);
  }

  textarea.addEventListener("input", update);
  document.querySelectorAll("input[name='mode']").forEach(function (radio) { radio.addEventListener("change", update); });

  var insert = document.getElementById("insert-saved-reply");
  var picker = document.getElementById("saved-reply");
  if (insert && picker) {
    insert.addEventListener("click", function (event) {
      var template = document.getElementById("saved-reply-text-" + picker.value);
      if (!template) return;  // let the form post: the server inserts it
      event.preventDefault();
      var text = template.content ? template.content.textContent : template.textContent;
      var start = textarea.selectionStart, end = textarea.selectionEnd, value = textarea.value;
      var before = value.slice(0, start), after = value.slice(end);
      if (before && !/\s$/.test(before)) text = (/\n$/.test(before) ? "" : "\n\n") + text;
      textarea.value = before + text + after;
      var caret = before.length + text.length;
      textarea.focus();
      textarea.setSelectionRange(caret, caret);
      update();
    });
  }
  // No count on load: the server already wrote its own (exact) count, which a refused reply must keep showing.
})();
