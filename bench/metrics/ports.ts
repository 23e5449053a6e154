// Metric 4: what a published port costs.
// (a) Processes and memory per published port: the daemon's whole process set (daemon, proxies, helpers)
//     with one sandbox publishing K ports, minus the same with one sandbox publishing none; Docker with its
//     default userland proxy (docker-proxy) against berth.
// (b) The data path: new TCP connections per second (wrk, `Connection: close`) through ONE published port
//     while 1, 1,000 or 5,000 ports are published. The measured port is always published last (the worst
//     case for a linear rule chain). Docker runs with --userland-proxy=false, so only its iptables rules are
//     in the path. The server is the same nginx for every system, started inside the sandbox's namespace.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LAB_NET, WORK_ROOT } from '../lib/lab.js';
import { MetricBuilder, type MetricResult } from '../lib/result.js';
import { readText, run, sleep, startDaemon, waitFor, type Daemon } from '../lib/proc.js';
import { summarize } from '../lib/stats.js';
import { killProcs, procInfo, processTree, sumRss } from '../lib/procfs.js';
import type { PublishSystem } from '../systems/types.js';
import { describe, errText, guarded, rotate, usable, type MetricContext } from './common.js';

const TARGET_PORT = 8080;
const FILLER_BASE = 30000;

/** The daemon side's process count and RSS: the median of 3 samples (a short-lived helper may be caught in one). */
async function tree(s: PublishSystem): Promise<{ count: number; rssKiB: number }> {
  const counts: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < 3; i++) {
    if (i) await sleep(300);
    const p = await s.daemonProcs();
    const t = sumRss([...p.daemon, ...p.proxies, ...p.other]);
    counts.push(t.count);
    rss.push(t.rssKiB);
  }
  return { count: summarize(counts)!.median, rssKiB: summarize(rss)!.median };
}

function nginxConf(dir: string, tag: string): string {
  const conf = join(dir, `nginx-${tag}.conf`);
  writeFileSync(
    conf,
    [
      'worker_processes 1;',
      'daemon off;',
      `pid ${join(dir, `nginx-${tag}.pid`)};`,
      `error_log ${join(dir, `nginx-${tag}.err`)} warn;`,
      'events { worker_connections 4096; }',
      'http {',
      '  access_log off;',
      `  client_body_temp_path ${dir};`,
      `  proxy_temp_path ${dir};`,
      `  fastcgi_temp_path ${dir};`,
      `  uwsgi_temp_path ${dir};`,
      `  scgi_temp_path ${dir};`,
      '  server { listen 80 reuseport; location / { return 200 "ok\\n"; } }',
      '}',
      '',
    ].join('\n'),
  );
  return conf;
}

interface DataPathState {
  fillers: number; // ports published by filler sandboxes so far
  realFillers: number; // of which the system published itself
  realSeconds: number; // and the time it took
  fillerCount: number; // filler sandboxes
  nginx?: Daemon;
}

