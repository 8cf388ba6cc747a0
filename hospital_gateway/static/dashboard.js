"use strict";
const params = new URLSearchParams(location.hash.slice(1));
const HOSPITAL = params.get("hospital") || "";
const TOKEN = params.get("token") || "";
const KEY_ID = "prealert.feed." + HOSPITAL;
const KEY_BOARD = "prealert.board." + HOSPITAL;
const STALE_MS = 5 * 60 * 1000;
const HANDOVER_REMOVE_MS = 10 * 60 * 1000;  // the crew marked transfer of care / back in service
const CLOSED_REMOVE_MS = 60 * 1000;          // the ED took over care (handover)
const FORGET_MS = 24 * 60 * 60 * 1000;       // as long as today's list reaches back (reopen)
const REALERT_MS = Math.max(1, Number(params.get("realert")) || 120) * 1000;
const FLASH_MS = Math.min(6000, REALERT_MS / 2);
const POLL_MS = 30 * 1000;
const HANDOVER = ["transfer_of_care", "back_in_service"];
const ARRIVED = ["at_destination"].concat(HANDOVER);
const SHOCK_CLASSES = ["<0.6", "0.6-<1.0", "1.0-<1.4", ">=1.4"];
const ATMISTER = [["A", "age_sex", "Age/sex"], ["T", "time", "Time"], ["M", "mechanism", "Mechanism"],
  ["I", "injuries", "Injuries"], ["S", "signs", "Signs"], ["T", "treatment", "Treatment"], ["E", "eta", "ETA"],
  ["R", "requirements", "Requires"]];
const BADGE_KINDS = { stemi: "stemi", stroke_lvo: "stroke", stroke: "stroke", trauma_red: "trauma_red",
  trauma_yellow: "trauma_yellow", sepsis: "sepsis", cardiac_arrest: "cardiac_arrest", obstetric: "obstetric" };
const RESOURCES = ["cath_lab", "ct", "stroke_team", "trauma_surgeon", "operating_room"];
const BEDS = [["adult_icu", "Adult ICU"], ["medical_surgical", "Med/surg"]];

const conn = { ws: null, open: false, delay: 500, retry: null };
const board = { incidents: new Map(), lastId: "", eventCount: 0, offset: 0, saveTimer: null, shownKey: "" };
const sound = { ctx: null };
const ed = { status: null, etag: null, dirty: false };
const today = { rows: null, timer: null };

function $(id) { return document.getElementById(id); }
function make(tag, props, data) {  // a new element with its properties and data-* attributes
  const node = Object.assign(document.createElement(tag), props || {});
  Object.assign(node.dataset, data || {});
  return node;
}
function serverNow() { return Date.now() + board.offset; }
function pad2(n) { return String(n).padStart(2, "0"); }
function hhmm(ms) { const d = new Date(ms); return pad2(d.getHours()) + ":" + pad2(d.getMinutes()); }
function clock(ms) { return hhmm(ms) + ":" + pad2(new Date(ms).getSeconds()); }  // server time, the wall's zone

// Persistence (the last id always; a snapshot of the board so a reload keeps the cards) ---------------------------
function storeLastId() { try { sessionStorage.setItem(KEY_ID, board.lastId); } catch (e) { /* private mode */ } }
function saveSnapshot() {
  board.saveTimer = null;
  const snapshot = { lastId: board.lastId, offset: board.offset, incidents: Array.from(board.incidents.values()) };
  try { sessionStorage.setItem(KEY_BOARD, JSON.stringify(snapshot)); } catch (e) { /* too big: resume by id only */ }
}
function scheduleSave() { if (!board.saveTimer) board.saveTimer = setTimeout(saveSnapshot, 500); }
function restore() {
  let snapshot = null;
  try { snapshot = JSON.parse(sessionStorage.getItem(KEY_BOARD)); } catch (e) { snapshot = null; }
  if (snapshot && snapshot.lastId && Array.isArray(snapshot.incidents)) {
    snapshot.incidents.forEach(saved => board.incidents.set(saved.id, Object.assign(newRecord(saved.id), saved)));
    board.lastId = snapshot.lastId;  // may be older than KEY_ID: replaying the gap is harmless (repeats are skipped)
    board.offset = Number(snapshot.offset) || 0;
  } else {
    board.lastId = sessionStorage.getItem(KEY_ID) || "";
  }
}
function resetBoard() {
  board.incidents.clear();
  board.lastId = "";
  clearTimeout(board.saveTimer);
  board.saveTimer = null;
  try { sessionStorage.removeItem(KEY_ID); sessionStorage.removeItem(KEY_BOARD); } catch (e) { /* ignore */ }
  render();
}

