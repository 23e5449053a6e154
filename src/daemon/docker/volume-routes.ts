// Docker's /volumes routes over named volumes: directories under DATA_ROOT/volumes/NAME/_data
// (the same place -v NAME:/path uses), labels beside them in NAME/labels.json.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Conflict, NotFound } from '../../model/errors.js';
import type { Ctx } from '../context.js';
import { created, type Router } from '../http.js';
import { createVolumeBody, removeVolumeQuery, volumeParams } from '../schema/volume-schemas.js';

export function addVolumeRoutes(r: Router, ctx: Ctx): void {
  const root = join(ctx.cfg.dataRoot, 'volumes');
  const shape = async (name: string) => {
    const dir = join(root, name);
    const st = await stat(join(dir, '_data')).catch(() => undefined);
    if (!st) throw new NotFound(`get ${name}: no such volume`);
    const labels = JSON.parse(await readFile(join(dir, 'labels.json'), 'utf8').catch(() => '{}')) as Record<string, string>;
    return { Name: name, Driver: 'local', Mountpoint: join(dir, '_data'), CreatedAt: st.birthtime.toISOString(), Labels: labels, Scope: 'local', Options: {} };
  };
  const users = (name: string) =>
    Object.values(ctx.state.sandboxes).filter((s) => (s.config.docker?.binds ?? []).some((b) => b.source === join(root, name, '_data')));

  r.route({ method: 'GET', path: '/volumes' }, async () => {
    const names = await readdir(root).catch(() => [] as string[]);
    const vols = [];
    for (const n of names.sort()) vols.push(await shape(n).catch(() => undefined));
    return { Volumes: vols.filter(Boolean), Warnings: [] };
  });
  r.route({ method: 'POST', path: '/volumes/create', body: createVolumeBody }, async (q) => {
    const name = q.body.Name ?? randomBytes(32).toString('hex');
    const dir = join(root, name);
    const exists = await stat(join(dir, '_data')).then(() => true, () => false);
    if (!exists) {
      await mkdir(join(dir, '_data'), { recursive: true });
      await writeFile(join(dir, 'labels.json'), JSON.stringify(q.body.Labels));
    }
    return created(await shape(name));
  });
  r.route({ method: 'GET', path: '/volumes/{name}', params: volumeParams }, async (q) => shape(q.params.name));
  r.route({ method: 'DELETE', path: '/volumes/{name}', params: volumeParams, query: removeVolumeQuery }, async (q) => {
    await shape(q.params.name);
    const u = users(q.params.name);
    if (u.length) throw new Conflict(`remove ${q.params.name}: volume is in use - [${u.map((s) => s.id).join(', ')}]`);
    await rm(join(root, q.params.name), { recursive: true, force: true });
  });
  r.route({ method: 'POST', path: '/volumes/prune' }, async () => {
    const deleted: string[] = [];
    for (const n of await readdir(root).catch(() => [] as string[])) {
      if (users(n).length) continue;
      await rm(join(root, n), { recursive: true, force: true });
      deleted.push(n);
    }
    return { VolumesDeleted: deleted, SpaceReclaimed: 0 };
  });
}
