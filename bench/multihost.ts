// Multi-host measures (issue 11), in the e2e multi-host lab (3 etcd members, N berth hosts, each
// in its own namespaces) plus one single-host berth lab on the same machine, in the same run:
//
//   convergence   `POST /containers/{id}/start` on h1 -> a sandbox on h2 resolves the name AND a
//                 TCP handshake to the address is answered, timed inside h2's sandbox by a prober
//                 that queries every 5 ms (bench/multihost/prober.ts), with where the time goes:
//                 the etcd claim (its claimedAt), the watch event as a bench watcher in the
//                 underlay sees it (bench/multihost/etcd-observer.ts), each other host's berthd
//                 having FDB, neighbour and DNS in place (its "converged" debug line). Once in an
//                 empty cluster and once with hosts x sandboxes running.
//   setup         `sandboxes` per host started one after another on every host, alternating with
//                 the same number on a single-host berth (bridge network): create+start time per
//                 sandbox through the API, berthd's own phase times, etcd requests per start (gRPC
//                 counters from every member's /metrics, less the background rate of a quiet
//                 window), and the CPU used by all berthds and etcd members.
//   host death    the last host SIGKILLed with its namespaces: on every other host, when its
//                 sandbox's name stops resolving (a prober in a sandbox there) and when the FDB and
//                 neighbour entries are removed (berthd's "peers -N" line); when its node record
//                 goes from etcd. Against the lease TTL.
// One machine, one clock: every time is wall-clock ms. Writes a JSON of every raw value.
//
// Run (root): npm run build && npm run bench:multihost -- [--hosts 10] [--sandboxes 50]
//   [--converge 30] [--converge-loaded 20] [--ttl 5] [--log-level debug] [--out FILE.json]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { type Cluster, withCluster } from '../test/e2e/cluster-lab.js';
import { type Lab, withLab } from '../test/e2e/lab.js';
import { percentile } from './lib/stats.js';
import { parsePhaseLines } from './systems/berth.js';
import { CpuWindow, loadText } from './multihost/cpu.js';
import { LineProc } from './multihost/line-proc.js';
import { applyLines, convergedAt, peersRemovedAt } from './multihost/log-lines.js';
import { diffCounters, type EtcdCounters } from './multihost/prom.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..');
const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? dflt) : dflt;
};
const HOSTS = Number(arg('hosts', '3'));
const PER_HOST = Math.max(1, Number(arg('sandboxes', '10')));
const CONVERGE = Number(arg('converge', '30'));
const CONVERGE_LOADED = Number(arg('converge-loaded', '20'));
const TTL = Number(arg('ttl', '5'));
const LOG_LEVEL = arg('log-level', 'debug');
const OUT = arg('out', join(REPO, 'bench', 'out', `multihost-${HOSTS}h-${new Date().toISOString().replace(/[:.]/g, '')}.json`));

const OV_NET = 'mbov';
const OV_SUBNET = '10.40.0.0/20';
const DNS = '10.40.0.1'; // the embedded resolver listens on the gateway
const BR_NET = 'mbbr';
const BR_SUBNET = '10.41.0.0/20';
const HTTPD = ['busybox', 'httpd', '-f', '-p', '80', '-h', '/etc'];
const SLEEP = ['sleep', '3600'];

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`[multihost ${new Date().toISOString().slice(11, 19)} load ${loadText()}] ${s}\n`);

interface Stat {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}
function stat(xs: number[]): Stat | undefined {
  if (!xs.length) return undefined;
  const r = (v: number | undefined) => Math.round((v ?? NaN) * 10) / 10;
  return { n: xs.length, p50: r(percentile(xs, 50)), p90: r(percentile(xs, 90)), p99: r(percentile(xs, 99)), max: r(Math.max(...xs)) };
}
const show = (s: Stat | undefined) => (s ? `p50 ${s.p50} ms, p90 ${s.p90}, p99 ${s.p99}, max ${s.max} (n=${s.n})` : 'no values');

interface Started {
  id: string;
  tReq: number;
  tCreated: number;
  tRet: number;
}