export async function metricPorts(ctx: MetricContext, systems: PublishSystem[], berth: string[]): Promise<MetricResult> {
  const k = ctx.sizes.proxyPorts;
  const counts = ctx.sizes.portCounts;
  const b = new MetricBuilder({
    id: 'ports',
    title: '4. Cost of published ports',
    description:
      `(a) Extra processes and resident memory per published port: the daemon's processes (daemon, ` +
      `port proxies, helpers) with one sandbox publishing ${k} ports, minus the same with one sandbox ` +
      `publishing none, divided by ${k}; Docker with its default userland proxy. (b) New TCP connections per ` +
      `second through one published port (wrk -t2 -c16, \`Connection: close\`, ${ctx.sizes.wrkSeconds} s from the ` +
      `lab's outside namespace to the host address) while ${counts.join(' / ')} ports are published; the measured ` +
      `port is published last; Docker with --userland-proxy=false (its iptables rules alone). Same nginx server ` +
      `inside the sandbox for every system; conntrack flushed and a new client address before every round.`,
    systems: systems.map((s) => s.name),
    berthSystems: berth,
    command: ctx.commandFor('ports'),
  });
  b.measure('procs', `processes per published port (${k} ports)`, 'processes', 'lower');
  b.measure('rss', `resident memory per published port (${k} ports)`, 'KiB', 'lower');
  for (const n of counts) b.measure(`cps${n}`, `new connections/s through one port, ${n.toLocaleString('en-US')} published`, 'conn/s', 'higher');
  const cpsIds = counts.map((n) => `cps${n}`);
  const live = await usable(b, systems, ctx);
  const failed = new Set<PublishSystem>();

  // (a) processes and RSS per port
  try {
    for (const s of live) {
      ctx.log(`  ${s.name}: per-port cost`);
      const ok = await guarded(b, s, ctx, async () => {
        await s.start({ userlandProxy: true });
        for (let r = 0; r < Math.max(1, ctx.sizes.wrkRounds - 1); r++) {
          await s.runWithPorts('bn-p0', []);
          const t0 = await tree(s);
          await s.remove('bn-p0');
          await s.runWithPorts('bn-pk', [{ host: 21000, container: 21000, count: k }]);
          const t1 = await tree(s);
          await s.remove('bn-pk');
          b.add('procs', s.name, (t1.count - t0.count) / k);
          b.add('rss', s.name, (t1.rssKiB - t0.rssKiB) / k);
        }
        await s.stop();
      }, ['procs', 'rss']);
      if (!ok) await s.stop().catch(() => {});
    }
  } finally {
    for (const s of systems) await s.stop().catch(() => {});
  }

  // (b) data path
  const state = new Map<PublishSystem, DataPathState>();
  const dp = live;
  let clientHost = 10;
  try {
    for (const s of dp) {
      ctx.log(`  ${s.name}: data path lab`);
      const started = await guarded(b, s, ctx, async () => {
        await s.start({ userlandProxy: false });
        await describe(b, s);
      }, cpsIds);
      if (!started) failed.add(s);
      else state.set(s, { fillers: 0, fillerCount: 0, realFillers: 0, realSeconds: 0 });
    }
    for (const [ci, n] of counts.entries()) {
      const fromHere = cpsIds.slice(ci);
      for (const s of dp) {
        if (failed.has(s)) continue;
        const st = state.get(s)!;
        const ok = await guarded(b, s, ctx, async () => {
          ctx.log(`  ${s.name}: publishing ${n} ports`);
          if (st.nginx) await killProcs(processTree(st.nginx.pid), 2000);
          st.nginx = undefined;
          await s.remove('bn-target').catch(() => {});
          const need = n - 1 - st.fillers;
          let real = need;
          if (s.addRuleFillers && st.fillers + need > ctx.sizes.realPortsMax) {
            real = Math.max(0, ctx.sizes.realPortsMax - st.fillers);
            if (st.fillers + real === 0) real = 1; // a port of its own to copy the rules from
          }
          if (real > 0) {
            const t = Date.now();
            const first = FILLER_BASE + st.fillers;
            await s.runWithPorts(`bn-fill${st.fillerCount++}`, [{ host: first, container: first, count: real }]);
            st.fillers += real;
            st.realFillers += real;
            const secs = (Date.now() - t) / 1000;
            st.realSeconds += secs;
            ctx.log(`    ${real} filler ports in ${secs.toFixed(1)} s`);
          }
          if (real < need) {
            const t = Date.now();
            await s.addRuleFillers!(FILLER_BASE, FILLER_BASE + st.fillers, need - real);
            st.fillers += need - real;
            ctx.log(`    ${need - real} filler ports as copied rules in ${((Date.now() - t) / 1000).toFixed(1)} s`);
          }
          await s.runWithPorts('bn-target', [{ host: TARGET_PORT, container: 80, count: 1 }]);
          const netns = await s.netnsPath('bn-target');
          const dir = join(WORK_ROOT, 'nginx');
          await run(['mkdir', '-p', dir]);
          const tag = s.name.replace(/[^a-z0-9]/gi, '');
          const conf = nginxConf(dir, tag);
          st.nginx = startDaemon(['nsenter', `--net=${netns}`, 'nginx', '-c', conf], join(dir, 'nginx.log'));
          const url = `http://${s.publicIp}:${TARGET_PORT}/`;
          let last = '';
          try {
            await waitFor(`${s.name} published port`, async () => {
              const c = await run(s.clientCmd(['curl', '-s', '-o', '/dev/null', '-m', '1', '-w', '%{http_code}', url]), { check: false });
              last = `curl exit ${c.code}, HTTP ${c.stdout || 'none'}`;
              return c.stdout === '200';
            }, 20_000, 200);
          } catch {
            const alive = st.nginx && procInfo(st.nginx.pid) ? 'running' : 'not running';
            const err = (readText(join(dir, `nginx-${tag}.err`)) ?? '').trim().split('\n').slice(-2).join(' / ');
            throw new Error(`${url} did not answer within 20 s from the outside namespace (last: ${last}; nginx ${alive}${err ? `: ${err}` : ''})`);
          }
        }, fromHere);
        if (!ok) failed.add(s);
      }
      for (let r = 0; r < ctx.sizes.wrkRounds; r++) {
        for (const s of rotate(dp, r + n)) {
          if (failed.has(s)) continue;
          const ok = await guarded(b, s, ctx, async () => {
            // Fresh client address and empty conntrack table: no TIME_WAIT left over from earlier rounds.
            const addr = `198.18.0.${++clientHost}`;
            await run(s.clientCmd(['ip', 'addr', 'flush', 'dev', 'bnlab1']));
            await run(s.clientCmd(['ip', 'addr', 'add', `${addr}/${LAB_NET.prefix}`, 'dev', 'bnlab1']));
            await run(s.hostCmd(['conntrack', '-F']), { check: false });
            const url = `http://${s.publicIp}:${TARGET_PORT}/`;
            const res = await run(
              s.clientCmd(['wrk', '-t2', '-c16', `-d${ctx.sizes.wrkSeconds}s`, '-H', 'Connection: close', url]),
              { timeoutMs: (ctx.sizes.wrkSeconds + 30) * 1000 },
            );
            const rps = Number(res.stdout.match(/Requests\/sec:\s+([\d.]+)/)?.[1]);
            if (!Number.isFinite(rps)) throw new Error(`wrk output not understood: ${res.stdout.slice(0, 300)}`);
            const errs = res.stdout.match(/Socket errors:[^\n]*|Non-2xx[^\n]*/g);
            if (errs) b.note(`${s.name}, ${n} ports, round ${r + 1}: wrk reported ${errs.join('; ')}`);
            b.add(`cps${n}`, s.name, rps);
          }, fromHere);
          if (!ok) failed.add(s);
        }
      }
    }
    for (const s of dp) {
      const st = state.get(s);
      if (failed.has(s) || !st) continue;
      const last = counts[counts.length - 1]!;
      if (st.realFillers < st.fillers) {
        b.note(
          `${s.name}: at ${last.toLocaleString('en-US')} published ports, ${st.realFillers + 1} were published by the ` +
            `daemon itself (${st.realFillers} filler ports took ${st.realSeconds.toFixed(0)} s) and ` +
            `${(st.fillers - st.realFillers).toLocaleString('en-US')} were added as exact copies of the rules it made ` +
            `for port ${FILLER_BASE} (one iptables-restore batch, appended after its own); the measured port was ` +
            `then published by the daemon, so its rules come last.`,
        );
      } else {
        b.note(`${s.name}: all ${last.toLocaleString('en-US')} ports were published by the daemon itself (${st.fillers} filler ports in ${st.realSeconds.toFixed(1)} s).`);
      }
      if (!s.name.startsWith('docker')) continue;
      const rules = await run(s.hostCmd(['iptables-save', '-t', 'nat']), { check: false });
      const dnat = rules.stdout.split('\n').filter((l) => l.includes('-j DNAT')).length;
      b.note(`${s.name}: ${dnat} DNAT rules in its nat table at ${counts[counts.length - 1]} published ports.`);
    }
  } catch (e) {
    b.note(`data path stopped early: ${errText(e)}`);
  } finally {
    for (const st of state.values()) if (st.nginx) await killProcs(processTree(st.nginx.pid), 2000);
    for (const s of systems) await s.stop().catch(() => {});
  }
  return b.result;
}
