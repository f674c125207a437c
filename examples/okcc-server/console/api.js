// The REST API client: bearer token in sessionStorage, problem+json errors.

const KEY = "okcc.token";

/** An error answered by the API (problem+json) or by the network. */
export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || "";
    this.detail = detail || "";
  }
}

export function token() {
  return sessionStorage.getItem(KEY);
}

export function setToken(t) {
  if (t) sessionStorage.setItem(KEY, t);
  else sessionStorage.removeItem(KEY);
}

/** Called when the API says the session is gone (401). */
let onUnauthorized = () => {};
export function whenUnauthorized(f) {
  onUnauthorized = f;
}

async function request(method, path, body, raw) {
  const headers = {};
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  let payload;
  if (body instanceof Blob || body instanceof ArrayBuffer) {
    payload = body;
    headers["Content-Type"] = body.type || "application/octet-stream";
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  let resp;
  try {
    resp = await fetch(`/api/v1${path}`, { method, headers, body: payload, credentials: "omit" });
  } catch (e) {
    throw new ApiError(0, "network", `the server cannot be reached (${e.message})`);
  }
  if (!resp.ok) {
    let code = "";
    let detail = `HTTP ${resp.status}`;
    try {
      const p = await resp.json();
      code = p.code || "";
      detail = p.detail || p.title || detail;
    } catch {
      // not a problem document
    }
    if (resp.status === 401 && path !== "/sessions") onUnauthorized();
    throw new ApiError(resp.status, code, detail);
  }
  if (raw) return resp;
  if (resp.status === 204) return null;
  const text = await resp.text();
  return text ? JSON.parse(text) : null;
}

export const api = {
  get: (p) => request("GET", p),
  post: (p, b) => request("POST", p, b === undefined ? {} : b),
  postEmpty: (p) => request("POST", p),
  put: (p, b) => request("PUT", p, b),
  del: (p, b) => request("DELETE", p, b),
  raw: (method, p, b) => request(method, p, b, true),
};

/** Encodes one path segment. */
export const seg = (s) => encodeURIComponent(String(s));