/** create + start through the API, as `berth run -d` does it, with the times of each step. */
async function startSandbox(lab: Lab, name: string, net: string, cmd: string[]): Promise<Started> {
  const tReq = now();
  const c = await lab.api('POST', `/containers/create?name=${encodeURIComponent(name)}`, {
    Cmd: cmd,
    HostConfig: { NetworkMode: net },
    NetworkingConfig: { EndpointsConfig: { [net]: {} } },
  });
  if (c.status >= 300) throw new Error(`create ${name} on ${lab.name}: ${c.status} ${c.text}`);
  const id = c.json<{ Id: string }>().Id;
  const tCreated = now();
  const s = await lab.api('POST', `/containers/${id}/start`);
  if (s.status >= 300) throw new Error(`start ${name} on ${lab.name}: ${s.status} ${s.text}`);
  return { id, tReq, tCreated, tRet: now() };
}

async function waitNetworkEverywhere(c: Cluster, net: string): Promise<void> {
  for (const h of c.hosts) {
    for (let t = 0; (await h.api('GET', `/networks/${net}`)).status !== 200; t++) {
      if (t > 300) throw new Error(`${net} not on ${h.name} after 30 s`);
      await sleep(100);
    }
  }
}

async function prober(lab: Lab, sandbox: string, tag: string): Promise<LineProc> {
  return LineProc.start(`prober ${tag}`, await lab.sandboxNs(sandbox), join(HERE, 'multihost', 'prober.js'), [], join(lab.dir, `prober-${tag}.log`));
}

// ---- convergence ---------------------------------------------------------------------------

interface ConvergeRow {
  name: string;
  tReq: number;
  tCreated: number;
  tRet: number;
  claimedAt?: number;
  tWatch?: number;
  convB?: number;
  convAll?: number;
  convHosts: number;
  tDns?: number;
  tReach?: number;
  how?: string;
  queries?: number;
}

/** berthd's own time per change on the other hosts ("overlay: applied" lines): each phase, ms. */
function applyStats(hosts: Lab[], since: number, until: number): Record<string, Stat | undefined> {
  const lines = hosts.flatMap((h) => applyLines(h.berthdLog(), since, until));
  const names = [...new Set(lines.flatMap((l) => Object.keys(l.phases)))];
  const out: Record<string, Stat | undefined> = {};
  for (const k of names) out[`apply phase ${k}`] = stat(lines.map((l) => l.phases[k] ?? 0));
  out['apply total'] = stat(lines.map((l) => Object.values(l.phases).reduce((a, b) => a + b, 0)));
  return out;
}

async function converge(c: Cluster, observer: LineProc, probeB: LineProc, label: string, n: number): Promise<{ rows: ConvergeRow[]; apply: Record<string, Stat | undefined> }> {
  const [h1] = c.hosts as [Lab];
  const rows: ConvergeRow[] = [];
  const since = Date.now();
  for (let i = 0; i < n; i++) {
    const name = `${label}${i}`;
    probeB.send({ op: 'appear', name, server: DNS, port: 80, intervalMs: 5, timeoutMs: 30_000 });
    const answer = probeB.next((l) => l.op === 'appear' && l.name === name, 40_000);
    await sleep(30); // the prober is polling before the start is sent
    const st = await startSandbox(h1, name, OV_NET, HTTPD);
    const a = await answer;
    if (a['error']) throw new Error(`prober on h2: ${String(a['error'])}`);
    rows.push({ name, ...st, convHosts: 0, tDns: a['tDns'] as number, tReach: a['tReach'] as number, how: a['how'] as string, queries: a['queries'] as number });
    await sleep(300); // every host settles before the next one
  }
  await sleep(1000);
  const events = observer.all().filter((e) => e.op === 'event' && e['type'] === 'put' && typeof e['claimedAt'] === 'number');
  const conv = c.hosts.slice(1).map((h) => convergedAt(h.berthdLog()));
  for (const r of rows) {
    const ev = events.find((e) => e['name'] === r.name);
    r.claimedAt = ev?.['claimedAt'] as number | undefined;
    r.tWatch = ev?.['t'] as number | undefined;
    r.convB = conv[0]?.get(r.name);
    const all = conv.map((m) => m.get(r.name)).filter((t): t is number => t !== undefined);
    r.convHosts = all.length;
    if (all.length === conv.length) r.convAll = Math.max(...all);
  }
  return { rows, apply: applyStats(c.hosts.slice(1), since, Date.now()) };
}

