// Request generators for the API fuzz suite (350-fuzz): valid requests of every route, the same
// with one field mutated (wrong type, huge or empty string, control characters, non-ASCII,
// shell and nft metacharacters, odd numbers), raw bodies (duplicate keys, broken JSON) and
// random methods and paths. Pure: a request is data, built from fast-check choices.

import fc from "fast-check";

export interface FuzzRequest {
  method: string;
  path: string;
  /** Raw body (sent as given); undefined: no body. */
  body?: string | Buffer;
  /** How the request was made, for the failure report. */
  kind: string;
}

/** Small pools, so that requests meet each other's objects (create, then start, connect, rm...). */
export const NET_POOL = ["fz0", "fz1", "fz2"];
export const SB_POOL = ["fs0", "fs1", "fs2"];

const WEIRD_STRINGS = [
  "", " ", "\n", "a\nb", "\nnameserver 1.2.3.4", "\r\n", "\t", "\u0000", "x\u0000y", "\u007f", "é", "名前", "\u202e", "😀", "\uffff",
  "$(touch /tmp/hsa-pwn)", "`touch /tmp/hsa-pwn`", ";", "; flush ruleset", '"; flush ruleset; "', "'", "\\", "{", "}", "#", "|", "&", "*",
  "/", "..", "../../etc/passwd", "/etc", "/proc/self", "%00", "%0a", "-1", "0", "65536", "1-65535", "80/sctp", "80/tcp",
  "1.2.3.4", "10.0.0.0/8", "0.0.0.0/0", "999.1.1.1", "010.0.0.1", "::1", "fe80::1%eth0", "host-gateway", "container:fs0", "container:",
  "bridge", "host", "none", "null", "default", "p2p", "eth0", "lo", "berth0", "fz0", "fs0",
  "x".repeat(64), "x".repeat(300), "y".repeat(70_000),
];

export const mutantArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...WEIRD_STRINGS) },
  { weight: 2, arbitrary: fc.string({ maxLength: 24, unit: "binary" }) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.constantFrom(-1, 0, 1, 2 ** 31, 2 ** 32, 2 ** 53 + 2, 1e308, -1e308, 0.5, -0) },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constantFrom(null, [], {}, [null], [""], { "": "" }) },
  { weight: 1, arbitrary: fc.array(fc.constantFrom(...WEIRD_STRINGS.slice(0, 40)), { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.constantFrom("a", "80/tcp", "", "\n", "Name"), fc.constantFrom("b", "\n", "", "x"), { maxKeys: 3 }) },
);

interface Template {
  method: string;
  path: (pick: number) => string;
  query?: Record<string, string>;
  body?: (pick: number) => Record<string, unknown>;
}

const pool = (xs: string[], pick: number): string => xs[pick % xs.length]!;

function createSandboxBody(pick: number): Record<string, unknown> {
  const mode = ["bridge", "none", pool(NET_POOL, pick), "host"][pick % 4]!;
  return {
    // timeout bounds the command whatever a mutation does to its arguments (wait and logs -f end).
    Cmd: ["timeout", "3", "sleep", "2"],
    Env: ["A=b", "PATH=/usr/bin:/bin"],
    Hostname: "h1",
    ExposedPorts: { "80/tcp": {} },
    HostConfig: {
      NetworkMode: mode,
      PortBindings: { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }] },
      PublishAllPorts: false,
      Links: [],
      ExtraHosts: ["db:10.1.2.3"],
      Dns: ["192.0.2.2"],
      DnsSearch: ["corp.example"],
      DnsOptions: ["ndots:2"],
    },
    NetworkingConfig: { EndpointsConfig: { [mode]: { IPAMConfig: null, Aliases: mode.startsWith("fz") ? ["al"] : [] } } },
  };
}

