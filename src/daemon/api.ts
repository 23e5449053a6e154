// The routes of berth's HTTP API (Docker Engine API shapes where Docker has them).
import { join } from 'node:path';
import { BadRequest, Conflict } from '../model/errors.js';
import type { Ctx } from './context.js';
import { connect, disconnect, type ConnectRequest } from './connect.js';
import { HANDLED, Router } from './http.js';
import { streamLog } from './log-stream.js';
import { networkInspect, sandboxInspect, sandboxSummary } from './inspect.js';
import { createNetwork, pruneNetworks, removeNetwork, type CreateNetworkRequest } from './networks.js';
import type { CreateSandboxRequest } from './sandbox-spec.js';
import type { Sandboxes, WaitCondition } from './sandboxes.js';

export interface ApiExtras {
  /** Text for `berth rules`. */
  rules: () => Promise<string>;
  hostServices: { list: () => string[]; add: (spec: string) => Promise<void>; remove: (name: string) => Promise<void> };
}

function timeoutOf(q: URLSearchParams): number {
  const t = q.get('t');
  if (t === null) return 10;
  const n = Number(t);
  if (!Number.isFinite(n) || n < 0) throw new BadRequest(`invalid timeout "${t}": give whole seconds`);
  return n;
}

function waitConditionOf(q: URLSearchParams): WaitCondition {
  const c = q.get('condition') || 'not-running';
  if (c === 'not-running' || c === 'next-exit' || c === 'removed') return c;
  throw new BadRequest(`invalid condition "${c}": use not-running, next-exit or removed`);
}

