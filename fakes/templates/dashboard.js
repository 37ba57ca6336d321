// The dashboard's behaviour: poll the fake's state, add new journal entries on top.
// Every string from the journal (prompts, messages) is client-controlled: it goes into
// the page as text (textContent), never as HTML.
(function () {
  "use strict";
  var body = document.body;
  var prefix = body.dataset.prefix;
  var pollMs = Number(body.dataset.pollMs) || 1000;
  var tableFrom = Number(body.dataset.tableFrom) || 200;  // journals this long open as a table
  var MAX_ROWS = { cards: 300, table: 1000 };  // rows kept in the page; older ones are dropped
  var lastId = 0;
  var knownBalances = {};
  var cards = document.getElementById("entries");
  var rows = document.getElementById("rows");
  var table = document.getElementById("table");
  var template = document.getElementById("entry-template");
  var live = document.getElementById("live");
  var pause = document.getElementById("pause");
  var apiFilter = document.getElementById("api-filter");
  var onlyBroken = document.getElementById("only-broken");
  var viewSelect = document.getElementById("view");
  var clauseFilter = document.getElementById("clause-filter");
  var wantedClause = "";
  // ?view=table or ?view=cards picks the view; otherwise long journals open as a table.
  var asked = new URLSearchParams(location.search).get("view");
  var view = asked === "table" || asked === "cards" ? asked : "cards";
  var viewChosen = asked === "table" || asked === "cards";
  viewSelect.value = view;

  function text(el, value) { el.textContent = value === null || value === undefined ? "" : String(value); return el; }
  function make(tag, className, value) { var el = document.createElement(tag); if (className) el.className = className; return text(el, value); }
  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }
  function clock(seconds) {
    var d = new Date(seconds * 1000);
    return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
  }
  function container() { return view === "table" ? rows : cards; }

  // What the client did, apart from what the fake answered: a refused request is not the
  // client's fault unless it broke a clause.
  function clientVerdict(entry, compact) {
    var box = document.createElement("span");
    var violations = entry.violations || [];
    if (!violations.length) {
      box.appendChild(make("span", "ok", compact ? "\u2713 none" : "\u2713 broke no clause"));
      return box;
    }
    var must = violations.some(function (v) { return v.level === "MUST"; });
    if (compact) {
      box.appendChild(make("span", must ? "bad" : "warn", must ? "\u2717" : "\u2713 MUST, but"));
      box.appendChild(document.createTextNode(" "));
      violations.forEach(function (v) { box.appendChild(make("code", v.level, v.clause)); box.appendChild(document.createTextNode(" ")); });
      box.title = violations.map(function (v) { return v.clause + " [" + v.level + "] " + v.message; }).join("\n");
      return box;
    }
    box.appendChild(make("span", must ? "bad" : "warn",
      must ? "\u2717 broke a MUST clause" + (violations.length > 1 ? " (" + violations.length + " clauses)" : "")
           : "followed every MUST clause, but:"));
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

  function credits(entry, compact) {
    var before = entry.credits_before, after = entry.credits_after;
    if (before === null || before === undefined) return compact ? "unknown key" : "n/a (unknown key)";
    if (compact) return after + " (" + (after - before > 0 ? "+" : "") + (after - before) + ")";
    return before + " \u2192 " + after + (before !== after ? " (" + (after - before) + ")" : " (not charged)");
  }

  function mark(el, entry) {
    var violations = entry.violations || [];
    el.dataset.id = entry.id;
    el.dataset.api = entry.api;
    el.dataset.broken = violations.length ? "1" : "0";
    el.dataset.outcome = entry.outcome.kind;
    el.dataset.clauses = " " + violations.map(function (v) { return v.clause; }).join(" ") + " ";
    el.classList.add(entry.outcome.kind.replace(" ", "-"));
    if (violations.length) el.classList.add("broken");
    return el;
  }

  function outcomeBadge(entry) {
    var kind = entry.outcome.kind;
    var label = kind === "served" ? "painted" : kind;
    var badge = make("span", "outcome " + kind.replace(" ", "-"), entry.transport ? label : "HTTP " + entry.status + " \u00b7 " + label);
    return badge;
  }

  function card(entry) {
    var li = mark(template.content.firstElementChild.cloneNode(true), entry);
    text(li.querySelector(".id"), "#" + entry.id);
    var time = li.querySelector(".time");
    text(time, clock(entry.time));
    time.dateTime = new Date(entry.time * 1000).toISOString();
    text(li.querySelector(".api"), entry.api);
    text(li.querySelector(".path"), entry.method + " " + entry.path);
    li.querySelector(".outcome").replaceWith(outcomeBadge(entry));
    text(li.querySelector(".duration"), entry.duration_ms + " ms");
    text(li.querySelector(".key"), entry.key || "(no key)");
    text(li.querySelector(".credits"), credits(entry));
    text(li.querySelector(".request"), requestLine(entry));
    if (entry.faults && entry.faults.length) text(li.querySelector(".fired"), "faults fired: " + entry.faults.join(", "));
    text(li.querySelector(".answer-text"), entry.outcome.text);
    li.querySelector(".client-text").replaceWith(clientVerdict(entry, false));
    li.querySelector(".thumbs").replaceWith(thumbs(entry));
    return li;
  }

  function row(entry) {
    var tr = mark(document.createElement("tr"), entry);
    tr.className += " entry";
    tr.appendChild(make("td", "id", entry.id));
    var time = make("td", "time", clock(entry.time).slice(0, 8));
    time.title = clock(entry.time);
    tr.appendChild(time);
    tr.appendChild(make("td", "api", entry.api));
    tr.appendChild(make("td", "http", entry.transport ? "-" : entry.status));
    var answer = document.createElement("td");
    answer.className = "answer";
    var kind = entry.outcome.kind;
    answer.appendChild(make("span", "outcome " + kind.replace(" ", "-"), kind === "served" ? "painted" : kind));
    var why = entry.outcome.text.replace(/^HTTP \d+( \([^)]*\))?: (the fake refused it: |painted, )?/, "");
    if (why) answer.appendChild(make("span", "why", " " + why));
    answer.title = entry.outcome.text;
    tr.appendChild(answer);
    tr.appendChild(make("td", "fired", (entry.faults || []).join(", ")));
    var client = document.createElement("td");
    client.className = "client";
    client.appendChild(clientVerdict(entry, true));
    tr.appendChild(client);
    var spent = make("td", "credits", credits(entry, true));
    spent.title = credits(entry, false);
    tr.appendChild(spent);
    tr.appendChild(make("td", "duration", entry.duration_ms));
    return tr;
  }

  function applyFilters() {
    var api = apiFilter.value, broken = onlyBroken.checked;
    Array.prototype.forEach.call(container().children, function (el) {
      el.hidden = (api && el.dataset.api !== api) || (broken && el.dataset.broken !== "1") ||
        (wantedClause && el.dataset.clauses.indexOf(" " + wantedClause + " ") < 0);
    });
    clauseFilter.hidden = !wantedClause;
    text(clauseFilter.querySelector("code"), wantedClause);
  }
  function filterClause(clause) { wantedClause = clause === wantedClause ? "" : clause; applyFilters(); }
  apiFilter.addEventListener("change", applyFilters);
  onlyBroken.addEventListener("change", applyFilters);
  document.getElementById("clear-clause-filter").addEventListener("click", function () { filterClause(""); });

  function showSummary(sum) {
    text(document.getElementById("sum-requests"), sum.requests);
    text(document.getElementById("sum-requests-word"), sum.requests === 1 ? "request" : "requests");
    text(document.getElementById("sum-span"), sum.requests && sum.first_id > 1 ? " (#" + sum.first_id + " to #" + sum.last_id + ")" : "");
    text(document.getElementById("sum-served"), sum.outcomes.served);
    text(document.getElementById("sum-refused"), sum.outcomes.refused);
    text(document.getElementById("sum-no-answer"), sum.outcomes["no answer"]);
    var statuses = document.getElementById("sum-statuses");
    statuses.textContent = "";
    Object.keys(sum.statuses).forEach(function (status) {
      var label = status === "no answer" ? status : "HTTP " + status;
      statuses.appendChild(make("span", "status-count", label + " \u00d7" + sum.statuses[status]));
    });
    text(document.getElementById("sum-broke"), sum.client_broke_a_clause
      ? "The client broke a clause in " + plural(sum.client_broke_a_clause, "request") + ":"
      : "The client broke no clause.");
    var list = document.getElementById("sum-clauses");
    list.textContent = "";
    sum.clauses.forEach(function (c) {
      var chip = make("button", "clause-count " + c.level, "");
      chip.type = "button";
      chip.dataset.clause = c.clause;
      chip.title = "show only the requests that broke " + c.clause;
      chip.appendChild(make("code", null, c.clause));
      chip.appendChild(document.createTextNode(" " + c.level + " \u00d7" + c.requests));
      chip.addEventListener("click", function () { filterClause(c.clause); });
      list.appendChild(chip);
    });
  }

  function showBalances(keys) {
    var tbody = document.getElementById("balances");
    tbody.textContent = "";
    keys.forEach(function (k) {
      var tr = document.createElement("tr");
      tr.appendChild(make("td", null, k.key));
      var td = make("td", null, k.credits);
      if (knownBalances[k.key] !== undefined && knownBalances[k.key] !== k.credits) td.className = "changed";
      knownBalances[k.key] = k.credits;
      tr.appendChild(td);
      tbody.appendChild(tr);
    });
  }

  function firedText(n) { return n ? "fired " + plural(n, "time") : "not fired yet"; }
  function remainingText(count) {
    if (count === null || count === undefined) return "on until cleared";
    return "fires for the next " + plural(count, "request");
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
      var scope = [f.api || "both APIs", f.key ? "key " + f.key : "any key", remainingText(f.count)];
      if (f.probability < 1) scope.push("with probability " + f.probability);
      li.appendChild(make("div", "desc", f.description));
      li.appendChild(make("div", "desc", scope.join(" \u00b7 ")));
      li.appendChild(make("div", "desc fired-count", firedText(f.fired)));
      ul.appendChild(li);
    });
    text(document.getElementById("fault-count"), faults.length);
    document.getElementById("no-faults").hidden = faults.length > 0;
    document.getElementById("clear-faults").disabled = faults.length === 0;
  }

  function update(state) {
    var list = container();
    if (state.first_id === null) {
      list.textContent = "";
    } else {
      Array.prototype.slice.call(list.children).forEach(function (el) { if (Number(el.dataset.id) < state.first_id) el.remove(); });
    }
    state.entries.forEach(function (entry) {
      var el = view === "table" ? row(entry) : card(entry);
      if (lastId > 0) el.classList.add("fresh");
      list.insertBefore(el, list.firstChild);
    });
    while (list.children.length > MAX_ROWS[view]) list.removeChild(list.lastChild);
    lastId = Math.max(lastId, state.last_id);
    var leftOut = document.getElementById("left-out");
    leftOut.hidden = !(state.left_out > 0);
    if (state.left_out > 0) {
      text(leftOut, state.left_out + " older requests not shown" + (view === "cards" ? " (the compact table shows up to " + MAX_ROWS.table + ")" : "") +
        "; GET " + prefix + "/journal.jsonl has them all.");
    }
    text(document.getElementById("count"), list.children.length);
    document.getElementById("empty").hidden = list.children.length > 0;
    showSummary(state.summary);
    showBalances(state.keys);
    showFaults(state.faults);
    applyFilters();
  }

  // One request in flight at a time (two with the same `since` would add rows twice); a
  // refresh asked for meanwhile runs right after. Switching views bumps the generation,
  // so an answer for the old view is dropped.
  var timer = null, inFlight = false, again = false, generation = 0;

  function setView(next) {
    view = next;
    viewSelect.value = next;
    cards.textContent = "";
    rows.textContent = "";
    cards.hidden = next !== "cards";
    table.hidden = next !== "table";
    body.classList.toggle("table-view", next === "table");
    lastId = 0;
    generation += 1;
  }
  viewSelect.addEventListener("change", function () { viewChosen = true; setView(viewSelect.value); refreshNow(); });

  function reason(response) {
    return response.json().then(function (answer) { return answer.detail || response.statusText; }, function () { return response.statusText; })
      .then(function (detail) { return "HTTP " + response.status + ": " + detail; });
  }

  function poll() {
    timer = null;
    if (pause.checked) return;
    if (inFlight) { again = true; return; }
    inFlight = true;
    var asked = generation;
    fetch(prefix + "/dashboard/state?view=" + view + "&since=" + lastId, { cache: "no-store" })
      .then(function (response) {
        if (!response.ok) return reason(response).then(function (why) { throw new Error(why); });
        return response.json();
      })
      .then(function (state) {
        if (asked !== generation) { again = true; return; }  // the view changed meanwhile
        if (!viewChosen && view === "cards" && state.summary.requests >= tableFrom) {
          viewChosen = true;  // a long journal: the table reads better than a wall of cards
          setView("table");
          again = true;
          return;
        }
        update(state);
        live.className = "live";
        text(live, "live \u00b7 updated " + new Date().toLocaleTimeString([], { hour12: false }));
      })
      .catch(function (error) {
        live.className = "live error";
        text(live, "not updating: " + error.message);
      })
      .then(function () {
        inFlight = false;
        if (again) { again = false; poll(); return; }
        if (!pause.checked && timer === null) timer = setTimeout(poll, pollMs);
      });
  }
  function refreshNow() { if (timer !== null) { clearTimeout(timer); timer = null; } poll(); }
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

  setView(view);
  poll();
})();
