// okcc admin console: hash-routed pages over the public REST API.
// No framework and no HTML parsing: every node is built with `h()`, so text
// from the API is never parsed as markup.

import { api, ApiError, seg, setToken, token, whenUnauthorized } from "./api.js";
import { drawQr } from "./qr.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
const statusBox = document.getElementById("status");

/** The signed-in principal (`GET /api/v1/me`), or null. */
let me = null;
/** The tenant the tenant-scoped pages work on. */
let tenant = sessionStorage.getItem("okcc.tenant") || "";

// ---------- DOM helpers ----------

/** Builds an element: h("button", {onclick, class: "x"}, "text", child). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

let uid = 0;
/** A labelled input; returns [label, input]. */
function field(text, attrs) {
  const id = `f${++uid}`;
  const input = h(attrs?.tag || "input", { id, ...attrs, tag: undefined });
  return [h("label", { for: id }, text, input), input];
}

function say(text, kind) {
  statusBox.className = `status ${kind || ""}`;
  statusBox.textContent = text;
}

function fail(e) {
  const msg = e instanceof ApiError ? `${e.detail}${e.code ? ` (${e.code})` : ""}` : String(e);
  say(msg, "error");
}

/** Runs `f`, reporting errors in the status line; `ok` is said on success. */
async function act(f, ok) {
  try {
    const r = await f();
    if (ok) say(ok, "ok");
    return r;
  } catch (e) {
    fail(e);
    return undefined;
  }
}

function table(headers, rows, rowAttrs) {
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows.map((r, i) => h("tr", rowAttrs ? rowAttrs(i) : {}, r.map((c) => h("td", {}, c))))),
  );
}

/** A compact, readable form of an API value (actor, target, outcome…). */
function show(v) {
  if (v === null || v === undefined) return "";
  if (typeof v !== "object") return String(v);
  if (Array.isArray(v)) return v.map(show).join(", ");
  return Object.entries(v)
    .filter(([, x]) => x !== null && x !== undefined && x !== "")
    .map(([k, x]) => (typeof x === "object" ? `${k}: ${show(x)}` : `${k}=${x}`))
    .join(" ");
}

function can(p) {
  return !!me && me.permissions.includes(p);
}

/** The tenant scope pages work in: the user's own, or the picked one. */
function scopeTenant() {
  if (me && me.scope !== "platform") return me.scope;
  return tenant;
}

/** A tenant picker for platform users (tenant users have only their own). */
async function tenantPicker(rerender) {
  if (me.scope !== "platform") return h("p", { class: "muted" }, `Tenant: ${me.scope}`);
  let items = [];
  if (can("tenant.manage")) {
    const page = await act(() => api.get("/tenants?limit=200"));
    items = page ? page.items : [];
  }
  if (!tenant && items.length) {
    tenant = items[0].id;
    sessionStorage.setItem("okcc.tenant", tenant);
  }
  const [label, sel] = field("Tenant", { tag: "select", name: "tenant" });
  for (const t of items) sel.append(h("option", { value: t.id }, `${t.name} (${t.id})`));
  sel.value = tenant;
  sel.addEventListener("change", () => {
    tenant = sel.value;
    sessionStorage.setItem("okcc.tenant", tenant);
    rerender();
  });
  return h("div", { class: "row" }, label);
}

// ---------- pages ----------

const PAGES = [
  { id: "dashboard", title: "Dashboard", perms: [], render: dashboard },
  { id: "extensions", title: "Extensions", perms: ["extension.manage"], render: extensions },
  { id: "access", title: "Access rules", perms: ["access.edit"], render: access },
  { id: "bans", title: "Bans", perms: ["ban.manage"], render: bans },
  { id: "review", title: "Review", perms: ["review.read"], render: review },
  { id: "crm", title: "Customers", perms: ["crm.read"], render: crm },
  { id: "reveals", title: "Reveal requests", perms: ["number.reveal.approve"], render: reveals },
  { id: "audit", title: "Audit log", perms: ["audit.read"], render: audit },
  { id: "users", title: "Users & roles", perms: ["user.manage", "role.manage"], render: users },
  { id: "tenants", title: "Tenants", perms: ["tenant.manage"], render: tenants },
  { id: "account", title: "My account", perms: [], render: account },
];

function allowed(page) {
  return page.perms.length === 0 || page.perms.some(can);
}

function renderNav(current) {
  nav.replaceChildren(
    ...PAGES.filter(allowed).map((p) =>
      h("a", { href: `#/${p.id}`, "aria-current": p.id === current ? "page" : undefined }, p.title),
    ),
  );
  nav.hidden = false;
  who.replaceChildren(
    `${me.user} · ${me.scope}`,
    h("button", { class: "secondary", type: "button", onclick: logout }, "Sign out"),
  );
}

