// Metric 9: berth lb (HAProxy in a sandbox, kept in step with a service) under load.
// (a) requests/s through berth lb vs the same HAProxy run by hand with a static, hand-written
//     config (also in a berth sandbox behind a published port) vs straight to one replica;
// (b) failed requests and p99 under constant load while the service is scaled 3 -> 6 -> 2, a
//     replica is killed, one fails its HAProxy check, and a route is added and removed, against a
//     quiet run of the same length;
// (c) the time from a replica failing its check to HAProxy taking it out of rotation (DOWN).
// Replicas are busybox httpd (one process per connection); wrk runs in the lab's outside namespace
// (the direct run from the host namespace: the back-end network is internal).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MetricBuilder, type MetricResult } from '../lib/result.js';
import { readText, run, sleep, waitFor } from '../lib/proc.js';
import type { BerthSystem } from '../systems/berth.js';
import { errText, type MetricContext } from './common.js';

const LB = 'berth lb';
const STATIC = 'HAProxy, static config';
const DIRECT = 'one replica, direct';

interface Wrk {
  requests: number;
  failed: number;
  rps: number;
  p99: number;
}

function parseWrk(raw: string): Wrk {
  const requests = Number(/(\d+) requests in/.exec(raw)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(raw)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(raw);
  const errors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  const p = /\s99%\s+([\d.]+)(us|ms|s)\b/.exec(raw);
  const p99 = p ? Number(p[1]) * (p[2] === 'us' ? 0.001 : p[2] === 's' ? 1000 : 1) : NaN;
  return { requests, failed: non2xx + errors, rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(raw)?.[1] ?? 0), p99 };
}

function wrkArgv(url: string, seconds: number, host?: string): string[] {
  return ['wrk', '-t2', '-c32', `-d${seconds}s`, '--timeout', '5s', '--latency', ...(host ? ['-H', `Host: ${host}`] : []), url];
}

/** A replica: busybox httpd serving / and /health from a directory of its own (by hostname). */
function replicaCmd(root: string): string[] {
  const script = `d=${root}/$(hostname); mkdir -p $d; echo ok > $d/index.html; echo ok > $d/health; exec busybox httpd -f -p 80 -h $d`;
  return ['sh', '-c', script];
}

