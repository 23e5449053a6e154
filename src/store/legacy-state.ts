// Data roots written before the record store kept everything in DATA_ROOT/state.json
// (version 1, replaced whole on every change). It is read once, written out as records, and
// put aside as state.json.migrated. There is no earlier copy of that file: if it is damaged,
// berthd refuses to start and names it rather than start empty and forget running sandboxes.
import { readFile, rename } from 'node:fs/promises';
import type { BerthState } from '../model/types.js';
import { checkNetwork, checkSandbox } from './record-shape.js';
import type { RecordStore } from './record-store.js';
import { StoreDamaged } from './store.js';

export async function migrateLegacyState(path: string, store: RecordStore): Promise<BerthState> {
  let state: BerthState;
  try {
    state = JSON.parse(await readFile(path, 'utf8')) as BerthState;
    if (typeof state !== 'object' || state === null) throw new Error('not a JSON object');
    if (state.version !== 1) throw new Error(`unsupported state version ${String(state.version)}`);
    for (const [id, n] of Object.entries(state.networks ?? {})) checkNetwork(n, id);
    for (const [id, s] of Object.entries(state.sandboxes ?? {})) checkSandbox(s, id);
  } catch (err) {
    throw new StoreDamaged(
      `state file ${path} is damaged (${(err as Error).message}) and there is no previous copy of it. ` +
        `berthd will not start without it: it may describe running sandboxes. Restore it from a backup, or move it away to start empty.`,
    );
  }
  state = { version: 1, networks: state.networks ?? {}, sandboxes: state.sandboxes ?? {}, hostServices: state.hostServices ?? [] };
  await store.writeAll(state);
  await rename(path, `${path}.migrated`);
  return state;
}
