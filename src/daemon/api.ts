// The routes of berth's HTTP API (Docker Engine API shapes where Docker has them).
import { Conflict } from '../model/errors.js';
import { formatHostService } from '../model/host-service.js';
import type { Ctx } from './context.js';
import { connect, disconnect } from './connect.js';
import { created, HANDLED, Router } from './http.js';
import { networkInspect, sandboxInspect, sandboxSummary } from './inspect.js';
import { createNetwork, pruneNetworks, removeNetwork } from './networks.js';
import type { Sandboxes } from './sandboxes.js';
import { createQuery, createSandboxBody, dockerListQuery, removeQuery, stopQuery } from './schema/container-schemas.js';
import { addSystemRoutes, API_VERSION, DOCKER_HEADERS } from './docker/system-routes.js';
import { addImageRoutes } from './docker/image-routes.js';
import { addContainerStreamRoutes } from './docker/container-routes.js';
import { addExecRoutes } from './docker/exec-routes.js';
import { addVolumeRoutes } from './docker/volume-routes.js';
import type { EventBus } from './docker/events.js';
import type { ImageStore } from '../images/store.js';
import { OCI_RUNTIME } from './sandboxes.js';
import { parseFilters, sandboxMatches } from './docker/filters.js';
import type { ClusterStore } from '../store/cluster-store.js';
import { nodeList } from './nodes.js';
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
  images: ImageStore;
  events: EventBus;
}

/** Every route, each with its schemas (see the convention in http.ts). */
export function buildApi(ctx: Ctx, sandboxes: Sandboxes, extras: ApiExtras): Router {
  const r = new Router(ctx.log, { headers: DOCKER_HEADERS, maxVersion: API_VERSION });
  const { images, events } = extras;
  addSystemRoutes(r, ctx, images, OCI_RUNTIME);
  addImageRoutes(r, ctx, images);
  addContainerStreamRoutes(r, ctx, sandboxes, events);
  addExecRoutes(r, ctx, sandboxes);
  addVolumeRoutes(r, ctx);
  const netEvent = (action: string, netId: string, attrs: Record<string, string> = {}) => {
    const net = ctx.state.networks[netId];
    events.emit('network', action, netId, { name: net?.name ?? '', type: net?.driver ?? 'bridge', ...attrs });
  };

  r.route({ method: 'GET', path: '/networks' }, async () => Object.values(ctx.state.networks).map((n) => networkInspect(ctx, n)));
  r.route({ method: 'POST', path: '/networks/create', body: createNetworkBody }, async (q) => {
    const net = await createNetwork(ctx, q.body);
    netEvent('create', net.id);
    return created({ Id: net.id, Warning: '' });
  });
  r.route({ method: 'POST', path: '/networks/prune' }, async () => ({ NetworksDeleted: await pruneNetworks(ctx) }));
  r.route({ method: 'GET', path: '/networks/{id}', params: idParams }, async (q) => networkInspect(ctx, ctx.network(q.params.id)));
  r.route({ method: 'DELETE', path: '/networks/{id}', params: idParams }, async (q) => {
    const net = ctx.network(q.params.id);
    await removeNetwork(ctx, q.params.id);
    events.emit('network', 'destroy', net.id, { name: net.name, type: net.driver });
  });
  r.route({ method: 'POST', path: '/networks/{id}/connect', params: idParams, body: connectBody }, async (q) => {
    await connect(ctx, q.params.id, q.body);
    netEvent('connect', ctx.network(q.params.id).id, { container: ctx.sandbox(q.body.Container).id });
    return {};
  });
  r.route({ method: 'POST', path: '/networks/{id}/disconnect', params: idParams, body: disconnectBody }, async (q) => {
    await disconnect(ctx, q.params.id, q.body.Container);
    netEvent('disconnect', ctx.network(q.params.id).id, { container: ctx.sandbox(q.body.Container).id });
    return {};
  });

  r.route({ method: 'GET', path: '/containers/json', query: dockerListQuery }, async (q) => {
    const filters = parseFilters(q.query.filters);
    const list = Object.values(ctx.state.sandboxes)
      .filter((s) => q.query.all || q.query.limit > 0 || filters.status?.length || s.state.status === 'running')
      .filter((s) => sandboxMatches(s, filters))
      .sort((a, b) => b.created.localeCompare(a.created));
    return (q.query.limit > 0 ? list.slice(0, q.query.limit) : list).map((s) => sandboxSummary(ctx, s));
  });
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
  r.route({ method: 'POST', path: '/containers/{id}/start', params: idParams }, async (q) => {
    if (ctx.sandbox(q.params.id).state.status === 'running') {
      q.res.writeHead(304).end();
      return HANDLED;
    }
    return sandboxes.start(q.params.id);
  });
  r.route({ method: 'POST', path: '/containers/{id}/stop', params: idParams, query: stopQuery }, async (q) => sandboxes.stop(q.params.id, q.query.t));
  r.route({ method: 'POST', path: '/containers/{id}/restart', params: idParams, query: stopQuery }, async (q) => sandboxes.restart(q.params.id, q.query.t));
  r.route({ method: 'DELETE', path: '/containers/{id}', params: idParams, query: removeQuery }, async (q) => sandboxes.remove(q.params.id, q.query.force));
  r.route({ method: 'GET', path: '/containers/{id}/exec-target', params: idParams }, async (q) => {
    const sb = ctx.sandbox(q.params.id);
    if (sb.state.status === 'running' && !sb.state.pid) await sandboxes.waitReady(sb.id);
    if (sb.state.status !== 'running' || !sb.state.pid) throw new Conflict(`Container ${sb.id} is not running`);
    return { Pid: sb.state.pid, Rootfs: sb.config.rootfs, Env: sandboxes.envList(sb) };
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