export async function metricLb(ctx: MetricContext, berth: BerthSystem): Promise<MetricResult> {
  const secs = ctx.sizes.lbSeconds;
  const b = new MetricBuilder({
    id: 'lb',
    title: '9. Load balancer: berth lb under load and while things change',
    description:
      `wrk -t2 -c32 for ${secs} s per run (keep-alive), Host app.example. A service "app" of busybox httpd replicas ` +
      `on an internal network; "berth lb" = \`berth lb create\` (HAProxy ${'2.6'} in a sandbox, port published ` +
      `through the default bridge, servers kept by berthd); "${STATIC}" = the same HAProxy binary in a berth sandbox ` +
      `with a hand-written haproxy.cfg listing the same replicas; "${DIRECT}" = wrk from the host namespace to one ` +
      `replica's address. Changes run: during one run, the service is scaled 3 -> 6 -> 2, a replica is killed, one ` +
      `fails its HAProxy check, and a route is added and removed; "failed" counts non-2xx/3xx answers and socket errors.`,
    systems: [LB, STATIC, DIRECT],
    berthSystems: [LB],
    command: ctx.commandFor('lb'),
  });
  b.measure('rps', 'requests/s, 3 replicas', 'req/s', 'higher');
  b.measure('p99quiet', 'p99 latency, quiet run', 'ms', 'lower');
  b.measure('p99churn', 'p99 latency while scaling, killing, failing a check, adding and removing a route', 'ms', 'lower');
  b.measure('failquiet', 'failed requests, quiet run', 'requests', 'lower');
  b.measure('failchurn', 'failed requests while things change', 'requests', 'lower');
  b.measure('leave', 'replica failing its check -> out of rotation (HAProxy DOWN)', 'ms', 'lower');
  const berthOnly = ['p99quiet', 'p99churn', 'failquiet', 'failchurn', 'leave'];
  b.skip(STATIC, 'static: nothing changes', berthOnly);
  b.skip(DIRECT, 'one replica: nothing to balance', berthOnly);

  const cli = async (args: string[], timeoutMs = 60_000): Promise<string> => (await run(berth.cli(args), { timeoutMs })).stdout;
  const lab = berth.lab;
  const host = lab.nsCmd.bind(lab, lab.host);
  try {
    await berth.startDaemon();
    const root = join(lab.dir, 'www');
    mkdirSync(root, { recursive: true });
    await cli(['network', 'create', '--internal', 'lbback']);
    await cli(['service', 'create', '--name', 'app', '--replicas', '3', '--network', 'lbback', '-p', '80', '--', ...replicaCmd(root)]);
    await cli(['service', 'create', '--name', 'other', '--replicas', '1', '--network', 'lbback', '-p', '80', '--', ...replicaCmd(root)]);
    await cli(['lb', 'create', 'front', '--network', 'lbback', '-p', '80:80', '--route', 'app.example=app', '--check', 'http:/health', '--stats', '/lbstats']);
    interface LbJson { Backends: Array<{ Name: string; Servers: Array<{ Name: string; Address: string; Status: string }> }> }
    const inspect = async (): Promise<LbJson> => (JSON.parse(await cli(['lb', 'inspect', 'front', '--format', 'json'])) as LbJson[])[0]!;
    const up = async (): Promise<Array<{ Name: string; Address: string }>> => (await inspect()).Backends.find((x) => x.Name === 'be_app_80')?.Servers.filter((s) => s.Status === 'UP') ?? [];
    const waitUp = (n: number) => waitFor(`${n} app servers UP`, async () => (await up()).length === n, 60_000, 200);
    await waitUp(3);
    const replicas = await up();

    // The static HAProxy: a sandbox on the bridge publishing 8081, connected to the back-end network.
    const cfg = join(lab.dir, 'static.cfg');
    writeFileSync(cfg, [
      'global', '    maxconn 4096', 'defaults', '    mode http', '    option forwardfor', '    timeout connect 2s', '    timeout client 30s', '    timeout server 30s',
      'frontend fe', '    bind :80', '    acl app req.hdr(host),host_only -m str app.example', '    use_backend be_app if app',
      'backend be_app', '    balance roundrobin', '    option httpchk GET /health',
      ...replicas.map((s) => `    server ${s.Name} ${s.Address} check inter 1s fall 2 rise 2`), '',
    ].join('\n'));
    await cli(['run', '-d', '--name', 'static', '-p', '8081:80', '--', 'haproxy', '-W', '-f', cfg]);
    await cli(['network', 'connect', 'lbback', 'static']);
    const hostIp = berth.publicIp;
    await waitFor('static haproxy answering', async () => (await run(lab.outCmd(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Host: app.example', `http://${hostIp}:8081/`]), { check: false })).stdout === '200', 20_000, 200);

    const paths: Array<[string, string[]]> = [
      [LB, lab.outCmd(wrkArgv(`http://${hostIp}/`, secs, 'app.example'))],
      [STATIC, lab.outCmd(wrkArgv(`http://${hostIp}:8081/`, secs, 'app.example'))],
      [DIRECT, host(wrkArgv(`http://${replicas[0]!.Address}/`, secs))],
    ];
    for (let round = 0; round < ctx.sizes.wrkRounds; round++) {
      for (const [name, argv] of paths) {
        const w = parseWrk((await run(argv, { timeoutMs: (secs + 30) * 1000 })).stdout);
        b.add('rps', name, w.rps);
        if (name === LB) {
          b.add('p99quiet', LB, w.p99);
          b.add('failquiet', LB, w.failed);
        }
      }
    }

    // Changes under load: events spread over the run.
    const churnSecs = Math.max(secs, 24);
    const at = (frac: number) => sleep(Math.round(churnSecs * 1000 * frac));
    const load = run(lab.outCmd(wrkArgv(`http://${hostIp}/`, churnSecs, 'app.example')), { timeoutMs: (churnSecs + 60) * 1000 });
    const events: string[] = [];
    const step = async (what: string, fn: () => Promise<unknown>) => {
      const t0 = Date.now();
      try {
        await fn();
        events.push(`${what} (${Date.now() - t0} ms)`);
      } catch (e) {
        events.push(`${what} failed: ${errText(e)}`);
      }
    };
    await at(0.08);
    await step('scale app=6', () => cli(['service', 'scale', 'app=6']));
    await waitUp(6).catch(() => undefined);
    await step('scale app=2', () => cli(['service', 'scale', 'app=2']));
    await waitUp(2).catch(() => undefined);
    await step('kill a replica', async () => {
      const j = JSON.parse(await cli(['inspect', 'app.1'])) as Array<{ State: { Pid: number } }>;
      process.kill(j[0]!.State.Pid, 'SIGKILL');
    });
    await waitUp(2).catch(() => undefined);
    let leaveMs = NaN;
    await step('a replica fails its check', async () => {
      const victim = (await up()).find((s) => s.Name === 'app.2');
      if (!victim) throw new Error('app.2 not UP');
      const hostname = (await cli(['exec', 'app.2', '--', 'hostname'])).trim();
      const t0 = Date.now();
      await run(['rm', '-f', join(root, hostname, 'health')]);
      await waitFor('app.2 DOWN', async () => !(await up()).some((s) => s.Name === 'app.2'), 30_000, 50);
      leaveMs = Date.now() - t0;
    });
    await step('route add www.example=other', () => cli(['lb', 'route', 'add', 'front', 'www.example=other']));
    await sleep(1000);
    await step('route rm www.example', () => cli(['lb', 'route', 'rm', 'front', 'www.example']));
    const churn = parseWrk((await load).stdout);
    b.add('p99churn', LB, churn.p99);
    b.add('failchurn', LB, churn.failed);
    if (Number.isFinite(leaveMs)) b.add('leave', LB, leaveMs);
    b.note(`Changes during the ${churnSecs} s run (${churn.requests} requests): ${events.join('; ')}.`);
    b.note('No change here reloads HAProxy: scaling, the killed replica, the failing check and the route added and removed all go through HAProxy\'s runtime API (a route takes a pre-declared back-end slot and a hosts.map entry). HAProxy 2.6 closes idle keep-alive client connections when an old worker stops after a reload, which can race a request (2.7 has idle-close-on-response); reloads remain only for a new port, check, stats page or a full slot pool.');
  } catch (e) {
    const state = await run(berth.cli(['lb', 'inspect', 'front']), { check: false }).catch(() => undefined);
    const ps = await run(berth.cli(['service', 'ps', 'app']), { check: false }).catch(() => undefined);
    const log = (readText(join(lab.dir, 'berthd.log')) ?? '').trim().split('\n').filter((l) => !l.includes(' debug ')).slice(-15).join('\n');
    ctx.log(`  ${LB}: failed: ${errText(e)}\n${state?.stdout ?? ''}${state?.stderr ?? ''}${ps?.stdout ?? ''}${ps?.stderr ?? ''}\nberthd.log:\n${log}`);
    b.skip(LB, `failed: ${errText(e)}`);
  } finally {
    await run(berth.cli(['lb', 'rm', 'front']), { check: false, timeoutMs: 30_000 }).catch(() => undefined);
    await run(berth.cli(['service', 'rm', 'app', 'other']), { check: false, timeoutMs: 30_000 }).catch(() => undefined);
    await berth.stop().catch(() => undefined);
  }
  return b.result;
}
