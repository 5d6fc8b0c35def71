/* The composer (templates/approvals/compose.html): live checks and previews, autosave, image upload.

   - Checks: after typing pauses (400 ms) the form is posted to data-check-url; the server answers, per chosen
     channel, the text it would publish, its length as the platform counts it, the limit and any errors, plus what
     would stop submission and the words that need an approver's eye. The counters and preview cards are redrawn
     from that answer (the page already shows the server's verdict without JavaScript).
   - Variants: the "different text" boxes of platforms and channels not chosen are hidden.
   - Autosave (data-autosave="on"): every 5 s, if the form changed since the last save, it is posted with
     autosave=1. A new post is created on its first save; the address then becomes its edit page. "Draft saved at
     12:03" is announced politely.
   - Images: the upload form is sent in the background and the new image joins the list, ready for its alt text.
*/
(function () {
  "use strict";

  var form = document.getElementById("composer");
  if (!form) return;
  var uploadForm = document.getElementById("media-upload-form");
  var statusBox = document.getElementById("autosave-status");
  var checkLive = document.getElementById("check-live");
  var autosaveOn = form.dataset.autosave === "on";
  var AUTOSAVE_MS = 5000;
  var CHECK_MS = 400;

  function csrf() {
    var input = form.querySelector("input[name='csrfmiddlewaretoken']");
    return input ? input.value : "";
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", body: body, credentials: "same-origin",
      headers: {"Accept": "application/json", "X-CSRFToken": csrf()}
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return {ok: response.ok, status: response.status, data: data};
      });
    });
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function hidden(text) { return el("span", "visually-hidden", text); }

  // ------------------------------------------------------------------------------------------ variants
  function chosenChannels() {
    return Array.prototype.map.call(form.querySelectorAll("input[name='channels']:checked"), function (box) {
      return {id: box.value, platform: box.dataset.platform};
    });
  }

  function showVariants() {
    var chosen = chosenChannels();
    form.querySelectorAll("[data-variant-platform]").forEach(function (block) {
      var platform = block.dataset.variantPlatform;
      block.hidden = !chosen.some(function (c) { return c.platform === platform; });
    });
    form.querySelectorAll("[data-variant-channel]").forEach(function (block) {
      var id = block.dataset.variantChannel;
      block.hidden = !chosen.some(function (c) { return c.id === id; });
    });
  }

  // ------------------------------------------------------------------------------------------- checks
  var checkTimer = null;
  var checkSeq = 0;
  var lastVerdict = "";

  function renderCounters(data) {
    var list = document.getElementById("counters");
    list.replaceChildren();
    if (!data.channels.length) {
      list.appendChild(el("li", "composer-counter", "Choose a channel to see its character count."));
      return;
    }
    data.channels.forEach(function (row) {
      var item = el("li", "composer-counter" + (row.over || row.errors.length ? " composer-counter--bad" : ""));
      item.dataset.channel = row.id;
      item.appendChild(el("span", "composer-counter__name", row.label));
      item.appendChild(document.createTextNode(": "));
      item.appendChild(el("span", "composer-counter__count", row.length + " of " + row.limit + " characters"));
      if (row.hint) {
        item.appendChild(document.createTextNode(" "));
        item.appendChild(el("span", "composer-counter__hint", "(" + row.hint + ")"));
      }
      if (row.errors.length) {
        var errors = el("ul", "composer-counter__errors");
        row.errors.forEach(function (message) {
          var li = el("li");
          li.appendChild(hidden("Problem: "));
          li.appendChild(document.createTextNode(message));
          errors.appendChild(li);
        });
        item.appendChild(errors);
      }
      list.appendChild(item);
    });
  }

  function renderProblems(data) {
    var box = document.getElementById("check-problems");
    box.replaceChildren();
    if (data.problems.length) {
      box.appendChild(el("h3", "h6", "Before it can be submitted"));
      var list = el("ul", "composer-problems");
      data.problems.forEach(function (p) { list.appendChild(el("li", "", p)); });
      box.appendChild(list);
    }
    if (data.review.length) {
      var p = el("p", "composer-review");
      p.appendChild(el("span", "fw-semibold", "Needs an approver's eye:"));
      p.appendChild(document.createTextNode(" it contains " + data.review.join(", ") + "."));
      box.appendChild(p);
    }
  }

  function renderPreviews(data) {
    var cards = document.getElementById("preview-cards");
    if (!cards) return;
    cards.replaceChildren();
    if (!data.channels.length) {
      cards.appendChild(el("p", "", "Choose a channel to see a preview."));
      return;
    }
    data.channels.forEach(function (row) {
      var card = el("article", "preview-card preview-card--" + row.platform);
      var headingId = "preview-" + row.id;
      card.setAttribute("aria-labelledby", headingId);
      var heading = el("h3", "h6 preview-card__title", row.label);
      heading.id = headingId;
      card.appendChild(heading);
      card.appendChild(el("p", "preview-card__text", row.text));
      if (data.media.length) {
        var images = el("ul", "preview-card__images");
        data.media.forEach(function (m) {
          var li = el("li");
          if (m.url) {
            var img = el("img");
            img.src = m.url;
            img.alt = m.alt_text;
            li.appendChild(img);
          }
          li.appendChild(el("span", "preview-card__alt", "Alt text: " + (m.alt_text || "(none yet)")));
          images.appendChild(li);
        });
        card.appendChild(images);
      }
      if (data.link) {
        var link = el("p", "preview-card__link", "Link: ");
        link.appendChild(el("span", "preview-card__url", data.link));
        card.appendChild(link);
      }
      cards.appendChild(card);
    });
  }

  function summary(data) {
    // What a screen reader hears once typing pauses: only problems, and only when they change.
    var bad = data.channels.filter(function (row) { return row.over || row.errors.length; }).map(function (row) {
      return row.over ? row.label + ": " + (row.length - row.limit) + " characters too many" : row.label + ": " + row.errors[0];
    });
    return bad.length ? bad.join(". ") + "." : (lastVerdict ? "No length problems." : "");
  }

  function runCheck() {
    var seq = ++checkSeq;
    post(form.dataset.checkUrl, new FormData(form)).then(function (result) {
      if (seq !== checkSeq || !result.ok) return;
      renderCounters(result.data);
      renderProblems(result.data);
      renderPreviews(result.data);
      var said = summary(result.data);
      if (said !== lastVerdict) {
        checkLive.textContent = said;
        lastVerdict = said;
      }
    }).catch(function () { /* offline: the page keeps its last verdict; the server checks on save */ });
  }

  function scheduleCheck() {
    window.clearTimeout(checkTimer);
    checkTimer = window.setTimeout(runCheck, CHECK_MS);
  }

  // ----------------------------------------------------------------------------------------- autosave
  function serialise() {
    var pairs = [];
    new FormData(form).forEach(function (value, key) {
      if (key !== "csrfmiddlewaretoken" && typeof value === "string") pairs.push(key + "=" + value);
    });
    return pairs.join("\u0000");
  }

  var savedState = serialise();
  var saving = false;

  function say(text) { statusBox.textContent = text; }

  function adopt(data) {
    // The first save of a new post created it: from now on this page is its edit page.
    form.dataset.post = String(data.post);
    form.dataset.autosaveUrl = data.autosave_url;
    form.dataset.mediaUrl = data.media_url;
    form.action = data.edit_url;
    document.getElementById("composer-post").value = String(data.post);
    if (uploadForm) uploadForm.action = data.media_url;
    var note = document.getElementById("media-file-note");
    if (note) note.textContent = "";
    setUploadEnabled(true);
    if (window.history && window.history.replaceState) window.history.replaceState(null, "", data.edit_url);
  }

  function autosave() {
    if (!autosaveOn || saving) return;
    var state = serialise();
    if (state === savedState) return;
    var isNew = !form.dataset.post;
    var title = form.querySelector("[name='title']");
    if (isNew && title && !title.value.trim()) return;
    var body = new FormData(form);
    body.append("autosave", "1");
    saving = true;
    post(isNew ? form.dataset.newUrl : form.dataset.autosaveUrl, body).then(function (result) {
      saving = false;
      if (result.ok) {
        savedState = state;
        if (isNew) adopt(result.data);
        say("Draft saved at " + result.data.saved_at + " (revision " + result.data.revision + ").");
      } else if (result.status === 409) {
        autosaveOn = false;
        say(result.data.message || "This draft can no longer be saved automatically.");
      } else {
        savedState = state;  // do not retry the same refused content every 5 s; the next change tries again
        say("Not saved yet: " + (result.data.message || "the draft could not be saved."));
      }
    }).catch(function () {
      saving = false;
      say("Not saved: the connection was lost. It will try again.");
    });
  }

  // -------------------------------------------------------------------------------------------- images
  var uploadButton = document.getElementById("media-upload-button");
  var fileInput = document.getElementById("media-file");
  var uploadStatus = document.getElementById("media-upload-status");
  var MAX_IMAGES = 4;

  function imageCount() { return document.querySelectorAll("#media-list > li").length; }

  function setUploadEnabled(on) {
    var enabled = on && !!form.dataset.post && imageCount() < MAX_IMAGES;
    if (uploadButton) uploadButton.disabled = !enabled;
    if (fileInput) fileInput.disabled = !enabled;
  }

  function addImageRow(data) {
    var n = imageCount() + 1;
    var item = el("li", "composer-image");
    item.dataset.mediaId = data.id;
    var idInput = el("input");
    idInput.type = "hidden";
    idInput.name = "media";
    idInput.value = data.id;
    item.appendChild(idInput);
    var img = el("img", "composer-image__thumb");
    img.src = data.url;
    img.alt = "";
    item.appendChild(img);
    var fields = el("div", "composer-image__fields");
    var label = el("label", "form-label", "Alt text for image " + n + " (" + (data.filename || "image") + ")" +
      (form.querySelector(".composer-images").textContent.indexOf("needs alt text") >= 0 ? " – required" : ""));
    label.htmlFor = "alt_" + data.id;
    var alt = el("textarea", "form-control");
    alt.id = "alt_" + data.id;
    alt.name = "alt_" + data.id;
    alt.rows = 2;
    alt.maxLength = 1000;
    fields.appendChild(label);
    fields.appendChild(alt);
    var check = el("div", "form-check mt-1");
    var box = el("input", "form-check-input");
    box.type = "checkbox";
    box.id = "remove_" + data.id;
    box.name = "remove_" + data.id;
    box.value = "1";
    var boxLabel = el("label", "form-check-label", "Remove image " + n + " when saving");
    boxLabel.htmlFor = box.id;
    check.appendChild(box);
    check.appendChild(boxLabel);
    fields.appendChild(check);
    item.appendChild(fields);
    document.getElementById("media-list").appendChild(item);
    return alt;
  }

  if (uploadForm) {
    uploadForm.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!form.dataset.post || !fileInput.files.length) {
        uploadStatus.textContent = form.dataset.post ? "Choose an image file first." : "Save the draft first.";
        return;
      }
      var body = new FormData();
      body.append("image", fileInput.files[0]);
      uploadStatus.textContent = "Uploading…";
      post(form.dataset.mediaUrl, body).then(function (result) {
        if (!result.ok) {
          uploadStatus.textContent = result.data.message || "The image was not uploaded.";
          return;
        }
        var alt = addImageRow(result.data);
        fileInput.value = "";
        setUploadEnabled(true);
        uploadStatus.textContent = "Image uploaded. Describe it in its alt text.";
        alt.focus();
        scheduleCheck();
      }).catch(function () { uploadStatus.textContent = "The image was not uploaded: the connection was lost."; });
    });
  }

  // ------------------------------------------------------------------------------------------- wiring
  form.addEventListener("input", scheduleCheck);
  form.addEventListener("change", function (event) {
    if (event.target && event.target.name === "channels") showVariants();
    scheduleCheck();
  });
  form.addEventListener("submit", function () { savedState = serialise(); autosaveOn = false; });
  showVariants();
  if (autosaveOn) window.setInterval(autosave, AUTOSAVE_MS);
})();