const TEMPLATES: Template[] = [
  { method: "GET", path: () => "/_ping" },
  { method: "GET", path: () => "/version" },
  { method: "GET", path: () => "/networks" },
  {
    method: "POST",
    path: () => "/networks/create",
    body: (p) => ({
      Name: pool(NET_POOL, p),
      Driver: p % 5 === 0 ? "p2p" : "bridge",
      Internal: p % 3 === 0,
      IPAM: { Config: p % 2 ? [{ Subnet: `10.77.${p % 200}.0/24`, Gateway: `10.77.${p % 200}.1` }] : [] },
      Options: { "com.docker.network.bridge.enable_icc": "true" },
      Labels: { a: "b" },
    }),
  },
  { method: "POST", path: () => "/networks/prune" },
  { method: "GET", path: (p) => `/networks/${pool(NET_POOL, p)}` },
  { method: "DELETE", path: (p) => `/networks/${pool(NET_POOL, p)}` },
  {
    method: "POST",
    path: (p) => `/networks/${pool(NET_POOL, p)}/connect`,
    body: (p) => ({ Container: pool(SB_POOL, p), EndpointConfig: { IPAMConfig: { IPv4Address: "" }, Aliases: ["al2"] } }),
  },
  { method: "POST", path: (p) => `/networks/${pool(NET_POOL, p)}/disconnect`, body: (p) => ({ Container: pool(SB_POOL, p), Force: false }) },
  { method: "GET", path: () => "/containers/json", query: { all: "1" } },
  { method: "POST", path: () => "/containers/create", query: { name: "fs0" }, body: createSandboxBody },
  { method: "POST", path: (p) => `/containers/${pool(SB_POOL, p)}/start` },
  { method: "POST", path: (p) => `/containers/${pool(SB_POOL, p)}/stop`, query: { t: "1" } },
  { method: "POST", path: (p) => `/containers/${pool(SB_POOL, p)}/restart`, query: { t: "1" } },
  { method: "POST", path: (p) => `/containers/${pool(SB_POOL, p)}/kill` },
  { method: "POST", path: (p) => `/containers/${pool(SB_POOL, p)}/wait` },
  { method: "DELETE", path: (p) => `/containers/${pool(SB_POOL, p)}`, query: { force: "1" } },
  { method: "GET", path: (p) => `/containers/${pool(SB_POOL, p)}/json` },
  { method: "GET", path: (p) => `/containers/${pool(SB_POOL, p)}/logs`, query: { follow: "0" } },
  { method: "GET", path: (p) => `/containers/${pool(SB_POOL, p)}/exec-target` },
  { method: "GET", path: () => "/rules" },
  { method: "GET", path: () => "/host-services" },
  { method: "POST", path: () => "/host-services", body: (p) => ({ Spec: `fz${p % 3}.local=169.254.32.${1 + (p % 3)}:80->8500` }) },
  { method: "DELETE", path: (p) => `/host-services/fz${p % 3}.local` },
];

/** Every place in a JSON value: [] is the value itself, ["HostConfig", "Dns", 0] a nested one. */
function pathsOf(v: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [prefix];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...pathsOf(x, [...prefix, i])));
  else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) out.push(...pathsOf(x, [...prefix, k]));
  return out;
}

/** A deep copy of v with the value at path replaced (or deleted when replacement is undefined). */
function replaceAt(v: unknown, path: Array<string | number>, replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const copy = (Array.isArray(v) ? [...v] : { ...(v as Record<string, unknown>) }) as Record<string | number, unknown>;
  const [head, ...rest] = path as [string | number, ...Array<string | number>];
  if (rest.length === 0 && replacement === undefined) delete copy[head];
  else copy[head] = replaceAt(copy[head], rest, replacement);
  return copy;
}

function withQuery(path: string, q: Record<string, string> | undefined): string {
  if (!q || Object.keys(q).length === 0) return path;
  return `${path}?${new URLSearchParams(q).toString()}`;
}

/** A path segment as a client would put it in a URL (percent-encoded, since the client needs it). */
function segment(v: unknown): string {
  return encodeURIComponent(typeof v === "string" ? v : JSON.stringify(v) ?? "undefined");
}

const templateArb = fc.nat({ max: TEMPLATES.length - 1 }).map((i) => TEMPLATES[i]!);

/** A valid request of a route. */
const validArb = fc.tuple(templateArb, fc.nat(1000)).map(([t, p]): FuzzRequest => ({
  kind: "valid",
  method: t.method,
  path: withQuery(t.path(p), t.query),
  body: t.body ? JSON.stringify(t.body(p)) : undefined,
}));

/** A valid request with one field of its body replaced, removed, or an unknown one added. */
const mutatedBodyArb = fc
  .tuple(templateArb.filter((t) => t.body !== undefined), fc.nat(1000), fc.nat(), mutantArb, fc.nat(9))
  .map(([t, p, which, mutant, how]): FuzzRequest => {
    const body = t.body!(p);
    const paths = pathsOf(body);
    const at = paths[which % paths.length]!;
    const changed = how === 0 ? replaceAt(body, at, undefined) : how === 1 ? { ...body, Unknown: mutant } : replaceAt(body, at, mutant);
    return {
      kind: `body ${how === 0 ? "without" : how === 1 ? "plus Unknown" : "with"} ${JSON.stringify(at)}`,
      method: t.method,
      path: withQuery(t.path(p), t.query),
      body: JSON.stringify(changed) ?? "",
    };
  });

