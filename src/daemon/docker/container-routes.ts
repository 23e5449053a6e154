// The Docker container routes that stream or wait: wait (headers at once, then the status),
// attach (hijacked or plain), logs (multiplexed frames without a TTY), kill with a signal,
// rename, resize, and /events. The plain request/answer routes are in api.ts.
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { BadRequest, Conflict } from '../../model/errors.js';
import type { SandboxRecord } from '../../model/types.js';
import type { Ctx } from '../context.js';
import { HANDLED, type Router } from '../http.js';
import type { Sandboxes } from '../sandboxes.js';
import { attachQuery, dockerLogsQuery, killQuery, renameQuery, resizeQuery, waitQuery } from '../schema/container-schemas.js';
import { idParams } from '../schema/network-schemas.js';
import { eventMatches, type DockerEvent, type EventBus } from './events.js';
import { eventsQuery } from '../schema/misc-schemas.js';
import { followFile, frame, openStream, pipeInput, sizeOf } from './streams.js';
import { recordFramer, tailOffset } from './log-records.js';
import { recordsFile } from '../../runtime/tty.js';
import { existsSync } from 'node:fs';
import { signalProcess } from '../../runtime/signal.js';

function signalOf(s: string): NodeJS.Signals | number {
  if (/^\d+$/.test(s)) return Number(s);
  const name = (s.startsWith('SIG') ? s : `SIG${s}`) as NodeJS.Signals;
  if (!(name in constants.signals)) throw new BadRequest(`Invalid signal: ${s}`);
  return name;
}

