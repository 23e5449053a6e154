// VIP planning: which replicas are in rotation, the slots of the VIP maps, the golden ruleset of a
// state with services, the delta when a replica turns unhealthy (only its map elements change,
// the rule count does not), the VIP addresses on bridges, and the DNS answers for services.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { firewallView } from '../../src/plan/firewall-view.js';
import { deltaRuleset, fullRuleset, RULE_COUNT } from '../../src/plan/nft-ruleset.js';
import { leftRotation, rotationKeys, servicesOnNetworks, slotTargets, VIP_SLOTS } from '../../src/plan/service-view.js';
import { conntrackDeleteReplicaArgv } from '../../src/kernel/conntrack.js';
import { vipAddresses } from '../../src/plan/vip-addrs.js';
import { vipAddressBatch } from '../../src/plan/link-plan.js';
import { dnsView, QTYPE } from '../../src/plan/dns-view.js';
import { replica, serviceRecord, serviceState } from './service-fixture.js';

const GOLDEN = fileURLToPath(new URL('../../../test/unit/golden/firewall/', import.meta.url));

function golden(name: string, text: string): void {
  const file = GOLDEN + name;
  if (process.env['UPDATE_GOLDEN'] === '1') {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
    return;
  }
  assert.equal(text, readFileSync(file, 'utf8'), `${name} differs from its golden file (UPDATE_GOLDEN=1 to accept)`);
}

test('only running replicas that are healthy (or have no check) are in rotation', () => {
  const on = servicesOnNetworks(serviceState());
  const web = on.find((s) => s.service.name === 'web')!;
  assert.equal(web.vip, '10.89.0.2');
  assert.deepEqual(web.tasks.map((t) => t.sandbox), ['web.1', 'web.2']);
  const rr = on.find((s) => s.service.name === 'rr')!;
  assert.equal(rr.vip, undefined, 'dnsrr has no VIP');
  assert.deepEqual(rr.tasks.map((t) => t.ip), ['10.89.0.21']);
});

test('slots spread evenly: 60 slots, slot i -> replica i mod n', () => {
  assert.deepEqual(slotTargets([]), []);
  for (const n of [1, 2, 3, 4, 5, 6]) {
    const slots = slotTargets(Array.from({ length: n }, (_, i) => i));
    assert.equal(slots.length, VIP_SLOTS);
    const counts = new Map<number, number>();
    for (const s of slots) counts.set(s, (counts.get(s) ?? 0) + 1);
    assert.deepEqual([...counts.values()], Array(n).fill(VIP_SLOTS / n), `n=${n}`);
    assert.deepEqual(slots.slice(0, n), [...Array(n).keys()], 'consecutive flows take consecutive replicas');
  }
});

test('golden ruleset with services: VIP map slots, published service port, hairpin', () => {
  golden('services,web-2-healthy.nft', fullRuleset(firewallView(serviceState())));
});

test('a replica turning unhealthy changes only map elements, in one delta; the rule count stays', () => {
  const before = serviceState();
  const after = structuredClone(before);
  after.sandboxes['sb-web.2']!.state.health = { status: 'unhealthy', failingStreak: 1, log: [] };
  const delta = deltaRuleset(firewallView(before), firewallView(after));
  golden('delta,web-2-unhealthy.nft', delta);
  assert.doesNotMatch(delta, /rule|chain/, 'no rule or chain changes');
  assert.doesNotMatch(delta.split('\n').filter((l) => l.startsWith('add')).join('\n'), /10\.89\.0\.12 /, 'web.2 is in no added element');
  const text = fullRuleset(firewallView(after));
  assert.equal(text.split('\n').filter((l) => l.startsWith('add rule')).length, RULE_COUNT);
});

test('1,000 services x 3 replicas: the same rules, elements per VIP', () => {
  const s = serviceState();
  for (let i = 0; i < 1000; i++) {
    const svc = serviceRecord(`id${i}`, `s${i}`, { replicas: 3 }, { 'net-app': `10.90.${i >> 8}.${i & 255}` });
    s.services![svc.id] = svc;
    for (let k = 1; k <= 3; k++) {
      const r = replica(svc, k, `10.91.${(i * 3 + k) >> 8}.${(i * 3 + k) & 255}`);
      s.sandboxes[r.id] = r;
    }
  }
  const text = fullRuleset(firewallView(s));
  assert.equal(text.split('\n').filter((l) => l.startsWith('add rule')).length, RULE_COUNT, 'rule count is constant');
  const view = firewallView(s);
  assert.equal(view.vips!.length, 1001);
  assert.ok(view.vips!.every((v) => v.slots.length === VIP_SLOTS));
});

