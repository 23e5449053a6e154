// A state with a service for the VIP planning tests: network app (10.89.0.0/24), service web
// (VIP 10.89.0.2, -p 8080:80) with replicas web.1 (healthy), web.2 (healthy), web.3 (unhealthy,
// out of rotation) and web.4 (starting, out of rotation), and a dnsrr service rr with one replica.
import type { HealthState } from '../../src/model/healthcheck.js';
import type { BerthState, Ipv4, NetworkId, SandboxRecord, ServiceRecord } from '../../src/model/types.js';
import { LABEL_SERVICE_ID, LABEL_SERVICE_NAME, LABEL_TASK_SLOT } from '../../src/plan/service-view.js';
import { network, sandbox, stateOf } from './fw-fixture.js';

const HC = { test: ['TCP', '80'], intervalMs: 1000, timeoutMs: 1000, retries: 1, startPeriodMs: 0 };

export function serviceRecord(id: string, name: string, o: Partial<ServiceRecord['spec']> = {}, vips: Record<string, string> = {}): ServiceRecord {
  return {
    id,
    name,
    created: '2026-01-01T00:00:00Z',
    updated: '2026-01-01T00:00:00Z',
    spec: {
      replicas: 1,
      networks: ['net-app' as NetworkId],
      endpointMode: 'vip',
      ports: [],
      env: [],
      rootfs: '',
      labels: {},
      cmd: ['sleep', '1'],
      aliases: [],
      update: { parallelism: 1, delayMs: 0 },
      ...o,
    },
    vips: vips as Record<string, Ipv4>,
    version: 1,
  };
}

export function replica(svc: ServiceRecord, slot: number, ip: string, health?: HealthState['status']): SandboxRecord {
  const net = network('app', 'br-app', '10.89.0.0/24');
  const sb = sandbox(`${svc.name}.${slot}`, [{ net, ip }], {
    labels: { [LABEL_SERVICE_ID]: svc.id, [LABEL_SERVICE_NAME]: svc.name, [LABEL_TASK_SLOT]: String(slot) },
    ...(health ? { healthcheck: HC } : {}),
  });
  if (health) sb.state.health = { status: health, failingStreak: 0, log: [] };
  return sb;
}

export function serviceState(): BerthState {
  const net = network('app', 'br-app', '10.89.0.0/24');
  const web = serviceRecord('webid', 'web', { replicas: 4, ports: [{ published: 8080, target: 80, proto: 'tcp' }], healthcheck: HC }, { 'net-app': '10.89.0.2' });
  const rr = serviceRecord('rrid', 'rr', { endpointMode: 'dnsrr', ports: [{ published: 0, target: 53, proto: 'udp' }] });
  const s = stateOf(
    [net],
    [replica(web, 1, '10.89.0.11', 'healthy'), replica(web, 2, '10.89.0.12', 'healthy'), replica(web, 3, '10.89.0.13', 'unhealthy'), replica(web, 4, '10.89.0.14', 'starting'), replica(rr, 1, '10.89.0.21')],
  );
  s.services = { [web.id]: web, [rr.id]: rr };
  return s;
}
