"use strict";
const params = new URLSearchParams(location.hash.slice(1));
const TOKEN = params.get("token") || "";
const REFRESH_MS = 3000;
const STALE_MS = 30 * 60 * 1000;   // a status older than this (or never reported) is stale, as routing says
const LAST_KEY = "prealert.dispatch.last";
const COLS = 9;
const RESOURCES = [["cath_lab", "cath lab"], ["ct", "CT"], ["stroke_team", "stroke team"],
                   ["trauma_surgeon", "trauma surgeon"], ["operating_room", "OR"]];
const state = { hospitals: [], timer: null, delay: 500, live: false, generation: 0,
                incidents: new Map(), recs: new Map(), recFetched: new Set(), open: new Set(), statuses: new Map(),
                selected: null, candidates: new Map(), sort: null };
const feed = { socket: null, ok: false, delay: 500, timer: null, hellos: 0, quietBefore: 0, skew: 0, error: "" };

function $(id) { return document.getElementById(id); }
function el(tag, attrs, ...kids) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  node.append(...kids.filter(k => k != null && k !== ""));
  return node;
}
function fill(node, ...kids) { node.replaceChildren(...kids.filter(k => k != null && k !== "")); return node; }
function minutes(seconds) { return Math.round(seconds / 60); }
function hhmm(iso) {
  const d = new Date(iso);
  return isNaN(d) ? "--:--" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
}
function timeOf(iso) { const t = Date.parse(iso || ""); return isNaN(t) ? 0 : t; }
function nameOf(id) { const h = state.hospitals.find(x => x.id === id); return h ? h.name : id; }
function storage(value) {  // sessionStorage may be unavailable (privacy modes): the feed then starts afresh
  try {
    if (value === undefined) return sessionStorage.getItem(LAST_KEY);
    if (value === null) sessionStorage.removeItem(LAST_KEY); else sessionStorage.setItem(LAST_KEY, value);
  } catch (e) { /* ignore */ }
  return null;
}

// HTTP -----------------------------------------------------------------------------------------------------------
async function api(method, path, body) {
  const init = { method: method, headers: { "Authorization": "Bearer " + TOKEN }, cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!response.ok) {
    const err = new Error((data && data.reason) || ("HTTP " + response.status));
    err.info = data || { code: "http_" + response.status, reason: err.message };
    throw err;
  }
  return data;
}
function showError(err) {
  const info = err.info || { code: "network", reason: err.message };
  $("last-error").textContent = [info.code, info.field].filter(Boolean).join(" · ") + ": " + info.reason;
}
function showNotice(text) {
  $("last-error").textContent = "";
  $("notice").textContent = text + " · " + new Date().toLocaleTimeString();
}
function setLive(live) {  // the HTTP polling state; "live" needs the feed too
  state.live = live;
  renderConnection();
}
function renderConnection() {
  const live = state.live && feed.ok;
  const badge = $("connection");
  badge.textContent = live ? "live" : "reconnecting";
  badge.classList.toggle("live", live);
  badge.title = "incidents: " + (state.live ? "ok" : "reconnecting") + " · feed: " + (feed.ok ? "ok" : "reconnecting");
}

// Loading --------------------------------------------------------------------------------------------------------
async function loadHospitals() {
  const [hospitals, statuses] = await Promise.all([api("GET", "/v1/hospitals"), api("GET", "/v1/hospitals/status")]);
  state.hospitals = hospitals;
  document.querySelectorAll("select.destination").forEach(fillDestinations);
  buildBoard();
  statuses.forEach(status => applyStatus(status, true));
}
async function loadStatuses() {
  try { (await api("GET", "/v1/hospitals/status")).forEach(status => applyStatus(status, true)); }
  catch (err) { showError(err); }
}
async function refresh() {
  clearTimeout(state.timer);
  const generation = ++state.generation;
  try {
    if (!state.hospitals.length) await loadHospitals();
    const incidents = await api("GET", "/v1/incidents");
    if (generation !== state.generation) return;  // a newer refresh is on its way
    renderIncidents(incidents);
    setLive(true);
    state.delay = 500;
    $("refreshed").textContent = "updated " + new Date().toLocaleTimeString();
    state.timer = setTimeout(refresh, REFRESH_MS);
  } catch (err) {
    if (generation !== state.generation) return;
    setLive(false);
    showError(err);
    state.timer = setTimeout(refresh, state.delay);
    state.delay = Math.min(state.delay * 2, 5000);
  }
}