// Frames ---------------------------------------------------------------------------------------------------------
function onFrame(frame) {
  if (frame.type === "event") onEvent(frame);
  else if (frame.type === "feed_hello") board.offset = Date.parse(frame.server_time) - Date.now() || 0;
  else if (frame.type === "reset") { resetBoard(); showError("feed reset: " + frame.reason); }
  else if (frame.type === "error") showError([frame.code, frame.field].filter(Boolean).join(" · ") + ": " + frame.reason);
}
function onEvent(frame) {
  board.eventCount += 1;
  board.lastId = frame.id;
  storeLastId();
  const ev = frame.event || {};
  if (ev.incident != null) applyEvent(ev);
  scheduleSave();
  render();
}
function newRecord(id) {
  return { id: id, unit: null, complaint: null, priority: null, hidden: false, latest: {}, news2: null, shock: null,
           gcs: null, eta: null, distance: null, status: null, handedAt: null, lastUpdate: 0, hr: [], seen: [],
           category: null, prealert: null, atmister: {}, decision: null, ack: null, handover: null, reopened: false,
           shownSince: null, alertedAt: null, flashUntil: 0, error: "", ecgs: [] };
}
function recordFor(id) {
  if (!board.incidents.has(id)) board.incidents.set(id, newRecord(id));
  return board.incidents.get(id);
}
function applyEvent(ev) {
  const rec = recordFor(ev.incident);
  const body = ev.body || {};
  const received = Date.parse(ev.received_at) || serverNow();
  if (ev.seq != null && ev.unit) {
    const key = ev.unit + ":" + ev.seq;
    if (rec.seen.includes(key)) return;  // history replayed to us again after a re-route
    rec.seen.push(key);
    if (rec.seen.length > 300) rec.seen.shift();
  }
  if (body.type === "ed_ack" || body.type === "handover" || body.type === "incident") soonToday();
  if (body.type === "ed_ack") { applyAck(rec, body); return; }
  if (body.type === "handover") { applyHandover(rec, body); return; }
  if (ev.unit) rec.unit = ev.unit;
  rec.lastUpdate = Math.max(rec.lastUpdate, received);
  if (body.type === "incident") applyIncidentState(rec, body);
  else if (body.type === "status") applyStatus(rec, body.status, received);
  else if (body.type === "vitals" && typeof body.hr === "number") pushHr(rec, body.hr);
  else if (body.type === "ecg12_notice") applyEcg(rec, ev.unit, ev.seq, body);
  if (ev.derived) applyDerived(rec, ev.derived, body.type, received);
}
function applyIncidentState(rec, inc) {
  rec.complaint = inc.complaint;
  rec.priority = inc.priority;
  if (inc.unit) rec.unit = inc.unit;
  rec.hidden = inc.destination !== HOSPITAL;  // diverted away (or not routed here): off the board
  rec.decision = inc.decision || null;
}
function applyStatus(rec, status, received) {
  rec.status = status;
  rec.handedAt = HANDOVER.includes(status) ? received : null;
}
function applyAck(rec, ack) {
  const at = Date.parse(ack.at) || serverNow();
  if (!rec.ack || at >= rec.ack.at) rec.ack = { at: at, note: ack.note || "", by: ack.by || "" };
}
function applyHandover(rec, handover) {
  rec.handover = { at: Date.parse(handover.transferred_at) || serverNow(), offload: handover.offload_minutes };
  rec.error = "";
}
// 12-lead ECGs: the feed says one was taken (ecg12_notice); the card lists them (newest first); the samples (about
// 120 KB each) are fetched from the gateway when one is opened, and kept in memory only.
const ecgBodies = new Map();
window.prealertEcgDrawn = {};  // key -> Date.now() when drawn (the waveform benchmark reads it)
function applyEcg(rec, unit, seq, body) {
  const key = unit + ":" + seq;
  if (!rec.ecgs) rec.ecgs = [];
  if (!rec.ecgs.some(e => e.key === key)) {
    rec.ecgs.push({ key: key, at: body.taken_at, interpretation: body.interpretation || "", stemi: body.stemi === true });
  }
  if (viewer.incident === rec.id) { renderViewerList(rec); showEcg(rec, key); }  // a new 12-lead shows at once
}
function ecgLabel(e) {
  return "12-lead " + new Date(e.at).toISOString().slice(11, 16) + "Z" + (e.interpretation ? " · " + e.interpretation : "");
}
function renderEcgButtons(card, rec) {
  const box = card.querySelector('[data-field="ecgs"]');
  const list = (rec.ecgs || []).slice().reverse();
  const signature = list.map(e => e.key).join(",");
  if (box.dataset.signature === signature) return;
  box.dataset.signature = signature;
  box.replaceChildren(...list.map(e => make("button", { type: "button", className: "ecg" + (e.stemi ? " stemi" : ""),
                                                      textContent: ecgLabel(e) }, { ecg: e.key })));
}
const viewer = { incident: null, socket: null, strip: null };
function openViewer(rec, ecgKey) {
  closeStrip();
  viewer.incident = rec.id;
  $("viewer-title").textContent = "#" + rec.id + " · " + (rec.unit || "unit ?") + " · " + (rec.prealert || "pre-alert") +
    " · " + (rec.complaint || "");
  $("ecg-view").replaceChildren();
  renderViewerList(rec);
  if (!$("viewer").open) $("viewer").showModal();
  openStrip(rec);
  const latest = (rec.ecgs || [])[rec.ecgs.length - 1];
  const key = ecgKey || (latest && latest.key);
  if (key) showEcg(rec, key);
}
function renderViewerList(rec) {
  $("viewer-ecgs").replaceChildren(...(rec.ecgs || []).slice().reverse().map(e =>
    make("button", { type: "button", className: "ecg" + (e.stemi ? " stemi" : ""), textContent: ecgLabel(e) }, { ecg: e.key })));
}
async function showEcg(rec, key) {
  if (!ecgBodies.has(key)) {  // the gateway waits for it if PostgreSQL has not committed it yet
    const [unit, seq] = [key.slice(0, key.lastIndexOf(":")), key.slice(key.lastIndexOf(":") + 1)];
    const query = "?unit=" + encodeURIComponent(unit) + "&seq=" + encodeURIComponent(seq);
    const result = await api("GET", "/incidents/" + rec.id + "/ecgs" + query);
    if (!result.ok || !Array.isArray(result.data)) { $("strip-note").textContent = "12-lead not available: " + result.reason; return; }
    for (const item of result.data) ecgBodies.set(item.unit + ":" + item.seq, item.body);
  }
  const body = ecgBodies.get(key);
  if (!body) { $("strip-note").textContent = "12-lead " + key + " not found"; return; }
  if (viewer.incident !== rec.id) return;
  PrealertEcg.render12($("ecg-view"), body);
  $("ecg-view").dataset.ecg = key;
  window.prealertEcgDrawn[key] = Date.now();
  $("viewer-ecgs").querySelectorAll("button").forEach(b => b.setAttribute("aria-pressed", String(b.dataset.ecg === key)));
}
function openStrip(rec) {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/hospitals/" +
    encodeURIComponent(HOSPITAL) + "/incidents/" + rec.id + "/strip";
  viewer.strip = new PrealertEcg.LiveStrip($("strip-canvas"));
  $("strip-canvas").dataset.chunks = "0";
  $("strip-note").textContent = "live monitor: waiting for the unit's monitor…";
  let socket;
  try { socket = new WebSocket(url, ["prealert.v1", "bearer." + TOKEN]); } catch (e) { return; }
  viewer.socket = socket;
  socket.onmessage = (ev) => {
    let chunk;
    try { chunk = JSON.parse(ev.data); } catch (e) { return; }
    if (chunk.type !== "strip_chunk" || !viewer.strip) return;
    viewer.strip.add(chunk);
    $("strip-note").textContent = "live monitor · lead " + chunk.lead + " · 25 mm/s · 10 mm/mV";
  };
  socket.onclose = (ev) => {
    if (viewer.socket !== socket) return;
    viewer.socket = null;
    $("strip-note").textContent = ev.code === 4403 ? "live monitor: this patient is no longer inbound here"
                                                    : "live monitor disconnected";
  };
}
function closeStrip() {
  if (viewer.socket) { const s = viewer.socket; viewer.socket = null; s.close(); }
  if (viewer.strip) { viewer.strip.stop(); viewer.strip = null; }
}
function closeViewer() {
  closeStrip();
  viewer.incident = null;
  if ($("viewer").open) $("viewer").close();
}
function pushHr(rec, hr) { rec.hr.push(hr); if (rec.hr.length > 30) rec.hr.splice(0, rec.hr.length - 30); }
function applyDerived(rec, d, type, received) {
  rec.latest = d.latest || {};
  rec.news2 = d.news2 || null;
  rec.shock = d.shock_index || null;
  rec.gcs = d.gcs_total == null ? null : d.gcs_total;
  rec.distance = d.distance_m == null ? null : d.distance_m;
  if (d.prealert) { rec.prealert = d.prealert; rec.category = d.category || null; }
  if (d.atmister && Object.keys(d.atmister).length) rec.atmister = d.atmister;
  if (d.eta_s == null) rec.eta = null;
  else if (type === "position" || !rec.eta || rec.eta.eta_s !== d.eta_s) {
    rec.eta = { eta_s: d.eta_s, arrival: received + d.eta_s * 1000 };
  }
}

