"use strict";
const params = new URLSearchParams(location.hash.slice(1));
const UNIT = params.get("unit") || "";
let TOKEN = params.get("token") || "";  // replaced by a refreshed one when a signed-in crew's token runs out
const REFRESH_KEY = "prealert-refresh:" + UNIT;  // the sign-in's refresh token, for this tab only
const INT_FIELDS = ["hr", "sbp", "dbp", "spo2", "rr", "glucose_mg_dl"];
const STATUSES = [["en_route", "En route"], ["on_scene", "On scene"], ["at_patient", "At patient"],
  ["transporting", "Transporting"], ["at_destination", "At destination"],
  ["transfer_of_care", "Transfer of care"], ["back_in_service", "Back in service"]];
const RED = { penetrating_injury: "Penetrating injury: head, neck, torso, proximal limbs",
  skull_deformity: "Skull deformity / suspected skull fracture", spinal_injury_motor_sensory_loss: "Spinal injury with new motor or sensory loss",
  chest_wall_instability: "Chest wall instability (flail chest)", pelvic_fracture: "Suspected pelvic fracture",
  two_proximal_long_bone_fractures: "Two or more proximal long-bone fractures",
  crushed_degloved_mangled_pulseless_limb: "Crushed, degloved, mangled or pulseless limb",
  amputation_proximal: "Amputation proximal to wrist or ankle", active_bleeding_tourniquet_packing: "Active bleeding: tourniquet or packing",
  unable_to_follow_commands: "Unable to follow commands (motor GCS < 6)", rr_below_10_or_above_29: "RR < 10 or > 29",
  respiratory_support: "Respiratory distress / support needed", room_air_spo2_below_90: "Room-air SpO₂ < 90 %",
  sbp_low_for_age: "SBP low for age", hr_above_sbp: "HR > SBP (age ≥ 10)" };
const YELLOW = { ejection: "Ejection (partial or complete)", intrusion: "Intrusion > 12 in occupant site / > 18 in",
  extrication: "Need for extrication", death_same_compartment: "Death in same compartment", child_unrestrained: "Child 0–9 unrestrained",
  vehicle_telemetry: "Vehicle telemetry: severe injury", rider_separated: "Rider separated from motorcycle/ATV/horse",
  pedestrian_cyclist_struck: "Pedestrian/cyclist thrown, run over, hit", fall_over_10ft: "Fall > 10 ft",
  low_fall_head_impact_young_or_old: "Low fall, head impact, age ≤ 5 or ≥ 65", anticoagulants: "Anticoagulant use",
  suspected_child_abuse: "Suspected child abuse", special_health_care_needs: "Special health-care needs",
  pregnancy_over_20_weeks: "Pregnancy > 20 weeks", burns_with_trauma: "Burns with trauma", ems_judgment: "Other EMS judgment" };
const POSITION_EVERY_MS = 10000;

const ACKED_SHOWN = 12;
// `patient` is the server's last `patient` frame as received ({incident, derived, at}); `lastVitals` is
// {incident, values}: "repeat last" only ever repeats this patient's set. Both, the incident, the outbox, the next
// seq, the acks and the ED's acknowledgement are kept in IndexedDB, so a reload in a tunnel loses nothing.
const state = { ws: null, open: false, ready: false, delay: 500, retry: null, incident: null, incidentAt: null, db: null,
                outbox: [], nextSeq: 1, acked: 0, ackedLog: [], lastVitals: null, gcs: {}, lams: {}, race: {},
                treatments: [], statusTimes: {}, patient: null, recommendation: null, ecg: null, edAck: null };

function $(id) { return document.getElementById(id); }
function el(tag, props, text) { const n = Object.assign(document.createElement(tag), props || {}); if (text != null) n.textContent = text; return n; }
function newUid() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function hhmm(date) { return String(date.getHours()).padStart(2, "0") + ":" + String(date.getMinutes()).padStart(2, "0"); }
function localTimeToIso(value) {  // "HH:MM" today (or yesterday if that would be in the future) -> UTC ISO
  if (!value) return new Date().toISOString();
  const [h, m] = value.split(":").map(Number);
  const d = new Date(); d.setHours(h, m, 0, 0);
  if (d.getTime() - Date.now() > 5 * 60000) d.setDate(d.getDate() - 1);
  return d.toISOString();
}

// Storage: IndexedDB (survives reloads and browser restarts) ---------------------------------------------------------
function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open("prealert-tablet-" + UNIT, 1);
    request.onupgradeneeded = () => {
      request.result.createObjectStore("outbox", { keyPath: "uid" });
      request.result.createObjectStore("meta");
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}
function tx(stores, mode, work) {
  return new Promise((resolve, reject) => {
    const t = state.db.transaction(stores, mode);
    const result = work(t);
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  });
}
function getAll(store) {
  return new Promise((resolve, reject) => {
    const r = state.db.transaction(store).objectStore(store).getAll();
    r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error);
  });
}
function getMeta(key) {
  return new Promise((resolve, reject) => {
    const r = state.db.transaction("meta").objectStore("meta").get(key);
    r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error);
  });
}
function putMeta(key, value) { return tx(["meta"], "readwrite", t => t.objectStore("meta").put(value, key)); }
async function loadStorage() {
  state.db = await openDb();
  state.outbox = (await getAll("outbox")).sort((a, b) => a.seq - b.seq);
  state.nextSeq = Math.max(Number(await getMeta("nextSeq")) || 1, ...state.outbox.map(e => e.seq + 1));
  const last = (await getMeta("lastVitals")) || null;
  state.lastVitals = last && last.values ? last : null;
  const times = (await getMeta("statusTimes")) || {};
  state.statusTimes = Object.values(times).every(v => v && typeof v === "object") ? times : {};  // older: flat
  state.edAck = (await getMeta("edAck")) || null;
  state.patient = (await getMeta("patient")) || null;
  state.acked = Number(await getMeta("acked")) || 0;
  state.ackedLog = (await getMeta("ackedLog")) || [];
  const incident = (await getMeta("incident")) || null;
  if (incident) { state.incident = incident.state; state.incidentAt = incident.at; }
  $("storage-state").textContent = "stored on this tablet";
}

