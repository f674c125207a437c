// Browser drivers for the console end-to-end scenario (e2e.mjs).
//
// The scenario is written against the small part of playwright's Page /
// Locator API it needs. Chromium is driven by playwright-core itself.
// Firefox is stock Debian firefox-esr, which playwright cannot drive (it
// needs its own patched build), so puppeteer-core drives it over WebDriver
// BiDi and the classes below give it the same API: locators resolved in the
// page (role, label and text queries with playwright's matching rules),
// strict single-element actions, auto-waiting with a timeout, and real
// input events (clicks and typing go through the browser's input stack).

import { existsSync, readFileSync } from "node:fs";

const DEFAULT_TIMEOUT = 30000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Launches `name` ("chromium" or "firefox") headless and returns an object
 * with `newContext()` (an isolated cookie/storage jar with `newPage()` and
 * `close()`) and `close()`.
 */
export async function launch(name) {
  if (name === "chromium") {
    const path = process.env.CHROMIUM || "/usr/bin/chromium";
    if (!existsSync(path)) throw new Error(`no Chromium at ${path} (apt-get install chromium, or set CHROMIUM)`);
    const { chromium } = await import("playwright-core");
    return chromium.launch({ executablePath: path, headless: true, args: ["--no-sandbox"] });
  }
  if (name === "firefox") {
    const path = process.env.FIREFOX || "/usr/bin/firefox-esr";
    if (!existsSync(path)) throw new Error(`no Firefox at ${path} (apt-get install firefox-esr, or set FIREFOX)`);
    const { default: puppeteer } = await import("puppeteer-core");
    const browser = await puppeteer.launch({
      browser: "firefox",
      executablePath: path,
      headless: true,
      protocolTimeout: 60000,
      // Downloads are observed in the page (see waitForEvent); never open
      // a save dialog or write to the home directory.
      extraPrefsFirefox: { "browser.download.useDownloadDir": true, "browser.download.dir": "/dev/null" },
    });
    return new FirefoxBrowser(browser);
  }
  throw new Error(`unknown browser ${JSON.stringify(name)} (chromium or firefox)`);
}

class FirefoxBrowser {
  constructor(b) {
    this.b = b;
  }
  async newContext() {
    return new FirefoxContext(await this.b.createBrowserContext());
  }
  async close() {
    await this.b.close();
  }
}

class FirefoxContext {
  constructor(c) {
    this.c = c;
  }
  async newPage() {
    const p = await this.c.newPage();
    p.setDefaultTimeout(DEFAULT_TIMEOUT);
    return new FirefoxPage(p);
  }
  async close() {
    await this.c.close();
  }
}

/** Regular expressions cross into the page as {source, flags}. */
function enc(m) {
  if (m instanceof RegExp) return { re: m.source, flags: m.flags };
  return m === undefined ? undefined : String(m);
}

class FirefoxPage {
  constructor(p) {
    this.p = p;
    this.keyboard = p.keyboard;
  }
  on(ev, f) {
    this.p.on(ev, f);
    return this;
  }
  once(ev, f) {
    this.p.once(ev, f);
    return this;
  }
  async goto(url) {
    const r = await this.p.goto(url, { waitUntil: "load" });
    return r || { headers: () => ({}) };
  }
  async reload() {
    return this.p.reload({ waitUntil: "load" });
  }
  evaluate(f, arg) {
    return this.p.evaluate(f, arg);
  }
  screenshot(opts) {
    return this.p.screenshot(opts);
  }
  locator(sel, opts) {
    return new FirefoxLocator(this, []).locator(sel, opts);
  }
  getByRole(role, opts) {
    return new FirefoxLocator(this, []).getByRole(role, opts);
  }
  getByLabel(text, opts) {
    return new FirefoxLocator(this, []).getByLabel(text, opts);
  }
  /**
   * Only "download" is supported: the console saves files by clicking an
   * `<a download>` pointing at a blob URL. The page's URL.createObjectURL is
   * wrapped to remember its blobs, and a capturing listener records that
   * click (file name and the blob's text) and cancels the browser's save,
   * so the test sees exactly what the user would get without a save dialog
   * (the console's CSP forbids fetching blob: URLs, so the blob is read).
   */
  async waitForEvent(ev, { timeout = DEFAULT_TIMEOUT } = {}) {
    if (ev !== "download") throw new Error(`waitForEvent(${ev}) is not supported by the Firefox driver`);
    await this.p.evaluate(() => {
      window.__okccDownloads = [];
      if (window.__okccDownloadHook) return;
      window.__okccDownloadHook = true;
      const blobs = new Map();
      const create = URL.createObjectURL;
      URL.createObjectURL = (obj) => {
        const url = create(obj);
        blobs.set(url, obj);
        return url;
      };
      document.addEventListener("click", (e) => {
        const a = e.target instanceof Element ? e.target.closest("a[download]") : null;
        if (!a) return;
        e.preventDefault();
        const entry = { name: a.getAttribute("download") || "", text: null };
        window.__okccDownloads.push(entry);
        const blob = blobs.get(a.href);
        if (!blob) entry.text = `not a blob made by this page: ${a.href}`;
        else blob.text().then((t) => { entry.text = t; }, (err) => { entry.text = `unreadable blob: ${err}`; });
      }, true);
    });
    const end = Date.now() + timeout;
    for (;;) {
      const d = await this.p.evaluate(() => window.__okccDownloads.find((x) => x.text !== null) || null);
      if (d) return { suggestedFilename: () => d.name, text: async () => d.text };
      if (Date.now() > end) throw new Error(`no download within ${timeout} ms`);
      await sleep(100);
    }
  }
}

