// End-to-end test of the okcc web console in headless Chromium or Firefox.
//
// Starts the real `okcc-server serve` on a temporary data directory with
// loopback ports, then drives the console as three users: sign in (with
// the forced first password change), see a weak extension in red, approve
// a template, delete and restore a customer, request and approve a reveal,
// ban and unban an address, turn "block all foreign" on and explain an
// address, and see each action in the audit page; also a keyboard-only
// pass (Tab order through the sign-in form and the main navigation, focus
// visible) and an axe-core accessibility check of every page screenshotted
// (serious or critical violations fail). Screenshots of the main pages go to
// target/console-screenshots/<browser>/.
//
// Usage: node e2e.mjs [chromium|firefox] (default chromium). Chromium is
// Debian's chromium driven by playwright-core; Firefox is Debian's
// firefox-esr driven by puppeteer-core over WebDriver BiDi (drivers.mjs).
//
// Environment: OKCC_SERVER_BIN (default target/debug/okcc-server),
// OKCC_E2E_ATTACH (a URL: test an `okcc-server serve` already running there
// instead; its one-time admin password is read from its output piped to
// OKCC_E2E_SERVER_LOG),
// CHROMIUM (default /usr/bin/chromium), FIREFOX (default
// /usr/bin/firefox-esr), OKCC_E2E_SKIP (comma-separated
// step names to skip, e.g. "review,bans" on a build without those APIs).

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { downloadText, launch } from "./drivers.mjs";
import { countryMmdb } from "./mmdb.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../../..");
const bin = process.env.OKCC_SERVER_BIN || join(root, "target/debug/okcc-server");
const browserName = process.argv[2] || "chromium";
const shots = join(root, "target/console-screenshots", browserName);
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const skip = new Set((process.env.OKCC_E2E_SKIP || "").split(",").filter(Boolean));
const STRONG = "Correct-Horse-Battery-9-Staple";
const AGENT_PW = "Purple-Monkey-Dish-42-Lamp";
const BOSS_PW = "Orange-Kettle-Violin-77-Moss";

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s) of a base32 secret at `ms`. */
function totp(secret, ms) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const ch of secret.replace(/=+$/, "").toUpperCase()) bits += alphabet.indexOf(ch).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(ms / 30000)));
  const mac = createHmac("sha1", key).update(counter).digest();
  const off = mac[mac.length - 1] & 15;
  return String((mac.readUInt32BE(off) & 0x7fffffff) % 1000000).padStart(6, "0");
}

// ---------- the server ----------

const data = mkdtempSync(join(tmpdir(), "okcc-console-e2e-"));
const geoip = join(data, "test-country.mmdb");
writeFileSync(geoip, countryMmdb([["1.0.0.0/8", "CN"], ["8.0.0.0/8", "US"]]));
const rules = join(data, "rules.txt");
writeFileSync(rules, "home CN\n");
const attach = process.env.OKCC_E2E_ATTACH;
const httpPort = await freePort();
const sipPort = await freePort();
const base = attach || `http://127.0.0.1:${httpPort}`;

let out = attach ? readFileSync(process.env.OKCC_E2E_SERVER_LOG || "/dev/null", "utf8") : "";
const server = attach ? null : spawn(bin, [
  "serve",
  "--data-dir", data,
  "--http", `127.0.0.1:${httpPort}`,
  "--sip-udp", `127.0.0.1:${sipPort}`,
  "--sip-tcp", `127.0.0.1:${sipPort}`,
  "--rules", rules,
  "--geoip", geoip,
], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: "warn" } });
let exited = null;
if (server) {
  server.stdout.on("data", (d) => { out += d; });
  server.stderr.on("data", (d) => { out += d; });
  server.on("exit", (code) => { exited = code; });
}

let browser;
function cleanup() {
  if (server && exited === null) server.kill("SIGTERM");
  rmSync(data, { recursive: true, force: true });
}
process.on("exit", cleanup);
// Killed by CI's timeout: stop the server too (the browser drivers kill
// their browsers on exit).
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    console.error(`console e2e (${browserName}): ${sig}, stopping`);
    process.exit(124);
  });
}

async function waitReady() {
  for (let i = 0; i < 200; i++) {
    if (exited !== null) throw new Error(`okcc-server exited (${exited}):\n${out}`);
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.ok && /one-time password/.test(out)) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`okcc-server did not become ready:\n${out}`);
}

// ---------- REST helpers for seeding ----------