// Table ----------------------------------------------------------------------------------------------------------
function renderIncidents(incidents) {
  const body = $("incidents");
  const keep = new Set();
  let previous = null;
  state.incidents.clear();
  for (const inc of queueOrder(incidents)) {
    const key = String(inc.id);
    keep.add(key);
    state.incidents.set(key, inc);
    let row = body.querySelector('tr[data-incident="' + key + '"]');
    if (!row) row = buildRow(inc);
    updateRow(row, inc);
    for (const r of [row, row.detailRow]) {  // each incident row is followed by its (maybe hidden) detail row
      const wanted = previous ? previous.nextSibling : body.firstChild;
      if (wanted !== r) body.insertBefore(r, wanted);
      previous = r;
    }
    fetchRecommendation(key);
  }
  for (const row of Array.from(body.rows)) {
    if (!keep.has(row.dataset.incident || row.dataset.detailFor)) row.remove();
  }
  renderIncidentMarkers();
  if (state.selected && !state.incidents.has(state.selected)) state.selected = null;
  for (const row of queueRows()) row.classList.toggle("selected", row.dataset.incident === state.selected);
  if (!incidents.length && !body.rows.length) {
    const row = body.insertRow();
    row.className = "empty";
    row.innerHTML = '<td colspan="' + COLS + '" class="none">no incidents</td>';
  }
}
function cell(row, name) {
  const td = document.createElement("td");
  td.dataset.col = name;
  row.appendChild(td);
  return td;
}
function buildRow(inc) {
  const row = document.createElement("tr");
  row.dataset.incident = String(inc.id);
  ["id", "priority", "complaint", "unit", "destination"].forEach(name => cell(row, name));
  buildRecommendationCell(cell(row, "recommendation"), String(inc.id));
  cell(row, "created");
  cell(row, "assign").appendChild(buildAssignForm(inc.id));
  cell(row, "route").appendChild(buildRouteForm(inc.id));
  row.detailRow = buildDetailRow(inc.id);
  return row;
}
function buildAssignForm(id) {
  const form = document.createElement("form");
  const input = document.createElement("input");
  input.className = "assign-unit";
  input.required = true;
  input.pattern = "[A-Za-z0-9][A-Za-z0-9_\\-]{0,31}";
  input.placeholder = "unit";
  input.setAttribute("aria-label", "unit for incident " + id);
  const button = document.createElement("button");
  button.type = "submit";
  button.className = "assign";
  button.textContent = "Assign";
  form.append(input, button);
  form.addEventListener("submit", (ev) => { ev.preventDefault(); assign(id, input); });
  return form;
}
function buildRouteForm(id) {
  const form = document.createElement("form");
  const select = document.createElement("select");
  select.className = "destination";
  select.setAttribute("aria-label", "destination hospital for incident " + id);
  select.addEventListener("change", () => { select.dataset.dirty = "1"; });
  fillDestinations(select);
  const reason = document.createElement("select");
  reason.className = "reason";
  reason.setAttribute("aria-label", "reason for choosing the destination of incident " + id);
  reason.appendChild(new Option("follows recommendation", ""));
  for (const [code, words] of DESTINATION_REASONS) reason.appendChild(new Option(words, code));
  const button = document.createElement("button");
  button.type = "submit";
  button.className = "route";
  button.textContent = "Route";
  form.append(select, reason, button);
  form.addEventListener("submit", (ev) => { ev.preventDefault(); route(id, select, reason); });
  return form;
}
// NEMSIS v3.5.1 eDisposition.20: the reason for an override of the recommendation.
const DESTINATION_REASONS = [
  ["4220001", "Closest Facility"], ["4220003", "Diversion"], ["4220005", "Family Choice"],
  ["4220007", "Insurance Status/Requirement"], ["4220009", "Law Enforcement Choice"],
  ["4220011", "On-Line/On-Scene Medical Direction"], ["4220013", "Other"], ["4220015", "Patient's Choice"],
  ["4220017", "Patient's Physician's Choice"], ["4220019", "Protocol"], ["4220021", "Regional Specialty Center"],
];
function fillDestinations(select) {
  const chosen = select.value;
  select.textContent = "";
  select.appendChild(new Option("— hospital —", ""));
  for (const h of state.hospitals) {
    const label = h.name + (h.trauma_level ? " · trauma " + h.trauma_level : "") + (h.pediatric ? " · peds" : "");
    select.appendChild(new Option(label, h.id));
  }
  select.value = chosen;
}
function updateRow(row, inc) {
  const text = (name, value, empty) => {
    const td = row.querySelector('td[data-col="' + name + '"]');
    td.textContent = value == null || value === "" ? (empty || "—") : String(value);
    td.classList.toggle("none", value == null || value === "");
    return td;
  };
  text("id", inc.id);
  const prio = text("priority", "");
  prio.classList.remove("none");
  prio.innerHTML = '<span class="prio p' + Number(inc.priority) + '">P' + Number(inc.priority) + "</span>";
  text("complaint", inc.complaint);
  text("unit", inc.unit, "unassigned");
  text("destination", hospitalName(inc.destination), "not set");
  text("created", formatTime(inc.created_at));
  renderRecommendation(String(inc.id), row);
}
function preselect(row, inc) {  // the recommended hospital, unless the dispatcher has chosen another
  const select = row.querySelector("select.destination");
  const rec = state.recs.get(String(inc.id));
  const top = rec && rec.recommendation.ranked.length ? rec.recommendation.ranked[0].hospital : null;
  if (!select.dataset.dirty && document.activeElement !== select) select.value = top || inc.destination || "";
}
function hospitalName(id) {
  if (!id) return null;
  const h = state.hospitals.find(x => x.id === id);
  return h ? h.name + " (" + id + ")" : id;
}
function formatTime(iso) {
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

// Recommendations -----------------------------------------------------------------------------------------------
function storeRecommendation(id, update) {  // keeps the newest per incident; true if it was newer
  const known = state.recs.get(id);
  if (known && timeOf(known.recommendation.computed_at) > timeOf(update.recommendation.computed_at)) return false;
  state.recs.set(id, update);
  return true;
}
async function fetchRecommendation(id) {  // once per incident without one; then the feed keeps it current
  if (state.recs.has(id) || state.recFetched.has(id)) return;
  state.recFetched.add(id);
  try {
    const recommendation = await api("GET", "/v1/incidents/" + id + "/recommendation");
    if (storeRecommendation(id, { incident: Number(id), recommendation: recommendation })) renderRecommendation(id);
  } catch (err) {
    showError(err);
  }
}
function onRecommendation(update, quiet) {
  const id = String(update.incident);
  if (!storeRecommendation(id, update)) return;
  renderRecommendation(id);
  if (!quiet && update.top_changed && update.previous_top != null) rerouteAlert(update);
}
function buildRecommendationCell(td, id) {
  const button = el("button", { type: "button", class: "details", "aria-expanded": "false",
                                "aria-controls": "detail-" + id, text: "Details" });
  button.addEventListener("click", () => toggleDetails(id));
  td.append(el("div", { class: "rec-summary" }), button);
}
function renderRecommendation(id, row) {
  row = row || $("incidents").querySelector('tr[data-incident="' + id + '"]');
  if (!row) return;
  const rec = state.recs.get(id);
  const top = rec && rec.recommendation.ranked[0];
  const key = rec ? rec.recommendation.computed_at + "|" + state.open.has(id) : "none";
  if (row.dataset.recKey !== key) {  // re-render only what changed: a poll must not disturb the dispatcher
    row.dataset.recKey = key;
    const td = row.querySelector('td[data-col="recommendation"]');
    fill(td.querySelector(".rec-summary"), ...(!rec ? [el("span", { class: "none", text: "computing…" })]
      : !top ? [el("span", { class: "none", text: "no hospital can be recommended" })]
      : [el("div", { class: "rec-top", text: top.name + " · ETA " + minutes(top.eta_s) + " min" }),
         el("div", { class: "rec-reasons", text: top.reasons.slice(0, 2).join(" · ") })]));
    const button = td.querySelector("button.details");
    button.disabled = !rec;
    button.setAttribute("aria-expanded", String(state.open.has(id)));
    button.textContent = state.open.has(id) ? "Hide details" : "Details";
    renderDetails(row.detailRow, rec);
  }
  const inc = state.incidents.get(id);
  if (inc) preselect(row, inc);
}
function buildDetailRow(id) {
  const row = el("tr", { class: "detail hidden", id: "detail-" + id });
  row.dataset.detailFor = String(id);
  row.appendChild(el("td", { colspan: String(COLS) }));
  return row;
}
function toggleDetails(id) {
  if (state.open.has(id)) state.open.delete(id); else state.open.add(id);
  renderRecommendation(id);
}
function renderDetails(row, rec) {
  const id = row.dataset.detailFor;
  row.classList.toggle("hidden", !state.open.has(id) || !rec);
  if (!rec) return;
  const r = rec.recommendation;
  const meta = ["category: " + r.category, r.needs.length ? "needs: " + r.needs.join(", ") : "",
                r.missing.length ? "missing: " + r.missing.join(", ") : "", "computed " + formatTime(r.computed_at)];
  const ranked = el("ol", { class: "ranked" }, ...r.ranked.map(choice => el("li", {},
    el("strong", { text: choice.name }), " · ETA " + minutes(choice.eta_s) + " min · +" + minutes(choice.delta_s) + " min ",
    ["Closed", "Advisory"].includes(choice.traffic)
      ? el("span", { class: "tag traffic-" + choice.traffic, text: choice.traffic }) : null,
    choice.stale ? el("span", { class: "stale", text: "stale status" }) : null,
    " — " + choice.reasons.join(" · "))));
  const excluded = el("ul", { class: "excluded" }, ...r.excluded.map(ex => el("li", {},
    el("strong", { text: ex.name }), " — " + ex.reasons.join(" · "))));
  fill(row.cells[0], el("div", { class: "rec-meta", text: meta.filter(Boolean).join(" · ") }),
    el("h3", { text: "Ranked" }), r.ranked.length ? ranked : el("p", { class: "none", text: "none" }),
    el("h3", { text: "Excluded" }), r.excluded.length ? excluded : el("p", { class: "none", text: "none" }));
}

// Alerts ---------------------------------------------------------------------------------------------------------
function addAlert(className, text, role, key) {
  const box = $("alerts");
  if (key) box.querySelectorAll('[data-key="' + key + '"]').forEach(old => old.remove());
  const button = el("button", { type: "button", class: "dismiss", text: "Dismiss" });
  const alert = el("div", { class: "alert " + className, role: role }, el("span", { text: text }), button);
  if (key) alert.dataset.key = key;
  button.addEventListener("click", () => dismissAlert(alert));
  box.prepend(alert);  // newest first
  return alert;
}
function dismissAlert(alert) {
  const hadFocus = alert.contains(document.activeElement);
  alert.remove();
  if (!hadFocus) return;
  const next = $("alerts").querySelector(".alert button");
  (next || $("alerts")).focus();
}
function rerouteAlert(update) {
  const top = update.recommendation.ranked[0];
  const text = "Incident #" + update.incident + ": recommendation changed from " + nameOf(update.previous_top) +
    " to " + (top ? top.name : "no hospital") + (top && top.reasons.length ? " — " + top.reasons[0] : "");
  addAlert("reroute-alert", text, "alert", "incident-" + update.incident);
}
function onKey(ev) {
  if (ev.key !== "Escape" || ev.defaultPrevented) return;
  const newest = $("alerts").querySelector(".alert");
  if (newest) { ev.preventDefault(); dismissAlert(newest); }
}

// Hospital board -------------------------------------------------------------------------------------------------
function buildBoard() {
  const body = $("hospitals").tBodies[0];
  body.textContent = "";
  for (const h of state.hospitals) {
    const row = el("tr");
    row.dataset.hospital = h.id;
    for (const name of ["name", "traffic", "census", "offload", "resources", "age"]) cell(row, name);
    row.cells[0].textContent = h.name;
    row.addEventListener("animationend", () => row.classList.remove("flash"));
    body.appendChild(row);
    renderHospital(h.id);
  }
}
function applyStatus(status, quiet) {  // true if it was newer than what the board shows
  const previous = state.statuses.get(status.hospital);
  if (previous && timeOf(previous.updated_at) > timeOf(status.updated_at)) return false;
  state.statuses.set(status.hospital, status);
  renderHospital(status.hospital);
  if (previous && timeOf(previous.updated_at) < timeOf(status.updated_at)) {
    logStatus(previous, status);
    if (!quiet) flash(status.hospital);
  }
  return true;
}
function hospitalRow(id) { return $("hospitals").querySelector('tr[data-hospital="' + CSS.escape(id) + '"]'); }
function unavailable(status) { return RESOURCES.filter(([key]) => status.resources[key] === false).map(r => r[1]); }
function total(counts) { return counts.red + counts.yellow + counts.green + counts.black; }
function trafficLabel(traffic) { return traffic === "NotApplicable" ? "N/A" : traffic; }
function renderHospital(id) {
  const row = hospitalRow(id);
  const s = state.statuses.get(id);
  if (!row) return;
  if (!s) { renderAge(row, null); return; }
  const [, traffic, census, offload, resources] = row.cells;
  renderAge(row, s);
  if (!s.updated_at) {  // never reported: the defaults are not facts
    for (const td of [traffic, census, offload, resources]) fill(td, el("span", { class: "none", text: "not reported" }));
    return;
  }
  fill(traffic, el("span", { class: "tag traffic-" + s.ems_traffic, text: trafficLabel(s.ems_traffic) }),
    s.ems_traffic_reason ? " " + s.ems_traffic_reason : "",
    s.ems_traffic_since ? el("span", { class: "none", text: " since " + hhmm(s.ems_traffic_since) }) : null);
  const capacity = total(s.capacity);
  const colours = ["red", "yellow", "green", "black"].map(c => c[0].toUpperCase() + " " + s.census[c] +
    (s.capacity[c] ? "/" + s.capacity[c] : "")).join(" · ");
  census.textContent = total(s.census) + " / " + (capacity || "—") +
    (capacity ? " (" + Math.round(100 * total(s.census) / capacity) + " %)" : "");
  census.appendChild(el("div", { class: "none", text: colours, title: "census by triage colour (/ capacity)" }));
  offload.textContent = s.offload_minutes + " min" + (s.offload === "Delayed" ? " · delayed" : "");
  const down = unavailable(s);
  fill(resources, down.length ? el("span", { class: "down", text: down.join(" · ") })
                                        : el("span", { class: "none", text: "all available" }));
  renderHospitalMarker(id);
  if (state.sort) sortBoard(state.sort);
}
function serverNow() { return Date.now() + feed.skew; }
function formatAge(ms) {
  const m = Math.floor(Math.max(0, ms) / 60000);
  if (m < 1) return "just now";
  return m < 60 ? m + " min ago" : Math.floor(m / 60) + " h " + (m % 60) + " min ago";
}
function renderAge(row, s) {
  const td = row.cells[5];
  const at = timeOf(s && s.updated_at);
  const age = at ? serverNow() - at : null;
  const stale = age === null || age > STALE_MS;
  fill(td, el("span", { class: "age", text: age === null ? "never reported" : formatAge(age) }),
    stale ? " " : null, stale ? el("span", { class: "stale", text: "stale" }) : null);
  if (s && s.updated_by) td.title = "updated by " + s.updated_by;
}
function renderAges() {
  for (const row of $("hospitals").tBodies[0].rows) renderAge(row, state.statuses.get(row.dataset.hospital));
}
function flash(id) {
  const row = hospitalRow(id);
  if (!row) return;
  row.classList.remove("flash");
  void row.offsetWidth;  // restart the animation
  row.classList.add("flash");
}
function describeChange(previous, status) {
  if (previous.ems_traffic !== status.ems_traffic || previous.ems_traffic_reason !== status.ems_traffic_reason) {
    return "→ " + trafficLabel(status.ems_traffic) + (status.ems_traffic_reason ? ": " + status.ems_traffic_reason : "");
  }
  const down = unavailable(status);
  return "updated: census " + total(status.census) + "/" + total(status.capacity) + " · offload " +
    status.offload_minutes + " min" + (down.length ? " · unavailable: " + down.join(", ") : "");
}
function logStatus(previous, status) {
  const log = $("status-log");
  const line = hhmm(status.updated_at) + " " + nameOf(status.hospital) + " " + describeChange(previous, status);
  log.prepend(el("li", { text: line }));
  while (log.children.length > 50) log.lastElementChild.remove();
}

// Dispatchers' feed ----------------------------------------------------------------------------------------------
function connectFeed() {
  clearTimeout(feed.timer);
  const last = storage();
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/dispatch/socket" +
    (last ? "?after=" + encodeURIComponent(last) : "");
  let socket;
  try { socket = new WebSocket(url, ["prealert.v1", "bearer." + TOKEN]); }
  catch (err) { scheduleFeed(); return; }
  feed.socket = socket;
  socket.onmessage = (ev) => { if (feed.socket === socket) onFrame(ev.data); };
  socket.onclose = (ev) => { if (feed.socket === socket) onFeedClosed(ev); };
}
function scheduleFeed() {
  feed.timer = setTimeout(connectFeed, feed.delay);
  feed.delay = Math.min(feed.delay * 2, 5000);
}
function onFeedClosed(ev) {
  feed.socket = null;
  feed.ok = false;
  renderConnection();
  if (ev.code === 4400) storage(null);  // a resume id the server refuses: start afresh
  if (ev.code === 4401 || ev.code === 4403) {
    feedError({ code: ev.code === 4401 ? "unauthenticated" : "forbidden", reason: "feed: " + (ev.reason || "refused") });
    feed.delay = 5000;
  }
  scheduleFeed();
}
function onFrame(text) {
  let frame;
  try { frame = JSON.parse(text); } catch (e) { return; }
  if (frame.type === "feed_hello") onHello(frame);
  else if (frame.type === "reset") onReset();
  else if (frame.type === "event") onEvent(frame);
  else if (frame.type === "error") feedError(frame);
}
function feedError(info) {  // shown in #last-error, and cleared there once the feed is back
  showError({ info: info });
  feed.error = $("last-error").textContent;
}
function onHello(hello) {
  feed.ok = true;
  feed.delay = 500;
  if (feed.error && $("last-error").textContent === feed.error) $("last-error").textContent = "";
  feed.error = "";
  const serverTime = timeOf(hello.server_time);
  if (serverTime) feed.skew = serverTime - Date.now();
  // A full replay (first visit, or after a reset) brings back old history: apply it without alerts.
  feed.quietBefore = hello.after === "0-0" ? serverTime : 0;
  if (feed.hellos++ > 0) {
    addAlert("reconnect-notice", hello.after === "0-0" ? "reconnected, resumed from the start of the feed"
                                                       : "reconnected, resumed from " + hello.after, "status", "reconnect");
  }
  renderConnection();
  renderAges();
}
function onReset() {  // the resume point is gone: forget everything, a full replay follows
  storage(null);
  state.recs.clear();
  state.recFetched.clear();
  state.statuses.clear();
  $("status-log").textContent = "";
  $("alerts").querySelectorAll(".reroute-alert").forEach(a => a.remove());
  if (state.hospitals.length) { buildBoard(); loadStatuses(); }
  for (const id of state.incidents.keys()) { renderRecommendation(id); fetchRecommendation(id); }
}
function onEvent(frame) {
  storage(frame.id);
  const event = frame.event || {};
  if (event.type === "recommendation") {
    onRecommendation(event, timeOf(event.recommendation.computed_at) < feed.quietBefore);
  } else if (event.type === "hospital_status") {
    applyStatus(event.status, timeOf(event.status.updated_at) < feed.quietBefore);
  }
}

// Actions --------------------------------------------------------------------------------------------------------
async function act(label, method, path, body) {
  try {
    const result = await api(method, path, body);
    showNotice(label);
    return result;
  } catch (err) {
    showError(err);
    return null;
  } finally {
    refresh();
  }
}
async function createIncident(ev) {
  ev.preventDefault();
  const lat = Number($("lat").value), lon = Number($("lon").value);
  const complaint = $("complaint").value.trim();
  if (!$("lat").value || !$("lon").value || !$("new-incident").checkValidity() || !complaint) {
    showError({ info: { code: "invalid_field", field: !complaint ? "complaint" : "location",
                        reason: "enter a complaint and a latitude (-90–90) and longitude (-180–180)" } });
    return;
  }
  const body = { location: { lat: lat, lon: lon }, complaint: complaint, priority: Number($("priority").value) };
  const created = await act("incident created", "POST", "/v1/incidents", body);
  if (created) { showNotice("incident #" + created.id + " created"); $("complaint").value = ""; }
}
async function assign(id, input) {
  const unit = input.value.trim();
  if (!unit || !input.checkValidity()) {
    showError({ info: { code: "invalid_field", field: "unit", reason: "enter a unit call sign (letters, digits, - or _)" } });
    input.focus();
    return;
  }
  const done = await act("unit " + unit + " assigned to #" + id, "POST", "/v1/incidents/" + id + "/assign", { unit: unit });
  if (done) input.value = "";
}
async function route(id, select, reason) {
  if (!select.value) {
    showError({ info: { code: "invalid_field", field: "hospital", reason: "choose a hospital" } });
    select.focus();
    return;
  }
  const done = await act("#" + id + " routed to " + select.value, "POST", "/v1/incidents/" + id + "/destination",
                         reason.value ? { hospital: select.value, reason_code: reason.value } : { hospital: select.value });
  if (done) delete select.dataset.dirty;
}


// Map: the region's streets from the region pack, hospitals, incidents and units moving live ----------------------
const SVGNS = "http://www.w3.org/2000/svg";
const map = { data: null, view: null, units: new Map(), selected: null, socket: null, delay: 500, last: "", hellos: 0,
              drag: null, timer: null };
function svg(tag, attrs) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}
function project(lat, lon) { return [(lon - map.data.west) * map.data.kx, (map.data.north - lat) * map.data.ky]; }
function setView() { $("map").setAttribute("viewBox", map.view.map(v => Math.round(v)).join(" ")); }
function zoom(factor, cx, cy) {
  const [x, y, w, h] = map.view;
  const px = cx == null ? x + w / 2 : cx, py = cy == null ? y + h / 2 : cy;
  map.view = [px - (px - x) * factor, py - (py - y) * factor, w * factor, h * factor];
  setView();
}
async function loadMap() {
  try { map.data = await api("GET", "/v1/region/map"); } catch (err) { showError(err); return; }
  const d = map.data;
  map.view = [0, 0, d.width, d.height];
  setView();
  const roads = $("layer-roads");
  for (const name of ["local", "minor", "major"]) roads.appendChild(svg("path", { class: "road roads-" + name, d: d.roads[name] }));
  const r = d.width / 150;
  for (const h of d.hospitals) {
    const g = svg("g", { class: "hospital", transform: "translate(" + h.x + " " + h.y + ")", "data-hospital": h.id });
    const title = svg("title"); title.textContent = h.name;
    const label = svg("text", { x: r * 1.3, y: r * 0.4, "font-size": r * 1.6 }); label.textContent = h.id;
    const badge = svg("text", { class: "badge", x: -r * 0.45, y: r * 0.55, "font-size": r * 1.5 });
    g.append(title, svg("circle", { r: r, fill: "#888" }), badge, label);
    $("layer-hospitals").appendChild(g);
    renderHospitalMarker(h.id);
  }
  $("attribution").textContent = "streets " + d.attribution;
  const m = $("map");
  m.addEventListener("wheel", ev => { ev.preventDefault(); const p = svgPoint(ev); zoom(ev.deltaY > 0 ? 1.2 : 1 / 1.2, p[0], p[1]); }, { passive: false });
  m.addEventListener("pointerdown", ev => { map.drag = [ev.clientX, ev.clientY, map.view.slice()]; });
  window.addEventListener("pointerup", () => { map.drag = null; });
  m.addEventListener("pointermove", ev => {
    if (!map.drag) return;
    const [sx, sy, v] = map.drag, scale = v[2] / m.clientWidth;
    map.view = [v[0] - (ev.clientX - sx) * scale, v[1] - (ev.clientY - sy) * scale, v[2], v[3]];
    setView();
  });
  $("layer-units").addEventListener("click", ev => { const g = ev.target.closest("g.unit"); if (g) selectUnit(g.dataset.unit); });
  await loadUnits();
  renderIncidentMarkers();
}
function svgPoint(ev) {
  const m = $("map"), rect = m.getBoundingClientRect(), [x, y, w, h] = map.view;
  const scale = Math.max(w / rect.width, h / rect.height);
  return [x + (ev.clientX - rect.left) * scale, y + (ev.clientY - rect.top) * scale];
}
function renderHospitalMarker(id) {
  if (!map.data) return;
  const g = $("layer-hospitals").querySelector('g[data-hospital="' + CSS.escape(id) + '"]');
  if (!g) return;
  const s = state.statuses.get(id);
  const traffic = s && s.updated_at ? s.ems_traffic : "unknown";
  const fill = { Normal: "#1fbf5f", Advisory: "#ffb020", Closed: "#ff4d4d" }[traffic] || "#888";
  g.querySelector("circle").setAttribute("fill", fill);
  g.dataset.traffic = traffic;
  const stale = !s || !s.updated_at || serverNow() - timeOf(s.updated_at) > STALE_MS;
  g.querySelector(".badge").textContent = (stale ? "!" : "") + (s && s.offload === "Delayed" ? "+" : "");
}
const UNIT_COLOURS = { en_route: "#2a9df4", on_scene: "#2a9df4", at_patient: "#2a9df4", transporting: "#ff4d4d",
                       at_destination: "#b67cff", transfer_of_care: "#b67cff", back_in_service: "#1fbf5f" };