export function addContainerStreamRoutes(r: Router, ctx: Ctx, sandboxes: Sandboxes, events: EventBus): void {
  const logPath = (sb: SandboxRecord) => join(ctx.sandboxDir(sb.id), 'log');
  const tty = (sb: SandboxRecord) => sb.config.docker?.tty ?? false;

  // The headers go out as soon as the waiter is registered (the Go client, and `berth run`, start
  // the container only after them), the body once the condition holds and is persisted.
  r.route({ method: 'POST', path: '/containers/{id}/wait', params: idParams, query: waitQuery }, async (q) => {
    const sb = ctx.sandbox(q.params.id);
    const gone = new AbortController();
    q.res.on('close', () => gone.abort());
    const code = sandboxes.wait(sb.id, q.query.condition, gone.signal);
    q.res.writeHead(200, { 'content-type': 'application/json' });
    q.res.flushHeaders();
    const exitCode = await code.catch(() => undefined);
    if (exitCode !== undefined) q.res.end(`${JSON.stringify({ StatusCode: exitCode, Error: null })}\n`);
    return HANDLED;
  });

  r.route({ method: 'POST', path: '/containers/{id}/attach', params: idParams, query: attachQuery }, async (q) => {
    const sb = ctx.sandbox(q.params.id);
    if (sb.state.status === 'exited' && !q.query.logs) {
      q.upgrade?.socket.resume();
      throw new Conflict('You cannot attach to a stopped container, start it first');
    }
    // Docker clients get an image sandbox's stdout and stderr apart (log-relay's records).
    const docker = q.query.stdout || q.query.stderr;
    const records = Boolean(docker && !tty(sb) && sb.config.image);
    const path = records ? recordsFile(ctx.sandboxDir(sb.id)) : logPath(sb);
    const from = q.query.logs ? 0 : await sizeOf(path);
    const gone = new AbortController();
    (q.upgrade?.socket ?? q.res).on('close', () => gone.abort());
    const until = sandboxes.wait(sb.id, sb.state.status === 'running' ? 'not-running' : 'next-exit', gone.signal);
    const stdin = q.query.stdin && q.upgrade ? sandboxes.stdinOf(sb.id) : undefined;
    // Docker clients name the streams and get frames (without a TTY); berth's own `run` names
    // none and gets the bytes as written, as with logs.
    const out = openStream(q, docker ? 'application/vnd.docker.raw-stream' : 'application/octet-stream', Boolean(stdin));
    let detached: Promise<void> = new Promise(() => undefined);
    if (stdin && q.upgrade) {
      // What the client types goes to the command once it runs; its half-close is stdin's end.
      // With a TTY the detach keys end this attachment and leave the command running.
      const sock = q.upgrade.socket;
      const head = q.upgrade.head;
      detached = stdin.then((w) => pipeInput(sock, head, w, { detachKeys: tty(sb) ? q.query.detachKeys : undefined, endOnClose: !tty(sb) }));
    }
    const send = records ? recordFramer({ stdout: q.query.stdout, stderr: q.query.stderr, timestamps: false }) : tty(sb) || !docker ? (b: Buffer) => b : (b: Buffer) => frame(1, b);
    await followFile(path, from, out, send, Promise.race([until, detached]), true);
    out.end();
    return HANDLED;
  });

  r.route({ method: 'GET', path: '/containers/{id}/logs', params: idParams, query: dockerLogsQuery }, async (q) => {
    const sb = ctx.sandbox(q.params.id);
    // berth's own CLI asks without stdout/stderr and gets the bytes as written; Docker clients
    // name the streams and get frames (without a TTY) as moby sends them: from log-relay's
    // records when the sandbox has them (stdout and stderr apart, timestamps), else all as stdout.
    const docker = q.query.stdout || q.query.stderr;
    const records = docker && !tty(sb) && existsSync(recordsFile(ctx.sandboxDir(sb.id)));
    const path = records ? recordsFile(ctx.sandboxDir(sb.id)) : logPath(sb);
    const send = records ? recordFramer(q.query) : docker && !tty(sb) ? (b: Buffer) => frame(1, b) : (b: Buffer) => b;
    const from = q.query.tail >= 0 ? tailOffset(await readFile(path).catch(() => Buffer.alloc(0)), q.query.tail) : 0;
    const out = openStream(q, docker ? 'application/vnd.docker.raw-stream' : 'application/octet-stream');
    const until = q.query.follow && sb.state.status === 'running' ? sandboxes.wait(sb.id, 'not-running') : Promise.resolve();
    await followFile(path, from, out, send, until);
    out.end();
    return HANDLED;
  });

  r.route({ method: 'POST', path: '/containers/{id}/kill', params: idParams, query: killQuery }, async (q) => {
    const sb = ctx.sandbox(q.params.id);
    if (sb.state.status !== 'running') throw new Conflict(`Cannot kill container: ${q.params.id}: container ${sb.id} is not running`);
    const sig = signalOf(q.query.signal);
    await sandboxes.markStoppedByUser(sb.id);
    if (sig === 'SIGKILL' || sig === 9) {
      await sandboxes.stop(sb.id, 0);
      return undefined;
    }
    if (!sb.state.pid) await sandboxes.waitReady(sb.id);
    const cur = ctx.state.sandboxes[sb.id]?.state;
    // Only the process berth recorded (runtime/signal.ts); one that just ended gets nothing.
    if (cur?.pid) signalProcess({ pid: cur.pid, startTime: cur.pidStartTime }, sig);
    return undefined;
  });

  r.route({ method: 'POST', path: '/containers/{id}/rename', params: idParams, query: renameQuery }, async (q) => {
    await ctx.lock.run(async () => {
      const sb = ctx.sandbox(q.params.id);
      const name = q.query.name;
      const other = Object.values(ctx.state.sandboxes).find((s) => s.name === name && s.id !== sb.id);
      if (other) throw new Conflict(`Conflict. The container name "/${name}" is already in use by container "${other.id}". You have to remove (or rename) that container to be able to reuse that name.`);
      if (sb.name === name) throw new BadRequest(`Renaming a container with the same name as its current name`);
      sb.name = name;
      await ctx.persist(sb);
    });
    await ctx.follow().catch(() => undefined);
    return undefined;
  });

  r.route({ method: 'POST', path: '/containers/{id}/resize', params: idParams, query: resizeQuery }, async (q) => {
    const sb = ctx.sandbox(q.params.id);
    if (sb.state.status !== 'running') throw new Conflict(`Container ${sb.id} is not running`);
    sandboxes.resize(sb.id, q.query.h, q.query.w);
    return {};
  });

  // As moby: with since, the recorded events from then first; with until, the stream ends at
  // that time (at once when it has passed); without either, live events until the client goes.
  r.route({ method: 'GET', path: '/events', query: eventsQuery }, async (q) => {
    const { since, until, filters } = q.query;
    const send = (e: DockerEvent) => {
      if (eventMatches(e, filters) && (until === undefined || e.timeNano <= until)) q.res.write(`${JSON.stringify(e)}\n`);
    };
    q.res.writeHead(200, { 'content-type': 'application/json' });
    q.res.flushHeaders();
    // Subscribed before the past is read: nothing falls between the two (emit is synchronous).
    const unsub = events.subscribe(send);
    if (since !== undefined) for (const e of events.past(since, until ?? Infinity)) send(e);
    const closed = new Promise<void>((resolve) => q.res.on('close', () => resolve()));
    const untilMs = until === undefined ? undefined : Math.max(0, until / 1e6 - Date.now());
    let timer: NodeJS.Timeout | undefined;
    // setTimeout cannot wait past 2^31 ms (~24 days): an until further away waits for the client.
    const ended = untilMs === undefined || untilMs > 2 ** 31 - 1 ? closed : Promise.race([closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, untilMs)))]);
    await ended;
    clearTimeout(timer);
    unsub();
    if (!q.res.writableEnded) q.res.end();
    return HANDLED;
  });
}
