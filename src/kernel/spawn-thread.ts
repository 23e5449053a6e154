// The worker thread behind kernel/exec.ts's run(): starts each external program here, off berthd's
// main event loop. Node's spawn() waits until the child has executed its program (vfork), which on
// a busy host takes up to tens of ms per command; on the main loop that stalls the embedded DNS.
// Messages in: {id, argv, input?, timeoutMs?}; out: {id, pid} once started, then {id, code,
// stdout, stderr} or {id, error}.
import { spawn } from 'node:child_process';
import { parentPort } from 'node:worker_threads';

export interface SpawnRequest {
  id: number;
  argv: readonly string[];
  input?: string;
  timeoutMs?: number;
}

export type SpawnReply =
  | { id: number; pid: number }
  | { id: number; code: number; stdout: string; stderr: string }
  | { id: number; error: string };

const port = parentPort;
if (port) {
  port.on('message', (m: SpawnRequest) => {
    const reply = (r: SpawnReply): void => port.postMessage(r);
    const [cmd, ...args] = m.argv;
    if (!cmd) return reply({ id: m.id, error: 'empty command' });
    let child;
    try {
      child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (err) {
      return reply({ id: m.id, error: (err as Error).message });
    }
    if (child.pid !== undefined) reply({ id: m.id, pid: child.pid });
    let stdout = '';
    let stderr = '';
    let done = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), m.timeoutMs ?? 15_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      if (done) return;
      done = true;
      reply({ id: m.id, error: err.message });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (done) return;
      done = true;
      reply({ id: m.id, code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(m.input ?? '');
  });
}