test('VIPs become /32 addresses on their bridges; the batch adds and deletes only differences', () => {
  const s = serviceState();
  assert.deepEqual(vipAddresses(s), ['br-app 10.89.0.2']);
  assert.deepEqual([...vipAddressBatch([], vipAddresses(s))], ['address add 10.89.0.2/32 dev br-app']);
  assert.deepEqual([...vipAddressBatch(['br-app 10.89.0.2', 'br-app 10.89.0.9'], vipAddresses(s))], ['address del 10.89.0.9/32 dev br-app']);
});

test('DNS: name and alias -> VIP, tasks.NAME -> replicas in rotation, dnsrr -> replicas, SRV with additional A', () => {
  const s = serviceState();
  s.services!['webid']!.spec.aliases = ['www'];
  const v = dnsView(s);
  const ask = (name: string, qtype: number = QTYPE.A) => v.answer('10.89.0.1', '10.89.0.11', name, qtype);
  const a = (name: string) => {
    const d = ask(name);
    assert.equal(d.kind, 'local', name);
    return d.kind === 'local' ? d.records.map((r) => r.data).sort() : [];
  };
  assert.deepEqual(a('web'), ['10.89.0.2']);
  assert.deepEqual(a('www'), ['10.89.0.2']);
  assert.deepEqual(a('web.app'), ['10.89.0.2']);
  assert.deepEqual(a('tasks.web'), ['10.89.0.11', '10.89.0.12']);
  assert.deepEqual(a('rr'), ['10.89.0.21']);
  const srv = ask('_web._tcp.web', QTYPE.SRV);
  assert.ok(srv.kind === 'local');
  if (srv.kind !== 'local') return;
  assert.deepEqual(srv.records.map((r) => `${r.data}:${r.port}`).sort(), ['web.1.app:80', 'web.2.app:80']);
  assert.deepEqual(srv.additional?.map((r) => `${r.name} ${r.data}`).sort(), ['web.1.app 10.89.0.11', 'web.2.app 10.89.0.12']);
  const usrv = ask('_rr._udp.rr.app', QTYPE.SRV);
  assert.ok(usrv.kind === 'local' && usrv.records.length === 1 && usrv.records[0]!.port === 53);
  const ptr = v.answer('10.89.0.1', '10.89.0.11', '2.0.89.10.in-addr.arpa', QTYPE.PTR);
  assert.ok(ptr.kind === 'local' && ptr.records[0]?.data === 'web.app', JSON.stringify(ptr));
});

test('a replica leaving the rotation is named for its UDP conntrack entries (VIP and published UDP port)', () => {
  const s = serviceState();
  s.services!['webid']!.spec.ports.push({ published: 5353, target: 53, proto: 'udp' });
  const before = rotationKeys(s);
  assert.deepEqual([...before.get('vip 10.89.0.2')!.replicas].sort(), ['10.89.0.11', '10.89.0.12']);
  const after = structuredClone(s);
  after.sandboxes['sb-web.1']!.state.status = 'exited';
  assert.deepEqual(leftRotation(before, rotationKeys(after)), [
    { vip: '10.89.0.2', replica: '10.89.0.11' },
    { hostPort: 5353, replica: '10.89.0.11' },
  ]);
  assert.deepEqual(conntrackDeleteReplicaArgv({ vip: '10.89.0.2', replica: '10.89.0.11' }), ['conntrack', '-D', '-p', 'udp', '--orig-dst', '10.89.0.2', '--reply-src', '10.89.0.11']);
  assert.deepEqual(leftRotation(rotationKeys(after), rotationKeys(after)), []);
});

test('services are stored one file each (store/services/<id>.json), loaded back, and deleted', async (t) => {
  const { mkdtempSync, rmSync, existsSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { RecordStore } = await import('../../src/store/record-store.js');
  const root = mkdtempSync(join(tmpdir(), 'berth-svc-store-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const store = new RecordStore(root);
  await store.load();
  const svc = serviceRecord('abcdefghijklmnopqrstuvwxy', 'web', { replicas: 3 }, { 'net-app': '10.89.0.2' });
  const none = { putNetworks: [], deleteNetworks: [], putSandboxes: [], deleteSandboxes: [] };
  await store.apply({ ...none, putServices: [svc], meta: { hostServices: [] } });
  assert.ok(existsSync(join(root, 'store', 'services', `${svc.id}.json`)));
  const back = await new RecordStore(root).load();
  assert.deepEqual(back.state.services, { [svc.id]: svc });
  await store.apply({ ...none, deleteServices: [svc.id] });
  assert.equal((await new RecordStore(root).load()).state.services, undefined);
});
