// Metric 7: services (berth only: none of the peers has replicas behind a virtual IP on one host).
// (a) New TCP connections/s (wrk -t2 -c16, Connection: close) from a sandbox on the network to a
//     service's VIP with 3 replicas, against the same straight to one replica; then the same VIP
//     with N more services x 3 replicas defined, and the rule count of berth's table both times.
// (b) Failover: a replica's check starts failing (a file its --health-cmd tests appears) while
//     4 client loops open new connections to the VIP; the time from that moment to the start of
//     the last connection that still reached it. Goal: at most the check interval + timeout.
// (c) Scale: `service update --replicas 4` of a 3-replica service without a check while the loops
//     run; the time to the first connection that reaches the new replica.
// Every replica runs the same nginx, answering its hostname (so a replacement is told apart).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WORK_ROOT } from '../lib/lab.js';
import { MetricBuilder, type MetricResult } from '../lib/result.js';
import { run, sleep, waitFor } from '../lib/proc.js';
import type { BerthSystem } from '../systems/berth.js';
import { errText, guarded, usable, type MetricContext } from './common.js';

const LOOP = fileURLToPath(new URL('../lib/http-loop.js', import.meta.url));
const NET = 'bn-net';

interface Task {
  InRotation: boolean;
  Status: { ContainerStatus: { ContainerID: string } };
  NetworksAttachments: Array<{ Addresses: string[] }>;
}

interface Hit {
  t: number;
  ok: boolean;
  who: string;
}

