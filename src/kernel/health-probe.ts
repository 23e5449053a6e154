// The probes of a health check. TCP and HTTP probes cost no process: berthd connects to the
// sandbox's address itself (Node cannot enter a namespace, so it reaches the sandbox over its
// bridge network, or over loopback for host-mode sandboxes). A listener bound only to 127.0.0.1
// inside a sandbox is therefore not seen by these probes; a command check is. Sandboxes without
// an address berthd can reach get the same probe run by a short-lived helper in their namespace.
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { connect } from 'node:net';
import { OUTPUT_MAX } from '../model/healthcheck.js';

export interface ProbeOutcome {
  exitCode: number;
  output: string;
}

function clip(s: string): string {
  return s.length > OUTPUT_MAX ? s.slice(0, OUTPUT_MAX) : s;
}

export function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (o: ProbeOutcome) => {
      clearTimeout(timer);
      s.destroy();
      resolve(o);
    };
    const timer = setTimeout(() => done({ exitCode: -1, output: `Health check exceeded timeout (${timeoutMs}ms)` }), timeoutMs);
    s.once('connect', () => done({ exitCode: 0, output: `TCP connect to ${host}:${port} succeeded` }));
    s.once('error', (e) => done({ exitCode: 1, output: `TCP connect to ${host}:${port} failed: ${e.message}` }));
  });
}

/** HTTP GET; 2xx and 3xx pass (like Docker's `curl -f` idiom and Consul's HTTP check). */
export function httpProbe(host: string, port: number, path: string, timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (o: ProbeOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(o);
    };
    const req = request({ host, port, path, method: 'GET', agent: false, headers: { 'user-agent': 'berth-health/1', connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (body.length < OUTPUT_MAX) body += d;
      });
      res.on('end', () => {
        const code = res.statusCode ?? 0;
        done({ exitCode: code >= 200 && code < 400 ? 0 : 1, output: clip(`HTTP GET http://${host}:${port}${path}: ${code} ${res.statusMessage ?? ''}\n${body}`) });
      });
      res.on('error', (e) => done({ exitCode: 1, output: `HTTP GET ${path} failed: ${e.message}` }));
    });
    const timer = setTimeout(() => done({ exitCode: -1, output: `Health check exceeded timeout (${timeoutMs}ms)` }), timeoutMs);
    req.on('error', (e) => done({ exitCode: 1, output: `HTTP GET http://${host}:${port}${path} failed: ${e.message}` }));
    req.end();
  });
}

/**
 * Runs argv (already prefixed with nsenter ...) in its own process group; on timeout the whole
 * group is killed, so a check that forks leaves nothing behind.
 */
export function commandProbe(argv: readonly string[], env: Record<string, string>, timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const [cmd, ...args] = argv;
    const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'], env, detached: true });
    let out = '';
    let timedOut = false;
    const add = (d: Buffer) => {
      if (out.length < OUTPUT_MAX) out += d.toString('utf8');
    };
    child.stdout.on('data', add);
    child.stderr.on('data', add);
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone already */
      }
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ exitCode: 1, output: `cannot run health check: ${e.message}` });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (timedOut) return resolve({ exitCode: -1, output: `Health check exceeded timeout (${timeoutMs}ms)` });
      resolve({ exitCode: code ?? 1, output: clip(out) });
    });
  });
}

/** A node script run inside a namespace (nsenter --net) for a TCP or HTTP probe: exit 0 passes. */
export function inNamespaceProbeArgv(netnsPath: string, kind: 'TCP' | 'HTTP', port: number, path: string): string[] {
  const script =
    kind === 'TCP'
      ? "const s=require('net').connect(+process.argv[1],'127.0.0.1');s.on('connect',()=>process.exit(0));s.on('error',e=>{console.log(e.message);process.exit(1)})"
      : "require('http').get({host:'127.0.0.1',port:+process.argv[1],path:process.argv[2]},r=>{console.log(r.statusCode);process.exit(r.statusCode>=200&&r.statusCode<400?0:1)}).on('error',e=>{console.log(e.message);process.exit(1)})";
  return ['nsenter', `--net=${netnsPath}`, '--', process.execPath, '-e', script, String(port), path];
}
