// A service update as a pure function of the spec: what `berth service update` changes, and
// whether the change rolls the replicas (what they run changed) or only scales them. Shared by
// services on one host and services across hosts (whose spec lives in etcd).
import { BadRequest } from './errors.js';
import { replicasOf } from './service-spec.js';
import type { ServiceSpec } from './types.js';

export interface UpdateRequest {
  replicas?: number;
  /** KEY=VALUE pairs added or replaced in the environment (rolls the replicas). */
  envAdd?: string[];
  parallelism?: number;
  delayMs?: number;
}

/** The next spec, and whether the replicas must be replaced; undefined when nothing changes. */
export function applyUpdate(spec: ServiceSpec, req: UpdateRequest): { spec: ServiceSpec; roll: boolean } | undefined {
  const next: ServiceSpec = { ...spec, env: [...spec.env], update: { ...spec.update } };
  if (req.replicas !== undefined) next.replicas = replicasOf(req.replicas);
  if (req.parallelism !== undefined) {
    if (!Number.isInteger(req.parallelism) || req.parallelism < 0) throw new BadRequest('invalid --update-parallelism: give a whole number (0: all at once)');
    next.update.parallelism = req.parallelism;
  }
  if (req.delayMs !== undefined) next.update.delayMs = req.delayMs;
  let roll = false;
  for (const kv of req.envAdd ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new BadRequest(`invalid environment variable "${kv}": expected KEY=VALUE`);
    const key = kv.slice(0, i + 1);
    const env = [...next.env.filter((e) => !e.startsWith(key)), kv];
    if (JSON.stringify(env) !== JSON.stringify(next.env)) roll = true;
    next.env = env;
  }
  if (JSON.stringify(next) === JSON.stringify(spec)) return undefined;
  return { spec: next, roll };
}