export async function metricServices(ctx: MetricContext, sys: BerthSystem): Promise<MetricResult> {
  const n = ctx.sizes.svcCount;
  const b = new MetricBuilder({
    id: 'services',
    title: '8. Services: a VIP in front of replicas',
    description:
      `berth only (no peer runs replicas behind a virtual IP on one host). (a) New TCP connections per second ` +
      `(wrk -t2 -c16, \`Connection: close\`, ${ctx.sizes.wrkSeconds} s) from a sandbox on the network to a service VIP ` +
      `with 3 nginx replicas, and straight to one of them; then to the same VIP with ${n.toLocaleString('en-US')} more ` +
      `services x 3 replicas defined (on networks of 900 replicas: a bridge takes at most 1,024 ports); rules in berth's table both times. (b) Failover: a replica's --health-cmd ` +
      `starts failing (interval 1 s, timeout 1 s, retries 1) while 4 client loops open new connections to the VIP: ` +
      `time from the failure to the start of the last connection that still reached it. (c) Scale: 3 -> 4 replicas ` +
      `(no check) through the API while the loops run: time to the first connection that reaches the new replica.`,
    systems: [sys.name],
    berthSystems: [sys.name],
    command: ctx.commandFor('services'),
  });
  b.measure('direct', 'new connections/s straight to one replica', 'conn/s', 'higher');
  b.measure('vip', 'new connections/s through the VIP, 3 replicas', 'conn/s', 'higher');
  b.measure('vipMany', `new connections/s through the VIP, ${n.toLocaleString('en-US')} more services x 3 replicas`, 'conn/s', 'higher');
  b.measure('failover', 'replica failing its check -> no new flow reaches it', 'ms', 'lower');
  b.measure('scale', 'service scale 3 -> 4 -> the new replica takes flows', 'ms', 'lower');
  const live = await usable(b, [sys], ctx);
  if (live.length === 0) return b.result;

  const dir = join(WORK_ROOT, 'svc');
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    [
      'worker_processes 1;',
      'daemon off;',
      `error_log ${join(dir, 'nginx.err')} warn;`,
      'events { worker_connections 4096; }',
      'http {',
      '  access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir};`),
      '  server { listen 80 reuseport; location / { return 200 "$hostname\\n"; } }',
      '}',
      '',
    ].join('\n'),
  );
  // Each replica its own pid file (nginx removes it when it stops).
  const nginx = ['sh', '-c', `exec nginx -c ${conf} -g "pid ${dir}/$HOSTNAME.pid;"`];
  const create = (name: string, replicas: number, cmd: string[], health?: Record<string, unknown>, net = NET) =>
    sys.api('POST', '/services/create', {
      Name: name,
      TaskTemplate: { ContainerSpec: { Command: cmd, ...(health ? { Healthcheck: health } : {}) }, Networks: [{ Target: net }] },
      Mode: { Replicated: { Replicas: replicas } },
    });
  const tasks = async (name: string) => (await sys.api('GET', `/services/${name}/tasks`)) as Task[];
  const inRotation = (name: string, k: number) =>
    waitFor(`${name}: ${k} replicas in rotation`, async () => (await tasks(name)).filter((t) => t.InRotation).length === k, 60_000, 100);
  const vipOf = async (name: string) => ((await sys.api('GET', `/services/${name}`)) as { Endpoint: { VirtualIPs: Array<{ Addr: string }> } }).Endpoint.VirtualIPs[0]!.Addr.split('/')[0]!;
  const ruleCount = async () => {
    const out = await run(sys.hostCmd(['nft', '-j', 'list', 'table', 'inet', 'berth']));
    return (JSON.parse(out.stdout) as { nftables: Array<Record<string, unknown>> }).nftables.filter((o) => 'rule' in o).length;
  };
  const elementCount = async () => {
    const out = await run(sys.hostCmd(['nft', '-j', 'list', 'map', 'inet', 'berth', 'vip-backends']));
    return ((JSON.parse(out.stdout) as { nftables: Array<{ map?: { elem?: unknown[] } }> }).nftables.find((o) => o.map)?.map?.elem ?? []).length;
  };

  await guarded(b, sys, ctx, async () => {
    await sys.start({ userlandProxy: false });
    await sys.runWithPorts('bn-client', []);
    const clientNs = await sys.netnsPath('bn-client');
    const inClient = (argv: string[]) => ['nsenter', `--net=${clientNs}`, ...argv];
    const wrk = async (target: string): Promise<number> => {
      await run(sys.hostCmd(['conntrack', '-F']), { check: false });
      const res = await run(inClient(['wrk', '-t2', '-c16', `-d${ctx.sizes.wrkSeconds}s`, '-H', 'Connection: close', `http://${target}/`]), {
        timeoutMs: (ctx.sizes.wrkSeconds + 30) * 1000,
      });
      const rps = Number(res.stdout.match(/Requests\/sec:\s+([\d.]+)/)?.[1]);
      if (!Number.isFinite(rps)) throw new Error(`wrk output not understood: ${res.stdout.slice(0, 300)}`);
      const errs = res.stdout.match(/Socket errors:[^\n]*|Non-2xx[^\n]*/g);
      if (errs) b.note(`wrk to ${target}: ${errs.join('; ')}`);
      return rps;
    };
    const loop = (vip: string, ms: number) => run(inClient([process.execPath, LOOP, vip, String(ms), '4']), { timeoutMs: ms + 30_000 });
    const hitsOf = (stdout: string): Hit[] => stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Hit);

    // (a) one service: VIP against one replica straight
    ctx.log('  services: bn-web, 3 replicas');
    await create('bn-web', 3, nginx);
    await inRotation('bn-web', 3);
    const vip = await vipOf('bn-web');
    const direct = (await tasks('bn-web'))[0]!.NetworksAttachments[0]!.Addresses[0]!.split('/')[0]!;
    await waitFor('nginx answers through the VIP', async () => (await run(inClient(['curl', '-s', '-m', '1', `http://${vip}/`]), { check: false })).code === 0, 20_000, 200);
    for (let r = 0; r < ctx.sizes.wrkRounds; r++) {
      for (const [id, target] of r % 2 ? ([['vip', vip], ['direct', direct]] as const) : ([['direct', direct], ['vip', vip]] as const)) b.add(id, sys.name, await wrk(target));
    }
    const rules1 = await ruleCount();

    // (b) failover
    ctx.log('  services: failover');
    await create('bn-hc', 3, nginx, { Test: ['CMD-SHELL', `test ! -e ${dir}/down-$HOSTNAME`], Interval: 1e9, Timeout: 1e9, Retries: 1 });
    await inRotation('bn-hc', 3);
    const hcVip = await vipOf('bn-hc');
    // A round counts only if the victim took flows before it failed (a loaded machine can starve
    // the client loops); up to twice the rounds are tried.
    let counted = 0;
    for (let r = 0; r < 2 * ctx.sizes.failoverRounds && counted < ctx.sizes.failoverRounds; r++) {
      const running = loop(hcVip, 6000);
      await sleep(1500);
      const victim = (await tasks('bn-hc')).find((t) => t.InRotation)!.Status.ContainerStatus.ContainerID.slice(0, 12);
      const t0 = Date.now();
      writeFileSync(join(dir, `down-${victim}`), 'down');
      const hits = hitsOf((await running).stdout);
      const last = Math.max(t0, ...hits.filter((h) => h.who === victim).map((h) => h.t));
      if (!hits.some((h) => h.who === victim && h.t < t0)) b.note(`failover round ${r + 1}: the victim took no flow before failing: not counted`);
      else {
        b.add('failover', sys.name, last - t0);
        counted++;
      }
      await run(['rm', '-f', join(dir, `down-${victim}`)]);
      await inRotation('bn-hc', 3);
    }
    await sys.api('DELETE', '/services/bn-hc');

    // (c) scale 3 -> 4
    ctx.log('  services: scale');
    for (let r = 0; r < ctx.sizes.wrkRounds; r++) {
      const before = new Set((await tasks('bn-web')).map((t) => t.Status.ContainerStatus.ContainerID.slice(0, 12)));
      const running = loop(vip, 5000);
      await sleep(1000);
      const t0 = Date.now();
      await sys.api('POST', '/services/bn-web/update', { Replicas: 4 });
      const hits = hitsOf((await running).stdout);
      const first = hits.filter((h) => h.ok && h.who && !before.has(h.who) && h.t >= t0).sort((x, y) => x.t - y.t)[0];
      if (first) b.add('scale', sys.name, first.t - t0);
      else b.note(`scale round ${r + 1}: the new replica took no flow within 4 s`);
      await sys.api('POST', '/services/bn-web/update', { Replicas: 3 });
      await inRotation('bn-web', 3);
    }

    // (a) again with many services defined
    ctx.log(`  services: ${n} more services x 3 replicas`);
    const t = Date.now();
    // A Linux bridge takes at most 1024 ports: the fillers go on networks of 900 replicas each.
    const perNet = 300;
    for (let k = 0; k * perNet < n; k++) {
      await sys.api('POST', '/networks/create', { Name: `bn-fill${k}`, Driver: 'bridge', IPAM: { Config: [{ Subnet: `10.${120 + k}.0.0/16` }] } });
    }
    for (let i = 0; i < n; i++) await create(`bn-f${i}`, 3, ['sleep', '3600'], undefined, `bn-fill${Math.floor(i / perNet)}`);
    await waitFor(
      `${n} services x 3 replicas running`,
      async () => {
        const list = (await sys.api('GET', '/services')) as Array<{ ServiceStatus: { RunningTasks: number } }>;
        const running = list.reduce((s, x) => s + x.ServiceStatus.RunningTasks, 0);
        return running >= 3 * n + 3;
      },
      3_600_000,
      2000,
    );
    b.note(`${n.toLocaleString('en-US')} services x 3 replicas were defined and running in ${((Date.now() - t) / 1000).toFixed(0)} s.`);
    const rulesMany = await ruleCount();
    b.note(`rules in berth's table: ${rules1} with one service, ${rulesMany} with ${(n + 1).toLocaleString('en-US')} services (${(await elementCount()).toLocaleString('en-US')} VIP map elements).`);
    for (let r = 0; r < ctx.sizes.wrkRounds; r++) b.add('vipMany', sys.name, await wrk(vip));
  }).catch((e: unknown) => b.note(`stopped early: ${errText(e)}`));
  // The services go first: otherwise their reconciler makes again every replica stop() removes.
  const list = ((await sys.api('GET', '/services').catch(() => [])) as Array<{ ID: string }>) ?? [];
  for (const svc of list) await sys.api('DELETE', `/services/${svc.ID}`).catch(() => {});
  await sys.stop().catch(() => {});
  return b.result;
}