// Outbox: every message is stored before it is sent, and removed only when acked -----------------------------------
async function enqueue(message) {
  const entry = { uid: newUid(), seq: state.nextSeq, at: new Date().toISOString(), message: message };
  state.nextSeq += 1;
  await tx(["outbox", "meta"], "readwrite", t => {
    t.objectStore("outbox").put(entry);
    t.objectStore("meta").put(state.nextSeq, "nextSeq");
  });
  state.outbox.push(entry);
  renderOutbox();
  if (state.ready) transmit(entry);
  return entry;
}
function frameOf(entry) {
  const frame = Object.assign({}, entry.message, { seq: entry.seq, uid: entry.uid });
  return entry.message.type === "ecg12" ? msgpack(frame) : JSON.stringify(frame);  // a 12-lead goes as binary
}
// msgpack, the subset the protocol uses (maps, arrays, strings, integers, floats, booleans, null, bytes).
function msgpack(value) {
  const out = [];
  const u8 = (...b) => out.push(...b);
  const be = (n, bytes) => { for (let i = bytes - 1; i >= 0; i--) out.push(Math.floor(n / 2 ** (8 * i)) & 255); };
  const enc = new TextEncoder();
  const chunks = [];
  const flush = () => { if (out.length) { chunks.push(Uint8Array.from(out)); out.length = 0; } };
  (function put(v) {
    if (v === null || v === undefined) u8(0xc0);
    else if (v === true || v === false) u8(v ? 0xc3 : 0xc2);
    else if (typeof v === "number" && Number.isInteger(v) && v >= 0 && v < 2 ** 32) {
      if (v < 128) u8(v); else if (v < 256) u8(0xcc, v); else if (v < 65536) { u8(0xcd); be(v, 2); } else { u8(0xce); be(v, 4); }
    } else if (typeof v === "number" && Number.isInteger(v) && v < 0 && v >= -(2 ** 31)) {
      if (v >= -32) u8(v & 255); else { u8(0xd2); be(v >>> 0, 4); }
    } else if (typeof v === "number") {
      const b = new DataView(new ArrayBuffer(8)); b.setFloat64(0, v); u8(0xcb, ...new Uint8Array(b.buffer));
    } else if (typeof v === "string") {
      const bytes = enc.encode(v);
      if (bytes.length < 32) u8(0xa0 | bytes.length); else if (bytes.length < 256) u8(0xd9, bytes.length); else { u8(0xda); be(bytes.length, 2); }
      u8(...bytes);
    } else if (v instanceof Uint8Array) {
      if (v.length < 256) u8(0xc4, v.length); else if (v.length < 65536) { u8(0xc5); be(v.length, 2); } else { u8(0xc6); be(v.length, 4); }
      flush(); chunks.push(v);
    } else if (Array.isArray(v)) {
      if (v.length < 16) u8(0x90 | v.length); else { u8(0xdc); be(v.length, 2); }
      v.forEach(put);
    } else {
      const keys = Object.keys(v).filter(k => v[k] !== undefined);
      if (keys.length < 16) u8(0x80 | keys.length); else { u8(0xde); be(keys.length, 2); }
      for (const k of keys) { put(k); put(v[k]); }
    }
  })(value);
  flush();
  const total = chunks.reduce((n, c) => n + c.length, 0), joined = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) { joined.set(c, at); at += c.length; }
  return joined;
}
function transmit(entry) {
  try { state.ws.send(frameOf(entry)); } catch (e) { /* stays in the outbox until the next hello */ }
}
async function dropWhere(predicate) {
  const gone = state.outbox.filter(predicate);
  if (!gone.length) return;
  state.outbox = state.outbox.filter(e => !predicate(e));
  await tx(["outbox"], "readwrite", t => gone.forEach(e => t.objectStore("outbox").delete(e.uid)));
  renderOutbox();
}
// Another device of this unit used that seq: the same message (same uid) goes again under a fresh seq.
async function renumber(seq, lastSeq) {
  const entry = state.outbox.find(e => e.seq === seq);
  if (!entry) return;
  entry.seq = Math.max(state.nextSeq, (Number(lastSeq) || 0) + 1);
  state.nextSeq = entry.seq + 1;
  await tx(["outbox", "meta"], "readwrite", t => {
    t.objectStore("outbox").put(entry);
    t.objectStore("meta").put(state.nextSeq, "nextSeq");
  });
  state.outbox.sort((a, b) => a.seq - b.seq);
  renderOutbox();
  if (state.ready) transmit(entry);
}

