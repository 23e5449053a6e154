import { test } from 'node:test';
import assert from 'node:assert/strict';
import { catalogView, fingerprints, SERVICE_NAME_LABEL, type NodeInfo } from '../../src/catalog/view.js';
import { advance, emptyTable, indexOf } from '../../src/catalog/index-table.js';
import { Catalog } from '../../src/catalog/catalog.js';
import { healthServiceEntries, catalogServiceEntries } from '../../src/catalog/render.js';
import type { BerthState, SandboxRecord } from '../../src/model/types.js';
import type { ExternalServiceRecord } from '../../src/model/catalog.js';

const NODE: NodeInfo = { id: '00000000-0000-0000-0000-000000000001', name: 'h1', address: '192.0.2.1', datacenter: 'dc1' };

function replica(name: string, service: string, ip: string, opts: { health?: 'starting' | 'healthy' | 'unhealthy'; status?: 'running' | 'exited' } = {}): SandboxRecord {
  return {
    id: `${name}-id` as SandboxRecord["id"],
    name: name as never,
    created: '2026-01-01T00:00:00Z',
    config: {
      cmd: [], env: [], hostname: name as never, networkMode: 'app', networks: [], exposedPorts: [{ port: 8080, proto: 'tcp' }], portRequests: [], publishAll: false,
      links: [], extraHosts: [], dns: [], dnsSearch: [], dnsOptions: [], rootfs: '', userHostname: false,
      labels: { [SERVICE_NAME_LABEL]: service, 'com.docker.swarm.task.slot': name.split('.')[1] ?? '1' },
    } as SandboxRecord['config'],
    state: {
      status: opts.status ?? 'running', pid: 1, pidStartTime: '', shimPid: 1, mntNs: '', startedAt: '', finishedAt: '', exitCode: 0, error: '',
      ...(opts.health ? { health: { status: opts.health, failingStreak: 0, log: [] } } : {}),
    } as SandboxRecord['state'],
    endpoints: { n1: { id: 'e', networkId: 'n1' as never, ifName: 'eth0' as never, ip: ip as never, staticIp: false, aliases: [], links: [] } },
    ports: [],
    generation: 1,
  };
}

function external(id: string, name: string, checkStatus?: 'passing' | 'critical'): { rec: ExternalServiceRecord; checks: Record<string, { status: 'passing' | 'critical'; output: string; since: string }> } {
  return {
    rec: {
      id, name, tags: ['primary'], address: '10.9.9.9', port: 5432, meta: { a: 'b' }, weights: { passing: 1, warning: 1 }, enableTagOverride: false, registered: '',
      checks: [{ id: `service:${id}`, name: 'tcp', kind: 'tcp', target: '10.9.9.9:5432', method: 'GET', intervalMs: 1000, timeoutMs: 500, deregisterAfterMs: 0, initialStatus: 'critical', notes: '' }],
    },
    checks: checkStatus ? { [`service:${id}`]: { status: checkStatus, output: 'x', since: '' } } : {},
  };
}

function state(sbs: SandboxRecord[], ext: ReturnType<typeof external>[] = []): BerthState {
  return {
    version: 1,
    networks: {},
    sandboxes: Object.fromEntries(sbs.map((s) => [s.id, s])),
    catalog: { services: Object.fromEntries(ext.map((e) => [e.rec.id, e.rec])), checks: Object.assign({}, ...ext.map((e) => e.checks)) },
  };
}

test('catalog view: running labelled sandboxes are instances; health maps to check status', () => {
  const v = catalogView(state([replica('web.2', 'web', '10.0.0.3', { health: 'starting' }), replica('web.1', 'web', '10.0.0.2', { health: 'healthy' }), replica('web.3', 'web', '10.0.0.4', { status: 'exited' }), replica('api.1', 'api', '10.0.0.9')]), NODE);
  assert.deepEqual([...v.services.keys()], ['api', 'web']);
  const web = v.services.get('web')!;
  assert.deepEqual(web.map((i) => [i.id, i.address, i.port, i.checks[0]!.status]), [['web.1', '10.0.0.2', 8080, 'passing'], ['web.2', '10.0.0.3', 8080, 'critical']]);
  assert.equal(v.services.get('api')![0]!.checks[0]!.status, 'passing', 'no health check: passing while running');
});

test('catalog view: ?passing drops instances with a critical check; external checks use their last result', () => {
  const s = state([replica('web.1', 'web', '10.0.0.2', { health: 'unhealthy' }), replica('web.2', 'web', '10.0.0.3')], [external('db1', 'db', 'passing'), external('db2', 'db')]);
  const v = catalogView(s, NODE);
  const t = advance(emptyTable(), fingerprints(v)).table;
  const all = healthServiceEntries(v, t, 'web', [], false) as Array<{ Service: { ID: string }; Checks: Array<{ CheckID: string; Status: string }> }>;
  assert.equal(all.length, 2);
  assert.deepEqual(all[0]!.Checks.map((c) => c.CheckID), ['serfHealth', 'service:web.1']);
  const passing = healthServiceEntries(v, t, 'web', [], true) as typeof all;
  assert.deepEqual(passing.map((e) => e.Service.ID), ['web.2']);
  const db = healthServiceEntries(v, t, 'db', [], true) as typeof all;
  assert.deepEqual(db.map((e) => e.Service.ID), ['db1'], 'db2 has not been checked yet: critical');
  const cat = catalogServiceEntries(v, t, 'db', ['primary']) as Array<{ ServiceAddress: string; ServicePort: number; Node: string }>;
  assert.deepEqual(cat.map((e) => [e.ServiceAddress, e.ServicePort, e.Node]), [['10.9.9.9', 5432, 'h1'], ['10.9.9.9', 5432, 'h1']]);
  assert.deepEqual(catalogServiceEntries(v, t, 'db', ['replica']), []);
});

