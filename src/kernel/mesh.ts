// The routing mesh's return path inside a replica's namespace (planned by plan/mesh-plan.ts and
// plan/link-plan.ts meshRouteBatch): one nft transaction, then the policy rules brought in line
// with what the namespace holds (listed, so a berthd restart does not double them).
import type { IfName, Ipv4 } from '../model/types.js';
import { MESH_RULE_PRIORITY, meshRouteBatch } from '../plan/link-plan.js';
import { runOk } from './exec.js';
import { ipBatch } from './links.js';
import { inNetns } from './nft.js';

interface RuleJson {
  priority?: number;
  fwmark?: string;
}

export async function applyMeshReturn(netnsPath: string, nftText: string, routes: ReadonlyArray<{ mark: number; via: Ipv4; dev: IfName }>): Promise<void> {
  await runOk(inNetns(netnsPath, ['nft', '-f', '-']), { input: nftText });
  const rules = JSON.parse((await runOk(inNetns(netnsPath, ['ip', '-j', 'rule', 'show']))) || '[]') as RuleJson[];
  const have = new Set(rules.filter((r) => r.priority === MESH_RULE_PRIORITY && r.fwmark).map((r) => Number(r.fwmark)));
  const want = new Set(routes.map((r) => r.mark));
  await ipBatch(meshRouteBatch([...have].filter((m) => !want.has(m)), routes, have), netnsPath);
}