// Server frames ------------------------------------------------------------------------------------------------------
function onFrame(frame) {
  if (frame.type === "hello") onHello(frame);
  else if (frame.type === "ack") onAck(frame.upto);
  else if (frame.type === "error") onServerError(frame);
  else if (frame.type === "assignment") setIncident(frame.incident, true);
  else if (frame.type === "recommendation") showRecommendation(frame);
  else if (frame.type === "patient") onPatient(frame);
  else if (frame.type === "ed_ack") { state.edAck = frame; putMeta("edAck", frame); showEdAck(); }
  else if (frame.type === "ed_outcome") { loadHistory(frame); }
}
// hello: the server holds seqs up to last_seq for this unit, and this tablet cannot tell whether a waiting message at
// or below it is its own (stored, its ack lost) or another device's (a tablet switch, storage cleared). So each of
// those goes again, in its order, under a fresh seq above last_seq and above every seq used here, with the same uid:
// the server stores a uid once, so it is stored exactly once either way. Nothing is dropped because of hello.
async function onHello(hello) {
  const ws = state.ws;
  const last = Number(hello.last_seq) || 0;
  setIncident(hello.incident || null, true);
  loadHistory(null);
  warnClock(hello.server_time);
  state.nextSeq = Math.max(state.nextSeq, last + 1);
  const stale = state.outbox.filter(e => e.seq <= last).sort((a, b) => a.seq - b.seq);
  for (const entry of stale) { entry.seq = state.nextSeq; state.nextSeq += 1; }
  state.outbox.sort((a, b) => a.seq - b.seq);
  await tx(["outbox", "meta"], "readwrite", t => {
    stale.forEach(e => t.objectStore("outbox").put(e));
    t.objectStore("meta").put(state.nextSeq, "nextSeq");
  });
  renderOutbox();
  if (state.ws !== ws) return;  // closed meanwhile: the next hello sends them
  state.ready = true;
  renderConnection();
  state.outbox.slice().forEach(transmit);
}
// A tablet clock minutes off is kept (the server orders by its own time), but the crew should know their times read
// off it are off too.
function warnClock(serverTime) {
  const off = Math.round((Date.now() - Date.parse(serverTime)) / 60000);
  const box = $("clock-warning");
  box.hidden = Math.abs(off) < 2;
  box.textContent = box.hidden ? "" : "This tablet's clock is " + Math.abs(off) + " min " + (off > 0 ? "ahead of" : "behind") +
    " the dispatch server: times it stamps are kept as it shows them. Set the tablet's clock.";
}
function onAck(upto) {
  upto = Number(upto) || 0;
  const now = new Date().toISOString();
  const done = state.outbox.filter(e => e.seq <= upto);
  state.acked = upto;
  state.ackedLog = done.map(e => ({ seq: e.seq, type: e.message.type, status: e.message.status || null, at: e.at, acked_at: now }))
    .reverse().concat(state.ackedLog).slice(0, ACKED_SHOWN);
  putMeta("acked", state.acked);
  if (done.length) putMeta("ackedLog", state.ackedLog);
  dropWhere(e => e.seq <= upto);
  renderOutbox();
}
function onServerError(frame) {
  if (frame.code === "seq_taken" && frame.seq != null) { renumber(frame.seq, frame.last_seq); return; }
  if (frame.seq != null) dropWhere(e => e.seq === frame.seq);
  showError(frame.field || frame.code, frame.reason + (frame.seq != null ? " (message " + frame.seq + ")" : ""));
}
function onPatient(frame) {
  if (!state.incident || frame.incident !== state.incident.id) return;
  const latest = frame.derived.latest || {};
  const monitor = latest.source === "monitor" ? { values: latest, at: latest.taken_at } :
    state.patient && state.patient.incident === frame.incident ? state.patient.monitor : null;
  state.patient = { incident: frame.incident, derived: frame.derived, at: new Date().toISOString(), monitor: monitor || null };
  putMeta("patient", state.patient);
  renderPatient();
}
function patientView() {  // the server's view of this incident's patient, or null
  const p = state.patient;
  return p && state.incident && p.incident === state.incident.id ? p.derived : null;
}
function renderPatient() {
  const p = patientView() && state.patient;
  const monitor = p && p.monitor;
  if (monitor) {
    const m = monitor.values;
    $("monitor").replaceChildren(...[["HR", m.hr, "/min"], ["SpO₂", m.spo2, "%"], ["RR", m.rr, "/min"],
      ["BP", m.sbp != null ? m.sbp + "/" + (m.dbp != null ? m.dbp : "—") : null, "mmHg"]]
      .map(([k, v, u]) => { const d = el("div"); d.dataset.field = k.toLowerCase().replace("₂", "2");
        d.append(el("span", { className: "k" }, k + " " + u), document.createTextNode(v == null ? "—" : String(v))); return d; }));
    $("monitor-at").textContent = monitor.at ? "at " + hhmm(new Date(monitor.at)) : "";
  } else {
    $("monitor").replaceChildren(el("span", { className: "unit" }, "no monitor numerics yet"));
    $("monitor-at").textContent = "";
  }
  const n = p && p.derived.news2;
  $("server-news2").textContent = n ? n.score + (n.partial ? "*" : "") + " " + n.band : "—";
  $("server-news2").className = "v" + (n ? " band-" + n.band : "");
  renderEta();
  renderScores();
}
function showRecommendation(frame) {
  if (frame) state.recommendation = frame;
  frame = state.recommendation;
  const box = $("recommendation");
  box.textContent = "";
  const top = frame && state.incident && frame.incident === state.incident.id ? frame.recommendation.ranked[0] : null;
  if (!top) return;
  const dest = state.incident.destination, decision = state.incident.decision;
  const head = el("div", { className: "rec-top" }, "Recommended: " + top.name + " · ETA " + Math.round(top.eta_s / 60) + " min" +
    (frame.top_changed && frame.previous_top ? " (changed from " + frame.previous_top + ")" : "") +
    (dest && dest !== top.hospital ? " · dispatch chose " + dest : dest ? " · the destination" : ""));
  box.append(head);
  if (dest === top.hospital && decision && decision.reasons && decision.reasons.length) return;  // listed above
  const why = el("ul", { className: "reasons" });
  for (const reason of top.reasons) why.appendChild(el("li", {}, reason));
  box.append(why);
}
// The crew's history: their recent patients and what the ED reported of them (GET /v1/units/{unit}/history).
const DISPOSITIONS = { admitted: "admitted", cath_lab: "to the cath lab", thrombolysed: "thrombolysed",
                       transferred: "transferred", discharged: "discharged", died: "died" };
async function loadHistory(latest) {
  if (latest) $("history-news").textContent = "Outcome for incident " + latest.incident + ": " + latest.disposition +
    " — " + latest.diagnosis;
  if (!TOKEN) return;
  try {
    const response = await fetch("/v1/units/" + encodeURIComponent(UNIT) + "/history",
                                 { headers: { authorization: "Bearer " + TOKEN } });
    if (!response.ok) return;
    const list = $("history-list");
    list.replaceChildren();
    for (const h of await response.json()) {
      const o = h.outcome;
      const words = o ? (DISPOSITIONS[o.disposition] || o.disposition) + " — " + o.diagnosis +
        (o.door_to_balloon_min != null ? " · door-to-balloon " + o.door_to_balloon_min + " min" : "") +
        (o.door_to_needle_min != null ? " · door-to-needle " + o.door_to_needle_min + " min" : "")
        : (h.transferred_at ? "handed over; no outcome yet" : "in progress");
      list.append(el("li", {}, "#" + h.incident + " " + (h.destination_name || "no destination") + ": " + words));
    }
    if (!list.children.length) list.append(el("li", { className: "unit" }, "no patients in the last 72 h"));
  } catch (e) { /* offline: the list stays as it was */ }
}
function showEdAck() {
  const ack = state.edAck;
  const current = ack && state.incident && ack.incident === state.incident.id &&
    (!state.incident.destination || ack.hospital === state.incident.destination);
  const box = $("ed-ack");
  box.classList.toggle("hidden", !current);
  if (!current) return;
  box.textContent = "ED acknowledged " + hhmm(new Date(ack.at)) + (ack.note ? ": " + ack.note : "");
  box.title = ack.hospital + " · " + ack.by;
}
function renderEta() {
  const d = patientView();
  $("eta").textContent = d && d.eta_s != null ? "ETA " + Math.round(d.eta_s / 60) + " min" +
    (d.distance_m != null ? " · " + (d.distance_m / 1000).toFixed(1) + " km" : "") +
    (state.open ? "" : " (as of " + hhmm(new Date(state.patient.at)) + ")") : "";
}

