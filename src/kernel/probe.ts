// The checks berthd performs for services registered in its catalog, from its own network
// namespace: a TCP connect, or an HTTP(S) request. Results in Consul's terms and wording.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tcpProbe as connectProbe } from './health-probe.js';
import type { CheckStatus } from '../model/catalog.js';

export interface ProbeResult {
  status: CheckStatus;
  output: string;
}

/** TCP connect to host:port: passing when it connects within timeoutMs (the health checks' probe, Consul's words). */
export async function tcpProbe(target: string, timeoutMs: number): Promise<ProbeResult> {
  const i = target.lastIndexOf(':');
  const r = await connectProbe(target.slice(0, i), Number(target.slice(i + 1)), timeoutMs);
  if (r.exitCode === 0) return { status: 'passing', output: `TCP connect ${target}: Success` };
  return { status: 'critical', output: r.exitCode === -1 ? `dial tcp ${target}: i/o timeout` : r.output };
}

const MAX_OUTPUT = 4096;

/** HTTP request: 2xx passing, 429 warning, anything else critical (Consul's rule). */
export function httpProbe(url: string, method: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const req = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, { method, headers: { 'User-Agent': 'Consul Health Check (berth)', Accept: 'text/plain, text/*, */*' } });
    let settled = false;
    const done = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ status: 'critical', output: `${method} ${url}: timeout after ${timeoutMs}ms` }), timeoutMs);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        if (size < MAX_OUTPUT) chunks.push(c);
        size += c.length;
      });
      res.once('end', () => {
        const code = res.statusCode ?? 0;
        const body = Buffer.concat(chunks).toString('utf8').slice(0, MAX_OUTPUT);
        const status: CheckStatus = code >= 200 && code < 300 ? 'passing' : code === 429 ? 'warning' : 'critical';
        done({ status, output: `HTTP ${method} ${url}: ${code} ${res.statusMessage ?? ''} Output: ${body}` });
      });
      res.once('error', (e) => done({ status: 'critical', output: `${method} ${url}: ${e.message}` }));
    });
    req.once('error', (e: NodeJS.ErrnoException) => done({ status: 'critical', output: `${method} ${url}: ${e.code === 'ECONNREFUSED' ? 'connection refused' : e.message}` }));
    req.end();
  });
}
