// docker exec: create, start (hijacked, 8-byte frames without a TTY, stdin when attached),
// inspect, resize. Image sandboxes exec through the OCI runtime; host-filesystem ones enter the
// command's namespaces and root with nsenter.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { BadRequest, Conflict, NotFound } from '../../model/errors.js';
import type { SandboxRecord } from '../../model/types.js';
import { layerPath } from '../../images/store.js';
import { commandInLayers } from '../../runtime/look-path.js';
import { commandArgv, DEFAULT_PATH } from '../../runtime/launch.js';
import { helperPath } from '../../kernel/binaries.js';
import type { Ctx } from '../context.js';
import { created, HANDLED, type Router } from '../http.js';
import { OCI_RUNTIME, type Sandboxes } from '../sandboxes.js';
import { execCreateBody, execParams, execStartBody, resizeQuery } from '../schema/container-schemas.js';
import { idParams } from '../schema/network-schemas.js';
import { frame, openStream, pipeInput } from './streams.js';
import { relayArgv, removeSize, writeSize } from '../../runtime/tty.js';

const execSizeFile = (sandboxDir: string, execId: string) => join(sandboxDir, `exec-${execId.slice(0, 12)}.tty-size`);

interface ExecRecord {
  id: string;
  sandboxId: string;
  cmd: string[];
  env: string[];
  workingDir: string;
  tty: boolean;
  attachStdin: boolean;
  running: boolean;
  exitCode: number | null;
  pid: number;
  started: boolean;
  detachKeys: Buffer;
  /** user[:group]; '' runs as the container's user. */
  user: string;
  /** The running command (its tty-relay with a TTY), for resize. */
  child?: ChildProcess;
  /** Settles at the first size: from the create body, or the first resize. */
  sized: Promise<void>;
  onSized: () => void;
}