async function logout() {
  await api.del("/sessions/current").catch(() => {});
  setToken(null);
  me = null;
  navigate("#/login");
}

async function loadMe() {
  me = await api.get("/me");
  return me;
}

/** Goes to `hash`, rendering even when the browser is already there. */
function navigate(hash) {
  if (location.hash === hash) route(true);
  else location.hash = hash;
}

/** Counts renders, so a slow page never draws over a newer one. */
let renders = 0;

/** Renders the page of the current hash; `clear` empties the status line. */
async function route(clear) {
  const my = ++renders;
  const name = (location.hash.replace(/^#\/?/, "").split("?")[0] || "dashboard").split("/")[0];
  if (clear) say("");
  if (!token()) {
    nav.hidden = true;
    who.replaceChildren();
    return signIn();
  }
  if (!me) {
    try {
      await loadMe();
    } catch (e) {
      setToken(null);
      return signIn();
    }
  }
  if (me.must_change_password) return forcedPassword();
  if (name === "login") {
    navigate("#/dashboard");
    return;
  }
  const page = PAGES.find((p) => p.id === name);
  if (!page || !allowed(page)) {
    renderNav("");
    main.replaceChildren(h("h1", {}, "Not available"), h("p", {}, "This page does not exist or your role does not allow it."));
    return;
  }
  renderNav(page.id);
  const rerender = () => route(false);
  const body = h("section", { "aria-labelledby": "page-title" });
  if (my !== renders) return;
  main.replaceChildren(h("h1", { id: "page-title" }, page.title), body);
  document.title = `${page.title} · okcc console`;
  await page.render(body, rerender);
}

whenUnauthorized(() => {
  setToken(null);
  me = null;
  say("Your session ended; please sign in again.", "error");
  navigate("#/login");
});
window.addEventListener("hashchange", () => route(true));
route(true);

// ---------- sign-in, password, TOTP ----------

function signIn() {
  document.title = "Sign in · okcc console";
  const [lu, user] = field("User", { name: "user", autocomplete: "username", required: true });
  const [lp, pw] = field("Password", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const [lt, totp] = field("Authenticator code (or recovery code)", {
    name: "totp", inputmode: "numeric", autocomplete: "one-time-code",
  });
  lt.hidden = true;
  const form = h("form", { class: "login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Sign in"), lu, lp, lt,
    h("p", {}, h("button", { type: "submit" }, "Sign in")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { user: user.value, password: pw.value };
    const code = totp.value.trim();
    if (code) {
      if (/^\d{6,8}$/.test(code)) body.totp = code;
      else body.recovery_code = code;
    }
    try {
      const s = await api.post("/sessions", body);
      setToken(s.token);
      me = null;
      pw.value = "";
      await loadMe();
      navigate("#/dashboard");
    } catch (e) {
      if (e.code === "mfa-required") {
        lt.hidden = false;
        totp.focus();
        say("Enter the code from your authenticator app.", "");
      } else fail(e);
    }
  });
  main.replaceChildren(form);
  user.focus();
}

function passwordForm(onDone) {
  const [lc, cur] = field("Current password", { type: "password", autocomplete: "current-password", required: true });
  const [ln, nw] = field("New password", { type: "password", autocomplete: "new-password", required: true });
  const [lr, rep] = field("Repeat new password", { type: "password", autocomplete: "new-password", required: true });
  const form = h("form", {}, lc, ln, lr, h("p", {}, h("button", { type: "submit" }, "Change password")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (nw.value !== rep.value) return say("The new passwords differ.", "error");
    const ok = await act(() => api.put("/me/password", { current: cur.value, new: nw.value }), "Password changed.");
    if (ok !== undefined) {
      cur.value = nw.value = rep.value = "";
      await loadMe();
      onDone();
    }
  });
  return form;
}

function forcedPassword() {
  nav.hidden = true;
  who.replaceChildren(h("button", { class: "secondary", type: "button", onclick: logout }, "Sign out"));
  main.replaceChildren(
    h("h1", {}, "Choose a new password"),
    h("p", {}, "This account must change its password before it can do anything else."),
    passwordForm(() => {
      navigate("#/dashboard");
    }),
  );
}

async function account(body) {
  body.append(h("h2", {}, "Password"), passwordForm(() => {}));
  body.append(h("h2", {}, "Two-factor sign-in (TOTP)"));
  if (me.totp_enabled) {
    body.append(h("p", {}, "TOTP is enrolled for this account."));
    return;
  }
  const area = h("div", {});
  body.append(area, h("button", {
    type: "button",
    onclick: async () => {
      const e = await act(() => api.postEmpty("/me/totp"));
      if (!e) return;
      const canvas = h("canvas", { class: "qr", role: "img", "aria-label": "QR code of the otpauth URI" });
      try {
        drawQr(canvas, e.otpauth_uri);
      } catch (err) {
        canvas.replaceWith(h("p", { class: "muted" }, `QR code unavailable: ${err.message}`));
      }
      const [lc, code] = field("Code from the app", { inputmode: "numeric", autocomplete: "one-time-code", required: true });
      const confirm = h("form", {}, lc, h("button", { type: "submit" }, "Confirm"));
      confirm.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const r = await act(() => api.post("/me/totp/confirm", { code: code.value.trim() }), "TOTP enrolled.");
        if (!r) return;
        await loadMe();
        area.replaceChildren(
          h("p", {}, "Keep these recovery codes somewhere safe; each works once:"),
          h("ul", { class: "mono" }, r.recovery_codes.map((c) => h("li", {}, c))),
        );
      });
      area.replaceChildren(
        h("p", {}, "Scan this code with an authenticator app, or type the secret in:"),
        canvas,
        h("p", {}, "Secret: ", h("span", { class: "mono", id: "totp-secret" }, e.secret)),
        h("p", {}, "URI: ", h("span", { class: "mono", id: "totp-uri" }, e.otpauth_uri)),
        confirm,
      );
      code.focus();
    },
  }, "Enrol an authenticator"));
}

// ---------- dashboard ----------

async function optional(path) {
  try {
    return await api.get(path);
  } catch (e) {
    if (e.status === 404 || e.status === 403) return null;
    throw e;
  }
}

function card(title, value, extra, cls) {
  return h("div", { class: `card ${cls || ""}` }, h("div", {}, title), h("div", { class: "n" }, value), extra || "");
}

async function dashboard(body) {
  const cards = h("div", { class: "cards", id: "cards" });
  body.append(cards);
  if (can("monitor.read")) {
    const alerts = await act(() => optional("/alerts"));
    const active = alerts?.active || [];
    cards.append(card("Active alerts", alerts ? active.length : "–", null, active.length ? "alert" : ""));
    if (active.length) {
      body.append(h("h2", {}, "Active alerts"), table(["Alert", "Details"], active.map((a) => [a.kind || a.name || a.id || "", show(a)])));
    }
    const mon = await act(() => optional("/monitor"));
    if (mon) {
      const gauges = h("div", { class: "cards", id: "gauges" });
      const label = (k) => k.replace(/_/g, " ");
      for (const [k, v] of Object.entries(mon.sample || {})) {
        if (typeof v !== "number") continue;
        if (k.endsWith("_percent")) {
          gauges.append(card(label(k), `${v.toFixed(1)} %`, h("meter", { min: 0, max: 100, low: 70, high: 90, optimum: 0, value: v, "aria-label": label(k) })));
        } else if (k.endsWith("_bytes")) {
          gauges.append(card(label(k), `${(v / 2 ** 30).toFixed(2)} GiB`));
        }
      }
      for (const k of ["http_connections", "sip_queue_depth"]) {
        if (typeof mon[k] === "number") gauges.append(card(label(k), mon[k]));
      }
      body.append(h("h2", {}, "Resources"), gauges);
    }
  }
  if (can("ban.manage")) {
    const b = await act(() => optional("/bans"));
    cards.append(card("Bans", b ? (b.items || []).length : "–"));
  }
  if (can("audit.read")) {
    const scope = me.scope;
    const page = await act(() => api.get(`/audit/events?scope=${seg(scope)}&order=newest&limit=500`));
    const items = page?.items || [];
    const isFail = (e) => e.outcome && e.outcome !== "success" && show(e.outcome) !== "success";
    // SIP: only the client's failures (outcome denied: wrong password,
    // unknown user, user mismatch); a stale nonce or a store outage is not
    // one. Registrations: bindings added, or renewed from a new address
    // (not removed; a renewal from the same address is no binding change).
    const sipFail = (e) => show(e.action) === "sip.auth-failure" && e.outcome && e.outcome.result === "denied";
    const sipReg = (e) => show(e.action) === "sip.register" && (e.detail?.binding?.text ?? "added") !== "removed";
    const failures = items.filter((e) => (show(e.action) === "auth.login" && isFail(e)) || sipFail(e)).length;
    const regs = items.filter(sipReg).length;
    cards.append(card("Failed logins (recent)", failures), card("Registrations (recent)", regs));
  }
}

// ---------- extensions ----------

async function extensions(body, rerender) {
  const scopeSel = me.scope === "platform" ? await tenantPicker(rerender) : h("span");
  const scope = me.scope === "platform" && !tenant ? "platform" : scopeTenant() || "platform";
  body.append(scopeSel, h("p", { class: "muted" }, `Scope: ${scope}. Weak passwords are shown in red with the reasons.`));
  const page = await act(() => api.get(`/scopes/${seg(scope)}/extensions?limit=200`));
  const items = page?.items || [];
  body.append(
    table(
      ["Extension", "Name", "Password"],
      items.map((x) => [
        x.name,
        x.display_name,
        x.weak ? h("span", {}, "Weak: ", h("span", { class: "weak-reasons" }, x.weak_reasons.join("; "))) : "OK",
      ]),
      (i) => ({ class: items[i].weak ? "weak" : "", "data-ext": items[i].name }),
    ),
  );
  const [ln, name] = field("Extension", { required: true, pattern: "[A-Za-z0-9._-]{1,32}" });
  const [ld, disp] = field("Display name", { required: true });
  const [lp, pw] = field("Password", { type: "password", autocomplete: "new-password", required: true });
  const form = h("form", { class: "inline", "aria-label": "New extension" }, ln, ld, lp, h("button", { type: "submit" }, "Create extension"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const ok = await act(() => api.post(`/scopes/${seg(scope)}/extensions`, { name: name.value, display_name: disp.value, password: pw.value }), "Extension created.");
    if (ok !== undefined) rerender();
  });
  body.append(h("h2", {}, "New extension"), form);
}

// ---------- access rules ----------

async function access(body, rerender) {
  const rules = await act(() => api.get("/access/rules"));
  if (!rules) return;
  const sw = h("input", { type: "checkbox", role: "switch", id: "block-foreign", checked: rules.block_foreign });
  sw.addEventListener("change", async () => {
    const r = await act(() => api.put("/access/block-foreign", { on: sw.checked }),
      sw.checked ? "All foreign sources are now blocked." : "Foreign sources are no longer blocked.");
    if (!r) sw.checked = !sw.checked;
    state.textContent = sw.checked ? "ON" : "off";
    state.className = sw.checked ? "on" : "";
  });
  const state = h("span", { class: rules.block_foreign ? "on" : "" }, rules.block_foreign ? "ON" : "off");
  body.append(h("h2", {}, "Block all foreign"),
    h("label", { class: "switch", for: "block-foreign" }, sw, "Block all foreign sources ", state));
  const [lt, text] = field("Rule file (all or nothing)", { tag: "textarea", spellcheck: "false" });
  text.value = rules.text;
  const form = h("form", {}, lt, h("button", { type: "submit" }, "Save rules"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const ok = await act(() => api.put("/access/rules", { text: text.value }), "Rules saved.");
    if (ok) rerender();
  });
  body.append(h("h2", {}, "Rules"), form);
  // Why was this IP blocked?
  const [li, ip] = field("IP address", { required: true, name: "explain-ip" });
  const out = h("div", { id: "explain-out", "aria-live": "polite" });
  const ex = h("form", { class: "inline", "aria-label": "Explain an address" }, li, h("button", { type: "submit" }, "Explain"));
  ex.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await act(() => api.get(`/access/explain?ip=${encodeURIComponent(ip.value.trim())}`));
    if (!r) return out.replaceChildren();
    out.replaceChildren(
      h("p", {}, `${r.ip}${r.country ? ` (${r.country})` : ""}; block all foreign ${r.block_foreign ? "on" : "off"}.`),
      table(["Channel", "Verdict", "Reason", "Rule"], r.channels.map((c) => [c.channel, c.verdict, c.reason, c.rule || "—"]),
        (i) => ({ class: r.channels[i].verdict === "denied" ? "weak" : "" })),
      r.login_ban ? h("p", { class: "error" }, `Web login banned by ${r.login_ban.rule} for ${r.login_ban.remaining_secs} s more (${r.login_ban.offences} offences).`) : "",
    );
  });
  body.append(h("h2", {}, "Why was this IP blocked?"), ex, out);
}

