// Builders of BerthState for the names/DNS unit tests. Deterministic ids.
import { fixture, fixtures } from './brands.js';
import type {
  BerthState,
  Cidr,
  DnsOption,
  DomainName,
  IfName,
  IpAddress,
  Ipv4,
  EndpointRecord,
  ExposedPort,
  LinkRecord,
  NetworkId,
  NetworkRecord,
  SandboxConfig,
  SandboxId,
  SandboxRecord,
} from '../../src/model/types.js';

export function hexId(seed: string): string {
  let out = '';
  let x = 0;
  for (const ch of seed) x = (x * 31 + ch.charCodeAt(0)) >>> 0;
  while (out.length < 64) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out += (x >>> 8).toString(16).padStart(6, '0');
  }
  return out.slice(0, 64);
}

export function net(name: string, o: Omit<Partial<NetworkRecord>, 'subnet' | 'gateway' | 'bridge'> & { subnet?: string; gateway?: string; bridge?: string } = {}): NetworkRecord {
  const { subnet, gateway, bridge, ...opts } = o;
  const id = (opts.id ?? hexId('net-' + name)) as NetworkId;
  return {
    id,
    name,
    driver: 'bridge',
    created: '2026-01-01T00:00:00Z',
    builtin: false,
    internal: false,
    bridge: fixture<IfName>(bridge ?? 'berth-' + id.slice(0, 9)),
    ...(subnet !== undefined ? { subnet: fixture<Cidr>(subnet) } : {}),
    ...(gateway !== undefined ? { gateway: fixture<Ipv4>(gateway) } : {}),
    userSubnet: false,
    options: {},
    labels: {},
    icc: true,
    masquerade: true,
    mtu: 1500,
    hostBindingIpv4: fixture<Ipv4>('0.0.0.0'),
    dns: true,
    ...opts,
  };
}

export interface SbSpec {
  name: string;
  /** network name -> ip (and optional aliases / links on that endpoint). */
  nets?: Array<{ net: string; ip?: string; aliases?: string[]; links?: string[] }>;
  mode?: string;
  hostname?: string;
  links?: Array<{ target: string; alias: string }>;
  extraHosts?: string[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  exposed?: ExposedPort[];
  env?: string[];
  status?: 'created' | 'running' | 'exited';
}

export class StateBuilder {
  readonly state: BerthState = { version: 1, networks: {}, sandboxes: {} };

  constructor(withDefaults = true) {
    if (withDefaults) {
      this.network(net('bridge', { builtin: true, bridge: 'berth0', subnet: '172.17.0.0/16', gateway: '172.17.0.1', dns: false }));
      this.network(net('host', { builtin: true, driver: 'host', dns: false, bridge: undefined }));
      this.network(net('none', { builtin: true, driver: 'null', dns: false, bridge: undefined }));
    }
  }

  network(n: NetworkRecord): this {
    this.state.networks[n.id] = n;
    return this;
  }

  netId(name: string): NetworkId {
    const n = Object.values(this.state.networks).find((x) => x.name === name);
    if (!n) throw new Error('no network ' + name);
    return n.id;
  }

  sbId(name: string): SandboxId {
    const s = Object.values(this.state.sandboxes).find((x) => x.name === name);
    if (!s) throw new Error('no sandbox ' + name);
    return s.id;
  }

  sandbox(spec: SbSpec): this {
    const id = hexId('sb-' + spec.name) as SandboxId;
    const endpoints: Record<string, EndpointRecord> = {};
    (spec.nets ?? []).forEach((n, i) => {
      const network = this.state.networks[this.netId(n.net)]!;
      endpoints[network.id] = {
        id: hexId(`ep-${spec.name}-${n.net}`),
        networkId: network.id,
        ifName: fixture<IfName>(`eth${i}`),
        ip: n.ip === undefined ? undefined : fixture<Ipv4>(n.ip),
        prefixLen: n.ip ? Number(network.subnet?.split('/')[1] ?? 16) : undefined,
        gateway: network.gateway,
        staticIp: false,
        aliases: fixtures<DomainName>(n.aliases ?? []),
        links: n.links ?? [],
      };
    });
    const links: LinkRecord[] = (spec.links ?? []).map((l) => ({ targetId: this.sbId(l.target), targetName: l.target, alias: fixture<DomainName>(l.alias) }));
    const config: SandboxConfig = {
      cmd: ['sleep', '3600'],
      env: spec.env ?? [],
      hostname: fixture<DomainName>(spec.hostname ?? ''),
      networkMode: spec.mode ?? spec.nets?.[0]?.net ?? 'bridge',
      networks: (spec.nets ?? []).map((n) => ({ networkId: this.netId(n.net), aliases: fixtures<DomainName>(n.aliases ?? []) })),
      exposedPorts: spec.exposed ?? [],
      portRequests: [],
      publishAll: false,
      links,
      extraHosts: spec.extraHosts ?? [],
      dns: fixtures<IpAddress>(spec.dns ?? []),
      dnsSearch: fixtures<DomainName>(spec.dnsSearch ?? []),
      dnsOptions: fixtures<DnsOption>(spec.dnsOptions ?? []),
      rootfs: '/',
      userHostname: !!spec.hostname,
    };
    const sb: SandboxRecord = {
      id,
      name: fixture<DomainName>(spec.name),
      created: '2026-01-01T00:00:00Z',
      config,
      state: {
        status: spec.status ?? 'running',
        pid: 100,
        pidStartTime: '1',
        startedAt: '2026-01-01T00:00:01Z',
        finishedAt: '',
        exitCode: 0,
        error: '',
        shimPid: 0,
        mntNs: '',
      } as SandboxRecord['state'],
      endpoints,
      ports: [],
      generation: 1,
    };
    this.state.sandboxes[id] = sb;
    return this;
  }

  sb(name: string): SandboxRecord {
    return this.state.sandboxes[this.sbId(name)]!;
  }
}