async function rest(method, path, token, body) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(`${base}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  const json = text ? JSON.parse(text) : null;
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return json;
}

/** Signs in over REST, doing the forced password change. */
async function restLogin(user, password, newPassword) {
  const s = await rest("POST", "/sessions", null, { user, password });
  if (s.must_change_password) {
    await rest("PUT", "/me/password", s.token, { current: password, new: newPassword });
  }
  return s.token;
}

// ---------- browser helpers ----------

async function signIn(page, user, password) {
  await page.goto(`${base}/`);
  await page.getByLabel("User").fill(user);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("navigation", { name: "Pages" }).waitFor();
}

/**
 * Runs axe-core in the page (WCAG 2.1 A/AA and best practices) and fails
 * on serious or critical violations.
 */
async function axeCheck(page, name) {
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.evaluate(axeSource);
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
      resultTypes: ["violations"],
    });
    return r.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.slice(0, 5).map((n) => `${n.target.join(" ")} ${n.failureSummary.replace(/\s+/g, " ")}`).join("\n    ")}`);
  });
  assert.deepEqual(found, [], `axe-core: accessibility violations on ${name} in ${browserName}`);
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  await axeCheck(page, name);
}

async function go(page, route) {
  await page.goto(`${base}/#/${route}`);
  await page.locator("#page-title").waitFor();
}

/** Shift+Tab (puppeteer's keyboard takes no key combinations). */
async function shiftTab(page) {
  await page.keyboard.down("Shift");
  await page.keyboard.press("Tab");
  await page.keyboard.up("Shift");
}

async function statusSays(page, re) {
  await page.locator("#status").filter({ hasText: re }).waitFor({ timeout: 10000 });
}

function seedWeak() {
  const dbs = readdirSync(data).filter((f) => /\.(db|sqlite3?)$/.test(f)).map((f) => join(data, f));
  const py = spawnSync("python3", ["-c", `
import sqlite3, sys
for path in sys.argv[1:]:
  c = sqlite3.connect(path, timeout=10)
  if c.execute("select count(*) from sqlite_master where name='okcc_dir_extensions'").fetchone()[0]:
      c.execute("insert into okcc_dir_extensions(name, scope, display_name) values ('1009', 'acme', 'Old import')")
      c.commit()
      print("seeded", path)
      break
else:
  sys.exit("no okcc_dir_extensions table in " + repr(sys.argv[1:]))
`, ...dbs], { encoding: "utf8" });
  assert.equal(py.status, 0, py.stderr);
}

const steps = [];
async function step(name, f) {
  if (skip.has(name)) {
    console.log(`- ${name}: skipped (OKCC_E2E_SKIP)`);
    return;
  }
  const t0 = Date.now();
  await f();
  steps.push(name);
  console.log(`ok ${name} (${Date.now() - t0} ms)`);
}

// ---------- the test ----------