function convergeSummary(rows: ConvergeRow[]): Record<string, Stat | undefined> {
  const d = (f: (r: ConvergeRow) => number | undefined) => rows.map(f).filter((x): x is number => x !== undefined && Number.isFinite(x));
  return {
    'start returned on h1 -> h2 resolves and reaches (goal)': stat(d((r) => (r.tReach ?? NaN) - r.tRet)),
    'start returned on h1 -> h2 resolves': stat(d((r) => (r.tDns ?? NaN) - r.tRet)),
    'create sent on h1 -> h2 resolves and reaches': stat(d((r) => (r.tReach ?? NaN) - r.tReq)),
    'create sent -> start returned (h1)': stat(d((r) => r.tRet - r.tReq)),
    'create sent -> address claimed (claimedAt)': stat(d((r) => (r.claimedAt ?? NaN) - r.tReq)),
    'claimed -> watch event at a bench watcher': stat(d((r) => (r.tWatch ?? NaN) - (r.claimedAt ?? NaN))),
    'claimed -> FDB+neighbour+DNS in place on h2': stat(d((r) => (r.convB ?? NaN) - (r.claimedAt ?? NaN))),
    'claimed -> in place on every other host': stat(d((r) => (r.convAll ?? NaN) - (r.claimedAt ?? NaN))),
    'in place on h2 -> h2 resolves': stat(d((r) => (r.tDns ?? NaN) - (r.convB ?? NaN))),
    'h2 resolves -> h2 reaches': stat(d((r) => (r.tReach ?? NaN) - (r.tDns ?? NaN))),
  };
}

// ---- setup at scale ------------------------------------------------------------------------

async function scrape(observer: LineProc, tag: string): Promise<EtcdCounters> {
  observer.send({ op: 'scrape', tag });
  const l = await observer.next((x) => x.op === 'scrape' && x['tag'] === tag, 20_000);
  return l['counters'] as EtcdCounters;
}

function perUnit(d: EtcdCounters, bg: EtcdCounters, bgSeconds: number, seconds: number, units: number): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const fam of ['handled', 'received', 'sent'] as const) {
    for (const [k, v] of Object.entries(d[fam])) {
      const background = ((bg[fam][k] ?? 0) / bgSeconds) * seconds;
      (out[fam] ??= {})[k] = Math.round(((v - background) / units) * 100) / 100;
    }
  }
  return out;
}

function sumPhases(lab: Lab, names: Set<string>): { total: number[]; reserve: number[] } {
  const total: number[] = [];
  const reserve: number[] = [];
  for (const [k, rec] of parsePhaseLines(lab.berthdLog())) {
    if (!k.startsWith('start ') || !names.has(k.slice(6))) continue;
    total.push(Object.values(rec).reduce((a, b) => a + b, 0));
    if (rec['reserve'] !== undefined) reserve.push(rec['reserve']);
  }
  return { total, reserve };
}

