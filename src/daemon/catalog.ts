// berthd's catalog: the Consul-shaped view following the state, registrations of services berth
// does not run (kept in state.catalog, changed under the lock like everything else), the checks
// berthd performs for them, and the optional TCP listener.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { hostname, networkInterfaces } from 'node:os';
import type { CatalogState, ExternalCheck, ExternalServiceRecord } from '../model/catalog.js';
import { BadRequest, NotFound } from '../model/errors.js';
import { httpProbe, tcpProbe, type ProbeResult } from '../kernel/probe.js';
import { Catalog } from '../catalog/catalog.js';
import { Checker } from '../catalog/checker.js';
import { catalogHandler } from '../catalog/http.js';
import type { NodeInfo } from '../catalog/view.js';
import type { Ctx } from './context.js';
import { answerClientError } from './http.js';

export interface CatalogService {
  catalog: Catalog;
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  /** Opens the TCP listener (--catalog-addr), once the state is reconciled and the catalog filled. */
  listen: () => Promise<void>;
  close: () => Promise<void>;
}

/** The node's address: the catalog's own listen address, else the first host address not on a berth bridge. */
function nodeAddress(ctx: Ctx): string {
  const a = ctx.cfg.catalogAddr?.ip;
  if (a && a !== '0.0.0.0' && !a.startsWith('127.')) return a;
  const bridges = new Set<string>(Object.values(ctx.state.networks).flatMap((n) => (n.bridge ? [n.bridge] : [])));
  for (const [ifname, addrs] of Object.entries(networkInterfaces())) {
    if (bridges.has(ifname) || ifname.startsWith('veth')) continue;
    const v4 = addrs?.find((x) => x.family === 'IPv4' && !x.internal);
    if (v4) return v4.address;
  }
  return '127.0.0.1';
}