// Board ----------------------------------------------------------------------------------------------------------
function isClosed(rec) { return rec.handover != null || rec.handedAt != null; }
function isGone(rec, now) {
  if (rec.reopened) return false;
  if (rec.hidden) return true;
  if (rec.handover && now - rec.handover.at > CLOSED_REMOVE_MS) return true;
  return rec.handedAt != null && now - rec.handedAt > HANDOVER_REMOVE_MS;
}
function forgetOld(now) {
  for (const [id, rec] of board.incidents) {
    if (isGone(rec, now) && now - rec.lastUpdate > FORGET_MS) board.incidents.delete(id);
  }
}
function sortKey(rec) {
  return [isClosed(rec) ? 1 : 0, rec.eta ? rec.eta.arrival : Infinity, rec.id];
}
function compareRecords(a, b) {
  const ka = sortKey(a), kb = sortKey(b);
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] < kb[i] ? -1 : 1;
  return 0;
}
function shownRecords(now) {
  return Array.from(board.incidents.values()).filter(rec => !isGone(rec, now)).sort(compareRecords);
}
function render() {
  const now = serverNow();
  const container = $("board");
  const shown = shownRecords(now);
  const keep = new Set(shown.map(rec => String(rec.id)));
  for (const card of Array.from(container.children)) if (!keep.has(card.dataset.incident)) card.remove();
  shown.forEach((rec, index) => {
    if (rec.shownSince == null) rec.shownSince = Date.now();
    const card = container.querySelector('[data-incident="' + rec.id + '"]') || buildCard(rec.id);
    updateCard(card, rec, now);
    if (container.children[index] !== card) container.insertBefore(card, container.children[index] || null);
  });
  for (const rec of board.incidents.values()) if (!keep.has(String(rec.id))) rec.shownSince = null;
  const shownKey = Array.from(keep).join(",");
  if (board.shownKey !== shownKey) { board.shownKey = shownKey; refreshTodayView(); }  // reopen buttons follow
  $("empty").classList.toggle("hidden", shown.length > 0);
  $("event-count").textContent = String(board.eventCount);
  $("last-id").textContent = board.lastId;
}
function buildCard(id) {
  const card = $("card-template").content.firstElementChild.cloneNode(true);
  card.dataset.incident = String(id);
  card.setAttribute("aria-label", "incident " + id);
  const list = card.querySelector('[data-field="atmister"]');
  for (const [letter, key, label] of ATMISTER) {
    const dt = make("dt");
    dt.append(make("b", { textContent: letter }), label);
    list.append(dt, make("dd", {}, { line: key }));
  }
  return card;
}
function setText(el, text) { if (el.textContent !== text) el.textContent = text; return el; }
function setField(card, name, text) { return setText(card.querySelector('[data-field="' + name + '"]'), text); }
function num(value, digits) { return typeof value !== "number" ? "—" : digits ? value.toFixed(digits) : String(value); }
function updateCard(card, rec, now) {
  const v = rec.latest || {};
  const closed = isClosed(rec);
  card.classList.toggle("handed", closed && !rec.reopened);
  card.classList.toggle("reopened", rec.reopened);
  card.classList.toggle("stale", !closed && now - rec.lastUpdate > STALE_MS);
  card.classList.toggle("unacked", !rec.ack && !closed);
  card.classList.toggle("arrived", rec.status === "at_destination");
  card.classList.toggle("realert", Date.now() < rec.flashUntil);
  const prio = setField(card, "priority", rec.priority ? "P" + rec.priority : "P?");
  prio.className = "prio p" + (rec.priority || 0);
  const badge = setField(card, "prealert", rec.prealert || "pre-alert");
  badge.dataset.kind = rec.prealert ? BADGE_KINDS[rec.category] || "general" : "none";
  setField(card, "unit", rec.unit || "unit ?");
  setField(card, "age_sex", rec.atmister.age_sex || ageSex(v));
  setField(card, "complaint", rec.complaint || "complaint not yet known");
  setField(card, "hr", num(v.hr) + " /min");
  setField(card, "sbp", num(v.sbp) + "/" + num(v.dbp) + " mmHg");
  setField(card, "spo2", num(v.spo2) + " %" + (v.on_oxygen ? " on O₂" : ""));
  setField(card, "rr", num(v.rr) + " /min");
  setField(card, "temp_c", num(v.temp_c, 1) + " °C");
  setField(card, "neuro", (rec.gcs == null ? "GCS —" : "GCS " + rec.gcs) + " · " + (v.avpu || "—"));
  renderNews2(card, rec.news2);
  renderShock(card, rec.shock);
  renderEta(card, rec, now);
  renderDecision(card, rec.decision);
  renderAtmister(card, rec, now);
  renderAck(card, rec, closed);
  const status = setField(card, "status", rec.status || "—");
  status.dataset.status = rec.status || "";
  setField(card, "distance", rec.distance == null ? "—" : (rec.distance / 1000).toFixed(1) + " km");
  const source = v.source === "monitor" ? " · monitor" : v.source === "manual" ? " · manual set" : "";
  setField(card, "updated", rec.lastUpdate ? "updated " + clock(rec.lastUpdate) + source + (now - rec.lastUpdate > STALE_MS ? " · stale" : "") : "");
  renderSparkline(card.querySelector('[data-field="hr_trend"]'), rec.hr);
  renderEcgButtons(card, rec);
}
function ageSex(v) {
  const sex = v.sex && v.sex !== "unknown" ? v.sex : "sex ?";
  return (v.age_years != null ? v.age_years + " y " : "age ? ") + sex;
}
function renderNews2(card, news2) {
  const text = news2 ? news2.score + " " + news2.band + (news2.partial ? " · partial" : "") : "—";
  const el = setField(card, "news2", text);
  el.className = "pill" + (news2 ? " band-" + news2.band : "");
  el.dataset.band = news2 ? news2.band : "";
  el.title = news2 && news2.partial ? "missing: " + news2.missing.join(", ") : "";
}
function renderShock(card, shock) {
  const el = setField(card, "shock_index", shock ? shock.value.toFixed(2) + " (" + shock.klass + ")" : "—");
  el.className = "pill" + (shock ? " si-" + Math.max(0, SHOCK_CLASSES.indexOf(shock.klass)) : "");
}
function secondsLeft(eta, now) { return Math.max(0, Math.round((eta.arrival - now) / 1000)); }
function renderEta(card, rec, now) {
  const eta = rec.eta;
  if (rec.handover || ARRIVED.includes(rec.status)) { setField(card, "eta", "arrived").classList.remove("due"); return; }
  if (!eta) { setField(card, "eta", "—").classList.remove("due"); return; }
  const left = secondsLeft(eta, now);
  const el = setField(card, "eta", pad2(Math.floor(left / 60)) + ":" + pad2(left % 60));
  el.classList.toggle("due", left === 0);
}
function renderDecision(card, d) {
  let text = "";
  if (d && d.override) {
    text = "Override (" + d.reason + ")" + (d.note ? ": " + d.note : "") +
      (d.recommended && d.recommended !== d.hospital ? " · recommended was " + d.recommended : "");
  } else if (d) {
    text = "Recommended: " + (d.reasons && d.reasons.length ? d.reasons.join(", ") : d.reason);
  }
  setField(card, "decision", text).classList.toggle("override", Boolean(d && d.override));
}
function renderAtmister(card, rec, now) {
  const lines = rec.atmister || {};
  for (const dd of card.querySelectorAll("[data-line]")) {
    let text = lines[dd.dataset.line] || "—";
    if (dd.dataset.line === "eta" && (rec.handover || ARRIVED.includes(rec.status))) text = "arrived";
    else if (dd.dataset.line === "eta" && rec.eta) {
      text = "≈ " + Math.ceil(secondsLeft(rec.eta, now) / 60) + " min · arrives " + hhmm(rec.eta.arrival);
    }
    setText(dd, text);
    if (dd.title !== text) dd.title = text;
  }
}
function renderAck(card, rec, closed) {
  const ack = rec.ack;
  const el = setField(card, "ack", ack ? "Acknowledged " + hhmm(ack.at) + (ack.note ? " · " + ack.note : "")
    : closed ? "" : "Not acknowledged");
  el.classList.toggle("done", Boolean(ack));
  el.title = ack && ack.by ? "by " + ack.by : "";
  setText(card.querySelector(".ack"), ack ? "Update" : "Acknowledge");
  for (const control of card.querySelectorAll(".ack-note, .ack, .transfer")) control.classList.toggle("hidden", rec.handover != null);
  card.querySelector(".dismiss").classList.toggle("hidden", !rec.reopened);
  setField(card, "handed", rec.handover ? "Handed over " + hhmm(rec.handover.at) + " ·" : closed ? "Crew: " + rec.status : "");
  setField(card, "offload", rec.handover ? "offload " + Number(rec.handover.offload).toFixed(1) + " min" : "");
  setField(card, "error", rec.error || "");
}
function renderSparkline(svg, values) {
  const key = values.join(",");
  if (svg.dataset.key === key) return;
  svg.dataset.key = key;
  svg.textContent = "";
  if (values.length < 1) return;
  const lo = Math.min(...values), hi = Math.max(...values);
  const mid = (lo + hi) / 2, span = Math.max(hi - lo, 20);
  const x = i => values.length === 1 ? 174 : 6 + (i * 168) / (values.length - 1);
  const y = hr => 24 - ((hr - mid) / span) * 40;
  const points = values.map((hr, i) => x(i).toFixed(1) + "," + y(hr).toFixed(1)).join(" ");
  const ns = "http://www.w3.org/2000/svg";
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", points);
  const dot = document.createElementNS(ns, "circle");
  dot.setAttribute("cx", x(values.length - 1).toFixed(1));
  dot.setAttribute("cy", y(values[values.length - 1]).toFixed(1));
  dot.setAttribute("r", "4");
  svg.append(line, dot);
  svg.setAttribute("aria-label", "heart rate trend, last " + values.length + ": " + values.join(", ") + " /min");
}
function tick() { forgetOld(serverNow()); realert(); render(); }