function applyUnit(update) {
  const known = map.units.get(update.unit) || { unit: update.unit, incident: null, position: null, status: null };
  if (update.incident != null) known.incident = update.incident;
  if (update.position && (!known.position || timeOf(update.position.taken_at) >= timeOf(known.position.taken_at))) known.position = update.position;
  if (update.status && (!known.status || timeOf(update.status.taken_at) >= timeOf(known.status.taken_at))) known.status = update.status;
  map.units.set(update.unit, known);
  renderUnit(known);
}
function renderUnit(u) {
  if (!map.data || !u.position) return;
  let g = $("layer-units").querySelector('g[data-unit="' + CSS.escape(u.unit) + '"]');
  const r = map.data.width / 180;
  if (!g) {
    g = svg("g", { class: "unit", "data-unit": u.unit, tabindex: "0" });
    const label = svg("text", { x: r * 1.2, y: -r * 0.6, "font-size": r * 1.5 }); label.textContent = u.unit;
    const title = svg("title");
    g.append(title, svg("circle", { r: r }), label);
    $("layer-units").appendChild(g);
  }
  const [x, y] = project(u.position.lat, u.position.lon);
  g.setAttribute("transform", "translate(" + x.toFixed(1) + " " + y.toFixed(1) + ")");
  const status = u.status ? u.status.status : "";
  g.dataset.status = status;
  g.querySelector("circle").setAttribute("fill", UNIT_COLOURS[status] || "#1fbf5f");
  g.querySelector("title").textContent = u.unit + " · " + (status ? status.replace(/_/g, " ") : "available") +
    (u.incident ? " · incident #" + u.incident : "");
  g.classList.toggle("selected", map.selected === u.unit);
  $("map-note").textContent = map.units.size + " units";
}
async function loadUnits() {
  try { (await api("GET", "/v1/units")).forEach(applyUnit); } catch (err) { showError(err); }
  connectUnits(map.last || "now");
}
function connectUnits(after) {
  clearTimeout(map.timer);
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/dispatch/units?after=" + encodeURIComponent(after);
  let socket;
  try { socket = new WebSocket(url, ["prealert.v1", "bearer." + TOKEN]); } catch (e) { scheduleUnits(); return; }
  map.socket = socket;
  socket.onmessage = (ev) => {
    if (map.socket !== socket) return;
    let frame; try { frame = JSON.parse(ev.data); } catch (e) { return; }
    if (frame.type === "feed_hello") {
      map.delay = 500;
      if (!map.last) map.last = frame.after;
      if (map.hellos++ > 0) addAlert("reconnect-notice", "units feed reconnected, resumed from " + frame.after + " with no gap", "status", "units-reconnect");
    } else if (frame.type === "reset") { map.last = ""; loadUnits(); }
    else if (frame.type === "event") { map.last = frame.id; applyUnit(frame.event); }
  };
  socket.onclose = () => { if (map.socket === socket) { map.socket = null; scheduleUnits(); } };
}
function scheduleUnits() {
  map.timer = setTimeout(() => connectUnits(map.last || "now"), map.delay);
  map.delay = Math.min(map.delay * 2, 5000);
}
async function selectUnit(unit) {
  map.selected = unit;
  $("layer-units").querySelectorAll("g.unit").forEach(g => g.classList.toggle("selected", g.dataset.unit === unit));
  $("route").setAttribute("d", "");
  try {
    const route = await api("GET", "/v1/units/" + encodeURIComponent(unit) + "/route");
    $("route").setAttribute("d", route.points.map(([lat, lon], i) => (i ? "L" : "M") + project(lat, lon).map(v => v.toFixed(0)).join(" ")).join(""));
    showNotice(unit + " → " + nameOf(route.destination) + " (route shown)");
  } catch (err) { showNotice(unit + " has no destination yet"); }
}
function renderIncidentMarkers() {
  if (!map.data) return;
  const layer = $("layer-incidents");
  const r = map.data.width / 130;
  const keep = new Set();
  for (const [id, inc] of state.incidents) {
    if (!inc.location) continue;
    keep.add(id);
    let g = layer.querySelector('g[data-incident="' + id + '"]');
    if (!g) {
      g = svg("g", { class: "incident", "data-incident": id });
      const title = svg("title"); title.textContent = "#" + id + " " + inc.complaint;
      g.append(title, svg("path", { d: "M0 " + -r + "L" + r + " 0L0 " + r + "L" + -r + " 0Z" }));
      layer.appendChild(g);
    }
    const [x, y] = project(inc.location.lat, inc.location.lon);
    g.setAttribute("transform", "translate(" + x.toFixed(0) + " " + y.toFixed(0) + ")");
    g.classList.toggle("selected", String(state.selected) === id);
  }
  for (const g of Array.from(layer.children)) if (!keep.has(g.dataset.incident)) g.remove();
}

