// The local image store (no registry): image configs, tags and layers under DATA_ROOT/images.
//   configs/<hex>.json   an image's config, byte for byte; its ID is sha256 of those bytes
//   layers/<hex>/        a layer unpacked, <hex> its diff_id (sha256 of the uncompressed tar),
//                        whiteouts turned into overlayfs ones so the layers stack with overlay
//   index.json           tags -> image IDs, layer sizes
// Images arrive by `docker import` (one tar is one layer) and `docker load` (Docker's tar layout,
// or the OCI layout). The pure parts are reference.ts and changes.ts.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, normalize } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { runOk } from '../kernel/exec.js';
import { BadRequest, Conflict, NotFound } from '../model/errors.js';
import { Mutex } from '../daemon/mutex.js';
import { applyChanges, type ImageConfig } from './changes.js';
import { normalizeRef, splitRef } from './reference.js';

/** The image config file (OCI / Docker shape), as far as berth reads it. */
export interface ImageConfigFile {
  architecture?: string;
  os?: string;
  created?: string;
  author?: string;
  comment?: string;
  config?: ImageConfig | null;
  container_config?: ImageConfig | null;
  rootfs: { type: string; diff_ids: string[] };
  history?: unknown[];
}

export interface Image {
  /** "sha256:<hex>" */
  id: string;
  repoTags: string[];
  config: ImageConfigFile;
  /** Sum of the uncompressed layer sizes. */
  size: number;
}

interface Index {
  tags: Record<string, string>;
  layerSizes: Record<string, number>;
}

const HEX = /^[0-9a-f]{64}$/;

/** Docker's 12-digit short ID. */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

/** Where a layer is unpacked, from the images root (DATA_ROOT/images). */
export function layerPath(imagesRoot: string, diffId: string): string {
  return join(imagesRoot, 'layers', diffId.replace(/^sha256:/, ''));
}

export class ImageStore {
  private readonly lock = new Mutex();
  readonly root: string;

  constructor(dataRoot: string) {
    this.root = join(dataRoot, 'images');
  }

  private async index(): Promise<Index> {
    const text = await readFile(join(this.root, 'index.json'), 'utf8').catch(() => '');
    if (!text) return { tags: {}, layerSizes: {} };
    return JSON.parse(text) as Index;
  }

  private async saveIndex(ix: Index): Promise<void> {
    await mkdir(this.root, { recursive: true });
    const tmp = join(this.root, 'index.json.tmp');
    await writeFile(tmp, JSON.stringify(ix, null, 1));
    await rename(tmp, join(this.root, 'index.json'));
  }

  /** The directory of a layer (for overlay's lowerdir). */
  layerDir(diffId: string): string {
    return layerPath(this.root, diffId);
  }

  async list(): Promise<Image[]> {
    const ix = await this.index();
    const files = await readdir(join(this.root, 'configs')).catch(() => [] as string[]);
    const out: Image[] = [];
    for (const f of files) {
      if (!f.endsWith('.json')) continue;
      const id = `sha256:${f.slice(0, -5)}`;
      out.push(await this.load(id, ix));
    }
    return out.sort((a, b) => (b.config.created ?? '').localeCompare(a.config.created ?? ''));
  }

  private async load(id: string, ix: Index): Promise<Image> {
    const config = JSON.parse(await readFile(join(this.root, 'configs', `${id.slice(7)}.json`), 'utf8')) as ImageConfigFile;
    const repoTags = Object.entries(ix.tags).filter(([, v]) => v === id).map(([k]) => k).sort();
    const size = config.rootfs.diff_ids.reduce((n, d) => n + (ix.layerSizes[d] ?? 0), 0);
    return { id, repoTags, config, size };
  }

  /** By name[:tag] (docker.io/library/ spellings too), full ID, or ID prefix; else 404 as Docker. */
  async get(ref: string): Promise<Image> {
    const ix = await this.index();
    const found = await this.find(ref, ix);
    if (!found) throw new NotFound(`No such image: ${ref}`);
    return this.load(found, ix);
  }

  private async find(ref: string, ix: Index): Promise<string | undefined> {
    try {
      const byTag = ix.tags[normalizeRef(ref)];
      if (byTag) return byTag;
    } catch {
      /* not a name: maybe an ID */
    }
    const hex = ref.replace(/^sha256:/, '');
    if (!/^[0-9a-f]{1,64}$/.test(hex)) return undefined;
    const ids = (await readdir(join(this.root, 'configs')).catch(() => [] as string[])).map((f) => f.slice(0, -5)).filter((h) => h.startsWith(hex));
    if (ids.length > 1) throw new BadRequest(`image ID ${ref} is ambiguous: give more of it`);
    return ids[0] ? `sha256:${ids[0]}` : undefined;
  }

