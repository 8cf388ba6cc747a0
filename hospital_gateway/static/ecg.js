// Drawing ECGs the way clinicians read them, for the ED dashboard. Plain script, no dependencies.
//
// PrealertEcg.render12(container, ecg): a 12-lead as an SVG on ECG paper, in millimetres (so it is crisp at any size):
//   25 mm/s, 10 mm/mV; 1 mm and 5 mm grid; a 1 mV x 0.2 s calibration pulse at the start of each row; the standard
//   3 x 4 layout (I aVR V1 V4 / II aVL V2 V5 / III aVF V3 V6, 2.5 s each) and a 10 s lead II rhythm strip below.
// PrealertEcg.LiveStrip(canvas): a monitor strip that scrolls at 25 mm/s as chunks arrive (a second behind real time,
//   so that chunks arriving every 0.25-0.5 s draw as one smooth trace), with the heart rate.
// Samples arrive as base64 of signed 16-bit little-endian integers in units of 1/gain_per_mv mV.
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const MM_PER_S = 25, MM_PER_MV = 10;
  const LAYOUT = [["I", "aVR", "V1", "V4"], ["II", "aVL", "V2", "V5"], ["III", "aVF", "V3", "V6"]];
  const ROW_MM = 30, LEFT_MM = 14, TOP_MM = 9, SEGMENT_S = 2.5;
  const WIDTH_MM = LEFT_MM + 10 * MM_PER_S + 4, HEIGHT_MM = TOP_MM + 4 * ROW_MM + 3;

  function samplesOf(base64) {
    const bytes = Uint8Array.from(atob(base64), c => c.charCodeAt(0));
    const view = new DataView(bytes.buffer);
    const out = new Int16Array(bytes.length >> 1);
    for (let i = 0; i < out.length; i++) out[i] = view.getInt16(i * 2, true);
    return out;
  }
  function node(tag, attrs, text) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    if (text != null) el.textContent = text;
    return el;
  }
  function grid(svg) {
    const defs = node("defs");
    const small = node("pattern", { id: "ecg-small", width: 1, height: 1, patternUnits: "userSpaceOnUse" });
    small.appendChild(node("path", { d: "M1 0H0V1", fill: "none", stroke: "#f4b6b6", "stroke-width": 0.06 }));
    const big = node("pattern", { id: "ecg-big", width: 5, height: 5, patternUnits: "userSpaceOnUse" });
    big.appendChild(node("rect", { width: 5, height: 5, fill: "url(#ecg-small)" }));
    big.appendChild(node("path", { d: "M5 0H0V5", fill: "none", stroke: "#e07a7a", "stroke-width": 0.16 }));
    defs.append(small, big);
    svg.appendChild(defs);
    svg.appendChild(node("rect", { x: 0, y: 0, width: WIDTH_MM, height: HEIGHT_MM, fill: "#fff8f6" }));
    svg.appendChild(node("rect", { class: "ecg-grid", x: 0, y: 0, width: WIDTH_MM, height: HEIGHT_MM, fill: "url(#ecg-big)" }));
  }
  // The 1 mV, 0.2 s square pulse that proves the scale: 10 mm high, 5 mm wide.
  function calibration(svg, baseline) {
    const x = 3;
    svg.appendChild(node("path", {
      class: "ecg-cal", d: `M${x} ${baseline}h2v${-MM_PER_MV}h5v${MM_PER_MV}h2`,
      fill: "none", stroke: "#000", "stroke-width": 0.3,
    }));
  }
  function trace(values, gain, rate, from, to, x0, baseline) {
    const parts = [];
    const first = Math.max(0, Math.round(from * rate)), last = Math.min(values.length, Math.round(to * rate));
    for (let i = first; i < last; i++) {
      const x = x0 + (i - first) / rate * MM_PER_S;
      const y = baseline - values[i] / gain * MM_PER_MV;
      parts.push((i === first ? "M" : "L") + x.toFixed(2) + " " + y.toFixed(2));
    }
    return parts.join("");
  }
  function render12(container, ecg) {
    const leads = new Map(ecg.leads.map(l => [l.name, samplesOf(l.samples)]));
    const gain = ecg.gain_per_mv, rate = ecg.sample_rate_hz;
    const svg = node("svg", {
      class: "ecg12", viewBox: `0 0 ${WIDTH_MM} ${HEIGHT_MM}`, role: "img", preserveAspectRatio: "xMidYMid meet",
      "aria-label": "12-lead ECG, " + (ecg.interpretation || "no interpretation"),
    });
    grid(svg);
    const at = new Date(ecg.taken_at);
    const when = at.toISOString().slice(11, 16) + "Z";
    svg.appendChild(node("text", { x: 3, y: 5.5, "font-size": 4, "font-weight": 700, fill: "#111" },
      `12-lead ${when} · ${ecg.interpretation || "no interpretation"}`));
    svg.appendChild(node("text", { x: WIDTH_MM - 3, y: 5.5, "font-size": 3, fill: "#333", "text-anchor": "end" },
      `25 mm/s · 10 mm/mV · ${rate} /s`));
    const rows = LAYOUT.concat([["II"]]);
    rows.forEach((row, r) => {
      const baseline = TOP_MM + r * ROW_MM + ROW_MM / 2;
      calibration(svg, baseline);
      row.forEach((name, c) => {
        const values = leads.get(name);
        if (!values) return;
        const rhythm = row.length === 1;
        const from = rhythm ? 0 : c * SEGMENT_S, to = rhythm ? values.length / rate : (c + 1) * SEGMENT_S;
        const x0 = LEFT_MM + (rhythm ? 0 : c * SEGMENT_S * MM_PER_S);
        svg.appendChild(node("path", {
          class: "ecg-lead", "data-lead": name + (rhythm ? "-rhythm" : ""), d: trace(values, gain, rate, from, to, x0, baseline),
          fill: "none", stroke: "#000", "stroke-width": 0.22, "stroke-linejoin": "round",
        }));
        svg.appendChild(node("text", { class: "ecg-label", x: x0 + 1, y: baseline - ROW_MM / 2 + 4, "font-size": 3.6,
          "font-weight": 700, fill: "#111" }, rhythm ? name + " (rhythm)" : name));
        if (!rhythm && c > 0) {
          svg.appendChild(node("path", { d: `M${x0} ${baseline - 4}v8`, stroke: "#000", "stroke-width": 0.3 }));
        }
      });
    });
    container.replaceChildren(svg);
    return svg;
  }

  // Live strip ---------------------------------------------------------------------------------------------------
  class LiveStrip {
    constructor(canvas, { seconds = 6, delayMs = 1000 } = {}) {
      this.canvas = canvas;
      this.seconds = seconds;
      this.delayMs = delayMs;
      this.points = [];  // [time ms, mV]
      this.hr = null;
      this.chunks = 0;
      this.running = false;
    }
    add(chunk) {
      const values = samplesOf(chunk.samples);
      const start = Date.parse(chunk.start_at);
      const step = 1000 / chunk.sample_rate_hz;
      for (let i = 0; i < values.length; i++) this.points.push([start + i * step, values[i] / chunk.gain_per_mv]);
      if (chunk.hr != null) this.hr = chunk.hr;
      this.chunks += 1;
      this.canvas.dataset.chunks = String(this.chunks);
      const keep = Date.now() - (this.seconds + 3) * 1000;
      let drop = 0;
      while (drop < this.points.length && this.points[drop][0] < keep) drop++;
      if (drop) this.points.splice(0, drop);
      if (!this.running) { this.running = true; requestAnimationFrame(() => this.draw()); }
    }
    stop() { this.running = false; }
    draw() {
      if (!this.running) return;
      const c = this.canvas, ratio = window.devicePixelRatio || 1;
      const width = c.clientWidth, height = c.clientHeight;
      if (c.width !== Math.round(width * ratio)) { c.width = Math.round(width * ratio); c.height = Math.round(height * ratio); }
      const g = c.getContext("2d");
      g.setTransform(ratio, 0, 0, ratio, 0, 0);
      const mm = width / (this.seconds * MM_PER_S);  // pixels per millimetre at 25 mm/s
      g.fillStyle = "#000"; g.fillRect(0, 0, width, height);
      g.strokeStyle = "#1d3324"; g.lineWidth = 1;
      for (let x = 0; x < width; x += 5 * mm) { g.beginPath(); g.moveTo(x, 0); g.lineTo(x, height); g.stroke(); }
      for (let y = height / 2 % (5 * mm); y < height; y += 5 * mm) { g.beginPath(); g.moveTo(0, y); g.lineTo(width, y); g.stroke(); }
      const end = Date.now() - this.delayMs, begin = end - this.seconds * 1000;
      g.strokeStyle = "#3cff7a"; g.lineWidth = 2; g.beginPath();
      let started = false;
      for (const [t, mv] of this.points) {
        if (t < begin || t > end) continue;
        const x = (t - begin) / 1000 * MM_PER_S * mm, y = height / 2 - mv * MM_PER_MV * mm;
        if (started) g.lineTo(x, y); else { g.moveTo(x, y); started = true; }
      }
      g.stroke();
      g.fillStyle = "#3cff7a"; g.font = "700 28px system-ui, sans-serif";
      g.fillText("HR " + (this.hr == null ? "—" : this.hr) + " /min", 12, 34);
      requestAnimationFrame(() => this.draw());
    }
  }

  window.PrealertEcg = { render12, LiveStrip, samplesOf };
})();