export function addExecRoutes(r: Router, ctx: Ctx, sandboxes: Sandboxes): void {
  const execs = new Map<string, ExecRecord>();
  const get = (id: string) => {
    const e = execs.get(id);
    if (!e) throw new NotFound(`No such exec instance: ${id}`);
    return e;
  };

  r.route({ method: 'POST', path: '/containers/{id}/exec', params: idParams, body: execCreateBody }, async (q) => {
    const sb = ctx.sandbox(q.params.id);
    if (sb.state.status !== 'running') throw new Conflict(`Container ${sb.id} is not running`);
    const id = randomBytes(32).toString('hex');
    // Finished execs are forgotten after a while, as moby does, so the map stays small.
    for (const [k, e] of execs) if (!e.running && e.started && execs.size > 200) execs.delete(k);
    // The TTY's first size, when the client sends it with the exec (berth's CLI; docker's at API 1.42+).
    const sizeGiven = Boolean(q.body.Tty && q.body.ConsoleSize);
    if (q.body.Tty && q.body.ConsoleSize) writeSize(execSizeFile(ctx.sandboxDir(sb.id), id), q.body.ConsoleSize.rows, q.body.ConsoleSize.cols);
    let onSized = () => undefined as void;
    const sized = sizeGiven ? Promise.resolve() : new Promise<void>((r) => (onSized = r));
    execs.set(id, {
      sized,
      onSized, id, sandboxId: sb.id, cmd: q.body.Cmd, env: q.body.Env, workingDir: q.body.WorkingDir, tty: q.body.Tty, attachStdin: q.body.AttachStdin, running: false, exitCode: null, pid: 0, started: false, detachKeys: q.body.DetachKeys, user: q.body.User });
    return created({ Id: id });
  });

  r.route({ method: 'POST', path: '/exec/{id}/start', params: execParams, body: execStartBody }, async (q) => {
    const e = get(q.params.id);
    if (e.started) throw new Conflict(`Error: Exec command ${e.id} has already run`);
    const sb = ctx.sandbox(e.sandboxId);
    if (sb.state.status !== 'running') throw new Conflict(`Container ${sb.id} is not running`);
    if (!sb.state.pid) await sandboxes.waitReady(sb.id);
    const pid = ctx.state.sandboxes[sb.id]?.state.pid ?? 0;
    e.started = true;
    const env = [...sandboxes.envList(sb).filter((x) => !e.env.some((y) => y.split('=')[0] === x.split('=')[0])), ...e.env];
    const cwd = e.workingDir || sb.config.docker?.workingDir || '/';
    // Resolved before the answer opens: an unknown user is a plain error.
    const user = sb.config.image ? await execUser(sandboxes, sb, imageLayers(ctx.cfg.dataRoot, sb), e.user) : [];
    const out = q.body.Detach ? undefined : openStream(q, 'application/vnd.docker.raw-stream', e.attachStdin);
    if (q.body.Detach) q.res.writeHead(200, { 'content-type': 'application/json' }).end();
    const send = (stream: 1 | 2, b: Buffer) => out?.write(e.tty ? b : frame(stream, b));
    if (sb.config.image) {
      const imagesRoot = join(ctx.cfg.dataRoot, 'images');
      const layers = [join(ctx.sandboxDir(sb.id), 'upper'), ...[...sb.config.image.layers].reverse().map((d) => layerPath(imagesRoot, d))];
      if (!(await commandInLayers(layers, e.cmd[0]!, env, cwd))) {
        send(2, Buffer.from(`OCI runtime exec failed: exec failed: unable to start container process: exec: "${e.cmd[0]}": executable file not found in $PATH: unknown\r\n`));
        e.exitCode = 127;
        q.upgrade?.socket.resume();
        out?.end();
        return HANDLED;
      }
    }
    // Every program by absolute path (kernel/binaries.ts), in berthd's minimal environment: the
    // sandbox's environment reaches the command only (runc's --env; env -i for nsenter).
    const argv = sb.config.image
      ? [helperPath(OCI_RUNTIME), '--root', join(ctx.cfg.execRoot, OCI_RUNTIME), 'exec', ...(e.tty ? ['-t'] : []), ...user, '--cwd', cwd, ...env.flatMap((x) => ['--env', x]), sb.id, ...e.cmd]
      : nsenterArgv(pid, sb.config.rootfs, e.cmd, env);
    // With a TTY the command runs on a terminal of its own (runtime/tty.ts), sized by resize.
    const sizeFile = execSizeFile(ctx.sandboxDir(sb.id), e.id);
    const full = e.tty ? [...relayArgv(sizeFile), ...argv] : argv;
    // docker exec -it at API 1.41 sends the terminal's size only after the start: an interactive
    // command waits for it up to 1 s (a shell's first prompt, `stty size`, would see 0x0; the CLI
    // resizes only when its output is a terminal, so a redirected one costs that second).
    if (e.tty && e.attachStdin) await Promise.race([e.sized, new Promise((r) => setTimeout(r, 1000))]);
    const child = spawn(full[0]!, full.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: DEFAULT_PATH } });
    e.running = true;
    e.pid = child.pid ?? 0;
    e.child = child;
    child.stdout.on('data', (b: Buffer) => send(1, b));
    child.stderr.on('data', (b: Buffer) => send(e.tty ? 1 : 2, b));
    child.stdin.on('error', () => undefined);
    const sock = q.upgrade?.socket;
    let detached: Promise<void> = new Promise(() => undefined);
    if (sock && e.attachStdin) {
      detached = pipeInput(sock, q.upgrade!.head, child.stdin, { detachKeys: e.tty ? e.detachKeys : undefined, endOnClose: !e.tty });
    } else {
      sock?.resume();
      child.stdin.end();
    }
    // Detached (the detach keys): the answer ends, the command goes on; its end is still recorded.
    void detached.then(() => out?.end());
    const code = await new Promise<number>((resolve) => {
      child.on('error', () => resolve(126));
      child.on('close', (c, sig) => resolve(c ?? (sig ? 128 + 9 : 1)));
    });
    e.running = false;
    e.exitCode = code;
    e.child = undefined;
    removeSize(sizeFile);
    out?.end();
    return HANDLED;
  });

  r.route({ method: 'GET', path: '/exec/{id}/json', params: execParams }, async (q) => {
    const e = get(q.params.id);
    return {
      ID: e.id,
      Running: e.running,
      ExitCode: e.exitCode,
      ProcessConfig: { tty: e.tty, entrypoint: e.cmd[0], arguments: e.cmd.slice(1), privileged: false, user: '' },
      OpenStdin: e.attachStdin,
      OpenStderr: true,
      OpenStdout: true,
      CanRemove: false,
      ContainerID: e.sandboxId,
      DetachKeys: '',
      Pid: e.pid,
    };
  });

  r.route({ method: 'POST', path: '/exec/{id}/resize', params: execParams, query: resizeQuery }, async (q) => {
    const e = get(q.params.id);
    if (!e.tty || e.exitCode !== null) return {};
    // Before start the size waits in the file for the relay; after, the relay is told to read it.
    writeSize(execSizeFile(ctx.sandboxDir(e.sandboxId), e.id), q.query.h, q.query.w);
    e.onSized();
    e.child?.kill('SIGWINCH');
    return {};
  });
}

const imageLayers = (dataRoot: string, sb: SandboxRecord) => [...(sb.config.image?.layers ?? [])].reverse().map((d) => layerPath(join(dataRoot, 'images'), d));

/** runc exec's --user and --additional-gids: the exec's User, else the container's. */
async function execUser(sandboxes: Sandboxes, sb: SandboxRecord, layers: string[], spec: string): Promise<string[]> {
  const u = await sandboxes.userOf(sb, layers, spec || sb.config.docker?.user || '').catch((err: Error) => {
    throw new BadRequest(err.message);
  });
  return ['--user', `${u.uid}:${u.gid}`, ...u.additionalGids.flatMap((g) => ['--additional-gids', String(g)])];
}

/**
 * docker exec in a sandbox without an image: nsenter (by absolute path) into its namespaces, then
 * `env -i -- KEY=VALUE... [chroot ROOTFS] CMD` as its own command is run (runtime/launch.ts). The
 * mount namespace is the sandbox's, whose root is still the host's, so env and chroot are found
 * where berthd found them; with no root filesystem the command's working directory is kept.
 */
function nsenterArgv(pid: number, rootfs: string, cmd: readonly string[], env: readonly string[]): string[] {
  const vars = Object.fromEntries(env.map((x) => [x.slice(0, x.indexOf('=')), x.slice(x.indexOf('=') + 1)]));
  const bins = { env: helperPath('env'), chroot: helperPath('chroot'), sh: helperPath('sh') };
  return [helperPath('nsenter'), '-t', String(pid), '--net', '--mount', '--uts', ...(rootfs ? [] : ['--wd']), '--', ...commandArgv(cmd, vars, rootfs, bins)];
}