// Alerts: a new pre-alert, and every REALERT_MS while it is not acknowledged: flash the card and beep --------------
function realert() {
  const now = Date.now();
  const due = shownRecords(serverNow()).filter(rec => !rec.ack && !isClosed(rec) && rec.shownSince != null &&
    now - rec.shownSince >= 500 && (rec.alertedAt == null || now - rec.alertedAt >= REALERT_MS));
  if (!due.length) return;
  for (const rec of due) {
    if (rec.alertedAt == null) announce("New pre-alert: " + (rec.prealert || rec.complaint || "patient") + ", " + (rec.unit || ""));
    rec.alertedAt = now;
    rec.flashUntil = now + FLASH_MS;
  }
  scheduleSave();
  beep();
}
function announce(text) { $("announce").textContent = text; }
function enableSound() {
  if (!sound.ctx) {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    sound.ctx = new Ctx();
  }
  if (sound.ctx.state === "suspended") sound.ctx.resume().catch(() => {});
  const button = $("sound");
  button.textContent = "Sound on · test";
  button.classList.add("on");
  button.setAttribute("aria-pressed", "true");
}
function beep() {
  const ctx = sound.ctx;
  if (!ctx || ctx.state !== "running") return;
  const t = ctx.currentTime;
  [[880, 0], [660, 0.22]].forEach(([freq, start]) => {
    const osc = ctx.createOscillator(), gain = ctx.createGain();
    osc.type = "square";
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, t + start);
    gain.gain.exponentialRampToValueAtTime(0.25, t + start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + start + 0.18);
    osc.connect(gain).connect(ctx.destination);
    osc.start(t + start);
    osc.stop(t + start + 0.2);
  });
}