export function buildApi(ctx: Ctx, sandboxes: Sandboxes, extras: ApiExtras): Router {
  const r = new Router(ctx.log);
  r.on('GET', '/_ping', async () => 'OK');
  r.on('GET', '/version', async () => ({ Version: '0.1.0', ApiVersion: '1.41', Os: 'linux', Components: [{ Name: 'berth' }] }));

  r.on('GET', '/networks', async () => Object.values(ctx.state.networks).map((n) => networkInspect(ctx, n)));
  r.on('POST', '/networks/create', async (q) => {
    const net = await createNetwork(ctx, q.body as CreateNetworkRequest);
    return { __status: 201, Id: net.id, Warning: '' };
  });
  r.on('POST', '/networks/prune', async () => ({ NetworksDeleted: await pruneNetworks(ctx) }));
  r.on('GET', '/networks/{id}', async (q) => networkInspect(ctx, ctx.network(q.params[0]!)));
  r.on('DELETE', '/networks/{id}', async (q) => removeNetwork(ctx, q.params[0]!));
  r.on('POST', '/networks/{id}/connect', async (q) => {
    await connect(ctx, q.params[0]!, q.body as ConnectRequest);
    return { __status: 200 };
  });
  r.on('POST', '/networks/{id}/disconnect', async (q) => {
    await disconnect(ctx, q.params[0]!, String((q.body as { Container?: string }).Container ?? ''));
    return { __status: 200 };
  });

  r.on('GET', '/containers/json', async (q) => {
    const all = q.query.get('all') === '1' || q.query.get('all') === 'true';
    return Object.values(ctx.state.sandboxes)
      .filter((s) => all || s.state.status === 'running')
      .sort((a, b) => b.created.localeCompare(a.created))
      .map((s) => sandboxSummary(ctx, s));
  });
  r.on('POST', '/containers/create', async (q) => {
    const { sb, warnings } = await sandboxes.create(q.query.get('name') ?? undefined, q.body as CreateSandboxRequest);
    return { __status: 201, Id: sb.id, Warnings: warnings };
  });
  r.on('GET', '/containers/{id}/json', async (q) => {
    // Right after start the command's PID may still be on its way from the shim: wait for it, so
    // that State.Pid is usable (nsenter -t ...) as soon as `run -d` returns.
    const sb = ctx.sandbox(q.params[0]!);
    if (sb.state.status === 'running' && !sb.state.pid) await sandboxes.waitReady(sb.id);
    return sandboxInspect(ctx, ctx.state.sandboxes[sb.id] ?? sb);
  });
  r.on('POST', '/containers/{id}/start', async (q) => sandboxes.start(q.params[0]!));
  r.on('POST', '/containers/{id}/stop', async (q) => sandboxes.stop(q.params[0]!, timeoutOf(q.query)));
  r.on('POST', '/containers/{id}/restart', async (q) => sandboxes.restart(q.params[0]!, timeoutOf(q.query)));
  r.on('POST', '/containers/{id}/kill', async (q) => sandboxes.stop(q.params[0]!, 0));
  r.on('DELETE', '/containers/{id}', async (q) => {
    const force = q.query.get('force');
    return sandboxes.remove(q.params[0]!, force === '1' || force === 'true');
  });
  // Docker's wait: the headers go out as soon as the waiter is registered (a client may start
  // the sandbox once it has them), the body when the condition holds and is persisted.
  r.on('POST', '/containers/{id}/wait', async (q) => {
    const sb = ctx.sandbox(q.params[0]!);
    const condition = waitConditionOf(q.query);
    const gone = new AbortController();
    q.res.on('close', () => gone.abort());
    const code = sandboxes.wait(sb.id, condition, gone.signal);
    q.res.writeHead(200, { 'content-type': 'application/json' });
    q.res.flushHeaders();
    const exitCode = await code.catch(() => undefined);
    if (exitCode !== undefined) q.res.end(JSON.stringify({ StatusCode: exitCode, Error: null }));
    return HANDLED;
  });
  r.on('GET', '/containers/{id}/exec-target', async (q) => {
    const sb = ctx.sandbox(q.params[0]!);
    if (sb.state.status === 'running' && !sb.state.pid) await sandboxes.waitReady(sb.id);
    if (sb.state.status !== 'running' || !sb.state.pid) throw new Conflict(`Container ${sb.id} is not running`);
    return { Pid: sb.state.pid, Rootfs: sb.config.rootfs, Env: sandboxes.envList(sb) };
  });
  r.on('GET', '/containers/{id}/logs', async (q) => {
    const sb = ctx.sandbox(q.params[0]!);
    const follow = q.query.get('follow') === '1' || q.query.get('follow') === 'true';
    await streamLog(join(ctx.sandboxDir(sb.id), 'log'), q.res, { from: 'start', done: follow ? () => ctx.state.sandboxes[sb.id]?.state.status !== 'running' : () => true });
    return HANDLED;
  });
  // Docker's attach, as `berth run` uses it before start: the output from now on, until the next
  // exit is recorded. Opening the log here keeps it readable even when --rm removes it first.
  r.on('POST', '/containers/{id}/attach', async (q) => {
    const sb = ctx.sandbox(q.params[0]!);
    const gone = new AbortController();
    q.res.on('close', () => gone.abort());
    let exited = false;
    sandboxes.wait(sb.id, 'next-exit', gone.signal).then(() => (exited = true), () => undefined);
    await streamLog(join(ctx.sandboxDir(sb.id), 'log'), q.res, { from: 'end', done: () => exited, create: true });
    return HANDLED;
  });
  r.on('GET', '/rules', async () => extras.rules());
  r.on('GET', '/host-services', async () => extras.hostServices.list());
  r.on('POST', '/host-services', async (q) => {
    const spec = (q.body as { Spec?: unknown }).Spec;
    if (typeof spec !== 'string' || !spec) throw new BadRequest('give the host service as {"Spec": "NAME=169.254.x.y:PORT->HOSTPORT"}');
    await extras.hostServices.add(spec);
    return { __status: 201 };
  });
  r.on('DELETE', '/host-services/{name}', async (q) => extras.hostServices.remove(q.params[0]!));
  return r;
}