test('index table: moves once per change, only for the keys whose content changed; tombstones keep their index', () => {
  const t0 = emptyTable(100);
  const s1 = state([replica('web.1', 'web', '10.0.0.2'), replica('api.1', 'api', '10.0.0.9')]);
  const a = advance(t0, fingerprints(catalogView(s1, NODE)));
  assert.equal(a.table.index, 101);
  // The same view again: nothing moves (a timeout or an unrelated state change keeps the index).
  const same = advance(a.table, fingerprints(catalogView(structuredClone(s1), NODE)));
  assert.deepEqual(same.changed, []);
  assert.equal(same.table, a.table);
  // web.1 turns unhealthy: health:web moves, catalog:web and api do not.
  const s2 = structuredClone(s1);
  (s2.sandboxes['web.1-id']!.state as unknown as { health: unknown }).health = { status: 'unhealthy', failingStreak: 3, log: [] };
  const b = advance(a.table, fingerprints(catalogView(s2, NODE)));
  assert.equal(b.table.index, 102);
  assert.ok(b.changed.includes('health:web'));
  assert.ok(!b.changed.includes('catalog:web') && !b.changed.includes('health:api') && !b.changed.includes('services'), b.changed.join(','));
  assert.equal(indexOf(b.table, 'catalog:web'), 101);
  assert.equal(indexOf(b.table, 'health:web'), 102);
  // api goes away: its keys move once and keep that index.
  const s3 = structuredClone(s2);
  delete s3.sandboxes['api.1-id'];
  const c = advance(b.table, fingerprints(catalogView(s3, NODE)));
  assert.equal(indexOf(c.table, 'health:api'), 103);
  assert.ok(c.changed.includes('services'));
  const d = advance(c.table, fingerprints(catalogView(s3, NODE)));
  assert.equal(indexOf(d.table, 'health:api'), 103);
  assert.equal(indexOf(d.table, 'health:never'), 1, 'a key never seen reads as 1, never 0');
});

test('catalog: a blocking wait wakes on its own key only, and times out with the index unchanged', async () => {
  const cat = new Catalog(NODE, 500);
  cat.apply(state([replica('web.1', 'web', '10.0.0.2')]));
  const idx = cat.indexOf('health:web');
  let woke = '';
  const w1 = cat.wait('health:web', idx, 10_000).then(() => (woke += 'web'));
  const w2 = cat.wait('health:db', cat.indexOf('health:db'), 50).then(() => (woke += 'db-timeout'));
  cat.apply(state([replica('web.1', 'web', '10.0.0.2'), replica('api.1', 'api', '10.0.0.3')]));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(woke, '', 'a new service api does not wake watchers of web');
  cat.apply(state([replica('web.1', 'web', '10.0.0.2'), replica('web.2', 'web', '10.0.0.4'), replica('api.1', 'api', '10.0.0.3')]));
  await w1;
  assert.ok(cat.indexOf('health:web') > idx);
  await w2;
  assert.equal(woke, 'webdb-timeout');
  assert.equal(cat.waiting(), 0);
  // Already behind: returns at once.
  await cat.wait('health:web', idx, 60_000);
});

test('index table: the per-service delta gives the same indexes as comparing every key', () => {
  const steps: BerthState[] = [];
  const a = external('db1', 'db', 'passing');
  const b = external('db2', 'db');
  steps.push(state([replica('web.1', 'web', '10.0.0.2')], [a]));
  steps.push(state([replica('web.1', 'web', '10.0.0.2'), replica('web.2', 'web', '10.0.0.3', { health: 'starting' })], [a, b]));
  steps.push(state([replica('web.2', 'web', '10.0.0.3', { health: 'healthy' })], [a, b]));
  steps.push(state([replica('web.2', 'web', '10.0.0.3', { health: 'healthy' })], [b]));
  steps.push(state([], []));
  steps.push(state([replica('web.1', 'web', '10.0.0.9')], [a]));
  const cat = new Catalog(NODE, 10);
  let full = emptyTable(10);
  for (const s of steps) {
    cat.apply(s);
    full = advance(full, fingerprints(catalogView(s, NODE))).table;
    assert.equal(cat.table.index, full.index);
    assert.deepEqual([...cat.table.keys].sort(), [...full.keys].sort());
  }
});

test('catalog: a client whose index is ahead (kept from before a restart) wakes at the next change of its key', async () => {
  const cat = new Catalog(NODE, 100);
  cat.apply(state([replica('web.1', 'web', '10.0.0.2')]));
  let woke = false;
  const w = cat.wait('health:web', 1_000_000, 10_000).then(() => (woke = true));
  cat.apply(state([replica('web.1', 'web', '10.0.0.2'), replica('api.1', 'api', '10.0.0.3')]));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(woke, false, 'another key changed');
  cat.apply(state([replica('web.1', 'web', '10.0.0.2'), replica('web.2', 'web', '10.0.0.4'), replica('api.1', 'api', '10.0.0.3')]));
  await w;
  assert.ok(cat.indexOf('health:web') < 1_000_000, 'the answer carries the lower index: the client resets');
});
