// Persistence behind one interface. The daemon keeps the state in memory and writes every
// committed change through here before it answers, so a crash never loses an acknowledged change.
import type { BerthState } from '../model/types.js';

export interface Store {
  load(): Promise<BerthState>;
  save(state: BerthState): Promise<void>;
}

export function emptyState(): BerthState {
  return { version: 1, networks: {}, sandboxes: {} };
}