// ---------- bans ----------

async function bans(body, rerender) {
  const page = await act(() => api.get("/bans"));
  const items = page?.items || [];
  body.append(table(["Address", "Kind", "Until / remaining", "Reason", ""], items.map((b) => [
    b.ip || b.source || "",
    b.kind || b.rule || "",
    b.until || (b.remaining_secs !== undefined ? `${b.remaining_secs} s` : ""),
    b.reason || "",
    h("button", {
      type: "button", class: "danger",
      onclick: async () => {
        const ok = await act(() => api.del(`/bans/${seg(b.ip || b.source)}`), `Unbanned ${b.ip || b.source}.`);
        if (ok !== undefined) rerender();
      },
    }, "Unban"),
  ])));
  const [li, ip] = field("IP address", { required: true });
  const [ld, dur] = field("Duration (seconds)", { type: "number", min: 1, value: 3600, required: true });
  const [lr, reason] = field("Reason", { required: true });
  const form = h("form", { class: "inline", "aria-label": "Manual ban" }, li, ld, lr, h("button", { type: "submit" }, "Ban"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const ok = await act(() => api.post("/bans", { ip: ip.value.trim(), duration_secs: Number(dur.value), reason: reason.value }), "Banned.");
    if (ok !== undefined) rerender();
  });
  body.append(h("h2", {}, "Manual ban"), form);
}

