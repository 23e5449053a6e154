// One long-lived `nft -i` that berth's ruleset changes go through, so a change spawns no process
// (each `nft -f -` costs a process start, 4-7 ms here). In interactive mode nft runs each input
// line as one transaction (all of it or none); berth sends a change as one line (its commands
// joined with `;`) followed by a sentinel line that nft refuses with a syntax error naming it.
// nft writes errors only to stderr, in order: what it wrote before the sentinel's own error is
// the change's error (nothing when it was applied). Scripts that cannot be one line (blocks over
// several lines, comments, very long ones) still go through `nft -f -` (kernel/nft.ts).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { Internal } from '../model/errors.js';
import { absoluteArgv } from './binaries.js';
import { holdChild } from './child-hold.js';

/** Longer changes (thousands of elements) go through `nft -f -`: one process is then nothing. */
const MAX_LINE = 256 * 1024;
const REPLY_TIMEOUT_MS = 60_000;

interface Pending {
  token: string;
  resolve: (stderr: string) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** The script as one line of commands, or undefined when it cannot be sent as one. */
export function oneLine(script: string): string | undefined {
  if (script.length > MAX_LINE || script.includes('#')) return undefined;
  const lines = script.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  for (const l of lines) {
    // Each line must be a whole command: braces opened on it are closed on it.
    let depth = 0;
    for (const ch of l) {
      if (ch === '{') depth++;
      else if (ch === '}') depth--;
    }
    if (depth !== 0) return undefined;
  }
  return lines.join('; ');
}

export class NftChannel {
  private child: ChildProcessWithoutNullStreams | undefined;
  private readonly queue: Pending[] = [];
  private next = 1;
  private err = '';

  /** argv: `nft -i`, possibly wrapped in nsenter (kernel/nft.ts inNetns). */
  constructor(private readonly argv: readonly string[]) {}

  /** PID of the running nft (berth's own ruleset changes come from it: daemon/firewall-guard.ts). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Applies one line (see oneLine) as one transaction. Resolves with nft's error text: '' when
   * it was applied, nft's message (with "Error:") when it was refused and nothing changed.
   * Rejects when nft itself failed (then whether it was applied is not known).
   */
  apply(line: string, onPid?: (pid: number) => void): Promise<string> {
    const child = this.ensure();
    if (child.pid !== undefined) onPid?.(child.pid);
    const token = `berth_sync_${this.next++}`;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Internal(`nft did not answer in ${REPLY_TIMEOUT_MS / 1000} s`));
        child.kill('SIGKILL');
      }, REPLY_TIMEOUT_MS);
      this.queue.push({ token, resolve, reject, timer });
      if (this.queue.length === 1) this.hold(child, true);
      child.stdin.write(`${line}\n${token}\n`);
    });
  }

  /** Starts nft now (at berthd's start), so the first change does not wait for it. */
  warm(): void {
    this.ensure();
  }

  close(): void {
    this.child?.stdin.end();
    this.child = undefined;
  }

  private ensure(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    const [cmd, ...args] = absoluteArgv(this.argv);
    const child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.err = '';
    child.stdout.resume(); // nothing berth asks for is written there
    child.stderr.setEncoding('utf8').on('data', (d: string) => this.onErr(d));
    child.stdin.on('error', () => undefined);
    const lost = (why: string) => {
      if (this.child === child) this.child = undefined;
      for (const p of this.queue.splice(0)) {
        clearTimeout(p.timer);
        p.reject(new Internal(`nft -i ${why}`));
      }
    };
    child.on('error', (e) => lost(`cannot run: ${e.message}`));
    child.on('exit', (code, signal) => lost(`exited (${signal ?? code})`));
    this.hold(child, false);
    return child;
  }

  private hold(child: ChildProcessWithoutNullStreams, on: boolean): void {
    holdChild(child, on, 'stderr');
  }

  /**
   * stderr up to the sentinel line belongs to the oldest change in flight. The sentinel's own
   * error is three lines: "Error: syntax error ...", the token, a caret line; the first is
   * dropped from the change's text and the caret line skipped.
   */
  private onErr(d: string): void {
    this.err += d;
    for (;;) {
      const head = this.queue[0];
      if (!head) return;
      const at = this.err.indexOf(`\n${head.token}\n`);
      if (at < 0) return;
      const caretEnd = this.err.indexOf('\n', at + head.token.length + 2);
      if (caretEnd < 0) return; // the caret line has not arrived yet
      const before = this.err.slice(0, at);
      const ownError = before.lastIndexOf('\n');
      const text = ownError < 0 ? '' : before.slice(0, ownError + 1);
      this.err = this.err.slice(caretEnd + 1);
      this.queue.shift();
      clearTimeout(head.timer);
      if (this.queue.length === 0 && this.child) this.hold(this.child, false);
      head.resolve(text);
    }
  }
}
