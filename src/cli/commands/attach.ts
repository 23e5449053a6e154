// berth attach, and berth exec -t: sessions over berthd's hijacked connections (cli/terminal.ts),
// with Docker's detach keys and the terminal's size sent along.
import { Command } from 'commander';
import type { Client } from '../client.js';
import { checkTty, consoleSize, relaySession } from '../terminal.js';
import { DEFAULT_DETACH_KEYS } from '../../daemon/docker/detach-keys.js';

interface ContainerFacts {
  Id: string;
  State: { Running: boolean; ExitCode: number };
  Config: { Tty: boolean; OpenStdin: boolean };
}

export function attachCommand(client: () => Client): Command {
  return new Command('attach')
    .description("Attach your terminal's input and output to a running sandbox")
    .argument('<name>')
    .option('--no-stdin', 'do not attach stdin')
    .option('--detach-keys <keys>', 'keys that detach (default ctrl-p,ctrl-q)')
    .action(async (name: string, o: { stdin: boolean; detachKeys?: string }) => {
      const c = client();
      const sb = await c.call<ContainerFacts>('GET', `/containers/${encodeURIComponent(name)}/json`);
      if (!sb.State.Running) throw new Error('You cannot attach to a stopped container, start it first');
      const stdin = o.stdin && sb.Config.OpenStdin;
      checkTty({ interactive: stdin, tty: sb.Config.Tty });
      const waiter = await c.pending('POST', `/containers/${sb.Id}/wait?condition=next-exit`);
      const result = c.read<{ StatusCode?: number }>(waiter.res);
      result.catch(() => undefined);
      const { sock, head } = await c.upgrade('POST', `/containers/${sb.Id}/attach?stream=1${stdin ? '&stdin=1' : ''}`);
      const how = await relaySession(sock, head, {
        tty: sb.Config.Tty,
        stdin,
        detachKeys: o.detachKeys ?? DEFAULT_DETACH_KEYS,
        resize: (h, w) => c.call('POST', `/containers/${sb.Id}/resize?h=${h}&w=${w}`),
      });
      if (how === 'detached') {
        // As `docker attach`: the sandbox runs on, and the CLI says why it stopped.
        waiter.cancel();
        throw new Error('read escape sequence');
      }
      const res = await result;
      process.exitCode = res?.StatusCode ?? 0;
    });
}

/** berth exec -t: the command runs on a terminal of its own through berthd's exec API. */
export async function execWithTty(c: Client, name: string, cmd: string[], o: { env: string[]; interactive?: boolean; detachKeys?: string; workdir?: string }): Promise<void> {
  checkTty({ interactive: o.interactive, tty: true });
  const body = { Cmd: cmd, Env: o.env, Tty: true, AttachStdin: Boolean(o.interactive), AttachStdout: true, AttachStderr: true, WorkingDir: o.workdir ?? '', ConsoleSize: consoleSize() };
  const { Id } = await c.call<{ Id: string }>('POST', `/containers/${encodeURIComponent(name)}/exec`, body);
  const { sock, head } = await c.upgrade('POST', `/exec/${Id}/start`, { Detach: false, Tty: true });
  const how = await relaySession(sock, head, {
    tty: true,
    stdin: Boolean(o.interactive),
    detachKeys: o.detachKeys ?? DEFAULT_DETACH_KEYS,
    resize: (h, w) => c.call('POST', `/exec/${Id}/resize?h=${h}&w=${w}`),
  });
  if (how === 'detached') return;
  const facts = await c.call<{ ExitCode: number | null }>('GET', `/exec/${Id}/json`);
  process.exitCode = facts.ExitCode ?? 0;
}