// HTTP -----------------------------------------------------------------------------------------------------------
async function api(method, path, body, headers) {
  const init = { method: method, headers: Object.assign({ authorization: "Bearer " + TOKEN }, headers || {}) };
  if (body !== undefined) { init.body = JSON.stringify(body); init.headers["content-type"] = "application/json"; }
  let response;
  try { response = await fetch("/v1/hospitals/" + encodeURIComponent(HOSPITAL) + path, init); }
  catch (e) { return { ok: false, status: 0, data: null, reason: "network error: " + e.message }; }
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  const reason = data && data.reason ? data.reason : "HTTP " + response.status;
  if (response.status === 401 || response.status === 403) showError(reason);
  return { ok: response.ok, status: response.status, data: data, etag: response.headers.get("etag"), reason: reason };
}

// Card actions ---------------------------------------------------------------------------------------------------
async function acknowledge(card, rec) {
  const input = card.querySelector(".ack-note"), button = card.querySelector(".ack");
  const note = input.value.trim();
  button.disabled = true;
  const result = await api("POST", "/incidents/" + rec.id + "/ack", note ? { note: note } : {});
  button.disabled = false;
  rec.error = result.ok ? "" : "Acknowledge failed: " + result.reason;
  if (result.ok) { applyAck(rec, result.data); input.value = ""; }
  scheduleSave();
  render();
}
async function transfer(card, rec) {
  const button = card.querySelector(".transfer");
  button.disabled = true;
  const result = await api("POST", "/incidents/" + rec.id + "/transfer");
  button.disabled = false;
  if (result.ok) applyHandover(rec, result.data);
  else rec.error = "Transfer refused: " + result.reason;
  scheduleSave();
  render();
  if (result.ok) refreshToday();
}
function onBoardAction(ev) {
  const card = ev.target.closest(".card");
  const rec = card && board.incidents.get(Number(card.dataset.incident));
  if (!rec) return;
  if (ev.type === "submit") { ev.preventDefault(); acknowledge(card, rec); return; }
  if (ev.target.closest(".transfer")) transfer(card, rec);
  else if (ev.target.closest(".monitor")) openViewer(rec, null);
  else if (ev.target.closest("button.ecg")) openViewer(rec, ev.target.closest("button.ecg").dataset.ecg);
  else if (ev.target.closest(".dismiss")) { rec.reopened = false; scheduleSave(); render(); refreshTodayView(); }
}

