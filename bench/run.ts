// Entry point: `npm run bench -- [--quick] [--only setup,seq,scale,run,ports,dns,mem,pall,services,lb,catalog,compose] [--systems ...]`.
// Installs missing packages, cleans up what an earlier run left, runs each metric in its own labs,
// and writes BENCHMARKS.md (raw results in bench/out/).
import { Command } from 'commander';
import { cpus, totalmem, loadavg } from 'node:os';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanupLeftovers, WORK_ROOT } from './lib/lab.js';
import { ensurePackages } from './lib/packages.js';
import { run } from './lib/proc.js';
import { renderMarkdown, METRIC_ORDER, type Machine, type RunRecord } from './lib/report.js';
import type { MetricResult } from './lib/result.js';
import { FULL, QUICK, errText, type MetricContext, type Sizes } from './metrics/common.js';
import { metricSetup, metricSequential } from './metrics/netsetup.js';
import { metricScale } from './metrics/scale.js';
import { metricRun } from './metrics/run-detached.js';
import { metricCompose } from './metrics/compose.js';
import { metricPorts } from './metrics/ports.js';
import { metricDns } from './metrics/dns.js';
import { metricMemory } from './metrics/memory.js';
import { metricPublishAll } from './metrics/publish-all.js';
import { metricServices } from './metrics/services.js';
import { metricLb } from './metrics/lb.js';
import { metricCatalog } from './metrics/catalog.js';
import { buildRootfs } from './lib/rootfs.js';
import { NetavarkSystem } from './systems/netavark.js';
import { CniSystem } from './systems/cni.js';
import { DockerSystem } from './systems/docker.js';
import { PodmanSystem } from './systems/podman.js';
import { BerthSystem } from './systems/berth.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const OUT_DIR = join(REPO, 'bench', 'out');
const SYSTEM_KEYS = ['netavark', 'cni', 'docker', 'podman', 'aardvark', 'berth'];

function log(s: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
}

async function machine(): Promise<Machine> {
  const os = readFileSync('/etc/os-release', 'utf8').match(/^PRETTY_NAME="?([^"\n]*)"?/m)?.[1] ?? 'Linux';
  const kernel = (await run(['uname', '-r'])).stdout.trim();
  const versions: Record<string, string> = {};
  const head = await run(['git', '-C', REPO, 'rev-parse', '--short', 'HEAD'], { check: false });
  const dirty = await run(['git', '-C', REPO, 'status', '--porcelain', '--', 'src', 'bin'], { check: false });
  versions.berth = `${head.stdout.trim() || 'unknown'}${dirty.stdout.trim() ? ' (+ uncommitted changes in src/)' : ''}`;
  for (const p of ['docker.io', 'netavark', 'aardvark-dns', 'containernetworking-plugins', 'podman', 'runc', 'dnsperf', 'wrk', 'nginx-light']) {
    const v = await run(['dpkg-query', '-W', '-f', '${Version}', p], { check: false });
    if (v.code === 0) versions[p] = v.stdout.trim();
  }
  return {
    versions,
    os,
    kernel,
    cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
    cores: cpus().length,
    memGiB: Math.round(totalmem() / 2 ** 30),
    loadStart: loadavg().map((x) => x.toFixed(2)).join(' '),
  };
}

/**
 * A copy of the built berth (bin/, libexec/, dist/src/, dist/berth-*, package.json; node_modules linked), so that a rebuild of the
 * working tree during the run cannot change or break the berth being measured.
 */
