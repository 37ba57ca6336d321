// The dashboard's behaviour: poll the fake's state, add new journal entries on top.
// Every string from the journal (prompts, messages) is client-controlled: it goes into
// the page as text (textContent), never as HTML.
(function () {
  "use strict";
  var prefix = document.body.dataset.prefix;
  var pollMs = Number(document.body.dataset.pollMs) || 1000;
  var MAX_ROWS = 300;  // rows kept in the page; older ones are dropped
  var lastId = 0;
  var knownBalances = {};
  var list = document.getElementById("entries");
  var template = document.getElementById("entry-template");
  var live = document.getElementById("live");
  var pause = document.getElementById("pause");
  var apiFilter = document.getElementById("api-filter");
  var onlyBroken = document.getElementById("only-broken");

  function text(el, value) { el.textContent = value === null || value === undefined ? "" : String(value); return el; }
  function make(tag, className, value) { var el = document.createElement(tag); if (className) el.className = className; return text(el, value); }
  function clock(seconds) {
    var d = new Date(seconds * 1000);
    return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
  }

  function verdict(entry) {
    var box = document.createElement("div");
    var violations = entry.violations || [];
    if (!violations.length) {
      box.appendChild(make("span", "ok", "\u2713 request broke no clause"));
      return box;
    }
    box.appendChild(make("b", null, entry.client_conformant ? "conformant (MUST), but:" : "\u2717 broke a MUST clause:"));
    var ul = document.createElement("ul");
    violations.forEach(function (v) {
      var li = make("li", v.level);
      li.appendChild(make("code", null, v.clause));
      li.appendChild(document.createTextNode(" [" + v.level + "] " + v.message));
      ul.appendChild(li);
    });
    box.appendChild(ul);
    return box;
  }

  function thumbs(entry) {
    var box = make("div", "thumbs");
    ["image", "mask", "output"].forEach(function (name) {
      var uri = (entry.thumbnails || {})[name];
      if (typeof uri !== "string" || uri.indexOf("data:image/") !== 0) return;
      var fig = document.createElement("figure");
      var img = document.createElement("img");
      img.src = uri;
      img.alt = name;
      img.dataset.role = name;
      fig.appendChild(img);
      fig.appendChild(make("figcaption", null, name));
      box.appendChild(fig);
    });
    return box;
  }

  function requestLine(entry) {
    var r = entry.request;
    if (!r) return "request did not parse";
    var parts = [];
    if (r.image) parts.push("image " + r.image);
    if (r.mask) parts.push("mask " + r.mask);
    if (r.prompt !== null && r.prompt !== undefined) parts.push("prompt \u201c" + r.prompt.slice(0, 80) + (r.prompt.length > 80 ? "\u2026" : "") + "\u201d");
    if (r.seed !== null && r.seed !== undefined) parts.push("seed " + r.seed);
    if (r.output_format) parts.push("output_format " + r.output_format);
    if (r.model_version) parts.push("model_version " + r.model_version);
    if (r.extra_fields && r.extra_fields.length) parts.push("extra fields " + r.extra_fields.join(", "));
    return parts.join(" \u00b7 ");
  }

  function render(entry) {
    var li = template.content.firstElementChild.cloneNode(true);
    var broken = (entry.violations || []).length > 0;
    li.dataset.id = entry.id;
    li.dataset.api = entry.api;
    li.dataset.broken = broken ? "1" : "0";
    if (broken) li.classList.add("broken");
    text(li.querySelector(".id"), "#" + entry.id);
    var time = li.querySelector(".time");
    text(time, clock(entry.time));
    time.dateTime = new Date(entry.time * 1000).toISOString();
    text(li.querySelector(".api"), entry.api);
    text(li.querySelector(".path"), entry.method + " " + entry.path);
    var status = li.querySelector(".status");
    // The fake resolves a seed only for requests it painted: that tells a success from an
    // AIThriving failure, which may come with HTTP 200 too.
    var served = !entry.transport && entry.status === 200 && entry.seed !== null && entry.seed !== undefined;
    text(status, entry.transport ? "no answer (" + entry.transport + ")" : "HTTP " + entry.status + (served ? " success" : " failure"));
    status.classList.add(served ? "ok" : "fail");
    text(li.querySelector(".duration"), entry.duration_ms + " ms");
    text(li.querySelector(".key"), entry.key || "(no key)");
    var before = entry.credits_before, after = entry.credits_after;
    text(li.querySelector(".credits"), before === null || before === undefined ? "n/a (unknown key)" :
      before + " \u2192 " + after + (before !== after ? " (" + (after - before) + ")" : " (not charged)"));
    text(li.querySelector(".request"), requestLine(entry) + (entry.seed !== null && entry.seed !== undefined ? " \u00b7 answered seed " + entry.seed : ""));
    var fired = li.querySelector(".fired");
    if (entry.faults && entry.faults.length) text(fired, "faults fired: " + entry.faults.join(", "));
    li.querySelector(".verdict").appendChild(verdict(entry));
    li.querySelector(".thumbs").replaceWith(thumbs(entry));
    return li;
  }

  function applyFilters() {
    var api = apiFilter.value, broken = onlyBroken.checked;
    Array.prototype.forEach.call(list.children, function (li) {
      li.hidden = (api && li.dataset.api !== api) || (broken && li.dataset.broken !== "1");
    });
  }
  apiFilter.addEventListener("change", applyFilters);
  onlyBroken.addEventListener("change", applyFilters);

  function showBalances(keys) {
    var body = document.getElementById("balances");
    body.textContent = "";
    keys.forEach(function (k) {
      var tr = document.createElement("tr");
      tr.appendChild(make("td", null, k.key));
      var td = make("td", null, k.credits);
      if (knownBalances[k.key] !== undefined && knownBalances[k.key] !== k.credits) td.className = "changed";
      knownBalances[k.key] = k.credits;
      tr.appendChild(td);
      body.appendChild(tr);
    });
  }

  function showFaults(faults) {
    var ul = document.getElementById("faults");
    ul.textContent = "";
    faults.forEach(function (f) {
      var li = document.createElement("li");
      li.dataset.kind = f.kind;
      var clear = make("button", null, "clear");
      clear.type = "button";
      clear.title = "DELETE " + prefix + "/faults/" + f.id;
      clear.addEventListener("click", function () { call("DELETE", prefix + "/faults/" + f.id); });
      li.appendChild(clear);
      li.appendChild(make("span", "kind", f.kind));
      li.appendChild(make("span", "tag " + (f.deviation ? "deviation" : "transport"), f.deviation ? "deviation" : "transport fault"));
      var scope = [f.api || "both APIs", f.key ? "key " + f.key : "any key",
        f.count === null || f.count === undefined ? "until cleared" : f.count + " more", "fired " + f.fired + "x"];
      if (f.probability < 1) scope.push("p=" + f.probability);
      li.appendChild(make("div", "desc", f.description));
      li.appendChild(make("div", "desc", scope.join(" \u00b7 ")));
      ul.appendChild(li);
    });
    text(document.getElementById("fault-count"), faults.length);
    document.getElementById("no-faults").hidden = faults.length > 0;
    document.getElementById("clear-faults").disabled = faults.length === 0;
  }

  function update(state) {
    if (state.first_id === null) {
      list.textContent = "";
    } else {
      Array.prototype.slice.call(list.children).forEach(function (li) { if (Number(li.dataset.id) < state.first_id) li.remove(); });
    }
    state.entries.forEach(function (entry) {
      var li = render(entry);
      if (lastId > 0) li.classList.add("fresh");
      list.insertBefore(li, list.firstChild);
    });
    while (list.children.length > MAX_ROWS) list.removeChild(list.lastChild);
    lastId = Math.max(lastId, state.last_id);
    var leftOut = document.getElementById("left-out");
    if (state.left_out > 0) {
      leftOut.hidden = false;
      text(leftOut, state.left_out + " older requests not shown; GET " + prefix + "/journal.jsonl has them all.");
    }
    text(document.getElementById("count"), list.children.length);
    document.getElementById("empty").hidden = list.children.length > 0;
    showBalances(state.keys);
    showFaults(state.faults);
    applyFilters();
  }

  function reason(response) {
    return response.json().then(function (body) { return body.detail || response.statusText; }, function () { return response.statusText; })
      .then(function (detail) { return "HTTP " + response.status + ": " + detail; });
  }

  var timer = null;
  function poll() {
    timer = null;
    if (pause.checked) return;
    fetch(prefix + "/dashboard/state?since=" + lastId, { cache: "no-store" })
      .then(function (response) {
        if (!response.ok) return reason(response).then(function (why) { throw new Error(why); });
        return response.json();
      })
      .then(function (state) {
        update(state);
        live.className = "live";
        text(live, "live \u00b7 updated " + new Date().toLocaleTimeString([], { hour12: false }));
      })
      .catch(function (error) {
        live.className = "live error";
        text(live, "not updating: " + error.message);
      })
      .then(function () { if (!pause.checked && timer === null) timer = setTimeout(poll, pollMs); });
  }
  function refreshNow() { if (timer !== null) { clearTimeout(timer); } poll(); }
  pause.addEventListener("change", function () {
    if (pause.checked) { live.className = "live paused"; text(live, "paused"); } else { refreshNow(); }
  });

  function call(method, url) {
    return fetch(url, { method: method })
      .then(function (response) { if (!response.ok) return reason(response).then(function (why) { throw new Error(why); }); })
      .then(refreshNow, function (error) { live.className = "live error"; text(live, method + " " + url + " failed: " + error.message); });
  }
  document.getElementById("clear-faults").addEventListener("click", function () { call("DELETE", prefix + "/faults"); });
  document.getElementById("clear-journal").addEventListener("click", function () { call("DELETE", prefix + "/journal"); });

  poll();
})();