/** A valid request with a query value or the path's name replaced. */
const mutatedUrlArb = fc.tuple(templateArb, fc.nat(1000), mutantArb, fc.boolean()).map(([t, p, mutant, inQuery]): FuzzRequest => {
  const path = t.path(p);
  const segs = path.split("/");
  const query = { ...(t.query ?? {}) };
  const key = Object.keys(query)[0] ?? "t";
  const value = typeof mutant === "string" ? mutant : JSON.stringify(mutant) ?? "";
  let outPath = path;
  if (inQuery || segs.length < 4) query[key] = value;
  else outPath = [...segs.slice(0, 2), segment(mutant), ...segs.slice(3)].join("/");
  return { kind: inQuery ? `query ${key}` : "path name", method: t.method, path: withQuery(outPath, query), body: t.body ? JSON.stringify(t.body(p)) : undefined };
});

/** Bodies that are not what JSON.stringify makes: duplicate keys, broken JSON, other types, huge. */
const rawBodyArb = fc
  .tuple(templateArb.filter((t) => t.body !== undefined), fc.nat(1000), fc.nat(7), mutantArb)
  .map(([t, p, how, mutant]): FuzzRequest => {
    const valid = JSON.stringify(t.body!(p));
    const m = JSON.stringify(mutant) ?? "null";
    const firstKey = Object.keys(t.body!(p))[0]!;
    const bodies = [
      `{"${firstKey}":${m},${valid.slice(1)}`, // duplicate key, the valid value last
      `${valid.slice(0, -1)},"${firstKey}":${m}}`, // duplicate key, the mutant last
      valid.slice(0, Math.max(1, valid.length >> 1)), // truncated
      `${valid}${valid}`, // two documents
      m, // not an object
      `\ufeff${valid}`, // byte order mark
      Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), // not UTF-8
      JSON.stringify({ ...t.body!(p), Pad: "z".repeat(1024 * 1024) }), // over 1 MiB
    ];
    return { kind: `raw body #${how}`, method: t.method, path: withQuery(t.path(p), t.query), body: bodies[how]! };
  });

const SEGMENTS = ["networks", "containers", "create", "json", "start", "stop", "kill", "wait", "logs", "exec-target", "connect", "disconnect",
  "prune", "host-services", "rules", "version", "_ping", "v1.41", "v99", "fz0", "fs0", "bridge", "%2e%2e", "%ff", "%", "%zz", "..", ".", "", "%0a", "%00"];

/** Any method, any path. */
const randomArb = fc
  .tuple(
    fc.constantFrom("GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"),
    fc.array(fc.oneof(fc.constantFrom(...SEGMENTS), fc.string({ maxLength: 12 }).map(encodeURIComponent)), { minLength: 1, maxLength: 4 }),
    fc.option(fc.string({ maxLength: 20 }).map((s) => `?${encodeURIComponent(s)}=${encodeURIComponent(s)}`), { nil: "" }),
    fc.option(mutantArb.map((m) => JSON.stringify(m) ?? ""), { nil: undefined }),
  )
  .map(([method, segs, query, body]): FuzzRequest => ({ kind: "random", method, path: `/${segs.join("/")}${query}`, body }));

/** One line for reports (fast-check prints counterexamples with it): long bodies are cut. */
export function describeRequest(req: FuzzRequest): string {
  const body = req.body === undefined ? "" : Buffer.isBuffer(req.body) ? req.body.toString("latin1") : req.body;
  const shown = body.length > 300 ? `${body.slice(0, 300)}... (${body.length} chars)` : body;
  const path = req.path.length > 300 ? `${req.path.slice(0, 300)}... (${req.path.length} chars)` : req.path;
  return `${req.method} ${path} (${req.kind}) body=${JSON.stringify(shown)}`;
}

export const requestArb: fc.Arbitrary<FuzzRequest> = fc
  .oneof(
    { weight: 3, arbitrary: validArb },
    { weight: 5, arbitrary: mutatedBodyArb },
    { weight: 2, arbitrary: mutatedUrlArb },
    { weight: 1, arbitrary: rawBodyArb },
    { weight: 2, arbitrary: randomArb },
  )
  .map((r) => Object.assign(r, { [fc.toStringMethod]: () => describeRequest(r) }));