function snapshotBerth(): string {
  const dir = join(WORK_ROOT, 'berth-build');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'dist'), { recursive: true });
  // verbatimSymlinks: bin/berth links to ../dist/berth-cli.cjs, which must mean the copy's bundle.
  for (const d of ['bin', 'libexec']) {
    if (existsSync(join(REPO, d))) cpSync(join(REPO, d), join(dir, d), { recursive: true, verbatimSymlinks: true });
  }
  if (existsSync(join(REPO, 'dist', 'src'))) cpSync(join(REPO, 'dist', 'src'), join(dir, 'dist', 'src'), { recursive: true });
  // The CLI: its launcher, bundles and code cache (dist/berth-cli.cjs, berth-cli-main.*, berth-template.cjs).
  for (const f of readdirSync(join(REPO, 'dist'))) if (f.startsWith('berth-')) cpSync(join(REPO, 'dist', f), join(dir, 'dist', f));
  cpSync(join(REPO, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

interface Options {
  quick?: boolean;
  only?: string;
  systems?: string;
  out: string;
  set: string[];
  install: boolean;
}

async function main(): Promise<void> {
  const program = new Command()
    .name('npm run bench --')
    .description('Measure berth against netavark, CNI plugins, Docker, podman and aardvark-dns in lab namespaces.')
    .option('--quick', 'tiny sizes (a couple of minutes), to check the harness')
    .option('--only <metrics>', `comma-separated subset of: ${METRIC_ORDER.join(',')}`)
    .option('--systems <names>', `comma-separated subset of: ${SYSTEM_KEYS.join(',')}`)
    .option('--out <file>', 'report to write', join(REPO, 'BENCHMARKS.md'))
    .option('--set <key=value>', 'override a size (e.g. seqCount=50, wrkSeconds=5); repeatable', (v: string, acc: string[]) => [...acc, v], [])
    .option('--no-install', 'do not install missing Debian packages')
    .parse();
  const opts = program.opts<Options>();
  if (process.getuid?.() !== 0) throw new Error('the benchmarks build network namespaces: run as root');

  const sizes: Sizes = { ...(opts.quick ? QUICK : FULL) };
  for (const kv of opts.set) {
    const [k, v] = kv.split('=');
    if (!k || v === undefined || !(k in sizes)) throw new Error(`--set ${kv}: unknown size (known: ${Object.keys(sizes).join(', ')})`);
    const key = k as keyof Sizes;
    (sizes as unknown as Record<string, unknown>)[key] = key === 'portCounts' || key === 'catalogServices' ? v.split(',').map(Number) : Number(v);
  }
  const only = opts.only ? opts.only.split(',') : METRIC_ORDER;
  for (const m of only) if (!METRIC_ORDER.includes(m)) throw new Error(`--only: unknown metric ${m}`);
  const want = new Set(opts.systems ? opts.systems.split(',') : SYSTEM_KEYS);
  for (const s of want) if (!SYSTEM_KEYS.includes(s)) throw new Error(`--systems: unknown system ${s}`);

  const argvText = process.argv.slice(2).join(' ');
  const commandLine = `npm run bench${argvText ? ` -- ${argvText}` : ''}`;
  const base = ['npm run bench --', opts.quick ? '--quick' : '', ...opts.set.map((s) => `--set ${s}`)].filter(Boolean).join(' ');

  if (opts.install) await ensurePackages(log);
  await cleanupLeftovers(log);
  mkdirSync(WORK_ROOT, { recursive: true });
  mkdirSync(OUT_DIR, { recursive: true });
  const mach = await machine();
  const rootfs = await buildRootfs(join(WORK_ROOT, 'rootfs'));
  const berthTree = snapshotBerth();

  const ctx: MetricContext = {
    quick: !!opts.quick,
    log,
    rootfs,
    sizes,
    commandFor: (metric) => `${base} --only ${metric}${opts.systems ? ` --systems ${opts.systems}` : ''}`,
  };
  const berthApi = () => new BerthSystem('berth (API)', 'ba', 'api', berthTree);
  const berthCli = () => new BerthSystem('berth (CLI)', 'bc', 'cli', berthTree);
  const berthDocker = () => new BerthSystem('berth (docker CLI)', 'bd', 'docker', berthTree, rootfs);
  const pick = <T extends { key: string }>(xs: T[]) => xs.filter((x) => want.has(x.key));

  const metrics: Record<string, () => Promise<MetricResult>> = {
    setup: () => {
      const sys = pick([
        { key: 'berth', s: berthApi() },
        { key: 'berth', s: berthCli() },
        { key: 'netavark', s: new NetavarkSystem('netavark', 'nv', true) },
        { key: 'cni', s: new CniSystem('CNI bridge+portmap+firewall', 'cni') },
      ]).map((x) => x.s);
      return metricSetup(ctx, sys, ['berth (API)', 'berth (CLI)']);
    },
    seq: () => {
      const sys = pick([
        { key: 'berth', s: berthApi() },
        { key: 'netavark', s: new NetavarkSystem('netavark', 'nv', true) },
        { key: 'cni', s: new CniSystem('CNI bridge+portmap+firewall', 'cni') },
      ]).map((x) => x.s);
      return metricSequential(ctx, sys, ['berth (API)']);
    },
    // berth alone: netavark's setup grows to ~1 s per sandbox by #300 here (its iptables chains),
    // so 1,000 of them would take most of an hour (bench/README.md, 2b).
    scale: () => metricScale(ctx, pick([{ key: 'berth', s: berthApi() }]).map((x) => x.s), ['berth (API)']),
    run: () => {
      const sys = pick([
        { key: 'berth', s: berthCli() },
        { key: 'berth', s: berthDocker() },
        { key: 'docker', s: new DockerSystem('docker', 'dk', ctx) },
        { key: 'podman', s: new PodmanSystem('podman --rootfs', 'pm', ctx) },
      ]).map((x) => x.s);
      return metricRun(ctx, sys, ['berth (CLI)', 'berth (docker CLI)']);
    },
    ports: () => {
      const sys = pick([
        { key: 'berth', s: berthCli() },
        { key: 'docker', s: new DockerSystem('docker', 'dk', ctx) },
      ]).map((x) => x.s);
      return metricPorts(ctx, sys, ['berth (CLI)']);
    },
    dns: () => {
      const sys = pick([
        { key: 'berth', s: berthCli() },
        { key: 'aardvark', s: new NetavarkSystem('aardvark-dns', 'aa', true) },
        { key: 'docker', s: new DockerSystem('docker', 'dk', ctx) },
      ]).map((x) => x.s);
      return metricDns(ctx, sys, ['berth (CLI)']);
    },
    pall: () => metricPublishAll(ctx, pick([{ key: 'berth', s: berthApi() }]).map((x) => x.s), ['berth (API)']),
    mem: () => {
      const sys = pick([
        { key: 'berth', s: berthCli() },
        { key: 'docker', s: new DockerSystem('docker', 'dk', ctx) },
      ]).map((x) => x.s);
      return metricMemory(ctx, sys, ['berth (CLI)']);
    },
    services: () => metricServices(ctx, berthCli()),
    lb: () => metricLb(ctx, berthCli()),
    compose: () => {
      const sys = pick([
        { key: 'berth', s: berthDocker() },
        { key: 'docker', s: new DockerSystem('docker', 'dk', ctx) },
      ]).map((x) => x.s);
      return metricCompose(ctx, sys, ['berth (docker CLI)'], WORK_ROOT);
    },
    catalog: () => metricCatalog(ctx, pick([{ key: 'berth', s: berthApi() }]).map((x) => x.s), ['berth (API)']),
  };

  // The sections of the default report accumulate in bench/out/results.json; another --out keeps its own.
  const resultsFile = resolve(opts.out) === join(REPO, 'BENCHMARKS.md') ? join(OUT_DIR, 'results.json') : `${resolve(opts.out)}.json`;
  const records: Record<string, RunRecord> = existsSync(resultsFile)
    ? (JSON.parse(readFileSync(resultsFile, 'utf8')) as Record<string, RunRecord>)
    : {};
  let stopping = false;
  const onSignal = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: cleaning up`);
    void cleanupLeftovers(log).finally(() => process.exit(130));
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  try {
    for (const id of METRIC_ORDER.filter((m) => only.includes(m))) {
      log(`metric ${id}`);
      const t0 = Date.now();
      let result: MetricResult;
      try {
        result = await metrics[id]!();
      } catch (e) {
        log(`metric ${id} failed: ${errText(e)}`);
        continue;
      }
      if (stopping) break; // interrupted: what it measured is incomplete, keep the report as it was
      result.seconds = (Date.now() - t0) / 1000;
      const rec: RunRecord = {
        date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        machine: { ...mach, loadEnd: loadavg().map((x) => x.toFixed(2)).join(' ') },
        command: commandLine,
        quick: !!opts.quick,
        result,
      };
      records[id] = rec;
      writeFileSync(join(OUT_DIR, `${id}-${rec.date.replace(/[:]/g, '')}.json`), JSON.stringify(rec, null, 2));
      writeFileSync(resultsFile, JSON.stringify(records, null, 2));
      writeFileSync(opts.out, renderMarkdown(records));
      log(`metric ${id} done in ${result.seconds.toFixed(0)} s; ${opts.out} updated`);
    }
  } finally {
    await cleanupLeftovers(log);
  }
}

main().catch(async (e: unknown) => {
  log(`error: ${e instanceof Error ? e.message : String(e)}`);
  await cleanupLeftovers(log).catch(() => {});
  process.exit(1);
});