// ---------- review ----------

function preview(item) {
  const c = item.content || {};
  const parts = [];
  if (c.template && typeof c.template.source === "string") {
    parts.push(h("p", { class: "muted" }, "Template:"), h("div", { class: "preview mono", "data-preview": "source" }, c.template.source));
  }
  if (typeof c.preview === "string") {
    parts.push(h("p", { class: "muted" }, item.kind === "tts" ? "Spoken as:" : "Sent as:"),
      h("div", { class: "preview", "data-preview": "rendered" }, c.preview));
  }
  if (item.segments !== undefined && item.segments !== null) {
    const info = c.info || {};
    parts.push(h("p", {}, `SMS: ${item.segments} segment(s), ${item.encoding} encoding` +
      (info.chars !== undefined ? `, ${info.chars} characters` : "")));
  }
  if (item.kind === "voice" && c.info) {
    const v = c.info;
    parts.push(h("p", {}, `${v.format}, ${v.sample_rate} Hz, ${v.channels} channel(s), ${(v.duration_ms / 1000).toFixed(1)} s, ${v.bytes} bytes`));
  }
  parts.push(h("p", { class: "muted" }, `Version ${item.version ?? "?"}, submitted by ${item.submitted_by || "?"}, status ${item.status || "?"}`));
  return parts;
}

