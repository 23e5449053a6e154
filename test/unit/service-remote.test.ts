// Services across hosts, the pure part: replicas on other hosts (state.remoteTasks) join the
// rotation beside the local ones (VIP slots, DNS tasks.NAME, catalog), and mode=local makes a
// published port use only this host's replicas while it has any.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { catalogView } from '../../src/catalog/view.js';
import type { Ipv4, NetworkId, RemoteTask } from '../../src/model/types.js';
import { firewallView } from '../../src/plan/firewall-view.js';
import { servicesOnNetworks } from '../../src/plan/service-view.js';
import { serviceState } from './service-fixture.js';
import { parseConstraint, parseServicePortFlag, serviceSpecFromApi } from '../../src/model/service-spec.js';

function remote(slot: number, ip: string, node: string, inRotation = true): RemoteTask {
  return { serviceId: 'webid', name: `web.${slot}`, slot, node, sandboxId: `sb${slot}`, ips: { 'net-app': ip as Ipv4 }, state: 'running', inRotation, startedAt: '2026-01-01T00:00:00Z' };
}

test('remote replicas in rotation join the local ones, sorted by slot, with their node', () => {
  const s = serviceState();
  s.remoteTasks = [remote(6, '10.89.0.16', 'h2'), remote(5, '10.89.0.15', 'h3'), remote(7, '10.89.0.17', 'h2', false)];
  const web = servicesOnNetworks(s).find((x) => x.service.name === 'web')!;
  assert.deepEqual(web.tasks.map((t) => [t.sandbox, t.ip, t.node ?? 'here']), [
    ['web.1', '10.89.0.11', 'here'],
    ['web.2', '10.89.0.12', 'here'],
    ['web.5', '10.89.0.15', 'h3'],
    ['web.6', '10.89.0.16', 'h2'],
  ]);
  const vip = firewallView(s).vips!.find((v) => v.service === 'web')!;
  assert.deepEqual([...new Set(vip.slots)].sort(), ['10.89.0.11', '10.89.0.12', '10.89.0.15', '10.89.0.16']);
  const inst = catalogView(s, { id: 'n', name: 'h1', address: '10.99.0.21', datacenter: 'dc1' }).services.get('web')!;
  const r6 = inst.find((i) => i.id === 'web.6')!;
  assert.equal(r6.address, '10.89.0.16');
  assert.equal(r6.meta['berth-node'], 'h2');
  assert.equal(r6.checks[0]!.status, 'passing');
  assert.equal(inst.find((i) => i.id === 'web.7')!.checks[0]!.status, 'critical');
});

test('mode=local: a published port uses this host\'s replicas while it has any, else all', () => {
  const s = serviceState();
  s.remoteTasks = [remote(5, '10.89.0.15', 'h3')];
  s.services!['webid']!.spec.ports = [{ published: 8080, target: 80, proto: 'tcp', mode: 'local' }];
  const local = firewallView(s).servicePorts!.find((p) => p.service === 'web')!;
  assert.deepEqual([...new Set(local.slots)].sort(), ['10.89.0.11', '10.89.0.12']);
  for (const id of Object.keys(s.sandboxes)) if (s.sandboxes[id]!.name.startsWith('web.')) delete s.sandboxes[id];
  const none = firewallView(s).servicePorts!.find((p) => p.service === 'web')!;
  assert.deepEqual([...new Set(none.slots)], ['10.89.0.15']);
  s.services!['webid']!.spec.ports = [{ published: 8080, target: 80, proto: 'tcp' }];
  s.remoteTasks.push(remote(6, '10.89.0.16', 'h2'));
  assert.deepEqual([...new Set(firewallView(s).servicePorts!.find((p) => p.service === 'web')!.slots)].sort(), ['10.89.0.15', '10.89.0.16']);
});

test('-p long syntax with mode, --constraint: parsed, bad values refused with the flag named', () => {
  assert.deepEqual(parseServicePortFlag('published=8081,target=80,mode=local'), { Protocol: 'tcp', TargetPort: 80, PublishedPort: 8081, PublishMode: 'local' });
  assert.deepEqual(parseServicePortFlag('8080:80/udp'), { Protocol: 'udp', TargetPort: 80, PublishedPort: 8080 });
  assert.throws(() => parseServicePortFlag('published=8081,target=80,color=red'), /unknown field color/);
  assert.deepEqual(parseConstraint('node.name == h2'), { op: '==', node: 'h2' });
  assert.throws(() => parseConstraint('node.labels.zone==a'), /invalid constraint/);
  const base = { Name: 'w', TaskTemplate: { ContainerSpec: { Command: ['sleep', '1'] } } };
  const bad = { ...base, EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8080, PublishMode: 'host' }] } };
  assert.throws(() => serviceSpecFromApi(bad, () => 'n' as NetworkId), /invalid publish mode "host"/);
  const ok = serviceSpecFromApi({ ...base, TaskTemplate: { ...base.TaskTemplate, Placement: { Constraints: ['node.hostname!=h1'] } } }, () => 'n' as NetworkId);
  assert.deepEqual(ok.spec.constraints, ['node.name!=h1']);
});