async function setupAtScale(c: Cluster, single: Lab, observer: LineProc) {
  const pids = () => [...c.hosts.map((h) => h.berthdPid), ...[1, 2, 3].map((i) => c.memberPid(i))];
  log('quiet window (background etcd traffic), 5 s');
  const q0 = await scrape(observer, 'quiet0');
  const tq = now();
  await sleep(5000);
  const q1 = await scrape(observer, 'quiet1');
  const bgSeconds = (now() - tq) / 1000;
  const bg = diffCounters(q1, q0);

  const clusterMs: number[] = [];
  const singleMs: number[] = [];
  const clusterNames = c.hosts.map(() => new Set<string>());
  const singleNames = new Set<string>();
  const before = await scrape(observer, 'setup0');
  const t0 = now();
  const cpu = new CpuWindow(pids);
  const singleCpu = new CpuWindow(() => [single.berthdPid]);
  for (let k = 0; k < PER_HOST; k++) {
    const order = [...c.hosts.keys(), -1];
    const r = k % order.length;
    for (const h of [...order.slice(r), ...order.slice(0, r)]) {
      if (h < 0) {
        const name = `s-${k}`;
        const st = await startSandbox(single, name, BR_NET, SLEEP);
        singleMs.push(st.tRet - st.tReq);
        singleNames.add(name);
      } else {
        const name = `h${h + 1}-${k}`;
        const st = await startSandbox(c.hosts[h]!, name, OV_NET, SLEEP);
        clusterMs.push(st.tRet - st.tReq);
        clusterNames[h]!.add(name);
      }
    }
    if (k % 10 === 9) log(`setup round ${k + 1}/${PER_HOST}`);
  }
  const seconds = (now() - t0) / 1000;
  const cpuUse = cpu.end();
  const singleCpuUse = singleCpu.end();
  await sleep(1000);
  const after = await scrape(observer, 'setup1');
  const starts = PER_HOST * c.hosts.length;
  const d = diffCounters(after, before);
  const phasesC = c.hosts.map((h, i) => sumPhases(h, clusterNames[i]!));
  const phasesS = sumPhases(single, singleNames);
  const cluster = stat(clusterMs);
  const singleS = stat(singleMs);
  return {
    starts,
    seconds,
    cluster,
    single: singleS,
    ratioP50: cluster && singleS ? Math.round((cluster.p50 / singleS.p50) * 100) / 100 : undefined,
    daemonTotalCluster: stat(phasesC.flatMap((p) => p.total)),
    daemonTotalSingle: stat(phasesS.total),
    daemonReserveCluster: stat(phasesC.flatMap((p) => p.reserve)),
    daemonReserveSingle: stat(phasesS.reserve),
    etcdPerStart: perUnit(d, bg, bgSeconds, seconds, starts),
    etcdRaw: d,
    etcdBackgroundPerSecond: perUnit(bg, bg, bgSeconds, 0, bgSeconds),
    cpu: { ...cpuUse, clusterProcsMsPerStart: Math.round(cpuUse.procMs / starts), singleBerthdMsPerStart: Math.round(singleCpuUse.procMs / PER_HOST) },
  };
}

// ---- host death ----------------------------------------------------------------------------

async function hostDeath(c: Cluster, observer: LineProc) {
  const last = c.hosts.length - 1;
  const victim = `h${last + 1}-0`;
  const survivors = c.hosts.slice(0, last);
  const probes = await Promise.all(survivors.map((h, j) => prober(h, `h${j + 1}-0`, `death-h${j + 1}`)));
  try {
    for (const p of probes) p.send({ op: 'appear', name: victim, server: DNS, port: 80, intervalMs: 20, timeoutMs: 30_000 });
    const seen = await Promise.all(probes.map((p) => p.next((l) => l.op === 'appear' && l.name === victim, 40_000)));
    const bad = seen.find((l) => l['error']);
    if (bad) throw new Error(`before the kill, ${victim} not visible: ${String(bad['error'])}`);
    await sleep(TTL * 1000); // a keepalive has certainly happened since the lab was busy
    for (const p of probes) p.send({ op: 'vanish', name: victim, server: DNS, intervalMs: 10, timeoutMs: 60_000 });
    const gone = Promise.all(probes.map((p) => p.next((l) => l.op === 'vanish' && l.name === victim, 70_000)));
    await sleep(100);
    const tKill = now();
    await c.killHost(last);
    const res = await gone;
    await sleep(500);
    const dnsGone = res.map((l) => (l['error'] ? NaN : (l['tGone'] as number) - tKill));
    const fdbGone = survivors.map((h) => (peersRemovedAt(h.berthdLog(), tKill, PER_HOST) ?? NaN) - tKill);
    const deletes = observer.all().filter((e) => e.op === 'event' && e['type'] === 'delete' && (e['t'] as number) >= tKill);
    const hostKey = deletes.find((e) => e['key'] === `/berth/hosts/h${last + 1}`);
    const epTimes = deletes.filter((e) => String(e['key']).startsWith('/berth/endpoints/')).map((e) => (e['t'] as number) - tKill);
    const applied = survivors.flatMap((h) => applyLines(h.berthdLog(), tKill, now()).filter((l) => l.phases['peers'] !== undefined));
    return {
      ttlSeconds: TTL,
      nodeRecordGoneMs: hostKey ? Math.round((hostKey['t'] as number) - tKill) : undefined,
      endpointKeysGoneMs: epTimes.length ? [Math.round(Math.min(...epTimes)), Math.round(Math.max(...epTimes))] : undefined,
      endpointKeysDeleted: epTimes.length,
      survivorsApply: applyStats(survivors, tKill, now()),
      survivorsApplyCount: applied.length,
      dnsGoneMs: dnsGone.map(Math.round),
      fdbGoneMs: fdbGone.map(Math.round),
      goneEverywhereMs: Math.round(Math.max(...dnsGone, ...fdbGone)),
    };
  } finally {
    for (const p of probes) await p.stop();
  }
}