  /**
   * `docker import`: the tar (plain or gzip) becomes one layer; `changes` are Dockerfile lines
   * for the config. Tags repo (and tag) when given. Returns the image ID.
   */
  async importTar(body: Readable, opts: { repo?: string; tag?: string; changes: string[]; message?: string; arch: string }): Promise<string> {
    const name = opts.repo ? normalizeRef(opts.repo, opts.tag) : undefined;
    const config = applyChanges({}, opts.changes);
    const tmp = await this.tmpDir();
    try {
      const file = join(tmp, 'layer');
      await pipeline(body, createWriteStream(file));
      if ((await stat(file)).size === 0) throw new BadRequest('the imported archive is empty: give a tar file (docker import FILE or - for stdin)');
      return await this.lock.run(async () => {
        const ix = await this.index();
        const layer = await this.addLayer(file, ix);
        const now = new Date().toISOString();
        const cfg: ImageConfigFile = {
          architecture: opts.arch,
          os: 'linux',
          created: now,
          ...(opts.message ? { comment: opts.message } : {}),
          config,
          rootfs: { type: 'layers', diff_ids: [layer] },
          history: [{ created: now, comment: opts.message || 'Imported from -' }],
        };
        const id = await this.addConfig(Buffer.from(JSON.stringify(cfg)));
        if (name) ix.tags[name] = id;
        await this.saveIndex(ix);
        return id;
      });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /** `docker load`: Docker's layout (manifest.json) or the OCI layout (index.json). Returns what to print. */
  async loadTar(body: Readable): Promise<string[]> {
    const tmp = await this.tmpDir();
    try {
      const file = join(tmp, 'archive.tar');
      await pipeline(body, createWriteStream(file));
      const dir = join(tmp, 'x');
      await mkdir(dir);
      await runOk(['tar', '-x', '-f', file, '-C', dir, '--no-same-owner'], { timeoutMs: 600_000 }).catch((e: Error) => {
        throw new BadRequest(`the archive is not a tar file docker load can read: ${e.message}`);
      });
      const entries = await manifestEntries(dir);
      return await this.lock.run(async () => {
        const ix = await this.index();
        const lines: string[] = [];
        for (const e of entries) {
          const configBytes = await readFile(inside(dir, e.config));
          const cfg = parseConfig(configBytes);
          if (cfg.rootfs.diff_ids.length !== e.layers.length) {
            throw new BadRequest(`invalid manifest: ${e.layers.length} layers but the config lists ${cfg.rootfs.diff_ids.length} diff_ids`);
          }
          for (const [i, l] of e.layers.entries()) {
            const diffId = await this.addLayer(inside(dir, l), ix);
            if (diffId !== cfg.rootfs.diff_ids[i]) throw new BadRequest(`layer ${l}: its content is ${diffId}, the config expects ${cfg.rootfs.diff_ids[i]}`);
          }
          const id = await this.addConfig(configBytes);
          const tags = e.tags.flatMap((t) => {
            try {
              return [normalizeRef(t)];
            } catch {
              return [];
            }
          });
          for (const t of tags) {
            const old = ix.tags[t];
            if (old && old !== id) lines.push(`The image ${t} already exists, renaming the old one with ID ${old} to empty string`);
            ix.tags[t] = id;
            lines.push(`Loaded image: ${t}`);
          }
          if (!tags.length) lines.push(`Loaded image ID: ${id}`);
        }
        await this.saveIndex(ix);
        return lines;
      });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  async tag(ref: string, repo: string, tag: string | undefined): Promise<void> {
    const target = normalizeRef(repo, tag);
    await this.lock.run(async () => {
      const ix = await this.index();
      const id = await this.find(ref, ix);
      if (!id) throw new NotFound(`No such image: ${ref}`);
      ix.tags[target] = id;
      await this.saveIndex(ix);
    });
  }

  /**
   * `docker rmi`: a tag of an image with other tags is only untagged; otherwise the image goes,
   * and the layers no other image uses. usedBy names the containers made from an image.
   */
  async remove(ref: string, force: boolean, usedBy: (id: string) => { running: string[]; stopped: string[] }): Promise<Array<Record<string, string>>> {
    return this.lock.run(async () => {
      const ix = await this.index();
      const id = await this.find(ref, ix);
      if (!id) throw new NotFound(`No such image: ${ref}`);
      const tags = Object.keys(ix.tags).filter((t) => ix.tags[t] === id);
      let byTag: string | undefined;
      try {
        byTag = tags.find((t) => t === normalizeRef(ref));
      } catch {
        byTag = undefined;
      }
      const out: Array<Record<string, string>> = [];
      if (byTag && tags.length > 1) {
        delete ix.tags[byTag];
        await this.saveIndex(ix);
        return [{ Untagged: byTag }];
      }
      const users = usedBy(id);
      if (users.running.length) {
        throw new Conflict(`conflict: unable to ${byTag ? `remove repository reference "${ref}"` : `delete ${shortId(id)}`} (cannot be forced) - image is being used by running container ${shortId(users.running[0]!)}`);
      }
      if (users.stopped.length && !force) {
        throw new Conflict(
          byTag
            ? `conflict: unable to remove repository reference "${ref}" (must force) - container ${shortId(users.stopped[0]!)} is using its referenced image ${shortId(id)}`
            : `conflict: unable to delete ${shortId(id)} (must be forced) - image is being used by stopped container ${shortId(users.stopped[0]!)}`,
        );
      }
      if (!byTag && tags.length > 1 && !force) {
        throw new Conflict(`conflict: unable to delete ${shortId(id)} (must be forced) - image is referenced in multiple repositories`);
      }
      for (const t of tags) {
        delete ix.tags[t];
        out.push({ Untagged: t });
      }
      const img = await this.load(id, ix);
      await rm(join(this.root, 'configs', `${id.slice(7)}.json`), { force: true });
      out.push({ Deleted: id });
      // Layers of other images, and of containers made from this one, stay.
      const keep = new Set<string>();
      for (const other of await this.list()) for (const d of other.config.rootfs.diff_ids) keep.add(d);
      if (!users.stopped.length) {
        for (const d of img.config.rootfs.diff_ids) {
          if (keep.has(d)) continue;
          keep.add(d);
          await rm(this.layerDir(d), { recursive: true, force: true });
          delete ix.layerSizes[d];
          out.push({ Deleted: d });
        }
      }
      await this.saveIndex(ix);
      return out;
    });
  }

  private async tmpDir(): Promise<string> {
    await mkdir(join(this.root, 'tmp'), { recursive: true });
    return mkdtemp(join(this.root, 'tmp', 'in-'));
  }

  private async addConfig(bytes: Buffer): Promise<string> {
    const hex = createHash('sha256').update(bytes).digest('hex');
    await mkdir(join(this.root, 'configs'), { recursive: true });
    const path = join(this.root, 'configs', `${hex}.json`);
    await writeFile(`${path}.tmp`, bytes);
    await rename(`${path}.tmp`, path);
    return `sha256:${hex}`;
  }

  /** Unpacks a layer tar (plain or gzip) unless a layer with its diff_id is there already. */
  private async addLayer(file: string, ix: Index): Promise<string> {
    const { digest, size } = await diffIdOf(file);
    const dir = this.layerDir(digest);
    const done = await stat(join(dir, '..', `${digest.slice(7)}.done`)).then(() => true).catch(() => false);
    if (done) return digest;
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await runOk(['tar', '-x', '-f', file, '-C', dir, '--numeric-owner', '--same-permissions'], { timeoutMs: 600_000 }).catch((e: Error) => {
      throw new BadRequest(`the layer is not a tar archive: ${e.message}`);
    });
    await toOverlayWhiteouts(dir);
    await writeFile(join(dir, '..', `${digest.slice(7)}.done`), '');
    ix.layerSizes[digest] = size;
    return digest;
  }
}

/** sha256 and size of the uncompressed content (gzip is undone; other compressions refused). */
async function diffIdOf(file: string): Promise<{ digest: string; size: number }> {
  const fh = await open(file, 'r');
  const magic = Buffer.alloc(6);
  await fh.read(magic, 0, 6, 0);
  await fh.close();
  if (magic.subarray(0, 3).equals(Buffer.from([0xfd, 0x37, 0x7a])) || magic.subarray(0, 3).toString('latin1') === 'BZh' || magic.readUInt32LE(0) === 0xfd2fb528) {
    throw new BadRequest('the archive is compressed with xz, bzip2 or zstd: give a plain or gzip-compressed tar');
  }
  const hash = createHash('sha256');
  let size = 0;
  const src = createReadStream(file);
  const plain = magic[0] === 0x1f && magic[1] === 0x8b ? src.pipe(createGunzip()) : src;
  try {
    for await (const chunk of plain) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
  } catch (e) {
    throw new BadRequest(`the archive cannot be read: ${(e as Error).message}`);
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

/** Docker's whiteouts (.wh.NAME, .wh..wh..opq) as overlayfs reads them (0/0 devices, opaque xattr). */
async function toOverlayWhiteouts(dir: string): Promise<void> {
  const found = (await runOk(['find', dir, '-name', '.wh.*', '-print0'])).split('\0').filter(Boolean);
  for (const path of found) {
    const parent = dirname(path);
    const name = basename(path).slice(4);
    await rm(path, { recursive: true, force: true });
    if (name === '.wh..opq') await runOk(['setfattr', '-n', 'trusted.overlay.opaque', '-v', 'y', parent]);
    else await runOk(['mknod', join(parent, name), 'c', '0', '0']);
  }
}

interface ManifestEntry {
  config: string;
  layers: string[];
  tags: string[];
}

/** The images in an unpacked `docker save` archive: manifest.json, or else an OCI index.json. */
async function manifestEntries(dir: string): Promise<ManifestEntry[]> {
  const manifest = await readFile(join(dir, 'manifest.json'), 'utf8').catch(() => '');
  if (manifest) {
    const list = safeJson(manifest, 'manifest.json');
    if (!Array.isArray(list)) throw new BadRequest('manifest.json is not a list');
    return list.map((m: unknown) => {
      const e = m as { Config?: unknown; Layers?: unknown; RepoTags?: unknown };
      if (typeof e.Config !== 'string' || !Array.isArray(e.Layers) || !e.Layers.every((l) => typeof l === 'string')) throw new BadRequest('manifest.json: each entry needs Config and Layers');
      const tags = Array.isArray(e.RepoTags) ? e.RepoTags.filter((t): t is string => typeof t === 'string') : [];
      return { config: e.Config, layers: e.Layers as string[], tags };
    });
  }
  const indexText = await readFile(join(dir, 'index.json'), 'utf8').catch(() => '');
  if (!indexText) throw new BadRequest('the archive has neither manifest.json nor index.json: not an image saved by docker save or an OCI layout');
  const out: ManifestEntry[] = [];
  const walk = async (digest: string, names: string[]): Promise<void> => {
    const m = safeJson(await readFile(inside(dir, blobPath(digest)), 'utf8'), digest) as { manifests?: Array<{ digest: string; annotations?: Record<string, string>; platform?: { os?: string } }>; config?: { digest: string }; layers?: Array<{ digest: string }> };
    if (m.manifests) {
      for (const d of m.manifests) if (!d.platform || d.platform.os === 'linux') await walk(d.digest, [...names, ...refNames(d.annotations)]);
      return;
    }
    if (!m.config || !m.layers) throw new BadRequest(`${digest} is neither an image manifest nor an index`);
    out.push({ config: blobPath(m.config.digest), layers: m.layers.map((l) => blobPath(l.digest)), tags: names });
  };
  const index = safeJson(indexText, 'index.json') as { manifests?: Array<{ digest: string; annotations?: Record<string, string> }> };
  for (const d of index.manifests ?? []) await walk(d.digest, refNames(d.annotations));
  return out;
}

/** Full names from OCI annotations (a bare tag in ref.name names nothing). */
function refNames(a: Record<string, string> | undefined): string[] {
  const full = a?.['io.containerd.image.name'];
  if (full) return [full];
  const ref = a?.['org.opencontainers.image.ref.name'];
  return ref && /[:/]/.test(ref) ? [ref] : [];
}

function blobPath(digest: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!m || !HEX.test(m[1]!)) throw new BadRequest(`unsupported digest ${digest}`);
  return `blobs/sha256/${m[1]}`;
}

/** A path from the archive, kept inside the unpacked directory. */
function inside(dir: string, p: string): string {
  const n = normalize(p);
  if (n.startsWith('..') || n.startsWith('/')) throw new BadRequest(`the archive names a path outside itself: ${p}`);
  return join(dir, n);
}

function safeJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new BadRequest(`${what} is not valid JSON`);
  }
}

function parseConfig(bytes: Buffer): ImageConfigFile {
  const c = safeJson(bytes.toString('utf8'), 'the image config') as Partial<ImageConfigFile>;
  if (!c.rootfs || !Array.isArray(c.rootfs.diff_ids) || !c.rootfs.diff_ids.every((d) => typeof d === 'string' && /^sha256:[0-9a-f]{64}$/.test(d))) {
    throw new BadRequest('the image config has no valid rootfs.diff_ids');
  }
  return c as ImageConfigFile;
}
