// berthd: loads the store, reconciles the kernel with it, then serves the API on a unix socket.
import { chmod, mkdir, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { DataRootBusy, lockDataRoot } from '../store/data-root-lock.js';
import { RecordStore } from '../store/record-store.js';
import type { ClusterStore } from '../store/cluster-store.js';
import { StoreDamaged } from '../store/store.js';
import { recheckSandboxValues } from '../model/state-check.js';
import { buildApi } from './api.js';
import { answerClientError } from './http.js';
import { parseDaemonArgs } from './config.js';
import { Ctx } from './context.js';
import { CORE_HELPERS, IMAGE_HELPERS, MissingHelper, OPTIONAL_HELPERS, requireHelpers } from '../kernel/binaries.js';
import { guardProcess, stackOf } from './guard.js';
import { makeLogger } from './log.js';
import { reconcile } from './reconcile.js';
import { Sandboxes } from './sandboxes.js';
import { wireFeatures } from './features.js';
import { ImageStore } from '../images/store.js';
import { EventBus } from './docker/events.js';
import { wireCatalog } from './catalog.js';
import { wireServices } from '../services/wire.js';
import { LoadBalancers } from './lb.js';
import { registerLbRoutes } from './lb-api.js';

async function main(): Promise<void> {
  let cfg;
  try {
    cfg = parseDaemonArgs(process.argv.slice(2));
  } catch (err) {
    const msg = (err as Error).message;
    if ((err as { code?: string }).code === 'commander.helpDisplayed' || (err as { code?: string }).code === 'commander.version') process.exit(0);
    process.stderr.write(`berthd: ${msg}\n`);
    process.exit(1);
  }
  const log = makeLogger(cfg.logLevel);
  guardProcess(log);
  // Every helper program, by absolute path, before anything on the host is touched.
  const { missingOptional } = requireHelpers([...CORE_HELPERS, ...(cfg.firewall === 'nftables' ? ['nft'] : [])], [...OPTIONAL_HELPERS, ...IMAGE_HELPERS, ...(cfg.firewall === 'nftables' ? [] : ['nft'])]);
  for (const m of missingOptional) log('info', `${m} is not installed: berth goes on without it${(IMAGE_HELPERS as readonly string[]).includes(m) ? ' (containers from images need it)' : ''}`);
  await mkdir(cfg.dataRoot, { recursive: true, mode: 0o700 });
  await mkdir(join(cfg.execRoot, 'netns'), { recursive: true, mode: 0o700 });
  await mkdir(dirname(cfg.socket), { recursive: true });
  // Before anything else touches the store, the kernel or the socket: one berthd per data root.
  const lockPath = await lockDataRoot(cfg.dataRoot);
  log('debug', `holding ${lockPath}`);
  const store = new RecordStore(cfg.dataRoot);
  const loaded = await store.load();
  for (const note of loaded.notes) log('warn', `store: ${note}`);
  const ctx = new Ctx(cfg, store, loaded.state, log);
  ctx.loaded();
  // Values an older berth stored raw are parsed again; fixed records are written back.
  const rechecked = recheckSandboxValues(ctx.state);
  for (const note of rechecked.notes) log('warn', note);
  if (rechecked.changed.length) await ctx.persist(...rechecked.changed);
  // Tests (the e2e lab) ask every persist to check that no changed record was left unmarked.
  ctx.verifyPersist = process.env['BERTH_STORE_VERIFY'] === '1';
  ctx.host = {
    resolvConf: await readFile(cfg.resolvConf, 'utf8').catch(() => ''),
    hostHostname: hostname(),
    hostHosts: await readFile('/etc/hosts', 'utf8').catch(() => '127.0.0.1\tlocalhost\n'),
  };
  const sandboxes = new Sandboxes(ctx);
  const images = new ImageStore(cfg.dataRoot);
  sandboxes.images = images;
  const events = new EventBus();
  sandboxes.onEvent = (action, sb, extra = {}) => {
    events.emit('container', action, sb.id, { name: sb.name, image: sb.config.image?.name ?? '', ...(sb.config.labels ?? {}), ...extra });
    // As moby: a container joins its networks when it starts and leaves them when it dies.
    const netAction = action === 'start' ? 'connect' : action === 'die' ? 'disconnect' : '';
    for (const n of netAction ? sb.config.networks : []) {
      const net = ctx.state.networks[n.networkId];
      if (net) events.emit('network', netAction, net.id, { container: sb.id, name: net.name, type: net.driver });
    }
  };
  const features = await wireFeatures(ctx, sandboxes);
  const catalog = await wireCatalog(ctx);
  const t0 = Date.now();
  await reconcile(ctx, sandboxes);
  log('info', `reconciled store and kernel in ${Date.now() - t0} ms`);
  sandboxes.startPolling();
  await sandboxes.applyRestartPoliciesAtStart();
  await catalog.listen();
  const services = await wireServices(ctx, sandboxes);
  const lbs = new LoadBalancers(ctx, sandboxes);
  ctx.followers.push(lbs);
  await ctx.lock.run(() => lbs.reconcile(ctx.state));

  // Multi-host: join through etcd (only with --cluster-store; single-host berth needs no etcd).
  // etcd3 and gRPC take most of a second to load here: only a berthd with --cluster-store loads them.
  const cluster: ClusterStore | undefined = cfg.cluster ? new (await import('../store/cluster-store.js')).ClusterStore(cfg.cluster, log) : undefined;
  await cluster?.start();
  if (cluster) {
    const { Overlay } = await import('./overlay.js');
    const overlay = new Overlay(ctx, cluster);
    ctx.overlay = overlay;
    ctx.remoteNames = () => overlay.remote();
    ctx.followers.push(overlay);
    // Services across hosts: mirrored from the store after the networks, placed by the leader.
    const { ClusterServices } = await import('./cluster-services.js');
    const { Mesh } = await import('./mesh.js');
    const across = new ClusterServices(ctx, cluster);
    across.onChange = () => services.manager.kick();
    across.remember = (k, v) => overlay.remember(k, v);
    overlay.extension = across;
    const mesh = new Mesh(ctx, cluster);
    mesh.remember = (k, v) => overlay.remember(k, v);
    across.snapshot = (kvs) => mesh.setSnapshot(kvs);
    ctx.followers.push(mesh);
    services.manager.cluster = across;
    ctx.followers.push(across.reporter);
    across.start();
    await overlay.start();
  }

  const api = buildApi(ctx, sandboxes, { rules: features.rules, hostServices: features.hostServices, serviceRoutes: services.routes, lbRoutes: (r) => registerLbRoutes(r, lbs), cluster, images, events });
  // berth's socket, and Docker's where asked (--docker-socket): the same API on both.
  const sockets = [cfg.socket, ...(cfg.dockerSocket ? [cfg.dockerSocket] : [])];
  const servers: Server[] = [];
  for (const path of sockets) {
    // Consul's API (/v1/...) beside berth's own: Docker's version prefixes are /v1.NN/, never /v1/.
    const server = createServer((req, res) => {
      const handler = req.url?.startsWith('/v1/') ? catalog.handle(req, res) : api.handle(req, res);
      handler.catch((err: unknown) => log('error', `${req.method} ${req.url}: ${stackOf(err)}`));
    });
    // A malformed request gets Docker's JSON error shape; a client that hangs up never reaches the
    // process as an uncaught error.
    server.on('clientError', answerClientError);
    // docker attach and exec start hijack the connection (Connection: Upgrade, Upgrade: tcp).
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      api.handleUpgrade(req, socket, head).catch((err: unknown) => {
        log('error', `${req.method} ${req.url} (upgrade): ${stackOf(err)}`);
        socket.destroy();
      });
    });
    await mkdir(dirname(path), { recursive: true });
    await rm(path, { force: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
    await chmod(path, 0o660);
    servers.push(server);
  }
  log('info', `berthd listening on ${sockets.join(' and ')} (data-root ${cfg.dataRoot}, exec-root ${cfg.execRoot})`);

  const shutdown = (signal: string) => {
    log('info', `${signal}: stopping berthd; sandboxes keep running and are adopted at the next start`);
    sandboxes.stopPolling();
    services.close();
    lbs.close();
    for (const server of servers) {
      server.close();
      server.closeAllConnections();
    }
    cluster?.close();
    void Promise.all([features.close(), catalog.close()]).finally(() => {
      void Promise.all(sockets.map((p) => rm(p, { force: true }))).finally(() => process.exit(0));
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  // A busy data root or a damaged store: the message says what to do; no stack.
  const known = err instanceof DataRootBusy || err instanceof StoreDamaged || err instanceof MissingHelper;
  process.stderr.write(`berthd: ${err instanceof Error ? (known ? err.message : (err.stack ?? err.message)) : String(err)}\n`);
  process.exit(1);
});
