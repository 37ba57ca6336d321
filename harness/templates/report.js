// The report's behaviour: shared pictures, filters, the full-size viewer, copy buttons.
// Plain script, no library: the page must open offline from disk.
(function () {
  "use strict";

  // Each picture's data is written once; other <img data-pic> with the same id borrow it.
  var sources = {};
  document.querySelectorAll("img[data-pic][src]").forEach(function (img) { sources[img.dataset.pic] = img.getAttribute("src"); });
  document.querySelectorAll("img[data-pic]:not([src])").forEach(function (img) {
    if (sources[img.dataset.pic]) img.src = sources[img.dataset.pic];
  });

  // Filters: status, level, API, free text. A clause shows when it matches all four.
  var form = document.getElementById("filters");
  var rows = Array.prototype.slice.call(document.querySelectorAll("details.clause"));
  var shown = document.getElementById("shown");
  function checked(name) {
    return Array.prototype.slice.call(form.querySelectorAll("input[name=" + name + "]:checked")).map(function (i) { return i.value; });
  }
  function apply() {
    var statuses = checked("status"), levels = checked("level");
    var api = form.elements.api.value, text = form.elements.text.value.trim().toLowerCase();
    var count = 0;
    rows.forEach(function (row) {
      var visible = statuses.indexOf(row.dataset.status) >= 0 && levels.indexOf(row.dataset.level) >= 0 &&
        (!api || row.dataset.api === api) && (!text || row.textContent.toLowerCase().indexOf(text) >= 0);
      row.hidden = !visible;
      if (visible) count++;
    });
    shown.textContent = count + " of " + rows.length + " clauses shown";
  }
  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  // A count in the summary tables shows exactly those clauses.
  document.querySelectorAll("button.pick").forEach(function (button) {
    button.addEventListener("click", function () {
      form.querySelectorAll("input[name=status]").forEach(function (i) { i.checked = i.value === button.dataset.status; });
      form.querySelectorAll("input[name=level]").forEach(function (i) { i.checked = i.value === button.dataset.level; });
      form.elements.api.value = button.dataset.api;
      form.elements.text.value = "";
      apply();
      form.scrollIntoView({ behavior: "smooth" });
    });
  });
  apply();

  // A link to a clause (from the gallery) opens its row, showing it again if a filter hid it.
  function reveal() {
    var row = location.hash.indexOf("#clause-") === 0 && document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (!row) return;
    if (row.hidden) {
      form.reset();
      apply();
    }
    row.open = true;
    row.scrollIntoView();
  }
  window.addEventListener("hashchange", reveal);
  reveal();

  // The full-size viewer: one click on any picture.
  var full = JSON.parse(document.getElementById("full-pictures").textContent || "{}");
  var viewer = document.getElementById("viewer");
  var viewerImg = document.getElementById("viewer-img");
  var viewerCaption = document.getElementById("viewer-caption");
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button.zoom");
    if (!button) return;
    var src = (button.dataset.full && full[button.dataset.full]) || sources[button.dataset.pic];
    if (!src) return;
    viewerImg.src = src;
    viewerImg.alt = button.title;
    viewerCaption.textContent = button.title.replace(/: click for full size/, "");
    if (viewer.showModal) viewer.showModal(); else viewer.setAttribute("open", "");
  });
  viewer.addEventListener("click", function (event) { if (event.target === viewer) viewer.close(); });

  // Copy a reproducer. file:// pages may not get the async clipboard: fall back to a selection.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).then(function () { return true; }, function () { return legacyCopy(text); });
    }
    return Promise.resolve(legacyCopy(text));
  }
  function legacyCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok;
  }
  document.querySelectorAll("button.copy").forEach(function (button) {
    button.addEventListener("click", function () {
      var text = document.getElementById(button.dataset.copy).textContent;
      copyText(text).then(function (ok) {
        button.textContent = ok ? "copied" : "select and copy";
        setTimeout(function () { button.textContent = "copy"; }, 2000);
      });
    });
  });
})();
