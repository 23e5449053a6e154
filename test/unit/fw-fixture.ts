// State records for firewall tests: networks, sandboxes with endpoints, ports and links.
import { fixture } from './brands.js';
import type {
  BerthState,
  Cidr,
  DomainName,
  IfName,
  Ipv4,
  EndpointRecord,
  NetworkId,
  NetworkRecord,
  PortBinding,
  SandboxConfig,
  SandboxId,
  SandboxRecord,
} from '../../src/model/types.js';

export function network(name: string, bridge: string, subnet: string, o: Omit<Partial<NetworkRecord>, 'hostBindingIpv4'> & { hostBindingIpv4?: string } = {}): NetworkRecord {
  return {
    id: `net-${name}` as NetworkId,
    name,
    driver: 'bridge',
    created: '2026-01-01T00:00:00Z',
    builtin: name === 'bridge',
    internal: false,
    bridge: fixture<IfName>(bridge),
    subnet: fixture<Cidr>(subnet),
    gateway: fixture<Ipv4>(subnet.replace(/0\/\d+$/, '1')),
    userSubnet: false,
    options: {},
    labels: {},
    icc: true,
    masquerade: true,
    mtu: 1500,
    dns: name !== 'bridge',
    ...o,
    hostBindingIpv4: fixture<Ipv4>(o.hostBindingIpv4 ?? '0.0.0.0'),
  };
}

export interface Attach {
  net: NetworkRecord;
  ip: string;
}

export function sandbox(name: string, attach: Attach[], config: Partial<SandboxConfig> = {}, ports: PortBinding[] = []): SandboxRecord {
  const endpoints: Record<string, EndpointRecord> = {};
  attach.forEach((a, i) => {
    endpoints[a.net.id] = {
      id: `ep-${name}-${i}`,
      networkId: a.net.id,
      ifName: fixture<IfName>(`eth${i}`),
      hostIfName: fixture<IfName>(`bv${name}${i}`),
      ip: fixture<Ipv4>(a.ip),
      prefixLen: 16,
      staticIp: false,
      aliases: [],
      links: [],
    };
  });
  return {
    id: `sb-${name}` as SandboxId,
    name: fixture<DomainName>(name),
    created: '2026-01-01T00:00:00Z',
    config: {
      cmd: [],
      env: [],
      hostname: fixture<DomainName>(name),
      networkMode: attach[0]?.net.name ?? 'none',
      networks: attach.map((a) => ({ networkId: a.net.id, aliases: [] })),
      exposedPorts: [],
      portRequests: [],
      publishAll: false,
      links: [],
      extraHosts: [],
      dns: [],
      dnsSearch: [],
      dnsOptions: [],
      rootfs: '',
      userHostname: false,
      ...config,
    },
    state: {
      status: 'running',
      pid: 1,
      pidStartTime: '',
      startedAt: '',
      finishedAt: '',
      exitCode: 0,
      error: '',
    } as unknown as SandboxRecord['state'],
    endpoints,
    ports,
    generation: 1,
  };
}

export const bind = (hostPort: number, containerPort: number, proto: 'tcp' | 'udp' = 'tcp', hostIp = '0.0.0.0'): PortBinding => ({
  hostIp: fixture<Ipv4>(hostIp),
  hostPort,
  containerPort,
  proto,
});

export function stateOf(networks: NetworkRecord[], sandboxes: SandboxRecord[]): BerthState {
  const s: BerthState = { version: 1, networks: {}, sandboxes: {} };
  for (const n of networks) s.networks[n.id] = n;
  for (const sb of sandboxes) s.sandboxes[sb.id] = sb;
  return s;
}

/**
 * The golden-file state: one bridge network (the default bridge, so links count) with a web
 * sandbox publishing 8080:80, 127.0.0.1:8081:80 and 5353:53/udp, and a client linked to it.
 */
export function goldenState(o: { icc: boolean; masq: boolean; internal: boolean }): BerthState {
  const net = network('bridge', 'berth0', '172.17.0.0/16', { icc: o.icc, masquerade: o.masq, internal: o.internal });
  const web = sandbox(
    'web',
    [{ net, ip: '172.17.0.2' }],
    { exposedPorts: [{ port: 80, proto: 'tcp' }, { port: 53, proto: 'udp' }] },
    [bind(8080, 80), bind(8081, 80, 'tcp', '127.0.0.1'), bind(5353, 53, 'udp')],
  );
  const client = sandbox('client', [{ net, ip: '172.17.0.3' }], { links: [{ targetId: web.id, targetName: 'web', alias: fixture<DomainName>('web') }] });
  return stateOf([net], [web, client]);
}
