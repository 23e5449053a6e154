// Long-lived helper children (berth-netlink, nft -i) must not keep berthd (or a test) alive while
// idle, yet must while a request is in flight: their process and pipes are ref'd and unref'd
// together. The pipes are sockets (ref/unref), typed as plain streams.
import type { ChildProcessWithoutNullStreams } from 'node:child_process';

/** Holds (`on`) or releases the child; while held, `reply` (the pipe its answers come on) keeps the loop alive. */
export function holdChild(child: ChildProcessWithoutNullStreams, on: boolean, reply: 'stdout' | 'stderr'): void {
  const pipes = [child.stdout, child.stderr, child.stdin] as unknown as Array<{ ref?: () => void; unref?: () => void }>;
  if (on) {
    child.ref();
    pipes[reply === 'stdout' ? 0 : 1]?.ref?.();
  } else {
    child.unref();
    for (const p of pipes) p.unref?.();
  }
}