/** A stable UUID-shaped node ID for this host and data root. */
function nodeId(name: string, dataRoot: string): string {
  const h = createHash('sha256').update(`${name}\0${dataRoot}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function catalogState(ctx: Ctx): CatalogState {
  return (ctx.state.catalog ??= { services: {}, checks: {} });
}

const nodes = new WeakMap<Ctx, NodeInfo>();

/**
 * The berth host as the catalog's node: one per berthd, its address found when first asked for
 * (listing the host's interfaces takes 0.2 s with a thousand sandboxes' veths, too long for
 * berthd's start and for every DNS sync).
 */
export function catalogNode(ctx: Ctx): NodeInfo {
  const known = nodes.get(ctx);
  if (known) return known;
  const name = hostname();
  let address: string | undefined;
  const node: NodeInfo = {
    id: nodeId(name, ctx.cfg.dataRoot),
    name,
    get address() {
      return (address ??= nodeAddress(ctx));
    },
    datacenter: 'dc1',
  };
  nodes.set(ctx, node);
  return node;
}

export async function wireCatalog(ctx: Ctx): Promise<CatalogService> {
  const node = catalogNode(ctx);
  const catalog = new Catalog(node);

  /**
   * Applies a change to one service of state.catalog under the lock; undone when following or
   * persisting fails. Only that service's record is saved (and a shallow copy of the results),
   * rather than a copy of the whole catalog on every change.
   */
  const change = (serviceId: string, edit: (c: CatalogState) => void, persist = true) =>
    ctx.lock.run(async () => {
      const c = catalogState(ctx);
      const before = c.services[serviceId];
      const results = { ...c.checks };
      edit(c);
      // Marked even when not written now (a check's output alone): the next write takes it.
      ctx.touchCatalog(serviceId);
      try {
        await ctx.follow();
        if (persist) await ctx.persist();
      } catch (err) {
        if (before) c.services[serviceId] = before;
        else delete c.services[serviceId];
        c.checks = results;
        await ctx.follow().catch(() => undefined);
        throw err;
      }
    });

  const deregister = (id: string) =>
    change(id, (c) => {
      const rec = c.services[id];
      if (!rec) throw new NotFound(`Unknown service ID "${id}". Ensure that the service ID is passed, not the service name.`);
      delete c.services[id];
      for (const ch of rec.checks) delete c.checks[ch.id];
    });

  const report = (serviceId: string, check: ExternalCheck, r: ProbeResult) => {
    const c = ctx.state.catalog;
    if (!c?.services[serviceId]) return;
    const prev = c.checks[check.id];
    const now = new Date();
    // DeregisterCriticalServiceAfter: a service critical that long leaves the catalog.
    if (r.status === 'critical' && prev?.status === 'critical' && check.deregisterAfterMs > 0 && now.getTime() - Date.parse(prev.since) >= check.deregisterAfterMs) {
      ctx.log('info', `catalog: deregistering ${serviceId}: check ${check.id} critical for more than ${check.deregisterAfterMs} ms`);
      void deregister(serviceId).catch(() => undefined);
      return;
    }
    if (prev && prev.status === r.status && prev.output === r.output) return;
    const statusChanged = !prev || prev.status !== r.status;
    if (statusChanged) ctx.log('info', `catalog: check ${check.id} of ${serviceId} is ${r.status}: ${r.output}`);
    // A changed output alone is followed but not written to disk at once (HTTP bodies may change every run).
    void change(serviceId, (cs) => {
      if (!cs.services[serviceId]) return;
      cs.checks[check.id] = { status: r.status, output: r.output, since: statusChanged ? now.toISOString() : prev!.since };
    }, statusChanged).catch((e: Error) => ctx.log('warn', `catalog: recording check ${check.id}: ${e.message}`));
  };

  const checker = new Checker((c) => (c.kind === 'tcp' ? tcpProbe(c.target, c.timeoutMs) : httpProbe(c.target, c.method, c.timeoutMs)), report);
  ctx.followers.push({
    sync: async (s) => {
      await catalog.sync(s);
      checker.sync(s);
    },
  });

  const handle = catalogHandler(
    catalog,
    {
      register: (rec: ExternalServiceRecord) =>
        change(rec.id, (c) => {
          // A check's results are kept by its ID: one ID belongs to one service.
          for (const other of Object.values(c.services)) {
            if (other.id === rec.id) continue;
            const clash = other.checks.find((o) => rec.checks.some((n) => n.id === o.id));
            if (clash) throw new BadRequest(`Invalid check: CheckID "${clash.id}" belongs to service "${other.id}"`);
          }
          const old = c.services[rec.id];
          c.services[rec.id] = rec;
          // Results of checks that are gone or changed are dropped; unchanged ones keep their status.
          for (const ch of old?.checks ?? []) {
            const same = rec.checks.find((n) => n.id === ch.id);
            if (!same || JSON.stringify(same) !== JSON.stringify(ch)) delete c.checks[ch.id];
          }
        }),
      deregister,
    },
    ctx.log,
  );

  let server: Server | undefined;
  const listen = async () => {
    const addr = ctx.cfg.catalogAddr;
    if (!addr) return;
    server = createServer((req, res) => void handle(req, res));
    server.on('clientError', answerClientError);
    await new Promise<void>((resolve, reject) => {
      server!.once('error', (e: NodeJS.ErrnoException) =>
        reject(new Error(`cannot serve the catalog on ${addr.ip}:${addr.port}: ${e.code === 'EADDRINUSE' ? 'the address is in use (another Consul agent?); pick another with --catalog-addr' : e.message}`)),
      );
      server!.listen(addr.port, addr.ip, () => resolve());
    });
    ctx.log('info', `catalog (Consul HTTP API) listening on ${addr.ip}:${addr.port}`);
  };

  return {
    catalog,
    handle,
    listen,
    close: async () => {
      checker.stop();
      server?.closeAllConnections();
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    },
  };
}