// Socket -------------------------------------------------------------------------------------------------------------
function socketUrl() {
  // clock: this tablet's time as it connects, so the server judges its times against its own clock (one that runs
  // minutes off still has its readings kept, as stamped; order is the server's)
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/units/" + encodeURIComponent(UNIT) +
    "/socket?clock=" + encodeURIComponent(new Date().toISOString());
}
function connect() {
  state.retry = null;
  if (!navigator.onLine) { renderConnection(); return; }  // the 'online' event reconnects
  let ws;
  try { ws = new WebSocket(socketUrl(), ["prealert.v1", "bearer." + TOKEN]); }
  catch (e) { scheduleReconnect(); return; }
  state.ws = ws;
  ws.onopen = () => { state.open = true; state.delay = 500; renderConnection(); };
  ws.onmessage = (ev) => { try { onFrame(JSON.parse(ev.data)); } catch (e) { showError("frame", e.message); } };
  ws.onclose = (ev) => onClose(ws, ev);
}
function onClose(ws, ev) {
  if (state.ws !== ws) return;
  state.open = false; state.ready = false; state.ws = null;
  renderConnection();
  if (ev.code === 4401 && sessionStorage.getItem(REFRESH_KEY)) { refreshToken(); return; }
  if (ev.code === 4401) showError("token", "token refused (" + (ev.reason || "unauthenticated") + ")");
  else if (ev.code === 4403) showError("token", "not allowed for unit " + UNIT + " (" + (ev.reason || "forbidden") + ")");
  scheduleReconnect();
}
function scheduleReconnect() {
  if (state.retry || !navigator.onLine) return;
  state.retry = setTimeout(connect, state.delay);
  state.delay = Math.min(state.delay * 2, 5000);
}
function goneOffline() {  // a tunnel: stop pretending the socket is alive; everything waits in the outbox
  if (state.ws) { const ws = state.ws; state.ws = null; state.open = false; state.ready = false; ws.close(); }
  clearTimeout(state.retry); state.retry = null;
  renderConnection();
}
function backOnline() { clearTimeout(state.retry); state.retry = null; state.delay = 500; if (!state.ws) connect(); }

// Rendering ------------------------------------------------------------------------------------------------------------
function renderConnection() {
  const c = $("connection");
  // live: connected and in step with the server (its hello handled, the outbox going out), not merely connected
  c.textContent = state.ready ? "live" : state.open ? "connecting" : navigator.onLine ? "reconnecting" : "offline";
  c.classList.toggle("live", state.ready);
  if (state.incident) renderIncident();
  renderEta();
}
function renderOutbox() {
  $("pending").textContent = String(state.outbox.length);
  $("acked").textContent = String(state.acked);
  $("outbox-summary").textContent = state.outbox.length ? state.outbox.length + " waiting to be acknowledged" :
    "nothing waiting: everything entered is stored at dispatch";
  $("outbox-list").replaceChildren(...state.outbox.map(e => el("li", {}, "#" + e.seq + " " + e.message.type +
    (e.message.status ? " " + e.message.status : "") + " · entered " + hhmm(new Date(e.at)))));
  $("acked-list").replaceChildren(...(state.ackedLog.length ? state.ackedLog.map(a => el("li", {}, "#" + a.seq + " " + a.type +
    (a.status ? " " + a.status : "") + " · entered " + hhmm(new Date(a.at)) + " · acknowledged " + hhmm(new Date(a.acked_at))))
    : [el("li", { className: "unit" }, "nothing yet")]));
  renderStatuses();
}
// The unit's incident as the server last said (kept on the tablet, so a reload in a tunnel still shows it).
function setIncident(incident, fromServer) {
  state.incident = incident && incident.id ? incident : null;
  if (fromServer) {
    state.incidentAt = new Date().toISOString();
    if (state.db) putMeta("incident", state.incident ? { state: state.incident, at: state.incidentAt } : null);
  }
  for (const id of ["send-vitals", "send-assessment", "send-prealert"]) $(id).disabled = !state.incident;
  renderIncident();
  showRecommendation(null);
  renderStatuses();
  showEdAck();
  renderPatient();
}
function renderIncident() {
  const inc = state.incident, box = $("incident"), dest = $("destination");
  box.classList.toggle("none", !inc);
  box.textContent = inc ? "#" + inc.id + " · P" + inc.priority + " · " + inc.complaint : "no incident";
  if (inc && !state.open && state.incidentAt) box.append(" ", el("span", { className: "stale-note" }, "(as of " + hhmm(new Date(state.incidentAt)) + ")"));
  dest.replaceChildren();
  dest.classList.remove("override");
  if (!inc) return;
  dest.append("→ " + (inc.destination || "destination not set"));
  const d = inc.decision;
  if (!d) return;
  dest.classList.toggle("override", d.override);
  const why = [d.reason + (d.override ? ": dispatch override" + (d.recommended && d.recommended !== d.hospital ? " (recommended " + d.recommended + ")" : "") : "")];
  if (d.note) why.push(d.note);
  dest.append(el("div", { className: "why" }, why.join(" · ")));
  if (d.reasons && d.reasons.length) {
    const list = el("ul", { className: "reasons why" });
    d.reasons.forEach(r => list.appendChild(el("li", {}, r)));
    dest.append(list);
  }
}
function showError(field, reason) { $("last-error").textContent = (field ? field + ": " : "") + reason; }
function showNotice(text) { $("notice").textContent = text + " · " + new Date().toLocaleTimeString(); $("last-error").textContent = ""; }

