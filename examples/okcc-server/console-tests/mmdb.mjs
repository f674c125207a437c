// Writes a tiny MaxMind DB (IPv4 tree, 24-bit records) mapping a few
// networks to countries, so the e2e test can turn "block all foreign" on
// without shipping a GeoIP database. Format: MaxMind DB spec 2.0.

function ctrl(type, size) {
  if (size >= 29) throw new Error("mmdb: field too large for this writer");
  return type <= 7 ? [(type << 5) | size] : [size, type - 7];
}

function encode(v) {
  if (typeof v === "string") {
    const b = [...new TextEncoder().encode(v)];
    return [...ctrl(2, b.length), ...b];
  }
  if (typeof v === "number") {
    // uint32 (type 6), big-endian, minimal length
    const b = [];
    for (let x = v; x > 0; x = Math.floor(x / 256)) b.unshift(x % 256);
    return [...ctrl(6, b.length), ...b];
  }
  if (typeof v === "object" && v && v.u16 !== undefined) {
    const b = v.u16 > 255 ? [v.u16 >> 8, v.u16 & 255] : v.u16 > 0 ? [v.u16] : [];
    return [...ctrl(5, b.length), ...b];
  }
  if (typeof v === "object" && v && v.u64 !== undefined) {
    const b = [];
    for (let x = v.u64; x > 0; x = Math.floor(x / 256)) b.unshift(x % 256);
    return [...ctrl(9, b.length), ...b];
  }
  if (Array.isArray(v)) return [...ctrl(11, v.length), ...v.flatMap(encode)];
  const entries = Object.entries(v);
  return [...ctrl(7, entries.length), ...entries.flatMap(([k, x]) => [...encode(k), ...encode(x)])];
}

/**
 * `networks`: [["1.0.0.0/8", "CN"], …] (IPv4 only). Returns the file bytes.
 */
export function countryMmdb(networks, databaseType = "Test-Country") {
  // Data section: one record per country.
  const data = [];
  const offsetOf = new Map();
  for (const [, cc] of networks) {
    if (!offsetOf.has(cc)) {
      offsetOf.set(cc, data.length);
      data.push(...encode({ country: { iso_code: cc } }));
    }
  }
  // Binary trie over the prefixes.
  const nodes = [[null, null]];
  const leaves = [];
  for (const [net, cc] of networks) {
    const [addr, len] = net.split("/");
    const bits = addr.split(".").reduce((a, o) => a * 256 + Number(o), 0);
    let n = 0;
    for (let i = 0; i < Number(len); i++) {
      const bit = Math.floor(bits / 2 ** (31 - i)) % 2;
      if (i === Number(len) - 1) {
        leaves.push([n, bit, cc]);
      } else {
        if (nodes[n][bit] === null) {
          nodes.push([null, null]);
          nodes[n][bit] = nodes.length - 1;
        }
        n = nodes[n][bit];
      }
    }
  }
  const count = nodes.length;
  const recs = nodes.map((n) => n.map((c) => (c === null ? count : c)));
  for (const [n, bit, cc] of leaves) recs[n][bit] = count + 16 + offsetOf.get(cc);
  const tree = recs.flatMap(([l, r]) => [l >> 16, (l >> 8) & 255, l & 255, r >> 16, (r >> 8) & 255, r & 255]);
  const meta = encode({
    binary_format_major_version: { u16: 2 },
    binary_format_minor_version: { u16: 0 },
    build_epoch: { u64: Math.floor(Date.now() / 1000) },
    database_type: databaseType,
    description: { en: "okcc e2e test" },
    ip_version: { u16: 4 },
    languages: ["en"],
    node_count: count,
    record_size: { u16: 24 },
  });
  const marker = [0xab, 0xcd, 0xef, ...new TextEncoder().encode("MaxMind.com")];
  return Uint8Array.from([...tree, ...new Array(16).fill(0), ...data, ...marker, ...meta]);
}
