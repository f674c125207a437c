// Every console script parses as an ES module (the browser loads them as
// modules; a syntax error would leave a blank page).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

const dir = new URL("../console/", import.meta.url);
const scripts = readdirSync(dir).filter((f) => f.endsWith(".js"));
assert.ok(scripts.includes("app.js"));
for (const f of scripts) {
  const r = spawnSync(process.execPath, ["--input-type=module", "--check"], {
    input: readFileSync(new URL(f, dir)),
    encoding: "utf8",
  });
  assert.equal(r.status, 0, `${f} is not a valid ES module:\n${r.stderr}`);
}
console.log(`syntax: ${scripts.length} modules parse`);