/**
 * Runs in the page: resolves a locator chain to its elements. Kept
 * self-contained (it is sent to the browser as source).
 */
function resolveChain(chain, op) {
  const norm = (s) => (s || "").replace(/\s+/g, " ").trim();
  const matches = (text, m, exact) => {
    if (m === undefined || m === null) return true;
    if (typeof m === "object") return new RegExp(m.re, m.flags).test(text);
    return exact ? text === norm(m) : text.toLowerCase().includes(norm(m).toLowerCase());
  };
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== "hidden";
  };
  const textOfLabel = (l) => {
    const c = l.cloneNode(true);
    for (const x of c.querySelectorAll("input, select, textarea")) x.remove();
    return norm(c.textContent);
  };
  const accName = (el) => {
    const by = el.getAttribute("aria-labelledby");
    if (by) return norm(by.split(/\s+/).map((id) => document.getElementById(id)?.textContent || "").join(" "));
    const al = norm(el.getAttribute("aria-label"));
    if (al) return al;
    if (el.labels && el.labels.length) return norm([...el.labels].map(textOfLabel).join(" "));
    if (el.matches("input[type=submit], input[type=button], input[type=reset]")) return norm(el.value);
    if (el.matches("input, select, textarea")) return norm(el.getAttribute("title") || el.getAttribute("placeholder"));
    return norm(el.textContent) || norm(el.getAttribute("title"));
  };
  const ROLES = {
    button: "button:not([role]), input[type=button]:not([role]), input[type=submit]:not([role]), input[type=reset]:not([role]), [role=button]",
    link: "a[href]:not([role]), [role=link]",
    heading: "h1:not([role]), h2:not([role]), h3:not([role]), h4:not([role]), h5:not([role]), h6:not([role]), [role=heading]",
    navigation: "nav:not([role]), [role=navigation]",
    switch: "[role=switch]",
    checkbox: "input[type=checkbox]:not([role]), [role=checkbox]",
    textbox: "input:not([type]):not([role]), input[type=text]:not([role]), input[type=search]:not([role]), textarea:not([role]), [role=textbox]",
  };
  let set = [document];
  for (const s of chain) {
    const next = [];
    const add = (el) => {
      if (!next.includes(el)) next.push(el);
    };
    if (s.k === "nth") {
      if (set[s.n]) next.push(set[s.n]);
    } else if (s.k === "filter") {
      for (const el of set) if (matches(norm(el.textContent), s.hasText, false)) add(el);
    } else {
      for (const root of set) {
        let found;
        if (s.k === "css") {
          found = [...root.querySelectorAll(s.sel)].filter((el) => matches(norm(el.textContent), s.hasText, false));
        } else if (s.k === "role") {
          const sel = ROLES[s.role];
          if (!sel) throw new Error(`role ${s.role} is not known to the Firefox driver`);
          found = [...root.querySelectorAll(sel)].filter((el) => visible(el) && matches(accName(el), s.name, s.exact));
        } else if (s.k === "label") {
          found = [...root.querySelectorAll("input, select, textarea, button, meter, progress, output, [aria-label], [aria-labelledby]")]
            .filter((el) => !(el.matches("input[type=hidden]")) && matches(accName(el), s.text, s.exact));
        } else {
          throw new Error(`bad locator step ${JSON.stringify(s)}`);
        }
        for (const el of found) add(el);
      }
    }
    set = next;
  }
  if (op === "stats") return { n: set.length, visible: set.filter(visible).length, what: set.slice(0, 3).map((e) => e.outerHTML.slice(0, 120)) };
  return set[0] || null;
}

