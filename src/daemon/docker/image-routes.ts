// Docker's /images routes over the local image store: list, inspect, tag, remove, load, import;
// a pull answers 404 (there is no registry). Shapes as moby's at API 1.41.
import { arch } from 'node:os';
import { BadRequest, NotFound } from '../../model/errors.js';
import type { Image, ImageStore } from '../../images/store.js';
import { familiarName, splitRef } from '../../images/reference.js';
import type { Ctx } from '../context.js';
import { created, HANDLED, type Router } from '../http.js';
import { changesList, createImageQuery, imageListQuery, imageParams, loadQuery, removeImageQuery, tagQuery } from '../schema/image-schemas.js';

const goArch = () => (arch() === 'x64' ? 'amd64' : arch());

function seconds(iso: string | undefined): number {
  const t = Date.parse(iso ?? '');
  return Number.isFinite(t) ? Math.floor(t / 1000) : 0;
}

/** The container config fields Docker always lists, with the image's values. */
export function fullConfig(c: Image['config']['config']): Record<string, unknown> {
  return {
    Hostname: '', Domainname: '', User: c?.User ?? '', AttachStdin: false, AttachStdout: false, AttachStderr: false,
    ExposedPorts: c?.ExposedPorts ?? null, Tty: false, OpenStdin: false, StdinOnce: false,
    Env: c?.Env ?? null, Cmd: c?.Cmd ?? null, Image: '', Volumes: c?.Volumes ?? null, WorkingDir: c?.WorkingDir ?? '',
    Entrypoint: c?.Entrypoint ?? null, OnBuild: c?.OnBuild ?? null, Labels: c?.Labels ?? null,
    ...(c?.StopSignal ? { StopSignal: c.StopSignal } : {}),
  };
}

export function imageInspect(img: Image, layerDir: (d: string) => string): Record<string, unknown> {
  const c = img.config;
  return {
    Id: img.id,
    RepoTags: img.repoTags,
    RepoDigests: [],
    Parent: '',
    Comment: c.comment ?? '',
    Created: c.created ?? '',
    Container: '',
    ContainerConfig: fullConfig(c.container_config ?? null),
    DockerVersion: '',
    Author: c.author ?? '',
    Config: fullConfig(c.config ?? null),
    Architecture: c.architecture ?? goArch(),
    Os: c.os ?? 'linux',
    Size: img.size,
    VirtualSize: img.size,
    GraphDriver: { Name: 'overlay', Data: { LowerDir: [...c.rootfs.diff_ids].reverse().map(layerDir).join(':') } },
    RootFS: { Type: 'layers', Layers: c.rootfs.diff_ids },
    Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
  };
}

export function addImageRoutes(r: Router, ctx: Ctx, images: ImageStore): void {
  r.route({ method: 'GET', path: '/images/json', query: imageListQuery }, async () =>
    (await images.list()).map((img) => ({
      Id: img.id,
      ParentId: '',
      RepoTags: img.repoTags.length ? img.repoTags : ['<none>:<none>'],
      RepoDigests: img.repoTags.length ? [] : ['<none>@<none>'],
      Created: seconds(img.config.created),
      Size: img.size,
      SharedSize: -1,
      VirtualSize: img.size,
      Labels: img.config.config?.Labels ?? null,
      Containers: -1,
    })),
  );
  r.route({ method: 'GET', path: '/images/{name*}/json', params: imageParams }, async (q) => imageInspect(await images.get(q.params.name), (d) => images.layerDir(d)));
  r.route({ method: 'GET', path: '/images/{name*}/history', params: imageParams }, async (q) => {
    const img = await images.get(q.params.name);
    return [{ Id: img.id, Created: seconds(img.config.created), CreatedBy: '', Tags: img.repoTags, Size: img.size, Comment: img.config.comment ?? '' }];
  });
  r.route({ method: 'POST', path: '/images/{name*}/tag', params: imageParams, query: tagQuery }, async (q) => {
    await images.tag(q.params.name, q.query.repo, q.query.tag || undefined);
    return created({});
  });
  r.route({ method: 'DELETE', path: '/images/{name*}', params: imageParams, query: removeImageQuery }, async (q) =>
    images.remove(q.params.name, q.query.force, (id) => {
      const users = Object.values(ctx.state.sandboxes).filter((s) => s.config.image?.id === id);
      return { running: users.filter((s) => s.state.status === 'running').map((s) => s.id), stopped: users.filter((s) => s.state.status !== 'running').map((s) => s.id) };
    }),
  );
  r.route({ method: 'POST', path: '/images/create', query: createImageQuery, rawBody: true }, async (q) => {
    if (q.query.fromImage) {
      q.raw.resume();
      const { name, tag } = splitRef(q.query.fromImage);
      const ref = `${familiarName(name)}:${q.query.tag || tag || 'latest'}`;
      throw new NotFound(`pull access denied for ${familiarName(name)}: berth has no registry, so ${ref} cannot be pulled; load it with docker load or make it with docker import`);
    }
    if (q.query.fromSrc !== '-') {
      q.raw.resume();
      throw new BadRequest(q.query.fromSrc ? `import from a URL is not supported: give the archive on stdin (docker import FILE or -)` : 'give fromSrc=- (the archive in the body) or fromImage');
    }
    const all = new URL(q.raw.url ?? '/', 'http://berth').searchParams.getAll('changes');
    const changes = changesList.safeParse(all);
    if (!changes.success) {
      q.raw.resume();
      throw new BadRequest(`invalid query parameter changes: ${changes.error.issues[0]?.message ?? 'bad value'}`);
    }
    const id = await images.importTar(q.raw, { repo: q.query.repo, tag: q.query.tag, changes: changes.data, message: q.query.message, arch: goArch() });
    q.res.writeHead(200, { 'content-type': 'application/json' });
    q.res.end(`${JSON.stringify({ status: id })}\n`);
    return HANDLED;
  });
  r.route({ method: 'POST', path: '/images/load', query: loadQuery, rawBody: true }, async (q) => {
    const lines = await images.loadTar(q.raw);
    q.res.writeHead(200, { 'content-type': 'application/json' });
    q.res.end(lines.map((l) => `${JSON.stringify({ stream: `${l}\n` })}\n`).join(''));
    return HANDLED;
  });
  r.route({ method: 'POST', path: '/images/prune' }, async () => ({ ImagesDeleted: null, SpaceReclaimed: 0 }));
}
