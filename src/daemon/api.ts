// The routes of berth's HTTP API (Docker Engine API shapes where Docker has them).
import { join } from 'node:path';
import { Conflict } from '../model/errors.js';
import { formatHostService } from '../model/host-service.js';
import type { Ctx } from './context.js';
import { connect, disconnect } from './connect.js';
import { created, HANDLED, Router } from './http.js';
import { streamLog } from './log-stream.js';
import { networkInspect, sandboxInspect, sandboxSummary } from './inspect.js';
import { createNetwork, pruneNetworks, removeNetwork } from './networks.js';
import type { Sandboxes } from './sandboxes.js';
import type { ClusterStore } from '../store/cluster-store.js';
import { nodeList } from './nodes.js';
import { createQuery, createSandboxBody, listQuery, logsQuery, removeQuery, stopQuery, waitQuery } from './schema/container-schemas.js';
import { addHostServiceBody, hostServiceParams } from './schema/misc-schemas.js';
import { connectBody, createNetworkBody, disconnectBody, idParams } from './schema/network-schemas.js';

export interface ApiExtras {
  /** Adds the /services routes (berthd wires the service manager: services/wire.ts). */
  serviceRoutes?: (r: Router) => void;
  /** Adds the /lbs routes (berthd wires the load balancers: lb.ts). */
  lbRoutes?: (r: Router) => void;
  /** Text for `berth rules`. */
  rules: () => Promise<string>;
  /** Set when berthd runs with --cluster-store. */
  cluster?: ClusterStore | undefined;
  hostServices: { list: () => string[]; add: (spec: string) => Promise<void>; remove: (name: string) => Promise<void> };
}