async function review(body, rerender) {
  body.append(await tenantPicker(rerender));
  const t = scopeTenant();
  if (!t) return body.append(h("p", {}, "Create a tenant first."));
  const base = `/tenants/${seg(t)}/review`;
  const page = await act(() => api.get(`${base}/items?status=pending`));
  const items = page?.items || [];
  const list = h("div", { id: "review-items" });
  body.append(h("h2", {}, `Pending (${items.length})`), list);
  for (const summary of items) {
    const item = (await act(() => api.get(`${base}/items/${seg(summary.id)}`))) || summary;
    const kind = item.kind || summary.kind || "";
    const box = h("article", { class: "card", "data-item": item.id, "aria-label": `${kind} ${item.name || ""}` },
      h("h3", {}, `${kind}: ${item.name || item.id}`), ...preview(item));
    if (kind === "voice") {
      const audio = h("audio", { controls: true, preload: "none", "aria-label": `Voice file ${item.name || ""}` });
      box.append(audio);
      act(async () => {
        const resp = await api.raw("GET", `${base}/items/${seg(item.id)}/audio`);
        audio.src = URL.createObjectURL(await resp.blob());
      });
    }
    if (can("review.approve")) {
      const [ln, note] = field("Note", { name: "note" });
      const decide = (approve) => async () => {
        const ok = await act(() => api.post(`${base}/items/${seg(item.id)}/decision`, { approve, note: note.value }),
          approve ? `Approved ${item.name || item.id}.` : `Rejected ${item.name || item.id}.`);
        if (ok !== undefined) rerender();
      };
      box.append(h("div", { class: "row" }, ln,
        h("button", { type: "button", onclick: decide(true) }, "Approve"),
        h("button", { type: "button", class: "danger", onclick: decide(false) }, "Reject")));
    }
    list.append(box);
  }
  if (can("review.submit")) {
    const [lk, kind] = field("Kind", { tag: "select" });
    kind.append(h("option", { value: "tts" }, "TTS"), h("option", { value: "sms" }, "SMS"));
    const [ln, name] = field("Name", { required: true });
    const [lt, text] = field("Text", { tag: "textarea", required: true });
    const form = h("form", { "aria-label": "Submit a template" }, h("div", { class: "row" }, lk, ln), lt, h("button", { type: "submit" }, "Submit template"));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const ok = await act(() => api.post(`${base}/templates`, { kind: kind.value, name: name.value, text: text.value }), "Template submitted.");
      if (ok !== undefined) rerender();
    });
    const [lf, file] = field("Voice file", { type: "file", accept: "audio/*", required: true });
    const [lvn, vname] = field("Name", { required: true });
    const up = h("form", { class: "inline", "aria-label": "Upload a voice file" }, lvn, lf, h("button", { type: "submit" }, "Upload"));
    up.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = file.files[0];
      if (!f) return say("Choose a file.", "error");
      const ok = await act(() => api.raw("POST", `${base}/voice?name=${encodeURIComponent(vname.value)}`, f), "Voice file uploaded.");
      if (ok !== undefined) rerender();
    });
    body.append(h("h2", {}, "Submit a template"), form, h("h2", {}, "Upload a voice file"), up);
  }
}

