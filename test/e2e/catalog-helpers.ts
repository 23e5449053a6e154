// Helpers for the catalog suites (460-470): raw requests to the catalog with their headers, a
// Consul client over berthd's socket, and waits that fail with what they last saw.
import * as http from "node:http";
import Consul from "consul";
import type { Lab } from "./lab.js";

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  ms: number;
}

/** One request over the lab's berthd socket, with the response headers. */
export function raw(lab: Lab, method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<RawResponse> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
    const req = http.request(
      { socketPath: lab.socketPath, method, path, timeout: timeoutMs, headers: payload ? { "content-type": "application/json", "content-length": payload.length } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (b: Buffer) => chunks.push(b));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8"), ms: Date.now() - t0 }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer after ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(payload);
  });
}

export function consulIndex(r: RawResponse): number {
  return Number(r.headers["x-consul-index"]);
}

/** The npm consul client (v2), talking to berthd's unix socket (papi's socketPath option). */
export function consulClient(lab: Lab): Consul {
  return new Consul({ baseUrl: "http://berth/v1", socketPath: lab.socketPath } as unknown as ConstructorParameters<typeof Consul>[0]);
}

/** Polls `probe` until `ok` holds; fails after timeoutMs with the last value seen. */
export async function waitFor<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastErr: unknown;
  while (Date.now() < end) {
    try {
      last = await probe();
      if (ok(last)) return last;
    } catch (e) {
      lastErr = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${JSON.stringify(last)}${lastErr ? ` (error: ${String(lastErr)})` : ""}`);
}