// Queue: selection, suggested units, keyboard ------------------------------------------------------------------------
function queueOrder(incidents) {  // open first (no destination yet, or not handed over), then by priority and age
  return incidents.slice().sort((a, b) => (a.priority - b.priority) || (timeOf(a.created_at) - timeOf(b.created_at)));
}
function queueRows() { return Array.from($("incidents").querySelectorAll("tr[data-incident]")); }
function select(id) {
  state.selected = id == null ? null : String(id);
  for (const row of queueRows()) row.classList.toggle("selected", row.dataset.incident === state.selected);
  const row = state.selected && $("incidents").querySelector('tr[data-incident="' + state.selected + '"]');
  if (row) { row.scrollIntoView({ block: "nearest" }); fetchCandidates(state.selected); }
  const inc = state.selected && state.incidents.get(state.selected);
  if (inc && inc.unit) selectUnit(inc.unit);
  renderIncidentMarkers();
}
function move(step) {
  const rows = queueRows();
  if (!rows.length) return;
  const at = rows.findIndex(r => r.dataset.incident === state.selected);
  select(rows[Math.max(0, Math.min(rows.length - 1, at < 0 ? 0 : at + step))].dataset.incident);
}
async function fetchCandidates(id) {
  const row = $("incidents").querySelector('tr[data-incident="' + id + '"]');
  if (!row) return;
  let box = row.querySelector(".suggest");
  if (!box) { box = el("div", { class: "suggest", "aria-label": "suggested units" }); row.querySelector('td[data-col="assign"]').appendChild(box); }
  try {
    const candidates = await api("GET", "/v1/incidents/" + id + "/candidates");
    state.candidates.set(id, candidates);
    fill(box, ...candidates.slice(0, 3).map(c => {
      const b = el("button", { type: "button", class: "suggestion", text: c.unit + " · " + minutes(c.eta_s) + " min" + (c.available ? "" : " (busy)"), title: c.reason });
      b.dataset.unit = c.unit;
      b.addEventListener("click", () => assignUnit(id, c.unit));
      return b;
    }));
  } catch (err) { showError(err); }
}
async function assignUnit(id, unit) {
  await act("unit " + unit + " assigned to #" + id, "POST", "/v1/incidents/" + id + "/assign", { unit: unit });
}
async function acceptRecommendation(id) {
  const rec = state.recs.get(id);
  const top = rec && rec.recommendation.ranked[0];
  if (!top) { showError({ info: { code: "no_recommendation", reason: "no recommendation yet for #" + id } }); return; }
  await act("#" + id + " routed to " + top.name + " (recommended)", "POST", "/v1/incidents/" + id + "/destination", { hospital: top.hospital });
}
function onShortcut(ev) {
  if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const typing = ev.target.closest && ev.target.closest("input, select, textarea");
  if (typing) return;
  const id = state.selected;
  const handlers = {
    "j": () => move(1), "ArrowDown": () => move(1), "k": () => move(-1), "ArrowUp": () => move(-1),
    "a": () => { const c = id && (state.candidates.get(id) || []).find(x => x.available); if (c) assignUnit(id, c.unit); },
    "r": () => id && acceptRecommendation(id),
    "o": () => { const row = id && $("incidents").querySelector('tr[data-incident="' + id + '"]'); if (row) row.querySelector("select.destination").focus(); },
    "d": () => id && toggleDetails(id),
    "n": () => $("complaint").focus(),
    "?": () => $("help").classList.toggle("hidden"),
    "+": () => map.data && zoom(1 / 1.3), "=": () => map.data && zoom(1 / 1.3), "-": () => map.data && zoom(1.3),
    "0": () => { if (map.data) { map.view = [0, 0, map.data.width, map.data.height]; setView(); } },
  };
  const handler = handlers[ev.key];
  if (handler) { ev.preventDefault(); handler(); }
}
function sortBoard(key) {
  state.sort = key;
  const rows = Array.from($("hospitals").tBodies[0].rows);
  const s = id => state.statuses.get(id) || {};
  const value = {
    name: r => r.cells[0].textContent,
    traffic: r => ({ Closed: 0, Advisory: 1, Normal: 2 }[s(r.dataset.hospital).ems_traffic] ?? 3),
    census: r => { const x = s(r.dataset.hospital); return x.capacity && total(x.capacity) ? -total(x.census) / total(x.capacity) : 0; },
    offload: r => -(s(r.dataset.hospital).offload_minutes || 0),
    age: r => timeOf(s(r.dataset.hospital).updated_at),
  }[key];
  rows.sort((a, b) => { const x = value(a), y = value(b); return x < y ? -1 : x > y ? 1 : 0; });
  rows.forEach(r => $("hospitals").tBodies[0].appendChild(r));
  document.querySelectorAll("#hospitals th button").forEach(b => b.setAttribute("aria-pressed", String(b.dataset.sort === key)));
}

// Start ----------------------------------------------------------------------------------------------------------
function start() {
  setLive(false);
  window.addEventListener("hashchange", () => location.reload());
  if (!TOKEN) {
    const box = $("auth-message");
    box.textContent = "Missing credentials: open this page as /console#token=<dispatcher token>.";
    box.classList.remove("hidden");
    $("create-incident").disabled = true;
    return;
  }
  $("new-incident").addEventListener("submit", createIncident);
  document.addEventListener("keydown", onKey);
  document.addEventListener("keydown", onShortcut);
  $("incidents").addEventListener("click", ev => {
    const row = ev.target.closest("tr[data-incident]");
    if (row && !ev.target.closest("button, input, select")) select(row.dataset.incident);
  });
  document.querySelectorAll("#hospitals th button").forEach(b => b.addEventListener("click", () => sortBoard(b.dataset.sort)));
  loadMap();
  setInterval(renderAges, 15000);
  refresh();
  connectFeed();
}
start();