// Vitals ----------------------------------------------------------------------------------------------------------------
function readNumber(id) {
  const input = $(id);
  input.classList.remove("invalid");
  if (input.validity.badInput) { input.classList.add("invalid"); throw new Error(id + ": not a number"); }
  if (input.value.trim() === "") return null;
  const n = Number(input.value);
  const unit = input.labels[0] && input.labels[0].querySelector(".unit") ? input.labels[0].querySelector(".unit").textContent : "";
  if (!Number.isFinite(n) || n < Number(input.min) || n > Number(input.max)) {
    input.classList.add("invalid");
    throw new Error(id + ": " + input.value + " is outside " + input.min + "–" + input.max + " " + unit);
  }
  if (INT_FIELDS.includes(id) || id === "age_years") {
    if (!Number.isInteger(n)) { input.classList.add("invalid"); throw new Error(id + ": whole numbers only (" + unit + ")"); }
    return n;
  }
  return Math.round(n * 10) / 10;
}
function readVitals() {
  const values = {};
  for (const id of INT_FIELDS.concat(["temp_c"])) { const n = readNumber(id); if (n !== null) values[id] = n; }
  if ($("avpu").value) values.avpu = $("avpu").value;
  for (const part of ["gcs_eye", "gcs_verbal", "gcs_motor"]) if (state.gcs[part] != null) values[part] = state.gcs[part];
  if ($("on_oxygen").checked) values.on_oxygen = true;
  else if ("spo2" in values) values.on_oxygen = false;
  if ($("spo2_scale2").checked) values.spo2_scale = 2;
  if (values.sbp != null && values.dbp != null && values.dbp >= values.sbp) throw new Error("dbp: diastolic must be below systolic");
  return values;
}
async function sendVitals(ev) {
  if (ev) ev.preventDefault();
  if (!state.incident) { showError("incident", "no incident assigned"); return; }
  let values;
  try { values = readVitals(); } catch (e) { showError("vitals", e.message); return; }
  if (!hasMeasurement(values)) { showError("vitals", "enter at least one measurement"); return; }
  const message = Object.assign({ type: "vitals", incident: state.incident.id, taken_at: takenAt("taken_at"), source: "manual" }, values);
  state.lastVitals = { incident: state.incident.id, values: values };
  clearVitals();  // at once: the crew may already be entering the next set
  const entry = await enqueue(message);
  await putMeta("lastVitals", state.lastVitals);
  showNotice("vitals stored as message " + entry.seq);
}
function hasMeasurement(values) { return Object.keys(values).some(k => k !== "on_oxygen" && k !== "spo2_scale"); }
function lastVitalsHere() {
  const last = state.lastVitals;
  return last && state.incident && last.incident === state.incident.id ? last.values : null;
}
function clearVitals() {
  $("vitals-form").reset();
  const last = lastVitalsHere();
  $("spo2_scale2").checked = !!last && last.spo2_scale === 2;  // the patient's SpO2 target stays until changed
  state.gcs = {};
  renderPicks();
  resetTime("taken_at");
  renderScores();
}
function repeatLast() {
  const last = lastVitalsHere();
  if (!last) { showError("vitals", "no vitals sent for this patient yet"); return; }
  for (const id of INT_FIELDS.concat(["temp_c"])) $(id).value = last[id] != null ? String(last[id]) : "";
  $("avpu").value = last.avpu || "";
  $("on_oxygen").checked = last.on_oxygen === true;
  $("spo2_scale2").checked = last.spo2_scale === 2;
  state.gcs = { gcs_eye: last.gcs_eye, gcs_verbal: last.gcs_verbal, gcs_motor: last.gcs_motor };
  resetTime("taken_at");
  renderPicks();
  renderScores();
  $("hr").focus();
}
// "Taken at" / "given at": now, following the clock, until the crew edits it.
function resetTime(id) { $(id).value = hhmm(new Date()); delete $(id).dataset.edited; }
function takenAt(id) { return $(id).dataset.edited ? localTimeToIso($(id).value) : new Date().toISOString(); }
function followClock() { for (const id of ["taken_at", "tx-time"]) if (!$(id).dataset.edited) $(id).value = hhmm(new Date()); }

// Pickers (GCS parts, LAMS and RACE items): big buttons, one tap each ------------------------------------------------------
function buildPicks() {
  document.querySelectorAll("[data-gcs]").forEach(row => {
    const part = row.dataset.gcs, max = { gcs_eye: 4, gcs_verbal: 5, gcs_motor: 6 }[part];
    for (let v = 1; v <= max; v++) row.appendChild(el("button", { type: "button", value: String(v) }, String(v)));
    row.addEventListener("click", ev => { const b = ev.target.closest("button"); if (!b) return;
      state.gcs[part] = state.gcs[part] === Number(b.value) ? undefined : Number(b.value); renderPicks(); renderScores(); });
  });
  document.querySelectorAll("[data-scale]").forEach(row => {
    const scale = row.dataset.scale, item = row.dataset.item;
    for (let v = 0; v <= Number(row.dataset.max); v++) row.appendChild(el("button", { type: "button", value: String(v) }, String(v)));
    row.addEventListener("click", ev => { const b = ev.target.closest("button"); if (!b) return;
      state[scale][item] = state[scale][item] === Number(b.value) ? undefined : Number(b.value); renderPicks(); renderScores(); });
  });
}
function renderPicks() {
  document.querySelectorAll("[data-gcs]").forEach(row => row.querySelectorAll("button").forEach(b =>
    b.setAttribute("aria-pressed", String(state.gcs[row.dataset.gcs] === Number(b.value)))));
  document.querySelectorAll("[data-scale]").forEach(row => row.querySelectorAll("button").forEach(b =>
    b.setAttribute("aria-pressed", String(state[row.dataset.scale][row.dataset.item] === Number(b.value)))));
  const gcs = PrealertScores.gcsTotal(state.gcs);
  $("gcs-total").textContent = gcs == null ? "—" : "total " + gcs;
  const lams = PrealertScores.lams(state.lams), race = PrealertScores.race(state.race);
  $("lams-total").textContent = lams == null ? "—" : "LAMS " + lams + (lams >= 4 ? " · LVO likely" : "");
  $("race-total").textContent = race == null ? "—" : "RACE " + race + (race >= 5 ? " · LVO likely" : "");
}