// ---------- CRM ----------

async function crm(body, rerender) {
  body.append(await tenantPicker(rerender));
  const t = scopeTenant();
  if (!t) return body.append(h("p", {}, "Create a tenant first."));
  const base = `/tenants/${seg(t)}`;
  const [lq, q] = field("Name", { name: "q", type: "search" });
  const results = h("div", { id: "crm-results" });
  const search = h("form", { class: "inline", role: "search", "aria-label": "Search customers" }, lq, h("button", { type: "submit" }, "Search"));
  const load = async () => {
    const qs = q.value.trim() ? `?name=${encodeURIComponent(q.value.trim())}&limit=100` : "?limit=100";
    const page = await act(() => api.get(`${base}/customers${qs}`));
    const items = page?.items || [];
    const numbers = (c) => (c.phones || []).map((p) => `${p.kind}: ${p.number}`).join(", ");
    results.replaceChildren(table(["Name", "Company", "Numbers", ""], items.map((c) => {
      const cell = h("span", { class: "mono" }, numbers(c));
      return [
      c.name,
      c.company || "",
      cell,
      h("span", { class: "row" },
        h("button", {
          type: "button", class: "secondary",
          // Opening one record shows full numbers when a reveal was granted
          // (the server audits that view).
          onclick: async () => {
            const full = await act(() => api.get(`${base}/customers/${seg(c.id)}`));
            if (full) cell.textContent = numbers(full);
          },
        }, "Open"),
        can("number.reveal.request") ? h("button", {
          type: "button", class: "secondary",
          onclick: async () => {
            const reason = window.prompt("Why do you need the full number?", "callback");
            if (!reason) return;
            await act(() => api.post(`${base}/customers/${seg(c.id)}/reveal-requests`, { reason }), "Request sent; a supervisor must approve it.");
          },
        }, "Request full number") : "",
        can("crm.delete") ? h("button", {
          type: "button", class: "danger",
          onclick: async () => {
            const reason = window.prompt(`Delete ${c.name}? Reason:`, "");
            if (!reason) return;
            const ok = await act(() => api.del(`${base}/customers/${seg(c.id)}`, { reason }), `Moved ${c.name} to the recycle bin.`);
            if (ok !== undefined) rerender();
          },
        }, "Delete") : ""),
      ];
    }), (i) => ({ "data-customer": items[i].name })));
  };
  search.addEventListener("submit", (ev) => {
    ev.preventDefault();
    load();
  });
  body.append(search, results);
  await load();
  if (can("crm.write")) {
    const [ln, name] = field("Name", { required: true });
    const [lc, company] = field("Company");
    const [lp, phone] = field("Mobile number", { type: "tel" });
    const form = h("form", { class: "inline", "aria-label": "New customer" }, ln, lc, lp, h("button", { type: "submit" }, "Add customer"));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const input = { name: name.value, phones: phone.value ? [{ kind: "mobile", number: phone.value }] : [] };
      if (company.value) input.company = company.value;
      const ok = await act(() => api.post(`${base}/customers`, input), "Customer added.");
      if (ok !== undefined) rerender();
    });
    body.append(h("h2", {}, "New customer"), form);
  }
  if (can("crm.restore") || can("crm.purge")) {
    const bin = await act(() => api.get(`${base}/recycle-bin?limit=100`));
    const items = bin?.items || [];
    body.append(h("h2", { id: "bin" }, "Recycle bin"), table(["Name", "Deleted by", "Reason", ""], items.map((c) => {
      const cust = c;
      return [
        cust.name || "",
        c.deleted_by || "",
        c.deletion_reason || "",
        h("span", { class: "row" },
          can("crm.restore") ? h("button", {
            type: "button",
            onclick: async () => {
              const ok = await act(() => api.postEmpty(`${base}/recycle-bin/${seg(cust.id)}/restore`), `Restored ${cust.name}.`);
              if (ok !== undefined) rerender();
            },
          }, "Restore") : "",
          can("crm.purge") ? h("button", {
            type: "button", class: "danger",
            onclick: async () => {
              if (!window.confirm(`Purge ${cust.name} for good?`)) return;
              const ok = await act(() => api.del(`${base}/recycle-bin/${seg(cust.id)}`), `Purged ${cust.name}.`);
              if (ok !== undefined) rerender();
            },
          }, "Purge") : ""),
      ];
    }), (i) => ({ "data-binned": items[i].name })));
  }
}

