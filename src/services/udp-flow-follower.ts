// Follows state: when a replica leaves a VIP's rotation (unhealthy, exited, taken down), its
// conntrack entries of UDP flows through that VIP (or a published UDP service port) are
// deleted, so the client's next datagram is balanced again instead of going to a replica that
// is gone. TCP flows are left alone: an established connection stays with its replica.
import { conntrackDeleteReplicaArgv } from '../kernel/conntrack.js';
import { run } from '../kernel/exec.js';
import type { StateFollower } from '../daemon/context.js';
import type { Logger } from '../daemon/log.js';
import type { BerthState } from '../model/types.js';
import { leftRotation, rotationKeys, type RotationEntry } from '../plan/service-view.js';

export class UdpFlowFollower implements StateFollower {
  private before = new Map<string, RotationEntry>();

  constructor(private readonly log: Logger) {}

  async sync(state: BerthState): Promise<void> {
    const after = rotationKeys(state);
    const gone = leftRotation(this.before, after);
    this.before = after;
    for (const f of gone) {
      const r = await run(conntrackDeleteReplicaArgv(f), { timeoutMs: 5000 }).catch((e: Error) => ({ code: 1, stderr: e.message, stdout: '' }));
      if (r.code !== 0 && !/0 flow entries/.test(r.stderr)) this.log('warn', `cannot delete UDP conntrack entries of ${f.replica}: ${r.stderr.trim()}`);
    }
  }

  async reconcile(state: BerthState): Promise<void> {
    this.before = rotationKeys(state);
  }
}
