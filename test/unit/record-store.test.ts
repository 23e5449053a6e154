// The record store: one file per record, written atomically with a previous copy beside it;
// damaged files fall back to that copy or stop berthd naming the file; state.json migrates;
// Ctx.persist writes only the records that changed; one berthd per data root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ctx } from '../../src/daemon/context.js';
import type { DaemonConfig } from '../../src/daemon/config.js';
import type { NetworkRecord, SandboxRecord } from '../../src/model/types.js';
import { DataRootBusy, lockDataRoot } from '../../src/store/data-root-lock.js';
import { RecordStore } from '../../src/store/record-store.js';
import { StoreDamaged, type StoreChange } from '../../src/store/store.js';
import { fixture } from './brands.js';

const hex = (c: string) => c.repeat(64);

function net(id: string, name: string): NetworkRecord {
  return {
    id: id as NetworkRecord['id'], name, driver: 'bridge', created: '2026-01-01T00:00:00Z', builtin: false, internal: false,
    bridge: fixture(`berth-${id.slice(0, 9)}`), subnet: fixture('172.18.0.0/16'), gateway: fixture('172.18.0.1'), userSubnet: false, options: {}, labels: {},
    icc: true, masquerade: true, mtu: 1500, hostBindingIpv4: fixture('0.0.0.0'), dns: true,
  };
}

function sandbox(id: string, name: string, pid = 0): SandboxRecord {
  return {
    id: id as SandboxRecord['id'], name: fixture(name), created: '2026-01-01T00:00:00Z',
    config: {
      cmd: ['sleep', '60'], env: [], hostname: fixture(name), networkMode: 'bridge', networks: [], exposedPorts: [], portRequests: [],
      publishAll: false, links: [], extraHosts: [], dns: [], dnsSearch: [], dnsOptions: [], rootfs: '', userHostname: false,
    },
    state: { status: pid ? 'running' : 'created', pid, pidStartTime: '', shimPid: 0, mntNs: '', startedAt: '', finishedAt: '', exitCode: 0, error: '' },
    endpoints: {}, ports: [], generation: 0,
  };
}

function change(c: Partial<StoreChange>): StoreChange {
  return { putNetworks: [], deleteNetworks: [], putSandboxes: [], deleteSandboxes: [], ...c };
}

