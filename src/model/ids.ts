// Identifiers: 64 hex digits like Docker's, shown shortened to 12.
import { randomBytes } from 'node:crypto';
import type { NetworkId, SandboxId } from './types.js';

export function newId(): string {
  return randomBytes(32).toString('hex');
}
export const newNetworkId = (): NetworkId => newId() as NetworkId;
export const newSandboxId = (): SandboxId => newId() as SandboxId;
/** A sandbox id another host reported (etcd): 64 hex digits, or refused. */
export function sandboxIdOf(text: string): SandboxId {
  if (!/^[0-9a-f]{64}$/.test(text)) throw new Error(`not a sandbox id: ${JSON.stringify(text.slice(0, 80))}`);
  return text as SandboxId;
}
export const shortId = (id: string): string => id.slice(0, 12);

/** Docker derives a container's MAC from its IPv4 address: 02:42 followed by the four address bytes. */
export function macFromIp(ip: string): string {
  const hex = ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'));
  return ['02', '42', ...hex].join(':');
}