// Assessment -------------------------------------------------------------------------------------------------------------
function buildChecklists() {
  for (const [box, codes, name] of [["triage-red", RED, "red"], ["triage-yellow", YELLOW, "yellow"]]) {
    for (const [code, label] of Object.entries(codes)) {
      const input = el("input", { type: "checkbox", value: code, name: name });
      input.addEventListener("change", () => { renderScores(); renderAtmister(); });
      const lab = el("label", { className: "check" });
      lab.append(input, document.createTextNode(label));
      $(box).appendChild(lab);
    }
  }
}
function checked(name) { return Array.from(document.querySelectorAll('input[name="' + name + '"]:checked')).map(i => i.value); }
function readAssessment() {
  const a = {};
  const age = readNumber("age_years");
  if (age !== null) a.age_years = age;
  for (const id of ["sex", "suspected", "chief_complaint", "mechanism", "notes"]) if ($(id).value.trim()) a[id] = $(id).value.trim();
  if ($("stemi").value) a.stemi = $("stemi").value === "yes";
  const lams = PrealertScores.lams(state.lams), race = PrealertScores.race(state.race);
  if (lams != null) a.lams = lams;
  if (race != null) a.race = race;
  if ($("last_known_well").value) a.last_known_well = new Date($("last_known_well").value).toISOString();
  const red = checked("red"), yellow = checked("yellow");
  if (red.length) a.triage_red = red;
  if (yellow.length) a.triage_yellow = yellow;
  if (state.treatments.length) a.treatments = state.treatments.slice();
  return a;
}
async function sendAssessment(ev) {
  if (ev) ev.preventDefault();
  if (!state.incident) { showError("incident", "no incident assigned"); return; }
  let fields;
  try { fields = readAssessment(); } catch (e) { showError("assessment", e.message); return; }
  if (!Object.keys(fields).length) { showError("assessment", "enter something first"); return; }
  state.treatments = [];  // treatments are appended on the server: each is sent once
  renderTreatments();
  const entry = await enqueue(Object.assign({ type: "assessment", incident: state.incident.id, taken_at: new Date().toISOString() }, fields));
  showNotice("assessment stored as message " + entry.seq);
}
// The pre-alert, one tap: vitals typed but not sent go first; then one assessment carrying everything entered for
// this patient so far (the server's view, the outbox, the form; treatments only those not yet sent, as the server
// appends them), so the server's ATMISTER and pre-alert badge are complete.
async function sendPrealert() {
  if (!state.incident) { showError("incident", "no incident assigned"); return; }
  let vitals, form;
  try { vitals = readVitals(); form = readAssessment(); } catch (e) { showError("pre-alert", e.message); return; }
  if (hasMeasurement(vitals)) await sendVitals(null);
  const f = currentFacts(), fields = {};
  for (const k of ASSESSMENT_FIELDS) if (f[k] != null) fields[k] = f[k];
  for (const k of ["triage_red", "triage_yellow"]) if (f[k] && f[k].length) fields[k] = f[k];
  if (form.notes) fields.notes = form.notes;
  if (state.treatments.length) fields.treatments = state.treatments.slice();
  if (!Object.keys(fields).length) { showError("pre-alert", "enter an assessment first"); return; }
  state.treatments = [];
  renderTreatments();
  const entry = await enqueue(Object.assign({ type: "assessment", incident: state.incident.id, taken_at: new Date().toISOString() }, fields));
  showNotice("pre-alert stored as message " + entry.seq);
}
function addTreatment() {
  const name = $("tx-name").value.trim();
  if (!name) { showError("treatment", "say what was given"); return; }
  const t = { kind: $("tx-kind").value, name: name, given_at: takenAt("tx-time") };
  if ($("tx-dose").value.trim()) t.dose = $("tx-dose").value.trim();
  state.treatments.push(t);
  $("tx-name").value = ""; $("tx-dose").value = ""; resetTime("tx-time");
  renderTreatments();
  renderAtmister();
}
function renderTreatments() {
  $("treatments-list").replaceChildren(...state.treatments.map(t => el("li", {}, t.kind + ": " + t.name + (t.dose ? " " + t.dose : "") +
    " at " + hhmm(new Date(t.given_at)) + " (not yet sent)")));
}