function tempRoot(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A Ctx over a fresh store, checking at every persist that no change was left unmarked. */
async function persistCtx(t: { after: (fn: () => void) => void }): Promise<{ root: string; ctx: Ctx; logs: string[] }> {
  const root = tempRoot(t);
  const store = new RecordStore(root);
  const logs: string[] = [];
  const ctx = new Ctx({ dataRoot: root } as DaemonConfig, store, (await store.load()).state, (_l, m) => logs.push(m));
  ctx.loaded();
  ctx.verifyPersist = true;
  return { root, ctx, logs };
}

test('store: records written one file each, loaded back whole', async (t) => {
  const root = tempRoot(t);
  const store = new RecordStore(root);
  assert.deepEqual((await store.load()).state.sandboxes, {});
  const stats = await store.apply(change({ putNetworks: [net(hex('a'), 'n1')], putSandboxes: [sandbox(hex('b'), 'web', 42)], meta: { hostServices: ['x=10.0.0.1:80->8080'] } }));
  assert.equal(stats.files, 3);
  // A write cut off before its rename leaves a .tmp beside the record: ignored, then removed.
  const tmp = join(root, 'store', 'sandboxes', `${hex('b')}.json.tmp`);
  writeFileSync(tmp, '{"id":"half');
  const back = await new RecordStore(root).load();
  assert.deepEqual(back.notes, []);
  assert.ok(!existsSync(tmp));
  assert.equal(back.state.networks[hex('a')]?.name, 'n1');
  assert.equal(back.state.sandboxes[hex('b')]?.state.pid, 42);
  assert.deepEqual(back.state.hostServices, ['x=10.0.0.1:80->8080']);
  await store.apply(change({ deleteSandboxes: [hex('b')] }));
  assert.deepEqual(readdirSync(join(root, 'store', 'sandboxes')), []);
  assert.deepEqual(Object.keys((await new RecordStore(root).load()).state.sandboxes), []);
});

test('store: a truncated or garbled record comes back from its previous copy, and the load says which file', async (t) => {
  const root = tempRoot(t);
  const store = new RecordStore(root);
  await store.apply(change({ putSandboxes: [sandbox(hex('c'), 'db', 7)], meta: { hostServices: [] } }));
  await store.apply(change({ putSandboxes: [sandbox(hex('c'), 'db', 8)] }));
  const file = join(root, 'store', 'sandboxes', `${hex('c')}.json`);
  for (const damage of [() => truncateSync(file, 17), () => writeFileSync(file, '\u0000garbage'), () => writeFileSync(file, '{}')]) {
    damage();
    const loaded = await new RecordStore(root).load();
    assert.equal(loaded.state.sandboxes[hex('c')]?.state.pid, 7, 'the previous copy (pid 7)');
    assert.equal(loaded.notes.length, 1);
    assert.match(loaded.notes[0]!, new RegExp(`${file} was damaged .*previous copy`));
    assert.ok(existsSync(`${file}.damaged`));
    // The file itself is whole again: the next load needs no fallback.
    assert.deepEqual((await new RecordStore(root).load()).notes, []);
  }
});

test('store: with no good copy berthd refuses, naming the file', async (t) => {
  const root = tempRoot(t);
  const store = new RecordStore(root);
  await store.apply(change({ putSandboxes: [sandbox(hex('d'), 'app', 9)], meta: { hostServices: [] } }));
  await store.apply(change({ putSandboxes: [sandbox(hex('d'), 'app', 10)] }));
  const file = join(root, 'store', 'sandboxes', `${hex('d')}.json`);
  writeFileSync(file, '{"id":');
  writeFileSync(`${file}.prev`, '');
  await assert.rejects(new RecordStore(root).load(), (e: Error) => e instanceof StoreDamaged && e.message.includes(file) && e.message.includes('will not start'));
  const meta = join(root, 'store', 'meta.json');
  rmSync(file);
  rmSync(`${file}.prev`);
  // meta.json falls back too, and is written back in its own format.
  await store.apply(change({ meta: { hostServices: ['a=1.1.1.1:1->1'] } }));
  writeFileSync(meta, '');
  assert.match((await new RecordStore(root).load()).notes.join(), /meta\.json was damaged/);
  assert.deepEqual((await new RecordStore(root).load()).state.hostServices, []);
  writeFileSync(meta, 'xx');
  writeFileSync(`${meta}.prev`, 'yy');
  await assert.rejects(new RecordStore(root).load(), (e: Error) => e instanceof StoreDamaged && e.message.includes(meta));
});

test('store: a data root with state.json (format 1) migrates to records; a damaged one is refused by name', async (t) => {
  const root = tempRoot(t);
  const legacy = join(root, 'state.json');
  writeFileSync(legacy, JSON.stringify({ version: 1, networks: { [hex('e')]: net(hex('e'), 'old') }, sandboxes: { [hex('f')]: sandbox(hex('f'), 'keep', 99) }, hostServices: ['h=1.2.3.4:5->6'] }));
  const loaded = await new RecordStore(root).load();
  assert.match(loaded.notes[0]!, /migrated .*state\.json/);
  assert.equal(loaded.state.sandboxes[hex('f')]?.state.pid, 99);
  assert.ok(!existsSync(legacy) && existsSync(`${legacy}.migrated`));
  const again = await new RecordStore(root).load();
  assert.deepEqual(again.notes, []);
  assert.equal(again.state.networks[hex('e')]?.name, 'old');
  assert.deepEqual(again.state.hostServices, ['h=1.2.3.4:5->6']);

  const root2 = tempRoot(t);
  writeFileSync(join(root2, 'state.json'), '{"version":1,"networks":{');
  await assert.rejects(new RecordStore(root2).load(), (e: Error) => e instanceof StoreDamaged && e.message.includes(join(root2, 'state.json')));
});

test('ctx.persist: writes only the records marked as changed, skips unchanged ones, deletes removed ones', async (t) => {
  const { root, ctx, logs } = await persistCtx(t);
  const a = sandbox(hex('1'), 'a');
  const b = sandbox(hex('2'), 'b');
  ctx.state.sandboxes[a.id] = a;
  ctx.state.sandboxes[b.id] = b;
  await ctx.persist(a, b);
  // New records: each file fsynced, the directory not (as Docker's container records).
  assert.ok(logs.some((l) => /^store: wrote 2 file\(s\), \d+ bytes, 2 fsyncs$/.test(l)), logs.join('\n'));
  const mtimeB = readFileSync(join(root, 'store', 'sandboxes', `${b.id}.json`), 'utf8');
  logs.length = 0;
  a.state.pid = 5;
  await ctx.persist(a);
  // Runtime state only (model/durable-part.ts): the file is fsynced, the directory is not.
  assert.deepEqual(logs, ['store: wrote 1 file(s), ' + Buffer.byteLength(JSON.stringify(a)) + ' bytes, 1 fsyncs']);
  logs.length = 0;
  a.state.stoppedByUser = true; // must survive a reboot: the directory too
  await ctx.persist(a);
  assert.deepEqual(logs, ['store: wrote 1 file(s), ' + Buffer.byteLength(JSON.stringify(a)) + ' bytes, 2 fsyncs']);
  logs.length = 0;
  a.config.cmd = ['sleep', '61'];
  a.state.exitCode = 3;
  await ctx.persist(a);
  assert.deepEqual(logs, ['store: wrote 1 file(s), ' + Buffer.byteLength(JSON.stringify(a)) + ' bytes, 2 fsyncs']);
  assert.equal(readFileSync(join(root, 'store', 'sandboxes', `${b.id}.json`), 'utf8'), mtimeB);
  logs.length = 0;
  await ctx.persist(a); // unchanged: nothing written
  assert.equal(logs.length, 0);
  // A change nobody marked is still written at debug level, and reported as a bug.
  b.state.pid = 6;
  await ctx.persist(a);
  assert.ok(logs.some((l) => l.includes('changed without being marked') && l.includes('sandbox b')));
  delete ctx.state.sandboxes[a.id];
  await ctx.persist(a);
  const reloaded = await new RecordStore(root).load();
  assert.deepEqual(Object.keys(reloaded.state.sandboxes), [b.id]);
  assert.equal(reloaded.state.sandboxes[b.id]?.state.pid, 6);
});

test('data root lock: a held lock is refused with its holder; a dead holder leaves no stale lock', async (t) => {
  const root = tempRoot(t);
  const lockFile = join(root, 'berthd.lock');
  writeFileSync(lockFile, '4242 1\n');
  // Another process holds it (flock(1) standing in for another berthd; --close: only flock
  // itself holds it, not the command it runs).
  const holder = spawn('flock', ['--exclusive', '--close', lockFile, 'sh', '-c', 'echo locked; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'], detached: true });
  t.after(() => {
    try {
      process.kill(-holder.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  });
  await new Promise((resolve) => holder.stdout!.once('data', resolve));
  const err = await lockDataRoot(root).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof DataRootBusy, String(err));
  assert.match((err as Error).message, new RegExp(`in use by another berthd \\(pid 4242.*${lockFile}`));
  holder.kill('SIGKILL');
  await new Promise((r) => holder.once('exit', r));
  assert.equal(await lockDataRoot(root), lockFile);
  assert.equal(readFileSync(lockFile, 'utf8').split(' ')[0], String(process.pid));
  // This process now holds it: a second taker (another open file) is refused.
  await assert.rejects(lockDataRoot(root), DataRootBusy);
});

test('ctx.persist: catalog registrations are stored one file each with their check results; deregistered ones removed', async (t) => {
  const { root, ctx, logs } = await persistCtx(t);
  const check = { id: 'service:db1', name: 'c', kind: 'tcp' as const, target: '10.0.0.5:5432', method: 'GET', intervalMs: 1000, timeoutMs: 1000, deregisterAfterMs: 0, initialStatus: 'critical' as const, notes: '' };
  const db1 = { id: 'db1', name: 'db', tags: [], address: '10.0.0.5', port: 5432, meta: {}, weights: { passing: 1, warning: 1 }, enableTagOverride: false, checks: [check], registered: '' };
  ctx.state.catalog = { services: { db1 }, checks: { 'service:db1': { status: 'passing', output: 'ok', since: 't' } } };
  ctx.touchCatalog('db1');
  await ctx.persist();
  assert.deepEqual(readdirSync(join(root, 'store', 'catalog')), ['db1.json']);
  const back = await new RecordStore(root).load();
  assert.deepEqual(back.state.catalog, ctx.state.catalog);
  // An output change nobody wrote yet is not reported as unmarked once touched.
  ctx.state.catalog.checks['service:db1'] = { status: 'passing', output: 'ok again', since: 't' };
  ctx.touchCatalog('db1');
  await ctx.persist();
  assert.ok(!logs.some((l) => l.includes('changed without being marked')), logs.join('\n'));
  delete ctx.state.catalog.services['db1'];
  ctx.touchCatalog('db1');
  await ctx.persist();
  assert.deepEqual(readdirSync(join(root, 'store', 'catalog')).filter((f) => !f.endsWith('.prev')), []);
  assert.equal((await new RecordStore(root).load()).state.catalog, undefined);
});