// Today's list ---------------------------------------------------------------------------------------------------
function soonToday() { clearTimeout(today.timer); today.timer = setTimeout(refreshToday, 1000); }
async function refreshToday() {
  const result = await api("GET", "/incidents");
  if (!result.ok || !Array.isArray(result.data)) { $("today-message").textContent = "could not load: " + result.reason; return; }
  $("today-message").textContent = "";
  today.rows = result.data;
  refreshTodayView();
}
function todayStatus(row) {
  if (row.transferred_at) {
    const minutes = row.offload_seconds == null ? "?" : (row.offload_seconds / 60).toFixed(1);
    return ["handed over", "handed over " + hhmm(Date.parse(row.transferred_at)) + " · offload " + minutes + " min"];
  }
  if (row.acked_at) return ["acknowledged", "acknowledged " + hhmm(Date.parse(row.acked_at))];
  return ["inbound", "inbound"];
}
function refreshTodayView() {
  if (!today.rows) return;
  const rows = today.rows;
  setText($("today-count"), rows.length + (rows.length === 1 ? " patient" : " patients") + " in 24 h");
  const body = $("today-body");
  body.textContent = "";
  const now = serverNow();
  for (const row of rows) {
    const [kind, text] = todayStatus(row);
    const rec = board.incidents.get(row.id);
    const li = make("li", {}, { today: row.id, status: kind });
    li.append(make("span", { textContent: "#" + row.id + " · " + hhmm(Date.parse(row.created_at)) + " · P" + row.priority +
      " · " + row.complaint + (row.unit ? " · " + row.unit : "") }), make("span", { textContent: text }, { col: "status" }));
    if (kind === "handed over" || (rec && isGone(rec, now))) {  // closed: may come back on the board
      const onBoard = rec && !isGone(rec, now);
      li.appendChild(make("button", { type: "button", className: "reopen ghost", textContent: onBoard ? "On board" : "Reopen",
        disabled: !rec || onBoard, title: rec ? "put the card back on the board" : "no data on this screen for #" + row.id },
        { reopen: row.id }));
    }
    body.appendChild(li);
  }
}
function onTodayClick(ev) {
  const button = ev.target.closest(".reopen");
  const rec = button && board.incidents.get(Number(button.dataset.reopen));
  if (!rec) return;
  rec.reopened = true;
  scheduleSave();
  render();
  refreshTodayView();
  const card = $("board").querySelector('[data-incident="' + rec.id + '"]');
  if (card) { card.scrollIntoView({ block: "nearest" }); card.focus(); }
}

