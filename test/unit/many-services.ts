// A state with many vip services (n services x r replicas on one network), for the planner's
// memoization test and bench/plan/vip-plan-profile.ts.
import type { BerthState, SandboxRecord, ServiceRecord } from '../../src/model/types.js';
import { network, stateOf } from './fw-fixture.js';
import { replica, serviceRecord } from './service-fixture.js';

export const ipOf = (i: number): string => `10.${90 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;

export function manyServices(n: number, r: number): BerthState {
  const net = network('app', 'br-app', '10.89.0.0/24');
  const services: Record<string, ServiceRecord> = {};
  const replicas: SandboxRecord[] = [];
  let k = 1;
  for (let i = 0; i < n; i++) {
    const svc = serviceRecord(`svc${i}id`, `svc${i}`, { replicas: r, ...(i % 10 === 0 ? { ports: [{ published: 20000 + i, target: 80, proto: 'tcp' as const }] } : {}) }, { 'net-app': ipOf(k++) });
    services[svc.id] = svc;
    for (let s = 1; s <= r; s++) replicas.push(replica(svc, s, ipOf(k++)));
  }
  const st = stateOf([net], replicas);
  st.services = services;
  return st;
}

/** A copy of `st` where replica `name` runs or not (sandbox records copied, nothing shared that changes). */
export function withRunning(st: BerthState, name: string, running: boolean): BerthState {
  const sb = Object.values(st.sandboxes).find((s) => s.name === name)!;
  const copy: SandboxRecord = { ...sb, state: { ...sb.state, status: running ? 'running' : 'exited' } };
  return { ...st, sandboxes: { ...st.sandboxes, [sb.id]: copy } };
}