// ---- the run -------------------------------------------------------------------------------

const report: Record<string, unknown> = {
  command: `npm run bench:multihost -- ${process.argv.slice(2).join(' ')}`.trim(),
  date: new Date().toISOString(),
  hosts: HOSTS,
  perHost: PER_HOST,
  ttl: TTL,
  logLevel: LOG_LEVEL,
  loadStart: loadText(),
};
const save = () => {
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, JSON.stringify(report, null, 2));
};

const etcdArgs = ['--quota-backend-bytes', String(256 * 2 ** 20), '--snapshot-count', '5000', '--logger', 'zap', '--log-level', 'warn'];
log(`building ${HOSTS} hosts + 3 etcd members + 1 single-host lab`);
await withLab('mbs', { berthdArgs: ['--log-level', LOG_LEVEL] }, async (single) =>
  withCluster('mb', { hosts: HOSTS, leaseTtl: TTL, berthdArgs: ['--log-level', LOG_LEVEL], etcdArgs }, async (c) => {
    report['loadBuilt'] = loadText();
    const h1 = c.hosts[0]!;
    const h2 = c.hosts[1] ?? h1;
    await h1.berthOk(['network', 'create', '-d', 'overlay', '--internal', '--subnet', OV_SUBNET, OV_NET]);
    await single.berthOk(['network', 'create', '--internal', '--subnet', BR_SUBNET, BR_NET]);
    await waitNetworkEverywhere(c, OV_NET);
    const observer = await LineProc.start('etcd observer', `/run/netns/${c.underlayNs}`, join(HERE, 'multihost', 'etcd-observer.js'), ['--endpoints', c.etcdEndpoints], join(c.dir, 'observer.log'));
    try {
      await startSandbox(h2, 'probe', OV_NET, SLEEP);
      const probeB = await prober(h2, 'probe', 'h2');
      try {
        log(`convergence, empty cluster: ${CONVERGE} sandboxes on h1, watched from h2`);
        const empty = await converge(c, observer, probeB, 'ce', CONVERGE);
        report['convergeEmpty'] = { ...convergeSummary(empty.rows), ...empty.apply };
        report['convergeEmptyRows'] = empty.rows;
        save();

        log(`setup: ${PER_HOST} sandboxes on each of ${HOSTS} hosts, alternating with ${PER_HOST} on a single-host berth`);
        report['setup'] = await setupAtScale(c, single, observer);
        save();

        if (CONVERGE_LOADED > 0) {
          log(`convergence with ${PER_HOST * HOSTS} sandboxes running: ${CONVERGE_LOADED} more on h1`);
          const loaded = await converge(c, observer, probeB, 'cl', CONVERGE_LOADED);
          report['convergeLoaded'] = { ...convergeSummary(loaded.rows), ...loaded.apply };
          report['convergeLoadedRows'] = loaded.rows;
          save();
        }
      } finally {
        await probeB.stop();
      }
      if (HOSTS >= 2) {
        log(`host death: h${HOSTS} killed, lease TTL ${TTL} s`);
        report['hostDeath'] = await hostDeath(c, observer);
      }
    } finally {
      await observer.stop();
    }
    report['loadEnd'] = loadText();
    save();
  }),
);

const print = (title: string, s: unknown) => {
  console.log(`\n${title}`);
  if (s && typeof s === 'object') for (const [k, v] of Object.entries(s)) console.log(`  ${k}: ${v && typeof v === 'object' && 'p50' in v ? show(v as Stat) : JSON.stringify(v)}`);
};
console.log(`${report['command']}  (load at start ${report['loadStart']}, built ${report['loadBuilt']}, end ${report['loadEnd']})`);
print(`convergence, ${HOSTS} hosts, empty cluster`, report['convergeEmpty']);
print(`setup, ${HOSTS} hosts x ${PER_HOST} vs single host`, report['setup']);
print(`convergence, ${HOSTS} hosts with ${HOSTS * PER_HOST} sandboxes`, report['convergeLoaded']);
print('host death', report['hostDeath']);
console.log(`\nraw values: ${OUT}`);