// The ED's own status (If-Match the version we last read) -------------------------------------------------------
async function loadStatus(refill) {
  const result = await api("GET", "/status");
  if (!result.ok) { statusMessage("could not load the status: " + result.reason); return; }
  setStatus(result.data, result.etag, refill);
}
function setStatus(status, etag, refill) {
  ed.status = status;
  ed.etag = etag || '"' + status.version + '"';
  renderStatus();
  if (refill || !ed.dirty) fillStatusForm();
}
function renderStatus() {
  const s = ed.status;
  const traffic = setText($("status-traffic"), s.ems_traffic);
  traffic.dataset.traffic = s.ems_traffic;
  setText($("status-reason"), (s.ems_traffic_reason || "—") +
    (s.ems_traffic_since ? " · since " + hhmm(Date.parse(s.ems_traffic_since)) : ""));
  setText($("status-offload"), s.offload + " · " + s.offload_minutes + " min average");
  $("status-resources").replaceChildren(...RESOURCES.map(name => make("span", { className: "chip" +
    (s.resources[name] ? "" : " off"), textContent: name.replace("_", " ") + (s.resources[name] ? "" : " unavailable") })));
  const beds = Object.entries(s.beds || {}).map(([k, b]) => k.replace("_", " ") + " " + b.available + "/" + b.baseline);
  setText($("status-beds"), beds.length ? beds.join(" · ") : "not reported");
  setText($("status-updated"), s.updated_at ? hhmm(Date.parse(s.updated_at)) + (s.updated_by ? " by " + s.updated_by : "") +
    " · v" + s.version : "never");
}
function fillStatusForm() {
  const s = ed.status;
  $("traffic").value = ["Normal", "Advisory", "Closed"].includes(s.ems_traffic) ? s.ems_traffic : "Normal";
  $("traffic-reason").value = s.ems_traffic_reason || "";
  for (const name of RESOURCES) $("res-" + name).checked = Boolean(s.resources[name]);
  for (const [key] of BEDS) {
    const bed = (s.beds || {})[key];
    $("bed-" + key + "-available").value = bed ? bed.available : "";
    $("bed-" + key + "-baseline").value = bed ? bed.baseline : "";
  }
  ed.dirty = false;
}
function buildBedRows() {
  for (const [key, label] of BEDS) {
    const tr = make("tr");
    tr.appendChild(make("th", { textContent: label }));
    for (const part of ["available", "baseline"]) {
      const input = make("input", { id: "bed-" + key + "-" + part, type: "number", min: 0, max: 10000, step: 1, inputMode: "numeric" });
      input.setAttribute("aria-label", label + " beds " + part);
      tr.appendChild(make("td")).appendChild(input);
    }
    $("beds-body").appendChild(tr);
  }
}
function readBeds() {
  const beds = Object.assign({}, ed.status.beds || {});  // PATCH replaces the map: keep what we do not edit
  for (const [key, label] of BEDS) {
    const raw = ["available", "baseline"].map(part => $("bed-" + key + "-" + part).value.trim());
    if (raw.every(r => r === "")) continue;
    const [available, baseline] = raw.map(r => (r === "" ? NaN : Number(r)));
    const valid = n => Number.isInteger(n) && n >= 0 && n <= 10000;
    if (!valid(available) || !valid(baseline)) throw new Error(label + " beds: enter both, whole numbers 0–10000");
    beds[key] = { available: available, baseline: baseline };
  }
  return beds;
}
async function patchStatus(update, button) {
  if (!ed.status) { statusMessage("status not loaded yet"); loadStatus(true); return; }
  button.disabled = true;
  const result = await api("PATCH", "/status", update, { "if-match": ed.etag });
  button.disabled = false;
  if (result.ok) { setStatus(result.data, result.etag, true); statusMessage("saved " + hhmm(Date.now())); }
  else if (result.status === 409) { await loadStatus(true); statusMessage("changed by someone else — reloaded"); }
  else statusMessage("not saved: " + result.reason);
}
function setTraffic(ev) {
  ev.preventDefault();
  patchStatus({ ems_traffic: $("traffic").value, ems_traffic_reason: $("traffic-reason").value.trim() }, $("set-traffic"));
}
function saveResources(ev) {
  ev.preventDefault();
  if (!ed.status) { statusMessage("status not loaded yet"); return; }
  let beds;
  try { beds = readBeds(); } catch (e) { statusMessage(e.message); return; }
  const resources = {};
  for (const name of RESOURCES) resources[name] = $("res-" + name).checked;
  patchStatus({ resources: resources, beds: beds }, $("save-status"));
}
function statusMessage(text) { $("status-message").textContent = text; }