// Scores, computed here as values are entered (the same rules as the server's) -------------------------------------------
// Everything entered for this patient, merged as the server merges it (dispatch/derive.py): the server's latest view,
// then every message still in the outbox (offline, they are not in the server's view yet), then the forms.
const ASSESSMENT_FIELDS = ["age_years", "sex", "chief_complaint", "suspected", "race", "lams", "last_known_well", "stemi", "mechanism"];
function mergeMessage(facts, m) {
  if (m.type === "vitals") {
    for (const [k, v] of Object.entries(m)) if (!["type", "incident", "taken_at"].includes(k) && v != null) facts[k] = v;
    facts.spo2_scale = m.spo2_scale || 1;
  } else if (m.type === "assessment") {
    for (const k of ASSESSMENT_FIELDS) if (m[k] != null) facts[k] = m[k];
    for (const k of ["triage_red", "triage_yellow"]) if (m[k] && m[k].length) facts[k] = m[k];
    if (m.treatments && m.treatments.length) facts.treatments = (facts.treatments || []).concat(m.treatments);
  } else if (m.type === "ecg12" && m.stemi != null) facts.stemi = m.stemi;
}
function currentFacts() {
  const server = patientView();
  const facts = Object.assign({}, (server && server.latest) || {});
  const here = state.incident && state.incident.id;
  state.outbox.filter(e => e.message.incident === here).forEach(e => mergeMessage(facts, e.message));
  try { const v = readVitals(); if (hasMeasurement(v)) mergeMessage(facts, Object.assign({ type: "vitals" }, v)); } catch (e) { /* shown when sent */ }
  try { mergeMessage(facts, Object.assign({ type: "assessment" }, readAssessment())); } catch (e) { /* shown when sent */ }
  return facts;
}
function sameNews2(a, b) { return a.score === b.score && a.band === b.band && a.partial === b.partial; }
function renderScores() {
  const f = currentFacts();
  const n = PrealertScores.news2(f);
  const news = $("score-news2");
  news.textContent = n.missing.length === 7 ? "—" : n.score + (n.partial ? "*" : "") + " " + n.band;
  news.className = "v band-" + n.band;
  news.title = n.partial ? "missing: " + n.missing.join(", ") : "";
  const server = patientView(), agreement = $("news2-agreement");
  const agrees = server && server.news2 && sameNews2(n, server.news2);
  agreement.textContent = !server || !server.news2 ? "" : agrees ? "agrees with this tablet" :
    "differs: this tablet has values the server has not got yet";
  agreement.classList.toggle("differs", !!server && !!server.news2 && !agrees);
  const si = PrealertScores.shockIndex(f);
  $("score-shock").textContent = si ? si.value.toFixed(2) + " (" + si.klass + ")" : "—";
  const rts = PrealertScores.rts(f);
  $("score-rts").textContent = rts ? String(rts.weighted) : "—";
  const gcs = PrealertScores.gcsTotal(f);
  $("score-gcs").textContent = gcs == null ? "—" : String(gcs);
  const colour = PrealertScores.fieldTriage(f);
  $("score-triage").textContent = colour === "none" ? "no criterion" : colour.toUpperCase();
  $("score-triage").className = "v colour-" + colour;
  $("score-category").textContent = PrealertScores.BADGES[PrealertScores.category(f, Date.now())];
  renderAtmister();
}
function findings(f) {
  const found = [].concat(f.triage_red || [], f.triage_yellow || []).map(c => RED[c] || YELLOW[c] || c);
  if (f.stemi === true) found.push("12-lead: STEMI");
  if (f.lams != null) found.push("LAMS " + f.lams + (f.lams >= 4 ? " (LVO likely)" : ""));
  if (f.race != null) found.push("RACE " + f.race + (f.race >= 5 ? " (LVO likely)" : ""));
  if (f.last_known_well) found.push("last known well " + hhmm(new Date(f.last_known_well)));
  return found;
}
function renderAtmister() {
  const f = currentFacts();
  const server = (patientView() && patientView().atmister) || {};
  const treatments = f.treatments || [];  // the server's, those waiting in the outbox and those not yet sent
  const signs = [["HR", f.hr, "/min"], ["BP", f.sbp != null ? f.sbp + "/" + (f.dbp != null ? f.dbp : "—") : null, "mmHg"],
    ["RR", f.rr, "/min"], ["SpO₂", f.spo2, "%"], ["GCS", PrealertScores.gcsTotal(f), ""]]
    .filter(([, v]) => v != null).map(([k, v, u]) => k + " " + v + u).join(", ");
  const eta = patientView() && patientView().eta_s != null ? Math.round(patientView().eta_s / 60) + " min" : "not yet routed";
  const rows = [
    ["A", (f.age_years != null ? f.age_years + " y" : "age ?") + " " + (f.sex && f.sex !== "unknown" ? f.sex : "sex ?")],
    ["T", server.time || (state.incident ? new Date(state.incident.created_at).toLocaleTimeString() : "—")],
    ["M", f.mechanism || f.chief_complaint || "—"],
    ["I", findings(f).join("; ") || server.injuries || "—"],
    ["S", signs || "—"],
    ["T", treatments.map(t => t.name + (t.dose ? " " + t.dose : "")).join(", ") || "none"],
    ["E", eta],
    ["R", server.requirements || PrealertScores.BADGES[PrealertScores.category(f, Date.now())]],
  ];
  $("atmister").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

// 12-lead ECG from the monitor's CSV export --------------------------------------------------------------------------------
const ECG_NAMES = { i: "I", ii: "II", iii: "III", avr: "aVR", avl: "aVL", avf: "aVF", v1: "V1", v2: "V2", v3: "V3",
                    v4: "V4", v5: "V5", v6: "V6" };
function parseEcgCsv(text) {
  const lines = text.trim().split(/\r?\n/);
  const header = lines[0].split(",").map(h => h.trim().toLowerCase());
  const rows = lines.slice(1).map(line => line.split(",").map(Number));
  const t = header.indexOf("time_s");
  if (t < 0 || rows.length < 2) throw new Error("expected a time_s column and samples");
  const rate = Math.round(1 / (rows[1][t] - rows[0][t]));
  const leads = [];
  for (const [column, name] of Object.entries(ECG_NAMES)) {
    const i = header.indexOf(column);
    if (i < 0) throw new Error("lead " + name + " is missing");
    const bytes = new Uint8Array(rows.length * 2), view = new DataView(bytes.buffer);
    rows.forEach((row, k) => view.setInt16(k * 2, Math.round(row[i] * 1000), true));  // mV -> µV
    leads.push({ name: name, samples: bytes });
  }
  return { sample_rate_hz: rate, gain_per_mv: 1000, leads: leads, seconds: rows.length / rate };
}
async function loadEcg() {
  const file = $("ecg-file").files[0];
  state.ecg = null;
  $("send-ecg").disabled = true;
  if (!file) return;
  try { state.ecg = parseEcgCsv(await file.text()); }
  catch (e) { showError("12-lead", e.message); $("ecg-summary").textContent = ""; return; }
  $("ecg-summary").textContent = "12 leads · " + state.ecg.seconds.toFixed(1) + " s · " + state.ecg.sample_rate_hz + " /s";
  $("send-ecg").disabled = !state.incident;
}
async function sendEcg() {
  if (!state.incident || !state.ecg) return;
  const message = { type: "ecg12", incident: state.incident.id, taken_at: new Date().toISOString(),
    sample_rate_hz: state.ecg.sample_rate_hz, gain_per_mv: state.ecg.gain_per_mv, leads: state.ecg.leads };
  if ($("ecg-interpretation").value.trim()) message.interpretation = $("ecg-interpretation").value.trim();
  if ($("stemi").value) message.stemi = $("stemi").value === "yes";
  const entry = await enqueue(message);
  showNotice("12-lead stored as message " + entry.seq);
  $("ecg-file").value = ""; state.ecg = null; $("send-ecg").disabled = true;
}

// Status and position ----------------------------------------------------------------------------------------------------
async function sendStatus(status) {
  const message = { type: "status", status: status, taken_at: new Date().toISOString() };
  if (state.incident) message.incident = state.incident.id;
  const entry = await enqueue(message);
  const key = statusKey();
  state.statusTimes[key] = Object.assign({}, state.statusTimes[key], { [status]: { at: entry.at, uid: entry.uid } });
  await putMeta("statusTimes", state.statusTimes);
  renderStatuses();
  showNotice(status.replace(/_/g, " ") + " stored as message " + entry.seq);
}
function buildStatusButtons() {
  for (const [value, label] of STATUSES) {
    const b = el("button", { type: "button", id: "status-" + value });
    b.append(el("span", {}, label), el("small", {}, ""));
    b.addEventListener("click", () => sendStatus(value));
    $("statuses").appendChild(b);
  }
}
// The NEMSIS moments sent for this incident (or, with none, since the last one), when, and whether still waiting.
function statusKey() { return state.incident ? String(state.incident.id) : "none"; }
function renderStatuses() {
  const sent = state.statusTimes[statusKey()] || {};
  for (const [value] of STATUSES) {
    const s = sent[value], waiting = s && state.outbox.some(e => e.uid === s.uid);
    $("status-" + value).classList.toggle("done", !!s);
    $("status-" + value).querySelector("small").textContent = s ? hhmm(new Date(s.at)) + (waiting ? " · waiting" : " · sent") : "";
  }
}
function samplePosition() {
  if (!navigator.geolocation || !state.db) return;
  navigator.geolocation.getCurrentPosition(onPosition, () => {}, { maximumAge: POSITION_EVERY_MS, timeout: 8000 });
}
function onPosition(pos) {
  const c = pos.coords;
  const message = { type: "position", taken_at: new Date().toISOString(), lat: c.latitude, lon: c.longitude };
  if (state.incident) message.incident = state.incident.id;
  if (Number.isFinite(c.heading) && c.heading >= 0 && c.heading < 360) message.heading_deg = c.heading;
  if (Number.isFinite(c.speed) && c.speed >= 0 && c.speed <= 100) message.speed_mps = c.speed;
  enqueue(message);
}

// Start ---------------------------------------------------------------------------------------------------------------
function credentialsProblem() {
  if (!UNIT || !TOKEN) return "sign in";
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/.test(UNIT)) return "Invalid unit call sign in the link: " + UNIT;
  return null;
}
function useToken(unit, token) {
  location.hash = "unit=" + encodeURIComponent(unit) + "&token=" + encodeURIComponent(token);
}
async function postJson(path, body) {
  const response = await fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.reason || ("HTTP " + response.status));
  return answer;
}
// The access token lives minutes: when the server closes the socket with 4401 (expired, or revoked), a crew that
// signed in with a password swaps its refresh token for a new pair and reconnects; the outbox is resent as always.
// A refused refresh (signed out, crew change) ends the sign-in.
async function refreshToken() {
  try {
    const pair = await postJson("/v1/auth/refresh", { refresh_token: sessionStorage.getItem(REFRESH_KEY) });
    sessionStorage.setItem(REFRESH_KEY, pair.refresh_token);
    TOKEN = pair.access_token;
    history.replaceState(null, "", "#unit=" + encodeURIComponent(UNIT) + "&token=" + encodeURIComponent(TOKEN));
    state.delay = 500;
    connect();
  } catch (e) {
    sessionStorage.removeItem(REFRESH_KEY);
    showError("token", "signed out (" + e.message + "): sign in again");
  }
}
function showSignIn() {
  $("signin").classList.remove("hidden");
  $("signin-form").addEventListener("submit", async ev => {
    ev.preventDefault();
    const unit = $("signin-unit").value.trim(), user = $("signin-user").value.trim();
    if (!user) { useToken(unit, $("signin-token").value.trim()); return; }
    try {
      const pair = await postJson("/v1/auth/sign-in", { username: user, password: $("signin-password").value, unit });
      sessionStorage.setItem("prealert-refresh:" + unit, pair.refresh_token);
      useToken(unit, pair.access_token);
    } catch (e) {
      $("signin-error").textContent = "Not signed in: " + e.message;
    }
  });
  $("signin-unit").focus();
}
async function start() {
  buildStatusButtons();
  buildPicks();
  buildChecklists();
  $("vitals-form").addEventListener("submit", sendVitals);
  $("vitals-form").addEventListener("input", renderScores);
  $("assessment-form").addEventListener("input", renderScores);
  $("assessment-form").addEventListener("submit", sendAssessment);
  $("send-prealert").addEventListener("click", sendPrealert);
  $("repeat-last").addEventListener("click", repeatLast);
  $("clear-vitals").addEventListener("click", clearVitals);
  $("add-treatment").addEventListener("click", addTreatment);
  $("ecg-file").addEventListener("change", loadEcg);
  $("send-ecg").addEventListener("click", sendEcg);
  window.addEventListener("hashchange", () => location.reload());
  window.addEventListener("offline", goneOffline);
  window.addEventListener("online", backOnline);
  resetTime("taken_at");
  resetTime("tx-time");
  for (const id of ["taken_at", "tx-time"]) $(id).addEventListener("input", () => { $(id).dataset.edited = "1"; });
  setInterval(followClock, 15000);
  renderConnection();
  const problem = credentialsProblem();
  if (problem === "sign in") { showSignIn(); return; }
  if (problem) {
    $("auth-message").textContent = problem;
    $("auth-message").classList.remove("hidden");
    document.querySelectorAll("button").forEach(b => { b.disabled = true; });
    return;
  }
  $("unit-name").textContent = UNIT;
  document.title = "prealert · " + UNIT;
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/tablet-sw.js", { scope: "/" }).catch(() => {});
  try { await loadStorage(); }
  catch (e) { showError("storage", "this browser will not keep an outbox (" + e.message + "): do not reload while offline"); state.db = null; }
  renderOutbox();
  renderStatuses();
  renderPicks();
  setIncident(state.incident);
  clearVitals();
  if (state.db) connect();
  setInterval(samplePosition, POSITION_EVERY_MS);
}
start();