try {
  mkdirSync(shots, { recursive: true });
  await waitReady();
  const m = out.match(/created user `([^`]+)` with the one-time password: (\S+)/);
  assert.ok(m, `no one-time admin password in the server output:\n${out}`);
  const [, adminUser, oneTime] = m;

  browser = await launch(browserName);
  const adminCtx = await browser.newContext();
  const admin = await adminCtx.newPage();
  const consoleErrors = [];
  admin.on("pageerror", (e) => consoleErrors.push(String(e)));
  admin.on("console", (msg) => {
    if (msg.type() === "error" && !/Failed to load resource/.test(msg.text())) consoleErrors.push(msg.text());
  });

  await step("sign-in", async () => {
    await admin.goto(`${base}/`);
    await admin.getByRole("heading", { name: "Sign in" }).waitFor();
    await shot(admin, "01-sign-in");
    await admin.getByLabel("User").fill(adminUser);
    await admin.getByLabel("Password", { exact: true }).fill(oneTime);
    await admin.getByRole("button", { name: "Sign in" }).click();
    // First sign-in: the API says the password must change first.
    await admin.getByRole("heading", { name: "Choose a new password" }).waitFor();
    await admin.getByLabel("Current password").fill(oneTime);
    await admin.getByLabel("New password", { exact: true }).fill(STRONG);
    await admin.getByLabel("Repeat new password").fill(STRONG);
    await admin.getByRole("button", { name: "Change password" }).click();
    await admin.getByRole("navigation", { name: "Pages" }).waitFor();
    await admin.locator("#cards").waitFor();
    const csp = (await admin.goto(`${base}/`)).headers()["content-security-policy"];
    assert.match(csp, /^default-src 'self'/);
    await admin.locator("#cards").waitFor();
    await shot(admin, "02-dashboard");
  });

  // Seed the world over REST (the console is tested on what it shows and does).
  const root = await restLogin(adminUser, STRONG, STRONG);
  await rest("POST", "/tenants", root, { id: "acme", name: "Acme Call Center" });
  for (const b of ["tenant-admin", "agent"]) await rest("POST", "/scopes/acme/roles", root, { builtin: b });
  for (const [u, role] of [["boss", "tenant-admin"], ["agent1", "agent"]]) {
    await rest("POST", "/scopes/acme/users", root, { id: u, display_name: u, password: STRONG });
    await rest("PUT", `/scopes/acme/users/${u}/roles/${role}`, root);
  }
  const boss = await restLogin("boss", STRONG, BOSS_PW);
  await restLogin("agent1", STRONG, AGENT_PW);
  await rest("POST", "/scopes/acme/extensions", root, { name: "1001", display_name: "Front desk", password: "Lantern-Quartz-Ribbon-58" });
  await rest("POST", "/tenants/acme/customers", boss, { name: "Li Lei", phones: [{ kind: "mobile", number: "13812345678" }] });
  await rest("POST", "/tenants/acme/customers", boss, { name: "Han Meimei", phones: [{ kind: "work", number: "13912345678" }] });

  await step("keyboard", async () => {
    // Keyboard only: Tab order through the sign-in form, focus visible,
    // sign in with Enter, then Tab from the top of a fresh page into the
    // main navigation and follow a link with Enter.
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    const focused = () => page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return { name: "", outline: "none" };
      const c = (el.labels?.[0] || el).cloneNode(true);
      for (const x of c.querySelectorAll("input")) x.remove();
      const st = getComputedStyle(el);
      const r = el.getBoundingClientRect();
      return {
        name: (el.getAttribute("aria-label") || c.textContent).replace(/\s+/g, " ").trim(),
        tag: el.tagName.toLowerCase(),
        inNav: !!el.closest("nav"),
        outline: parseFloat(st.outlineWidth) >= 2 ? st.outlineStyle : "none",
        onScreen: r.left >= 0 && r.top >= 0 && r.width > 0 && r.height > 0,
      };
    });
    const visibleFocus = (f) => assert.ok(f.outline !== "none" && f.onScreen, `focus is not visible on ${JSON.stringify(f)}`);
    await page.goto(`${base}/`);
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    // The form takes focus on its first field; Shift+Tab reaches the skip link.
    let f = await focused();
    assert.equal(f.name, "User", `sign-in does not focus the user field: ${JSON.stringify(f)}`);
    await shiftTab(page);
    f = await focused();
    assert.equal(f.name, "Skip to content");
    visibleFocus(f);
    const order = [];
    for (let i = 0; i < 3; i++) {
      await page.keyboard.press("Tab");
      f = await focused();
      visibleFocus(f);
      order.push(f.name);
    }
    assert.deepEqual(order, ["User", "Password", "Sign in"], "Tab order of the sign-in form");
    await shiftTab(page);
    await shiftTab(page);
    await page.keyboard.type("boss");
    await page.keyboard.press("Tab");
    await page.keyboard.type(BOSS_PW);
    await page.keyboard.press("Enter");
    await page.getByRole("navigation", { name: "Pages" }).waitFor();
    await page.locator("#page-title").waitFor();
    // A fresh page: Tab from the top goes skip link, then the navigation.
    await page.reload();
    await page.getByRole("navigation", { name: "Pages" }).waitFor();
    await page.keyboard.press("Tab");
    assert.equal((await focused()).name, "Skip to content");
    await page.keyboard.press("Tab");
    f = await focused();
    assert.ok(f.inNav && f.tag === "a", `Tab after the skip link is not in the navigation: ${JSON.stringify(f)}`);
    visibleFocus(f);
    for (let i = 0; i < 12 && f.name !== "Customers"; i++) {
      await page.keyboard.press("Tab");
      f = await focused();
      assert.ok(f.inNav, `the navigation ends before Customers: ${JSON.stringify(f)}`);
      visibleFocus(f);
    }
    assert.equal(f.name, "Customers");
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Customers", exact: true }).waitFor();
    await page.locator('tr[data-customer="Li Lei"]').waitFor();
    await ctx.close();
  });

  await step("weak-extension", async () => {
    // An extension provisioned without a secret (as older imports left
    // them) is weak: "no password is set". The API refuses to create one,
    // so the test writes it straight into the server's SQLite database
    // (the in-memory development server seeds one itself).
    if (!attach) seedWeak();
    await go(admin, "extensions");
    const weak = admin.locator('tr.weak[data-ext="1009"]');
    await weak.waitFor();
    assert.match(await weak.innerText(), /no password is set/);
    const color = await weak.locator("td").first().evaluate((td) => getComputedStyle(td).color);
    const [r, g, b] = color.match(/\d+/g).map(Number);
    assert.ok(r > 150 && g < 80 && b < 80, `weak row is not red: ${color}`);
    const strong = admin.locator('tr[data-ext="1001"]');
    assert.equal(await strong.getAttribute("class"), "");
    await shot(admin, "03-extensions");
  });

  await step("review", async () => {
    await rest("POST", "/tenants/acme/review/templates", boss, { kind: "sms", name: "welcome", text: "Welcome to Acme! Reply STOP to opt out." });
    await go(admin, "review");
    const item = admin.locator("article", { hasText: "welcome" });
    await item.waitFor();
    assert.match(await item.innerText(), /segment/);
    await shot(admin, "04-review");
    await item.getByRole("button", { name: "Approve" }).click();
    await statusSays(admin, /Approved welcome/);
    await admin.locator("article", { hasText: "welcome" }).waitFor({ state: "detached" });
  });

  await step("delete-restore", async () => {
    await go(admin, "crm");
    const row = admin.locator('tr[data-customer="Han Meimei"]');
    await row.waitFor();
    admin.once("dialog", (d) => d.accept("duplicate record"));
    await row.getByRole("button", { name: "Delete" }).click();
    await statusSays(admin, /recycle bin/);
    const binned = admin.locator('tr[data-binned="Han Meimei"]');
    await binned.waitFor();
    assert.match(await binned.innerText(), /duplicate record/);
    await shot(admin, "05-crm-recycle-bin");
    await binned.getByRole("button", { name: "Restore" }).click();
    await statusSays(admin, /Restored Han Meimei/);
    await admin.locator('tr[data-customer="Han Meimei"]').waitFor();
    assert.equal(await admin.locator('tr[data-binned="Han Meimei"]').count(), 0);
  });

  await step("reveal", async () => {
    const agentCtx = await browser.newContext();
    const agent = await agentCtx.newPage();
    await signIn(agent, "agent1", AGENT_PW);
    await go(agent, "crm");
    const row = agent.locator('tr[data-customer="Li Lei"]');
    await row.waitFor();
    const masked = await row.innerText();
    assert.ok(!masked.includes("13812345678"), `agent sees the full number before approval: ${masked}`);
    // The agent may not approve reveals: that page is not offered.
    assert.equal(await agent.getByRole("link", { name: "Reveal requests" }).count(), 0);
    agent.once("dialog", (d) => d.accept("customer asked for a callback"));
    await row.getByRole("button", { name: "Request full number" }).click();
    await statusSays(agent, /Request sent/);
    await shot(agent, "06-crm-masked");

    const bossCtx = await browser.newContext();
    const bossPage = await bossCtx.newPage();
    await signIn(bossPage, "boss", BOSS_PW);
    await go(bossPage, "reveals");
    const req = bossPage.locator("tr", { hasText: "customer asked for a callback" });
    await req.waitFor();
    await shot(bossPage, "07-reveal-requests");
    await req.getByRole("button", { name: "Approve" }).click();
    await statusSays(bossPage, /Approved/);

    await go(agent, "crm");
    const granted = agent.locator('tr[data-customer="Li Lei"]');
    await granted.getByRole("button", { name: "Open" }).click();
    await agent.locator('tr[data-customer="Li Lei"]', { hasText: "13812345678" }).waitFor();
    await agentCtx.close();
    await bossCtx.close();
  });

  await step("bans", async () => {
    await go(admin, "bans");
    await admin.getByLabel("IP address").fill("203.0.113.7");
    await admin.getByLabel("Reason").fill("e2e manual ban");
    await admin.getByRole("button", { name: "Ban", exact: true }).click();
    const row = admin.locator("tr", { hasText: "203.0.113.7" });
    await row.waitFor();
    await shot(admin, "08-bans");
    await row.getByRole("button", { name: "Unban" }).click();
    await statusSays(admin, /Unbanned 203.0.113.7/);
    await admin.locator("tr", { hasText: "203.0.113.7" }).waitFor({ state: "detached" });
  });

  await step("block-foreign", async () => {
    await go(admin, "access");
    const sw = admin.getByRole("switch", { name: /Block all foreign/ });
    assert.equal(await sw.isChecked(), false);
    await sw.check();
    await statusSays(admin, /All foreign sources are now blocked/);
    await admin.locator("label.switch .on", { hasText: "ON" }).waitFor();
    await admin.getByLabel("IP address").fill("8.8.8.8");
    await admin.getByRole("button", { name: "Explain" }).click();
    const out = admin.locator("#explain-out");
    await out.locator("table").waitFor();
    const text = await out.innerText();
    assert.match(text, /8\.8\.8\.8 \(US\)/);
    assert.match(text, /denied/);
    assert.match(text, /switch:block-foreign/);
    await shot(admin, "09-access");
    // The switch is really on: the API says so after a reload.
    await go(admin, "access");
    assert.equal(await admin.getByRole("switch", { name: /Block all foreign/ }).isChecked(), true);
    // The console itself still works from loopback.
    await admin.locator("#explain-out").waitFor({ state: "attached" });
  });

  await step("audit", async () => {
    await go(admin, "audit");
    const table = admin.locator("#audit-out table");
    await table.waitFor();
    const text = await table.innerText();
    const expected = ["auth.login", "auth.password-change", "crm.delete", "crm.restore", "number.reveal", "access.rule-change"];
    if (steps.includes("review")) expected.push("review.approve");
    if (steps.includes("bans")) expected.push("access.ban", "access.unban");
    for (const a of expected) assert.ok(text.includes(a), `audit page lacks ${a}`);
    await admin.getByLabel("Action contains").fill("crm.");
    const filtered = await table.innerText();
    assert.ok(filtered.includes("crm.restore") && !filtered.includes("auth.login"), "the action filter does not filter");
    await admin.getByLabel("Action contains").fill("");
    await admin.getByRole("button", { name: "Verify chain" }).click();
    await admin.locator("#verify-out", { hasText: "Chain intact." }).waitFor();
    const [download] = await Promise.all([
      admin.waitForEvent("download"),
      admin.getByRole("button", { name: "Export CSV" }).click(),
    ]);
    assert.match(download.suggestedFilename(), /okcc-audit-platform\.csv/);
    const csv = await downloadText(download);
    assert.ok(csv.includes("crm.restore") && csv.includes("auth.login"), `the exported CSV lacks the log: ${csv.slice(0, 300)}`);
    await shot(admin, "10-audit");
  });

  await step("users-roles-tenants", async () => {
    await go(admin, "users");
    await admin.locator("table").first().waitFor();
    await shot(admin, "11-users-roles");
    await go(admin, "tenants");
    await admin.locator("td", { hasText: "Acme Call Center" }).waitFor();
    await shot(admin, "12-tenants");
  });

  await step("totp-enrolment", async () => {
    await go(admin, "account");
    await admin.getByRole("button", { name: "Enrol an authenticator" }).click();
    await admin.locator("#totp-uri").waitFor();
    assert.match(await admin.locator("#totp-uri").innerText(), /^otpauth:\/\/totp\//);
    const modules = await admin.locator("canvas.qr").getAttribute("data-modules");
    assert.ok(Number(modules) >= 21, `no QR code drawn (${modules})`);
    await shot(admin, "13-totp-enrolment");
    const secret = await admin.locator("#totp-secret").innerText();
    await admin.getByLabel("Code from the app").fill(totp(secret, Date.now()));
    await admin.getByRole("button", { name: "Confirm" }).click();
    await statusSays(admin, /TOTP enrolled/);
    assert.equal(await admin.locator("ul.mono li").count(), 10, "ten recovery codes are shown");
    // Sign out and in again: the console now asks for the code.
    await admin.getByRole("button", { name: "Sign out" }).click();
    await admin.getByRole("heading", { name: "Sign in" }).waitFor();
    await admin.getByLabel("User").fill(adminUser);
    await admin.getByLabel("Password", { exact: true }).fill(STRONG);
    await admin.getByRole("button", { name: "Sign in" }).click();
    const code = admin.getByLabel(/Authenticator code/);
    await code.waitFor();
    // The code just used is spent (replay refused): wait for the next step.
    await sleep(30000 - (Date.now() % 30000) + 500);
    await code.fill(totp(secret, Date.now()));
    await admin.getByRole("button", { name: "Sign in" }).click();
    await admin.getByRole("navigation", { name: "Pages" }).waitFor();
  });

  assert.deepEqual(consoleErrors, [], "the console logged errors");
  console.log(`console e2e (${browserName}): screenshots in ${shots}`);
  console.log(`${browserName}: ${steps.length} passed, 0 failed`);
} catch (e) {
  console.error(`console e2e (${browserName}) FAILED: ${e.stack || e}\n--- server output ---\n${out}`);
  console.log(`${browserName}: ${steps.length} passed, 1 failed`);
  process.exitCode = 1;
} finally {
  // Close the browser (bounded), stop the server, and exit: the server's
  // pipes would otherwise keep node's event loop alive.
  if (browser) await Promise.race([browser.close(), sleep(10000)]);
  cleanup();
  process.exit(process.exitCode ?? 0);
}