// Socket ---------------------------------------------------------------------------------------------------------
function feedUrl() {
  const base = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
    "/v1/hospitals/" + encodeURIComponent(HOSPITAL) + "/feed";
  return board.lastId ? base + "?after=" + encodeURIComponent(board.lastId) : base;
}
function connect() {
  conn.retry = null;
  let ws;
  try { ws = new WebSocket(feedUrl(), ["prealert.v1", "bearer." + TOKEN]); }
  catch (e) { scheduleReconnect(); return; }
  conn.ws = ws;
  ws.onopen = () => { conn.open = true; conn.delay = 500; renderConnection(); };
  ws.onmessage = (ev) => { try { onFrame(JSON.parse(ev.data)); } catch (e) { showError("bad frame: " + e.message); } };
  ws.onclose = (ev) => onClose(ws, ev);
}
function onClose(ws, ev) {
  if (conn.ws !== ws) return;
  conn.open = false;
  conn.ws = null;
  renderConnection();
  if (ev.code === 4400) resetBoard();  // our resume id was refused: start over with a full replay
  else if (ev.code === 4401) showError("token refused (" + (ev.reason || "unauthenticated") + ")");
  else if (ev.code === 4403) showError("token not allowed for " + HOSPITAL + " (" + (ev.reason || "forbidden") + ")");
  scheduleReconnect();
}
function scheduleReconnect() {
  if (conn.retry) return;
  conn.retry = setTimeout(connect, conn.delay);
  conn.delay = Math.min(conn.delay * 2, 5000);
}
function renderConnection() {
  const el = $("connection");
  el.textContent = conn.open ? "live" : "reconnecting";
  el.classList.toggle("live", conn.open);
  document.body.classList.toggle("offline", !conn.open);
  $("offline-banner").classList.toggle("hidden", conn.open);
}
function showError(text) { $("last-error").textContent = text; }

// Start ----------------------------------------------------------------------------------------------------------
function credentialsProblem() {
  if (!HOSPITAL || !TOKEN) return "Missing credentials: open this page as /dashboard#hospital=<hospital id>&token=<token>.";
  if (!/^[a-z0-9][a-z0-9-]{0,47}$/.test(HOSPITAL)) return "Invalid hospital id in the link: " + HOSPITAL;
  return null;
}
function start() {
  renderConnection();
  window.addEventListener("hashchange", () => location.reload());
  const problem = credentialsProblem();
  if (problem) {
    const box = $("auth-message");
    box.textContent = problem;
    box.classList.remove("hidden");
    $("empty").classList.add("hidden");
    $("offline-banner").classList.add("hidden");
    return;
  }
  $("hospital-name").textContent = HOSPITAL;
  document.title = "prealert · " + HOSPITAL;
  buildBedRows();
  const topbar = $("topbar");  // the status column sticks below the header and banner, whatever their height
  new ResizeObserver(() => document.documentElement.style.setProperty("--topbar", topbar.offsetHeight + "px")).observe(topbar);
  for (const type of ["pointerdown", "keydown"]) document.addEventListener(type, enableSound, { capture: true });
  $("sound").addEventListener("click", () => { enableSound(); setTimeout(beep, 50); });
  $("board").addEventListener("submit", onBoardAction);
  $("board").addEventListener("click", onBoardAction);
  $("viewer-close").addEventListener("click", closeViewer);
  $("viewer").addEventListener("close", closeViewer);
  $("viewer-ecgs").addEventListener("click", (ev) => {
    const button = ev.target.closest("button.ecg");
    const rec = board.incidents.get(viewer.incident);
    if (button && rec) showEcg(rec, button.dataset.ecg);
  });
  $("today").addEventListener("toggle", () => { if ($("today").open) refreshToday(); });
  $("today").addEventListener("click", onTodayClick);
  $("traffic-form").addEventListener("submit", setTraffic);
  $("resources-form").addEventListener("submit", saveResources);
  for (const form of [$("traffic-form"), $("resources-form")]) form.addEventListener("input", () => { ed.dirty = true; });
  restore();
  render();
  window.addEventListener("pagehide", saveSnapshot);
  connect();
  loadStatus(true);
  refreshToday();
  setInterval(tick, 1000);
  setInterval(() => { refreshToday(); loadStatus(false); }, POLL_MS);
}
start();
