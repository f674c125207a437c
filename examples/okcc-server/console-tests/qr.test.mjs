// Checks the console's QR encoder module for module against vectors made
// by the Python `qrcode` package (qr-vectors.json, committed), and that it
// refuses text too long rather than drawing a wrong code.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { encodeQr } from "../console/qr.js";

const vectors = JSON.parse(readFileSync(new URL("./qr-vectors.json", import.meta.url), "utf8"));
let n = 0;
for (const v of vectors) {
  const m = encodeQr(v.text, v.mask);
  const rows = m.map((r) => r.map((c) => (c ? "1" : "0")).join(""));
  assert.equal(rows.length, v.rows.length, `size for ${JSON.stringify(v.text)} mask ${v.mask}`);
  assert.deepEqual(rows, v.rows, `modules for ${JSON.stringify(v.text)} mask ${v.mask}`);
  n++;
}
// The automatic mask choice still gives a code of the same size.
const auto = encodeQr(vectors[1].text);
assert.equal(auto.length, vectors[1].rows.length);
assert.throws(() => encodeQr("y".repeat(272)), /too long/);
console.log(`qr: ${n} vectors match`);