/** Every route, each with its schemas (see the convention in http.ts). */
export function buildApi(ctx: Ctx, sandboxes: Sandboxes, extras: ApiExtras): Router {
  const r = new Router(ctx.log);
  r.route({ method: 'GET', path: '/_ping' }, async () => 'OK');
  r.route({ method: 'GET', path: '/version' }, async () => ({ Version: '0.1.0', ApiVersion: '1.41', Os: 'linux', Components: [{ Name: 'berth' }] }));

  r.route({ method: 'GET', path: '/networks' }, async () => Object.values(ctx.state.networks).map((n) => networkInspect(ctx, n)));
  r.route({ method: 'POST', path: '/networks/create', body: createNetworkBody }, async (q) => {
    const net = await createNetwork(ctx, q.body);
    return created({ Id: net.id, Warning: '' });
  });
  r.route({ method: 'POST', path: '/networks/prune' }, async () => ({ NetworksDeleted: await pruneNetworks(ctx) }));
  r.route({ method: 'GET', path: '/networks/{id}', params: idParams }, async (q) => networkInspect(ctx, ctx.network(q.params.id)));
  r.route({ method: 'DELETE', path: '/networks/{id}', params: idParams }, async (q) => removeNetwork(ctx, q.params.id));
  r.route({ method: 'POST', path: '/networks/{id}/connect', params: idParams, body: connectBody }, async (q) => {
    await connect(ctx, q.params.id, q.body);
    return {};
  });
  r.route({ method: 'POST', path: '/networks/{id}/disconnect', params: idParams, body: disconnectBody }, async (q) => {
    await disconnect(ctx, q.params.id, q.body.Container);
    return {};
  });

  r.route({ method: 'GET', path: '/containers/json', query: listQuery }, async (q) =>
    Object.values(ctx.state.sandboxes)
      .filter((s) => q.query.all || s.state.status === 'running')
      .sort((a, b) => b.created.localeCompare(a.created))
      .map((s) => sandboxSummary(ctx, s)),
  );
  r.route({ method: 'POST', path: '/containers/create', query: createQuery, body: createSandboxBody }, async (q) => {
    const { sb, warnings } = await sandboxes.create(q.query.name, q.body);
    return created({ Id: sb.id, Warnings: warnings });
  });
  r.route({ method: 'GET', path: '/containers/{id}/json', params: idParams }, async (q) => {
    // Right after start the command's PID may still be on its way from the shim: wait for it, so
    // that State.Pid is usable (nsenter -t ...) as soon as `run -d` returns.
    const sb = ctx.sandbox(q.params.id);
    if (sb.state.status === 'running' && !sb.state.pid) await sandboxes.waitReady(sb.id);
    return sandboxInspect(ctx, ctx.state.sandboxes[sb.id] ?? sb);
  });
  r.route({ method: 'POST', path: '/containers/{id}/start', params: idParams }, async (q) => sandboxes.start(q.params.id));
  r.route({ method: 'POST', path: '/containers/{id}/stop', params: idParams, query: stopQuery }, async (q) => sandboxes.stop(q.params.id, q.query.t));
  r.route({ method: 'POST', path: '/containers/{id}/restart', params: idParams, query: stopQuery }, async (q) => sandboxes.restart(q.params.id, q.query.t));
  r.route({ method: 'POST', path: '/containers/{id}/kill', params: idParams }, async (q) => sandboxes.stop(q.params.id, 0));
  r.route({ method: 'DELETE', path: '/containers/{id}', params: idParams, query: removeQuery }, async (q) => sandboxes.remove(q.params.id, q.query.force));
  // Docker's wait: the headers go out as soon as the waiter is registered (a client may start
  // the sandbox once it has them), the body when the condition holds and is persisted.
  r.route({ method: 'POST', path: '/containers/{id}/wait', params: idParams, query: waitQuery }, async (q) => {
    const sb = ctx.sandbox(q.params.id);
    const gone = new AbortController();
    q.res.on('close', () => gone.abort());
    const code = sandboxes.wait(sb.id, q.query.condition, gone.signal);
    q.res.writeHead(200, { 'content-type': 'application/json' });
    q.res.flushHeaders();
    const exitCode = await code.catch(() => undefined);
    if (exitCode !== undefined) q.res.end(JSON.stringify({ StatusCode: exitCode, Error: null }));
    return HANDLED;
  });
  // Docker's attach, as `berth run` uses it before start: the output from now on, until the next
  // exit is recorded. Opening the log here keeps it readable even when --rm removes it first.
  r.route({ method: 'POST', path: '/containers/{id}/attach', params: idParams }, async (q) => {
    const sb = ctx.sandbox(q.params.id);
    const gone = new AbortController();
    q.res.on('close', () => gone.abort());
    let exited = false;
    sandboxes.wait(sb.id, 'next-exit', gone.signal).then(() => (exited = true), () => undefined);
    await streamLog(join(ctx.sandboxDir(sb.id), 'log'), q.res, { from: 'end', done: () => exited, create: true });
    return HANDLED;
  });
  r.route({ method: 'GET', path: '/containers/{id}/exec-target', params: idParams }, async (q) => {
    const sb = ctx.sandbox(q.params.id);
    if (sb.state.status === 'running' && !sb.state.pid) await sandboxes.waitReady(sb.id);
    if (sb.state.status !== 'running' || !sb.state.pid) throw new Conflict(`Container ${sb.id} is not running`);
    return { Pid: sb.state.pid, Rootfs: sb.config.rootfs, Env: sandboxes.envList(sb) };
  });
  r.route({ method: 'GET', path: '/containers/{id}/logs', params: idParams, query: logsQuery }, async (q) => {
    const sb = ctx.sandbox(q.params.id);
    await streamLog(join(ctx.sandboxDir(sb.id), 'log'), q.res, { from: 'start', done: q.query.follow ? () => ctx.state.sandboxes[sb.id]?.state.status !== 'running' : () => true });
    return HANDLED;
  });
  r.route({ method: 'GET', path: '/nodes' }, async () => nodeList(extras.cluster));
  r.route({ method: 'GET', path: '/rules' }, async () => extras.rules());
  r.route({ method: 'GET', path: '/host-services' }, async () => extras.hostServices.list());
  r.route({ method: 'POST', path: '/host-services', body: addHostServiceBody }, async (q) => {
    await extras.hostServices.add(formatHostService(q.body.Spec));
    return created({});
  });
  r.route({ method: 'DELETE', path: '/host-services/{name}', params: hostServiceParams }, async (q) => extras.hostServices.remove(q.params.name));
  extras.serviceRoutes?.(r);
  extras.lbRoutes?.(r);
  return r;
}