// ---------- reveal requests ----------

async function reveals(body, rerender) {
  body.append(await tenantPicker(rerender));
  const t = scopeTenant();
  if (!t) return;
  const base = `/tenants/${seg(t)}`;
  const page = await act(() => api.get(`${base}/reveal-requests`));
  const items = page?.items || [];
  body.append(table(["Customer", "Requested by", "Reason", "Status", ""], items.map((r) => {
    const pending = show(r.state).toLowerCase().includes("pending");
    const decide = (approve) => async () => {
      const ok = await act(() => api.post(`${base}/reveal-requests/${seg(r.id)}/decision`, { approve }), approve ? "Approved." : "Refused.");
      if (ok !== undefined) rerender();
    };
    return [
      show(r.customer),
      show(r.requester),
      r.reason || "",
      typeof r.state === "string" ? r.state : Object.keys(r.state || {})[0] || "",
      pending ? h("span", { class: "row" },
        h("button", { type: "button", onclick: decide(true) }, "Approve"),
        h("button", { type: "button", class: "danger", onclick: decide(false) }, "Refuse")) : "",
    ];
  }), (i) => ({ "data-reveal": items[i].id })));
}

// ---------- audit ----------

async function audit(body) {
  const isPlatform = me.scope === "platform";
  const [ls, scope] = field("Scope", { value: isPlatform ? "platform" : me.scope, readonly: isPlatform ? undefined : true });
  const [la, actionF] = field("Action contains", { type: "search", name: "action" });
  const [lu, actorF] = field("Actor contains", { type: "search", name: "actor" });
  const [lo, outcomeF] = field("Outcome", { tag: "select", name: "outcome" });
  outcomeF.append(h("option", { value: "" }, "any"), h("option", { value: "success" }, "success"), h("option", { value: "failure" }, "failure / denied"));
  const out = h("div", { id: "audit-out" });
  let next = null;
  let rows = [];
  const render = () => {
    const a = actionF.value.toLowerCase();
    const u = actorF.value.toLowerCase();
    const o = outcomeF.value;
    const shown = rows.filter((e) =>
      (!a || show(e.action).toLowerCase().includes(a)) &&
      (!u || show(e.actor).toLowerCase().includes(u)) &&
      (!o || (o === "success") === (show(e.outcome) === "success")));
    out.replaceChildren(
      table(["Time", "Actor", "Action", "Target", "Outcome", "Source"], shown.map((e) =>
        [e.time, show(e.actor), show(e.action), show(e.target), show(e.outcome), e.source || ""])),
      next ? h("button", { type: "button", class: "secondary", onclick: () => load(true) }, "Load more") : "",
    );
  };
  const load = async (more) => {
    const cursor = more && next ? `&cursor=${encodeURIComponent(next)}` : "";
    const page = await act(() => api.get(`/audit/events?scope=${encodeURIComponent(scope.value)}&limit=200${cursor}`));
    if (!page) return;
    rows = more ? rows.concat(page.items) : page.items;
    next = page.next;
    render();
  };
  const form = h("form", { class: "inline", "aria-label": "Audit filters" }, ls, la, lu, lo, h("button", { type: "submit" }, "Show"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    load(false);
  });
  for (const f of [actionF, actorF, outcomeF]) f.addEventListener("input", render);
  const exportBtn = (fmt) => h("button", {
    type: "button", class: "secondary",
    onclick: async () => {
      const resp = await act(() => api.raw("GET", `/audit/export?scope=${encodeURIComponent(scope.value)}&format=${fmt}`));
      if (!resp) return;
      const url = URL.createObjectURL(await resp.blob());
      const a = h("a", { href: url, download: `okcc-audit-${scope.value}.${fmt}` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      say(`Exported the ${scope.value} log as ${fmt.toUpperCase()}.`, "ok");
    },
  }, `Export ${fmt.toUpperCase()}`);
  const verifyOut = h("span", { id: "verify-out", "aria-live": "polite" });
  const verify = isPlatform ? h("button", {
    type: "button",
    onclick: async () => {
      const r = await act(() => api.get("/audit/verify"));
      if (!r) return;
      verifyOut.textContent = r.intact ? "Chain intact." : `Chain BROKEN: ${show(r.report)}`;
      verifyOut.className = r.intact ? "" : "error";
    },
  }, "Verify chain") : "";
  body.append(form, h("div", { class: "row" }, exportBtn("csv"), exportBtn("jsonl"), verify, verifyOut), out);
  await load(false);
}

// ---------- users, roles, tenants ----------

async function users(body, rerender) {
  const scope = me.scope === "platform" ? (tenant || "platform") : me.scope;
  if (me.scope === "platform") {
    const [ls, sel] = field("Scope", { tag: "select" });
    sel.append(h("option", { value: "platform" }, "platform"));
    const page = can("tenant.manage") ? await act(() => api.get("/tenants?limit=200")) : null;
    for (const t of page?.items || []) sel.append(h("option", { value: t.id }, t.id));
    sel.value = scope;
    sel.addEventListener("change", () => {
      tenant = sel.value === "platform" ? "" : sel.value;
      sessionStorage.setItem("okcc.tenant", tenant);
      rerender();
    });
    body.append(h("div", { class: "row" }, ls));
  }
  const base = `/scopes/${seg(scope)}`;
  const roles = can("role.manage") ? (await act(() => api.get(`${base}/roles?limit=200`)))?.items || [] : [];
  if (can("user.manage")) {
    const page = await act(() => api.get(`${base}/users?limit=200`));
    const items = page?.items || [];
    body.append(h("h2", {}, "Users"), table(["User", "Name", "State", "Role"], items.map((u) => {
      const [lr, sel] = field(`Role for ${u.id}`, { tag: "select" });
      for (const r of roles) sel.append(h("option", { value: r.id }, r.name));
      return [
        u.id, u.display_name,
        [u.disabled ? "disabled" : "active", u.must_change_password ? "must change password" : "", u.totp_enabled ? "TOTP" : ""].filter(Boolean).join(", "),
        roles.length ? h("span", { class: "row" }, lr, h("button", {
          type: "button", class: "secondary",
          onclick: async () => { await act(() => api.put(`${base}/users/${seg(u.id)}/roles/${seg(sel.value)}`), `Assigned ${sel.value} to ${u.id}.`); },
        }, "Assign")) : "",
      ];
    })));
    const [li, id] = field("User id", { required: true });
    const [ld, dn] = field("Display name", { required: true });
    const [lp, pw] = field("Initial password", { type: "password", autocomplete: "new-password", required: true });
    const form = h("form", { class: "inline", "aria-label": "New user" }, li, ld, lp, h("button", { type: "submit" }, "Create user"));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const ok = await act(() => api.post(`${base}/users`, { id: id.value, display_name: dn.value, password: pw.value }), "User created.");
      if (ok !== undefined) rerender();
    });
    body.append(form);
  }
  if (can("role.manage")) {
    body.append(h("h2", {}, "Roles"), table(["Role", "Name", "Permissions"], roles.map((r) => [r.id, r.name, r.permissions.join(", ")])));
    const [lb, builtin] = field("Built-in role", { tag: "select" });
    for (const b of ["platform-admin", "platform-reviewer", "tenant-admin", "supervisor", "agent"]) builtin.append(h("option", { value: b }, b));
    const form = h("form", { class: "inline", "aria-label": "Add a built-in role" }, lb, h("button", { type: "submit" }, "Add role"));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const ok = await act(() => api.post(`${base}/roles`, { builtin: builtin.value }), "Role added.");
      if (ok !== undefined) rerender();
    });
    body.append(form);
  }
}

async function tenants(body, rerender) {
  const page = await act(() => api.get("/tenants?limit=200"));
  body.append(table(["Id", "Name"], (page?.items || []).map((t) => [t.id, t.name])));
  const [li, id] = field("Tenant id", { required: true });
  const [ln, name] = field("Name", { required: true });
  const form = h("form", { class: "inline", "aria-label": "New tenant" }, li, ln, h("button", { type: "submit" }, "Create tenant"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const ok = await act(() => api.post("/tenants", { id: id.value, name: name.value }), "Tenant created.");
    if (ok !== undefined) rerender();
  });
  body.append(form);
}