class FirefoxLocator {
  constructor(page, chain) {
    this.page = page;
    this.chain = chain;
  }
  with(step) {
    return new FirefoxLocator(this.page, [...this.chain, step]);
  }
  locator(sel, opts = {}) {
    return this.with({ k: "css", sel, hasText: enc(opts.hasText) });
  }
  getByRole(role, opts = {}) {
    return this.with({ k: "role", role, name: enc(opts.name), exact: !!opts.exact });
  }
  getByLabel(text, opts = {}) {
    return this.with({ k: "label", text: enc(text), exact: !!opts.exact });
  }
  filter({ hasText }) {
    return this.with({ k: "filter", hasText: enc(hasText) });
  }
  first() {
    return this.with({ k: "nth", n: 0 });
  }
  toString() {
    return `locator ${JSON.stringify(this.chain)}`;
  }
  stats() {
    return this.page.p.evaluate(resolveChain, this.chain, "stats");
  }
  async count() {
    return (await this.stats()).n;
  }
  /** playwright's waitFor: states visible (default), hidden, attached, detached; strict. */
  async waitFor({ state = "visible", timeout = DEFAULT_TIMEOUT } = {}) {
    const end = Date.now() + timeout;
    let st;
    for (;;) {
      st = await this.stats();
      if ((state === "visible" || state === "attached") && st.n > 1) {
        throw new Error(`strict mode violation: ${this} matches ${st.n} elements: ${st.what.join(" | ")}`);
      }
      const done = { visible: st.visible === 1, attached: st.n === 1, hidden: st.visible === 0, detached: st.n === 0 }[state];
      if (done === undefined) throw new Error(`bad waitFor state ${state}`);
      if (done) return;
      if (Date.now() > end) throw new Error(`timeout ${timeout} ms waiting for ${this} to be ${state} (found ${st.n}, visible ${st.visible})`);
      await sleep(100);
    }
  }
  async handle(state = "attached") {
    await this.waitFor({ state });
    const h = (await this.page.p.evaluateHandle(resolveChain, this.chain, "one")).asElement();
    if (!h) throw new Error(`${this} vanished`);
    return h;
  }
  async click() {
    const h = await this.handle("visible");
    await h.click();
  }
  /** Focuses the field, selects its content and types over it with the keyboard. */
  async fill(value) {
    const h = await this.handle("visible");
    await h.evaluate((el) => {
      el.focus();
      if (typeof el.select === "function") el.select();
    });
    if (value === "") await this.page.keyboard.press("Backspace");
    else await this.page.keyboard.type(value);
    const now = await h.evaluate((el) => el.value);
    if (now !== value) throw new Error(`${this}: typed ${JSON.stringify(value)} but the field holds ${JSON.stringify(now)}`);
  }
  async isChecked() {
    const h = await this.handle();
    return h.evaluate((el) => (el.matches("input") ? el.checked : el.getAttribute("aria-checked") === "true"));
  }
  async check() {
    if (await this.isChecked()) return;
    await this.click();
    if (!(await this.isChecked())) throw new Error(`${this}: still unchecked after a click`);
  }
  async innerText() {
    return (await this.handle()).evaluate((el) => el.innerText);
  }
  async getAttribute(name) {
    return (await this.handle()).evaluate((el, n) => el.getAttribute(n), name);
  }
  async evaluate(f, arg) {
    return (await this.handle()).evaluate(f, arg);
  }
}

/** The content of a download (a playwright Download or the Firefox driver's). */
export async function downloadText(d) {
  if (typeof d.text === "function") return d.text();
  return readFileSync(await d.path(), "utf8");
}
