// The clinical scores the tablet shows as values are entered, ported line by line from dispatch/clinical.py and
// dispatch/triage.py (the server's; a test in real Chromium checks that both give the same answers, boundaries
// included). Pure functions on a global `PrealertScores`; a missing measurement is null and never counted as normal.
"use strict";
(function () {
  const RR = [[8, 3], [11, 1], [20, 0], [24, 2]];  // >= 25: 3
  const SPO2_1 = [[91, 3], [93, 2], [95, 1]];  // >= 96: 0
  const SPO2_2 = [[83, 3], [85, 2], [87, 1], [92, 0]];
  const SPO2_2_O2 = [[94, 1], [96, 2]];  // >= 97 on oxygen: 3
  const SBP = [[90, 3], [100, 2], [110, 1], [219, 0]];  // >= 220: 3
  const HR = [[40, 3], [50, 1], [90, 0], [110, 1], [130, 2]];  // >= 131: 3
  const TEMP_TENTHS = [[350, 3], [360, 1], [380, 0], [390, 1]];  // >= 39.1: 2
  const ORDER = ["rr", "spo2", "air_or_oxygen", "sbp", "hr", "consciousness", "temp"];
  const RTS_GCS = [[3, 0], [5, 1], [8, 2], [12, 3]], RTS_SBP = [[0, 0], [49, 1], [75, 2], [89, 3]];
  const RTS_RR = [[0, 0], [5, 1], [9, 2], [29, 4]];
  const PREGNANCY = "pregnancy_over_20_weeks";
  const has = v => v !== null && v !== undefined;

  function lookup(value, bands, above) {
    for (const [highest, points] of bands) if (value <= highest) return points;
    return above;
  }
  // Half-up rounding of a decimal as written (35.05 -> 351 tenths), as Python's Decimal(str(x)) does.
  function halfUp(value, places) {
    const [whole, frac = ""] = String(Math.abs(value)).split(".");
    const digits = (frac + "0".repeat(places + 1)).slice(0, places + 1);
    let n = BigInt(whole + digits.slice(0, places));
    if (Number(digits[places]) >= 5) n += 1n;
    return (value < 0 ? -1 : 1) * Number(n);  // in units of 10^-places
  }
  function spo2Points(spo2, onOxygen, scale) {
    if (scale !== 2) return lookup(spo2, SPO2_1, 0);
    if (spo2 <= 92) return lookup(spo2, SPO2_2, 0);
    if (!has(onOxygen)) return null;
    return onOxygen ? lookup(spo2, SPO2_2_O2, 3) : 0;
  }
  function news2(v) {
    const scored = [
      has(v.rr) ? lookup(v.rr, RR, 3) : null,
      has(v.spo2) ? spo2Points(v.spo2, v.on_oxygen, v.spo2_scale || 1) : null,
      has(v.on_oxygen) ? (v.on_oxygen ? 2 : 0) : null,
      has(v.sbp) ? lookup(v.sbp, SBP, 3) : null,
      has(v.hr) ? lookup(v.hr, HR, 3) : null,
      has(v.avpu) ? (v.avpu === "A" ? 0 : 3) : null,
      has(v.temp_c) ? lookup(halfUp(v.temp_c, 1), TEMP_TENTHS, 2) : null,
    ];
    const missing = ORDER.filter((_, i) => scored[i] === null);
    const present = scored.filter(p => p !== null);
    const score = present.reduce((a, b) => a + b, 0);
    const band = score >= 7 ? "high" : score >= 5 ? "medium" : present.includes(3) ? "low-medium" : "low";
    return { score: score, band: band, partial: missing.length > 0, missing: missing };
  }
  function shockIndex(v) {
    if (!has(v.hr) || !has(v.sbp) || v.sbp === 0) return null;
    // value: hr/sbp rounded half-up to 2 decimals, in integer arithmetic: floor((200 hr + sbp) / (2 sbp)) / 100
    const value = Math.floor((200 * v.hr + v.sbp) / (2 * v.sbp)) / 100;
    const klass = 10 * v.hr < 6 * v.sbp ? "<0.6" : v.hr < v.sbp ? "0.6-<1.0" : 10 * v.hr < 14 * v.sbp ? "1.0-<1.4" : ">=1.4";
    return { value: value, klass: klass };
  }
  function gcsTotal(v) {
    return has(v.gcs_eye) && has(v.gcs_verbal) && has(v.gcs_motor) ? v.gcs_eye + v.gcs_verbal + v.gcs_motor : null;
  }
  function rts(v) {
    const gcs = gcsTotal(v);
    if (!has(gcs) || !has(v.sbp) || !has(v.rr)) return null;
    const g = lookup(gcs, RTS_GCS, 4), s = lookup(v.sbp, RTS_SBP, 4), r = lookup(v.rr, RTS_RR, 3);
    return { gcs_code: g, sbp_code: s, rr_code: r, weighted: Math.round((0.9368 * g + 0.7326 * s + 0.2908 * r) * 10000) / 10000 };
  }
  function sbpLimit(age) {
    if (!has(age)) return 90;
    if (age <= 9) return 70 + 2 * age;
    return age <= 64 ? 90 : 110;
  }
  // Field triage (ACS 2021): RED on a red code or physiology; else YELLOW on a yellow code; else "none".
  function fieldTriage(v) {
    const red = (v.triage_red || []).length > 0 || [
      has(v.gcs_motor) && v.gcs_motor < 6,
      has(v.rr) && (v.rr < 10 || v.rr > 29),
      v.respiratory_support === true,
      has(v.spo2) && v.spo2 < 90 && v.on_oxygen === false,
      has(v.sbp) && v.sbp < sbpLimit(v.age_years),
      (!has(v.age_years) || v.age_years >= 10) && has(v.hr) && has(v.sbp) && v.hr > v.sbp,
    ].some(Boolean);
    return red ? "red" : (v.triage_yellow || []).length > 0 ? "yellow" : "none";
  }
  function minutesSince(iso, now) {
    if (!iso) return null;
    return Math.max(0, Math.floor((now - Date.parse(iso)) / 60000));
  }
  // The pre-alert category, by the server's precedence (dispatch/triage.py `_category`).
  function category(v, now, lvoWindowMin) {
    const window = lvoWindowMin || 360;
    if (v.suspected === "cardiac_arrest") return "cardiac_arrest";
    if (v.stemi === true || v.suspected === "stemi") return "stemi";
    const colour = fieldTriage(v);
    const trauma = v.suspected === "trauma" || (v.triage_red || []).length > 0 ||
      (v.triage_yellow || []).some(c => c !== PREGNANCY);
    if (trauma && colour === "red") return "trauma_red";
    const stroke = v.suspected === "stroke" || has(v.race) || has(v.lams);
    if (stroke) {
      const lvo = (has(v.race) && v.race >= 5) || (has(v.lams) && v.lams >= 4);
      const minutes = minutesSince(v.last_known_well, now || Date.now());
      return lvo && (minutes === null || minutes <= window) ? "stroke_lvo" : "stroke";
    }
    if (trauma) return colour === "yellow" ? "trauma_yellow" : "general";
    const gcs = gcsTotal(v);
    const signs = (has(v.avpu) ? [v.avpu !== "A"] : []).concat(has(gcs) ? [gcs < 15] : []);
    const altered = signs.length ? signs.some(Boolean) : null;
    const qsofa = [has(v.sbp) && v.sbp <= 100, has(v.rr) && v.rr >= 22, altered === true].filter(Boolean).length;
    if (qsofa >= 2 || (has(v.lactate_mmol_l) && v.lactate_mmol_l >= 4) || v.suspected === "sepsis") return "sepsis";
    return v.suspected === "obstetric" || (v.triage_yellow || []).includes(PREGNANCY) ? "obstetric" : "general";
  }
  const BADGES = { cardiac_arrest: "Cardiac arrest", stemi: "STEMI", stroke_lvo: "Stroke (LVO)", stroke: "Stroke",
    trauma_red: "Trauma RED", trauma_yellow: "Trauma YELLOW", sepsis: "Sepsis", obstetric: "Obstetric", general: "General" };
  // LAMS (Nazliel 2008) and RACE (Pérez de la Ossa 2014) from their items.
  function lams(items) { return ["facial_droop", "arm_drift", "grip"].every(k => has(items[k])) ? items.facial_droop + items.arm_drift + items.grip : null; }
  function race(items) {
    const keys = ["facial_palsy", "arm_motor", "leg_motor", "gaze", "aphasia_agnosia"];
    return keys.every(k => has(items[k])) ? keys.reduce((a, k) => a + items[k], 0) : null;
  }
  window.PrealertScores = { news2, shockIndex, gcsTotal, rts, fieldTriage, category, BADGES, lams, race, halfUp };
})();
