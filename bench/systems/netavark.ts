// netavark 1.4 (Debian), invoked directly the way podman does: JSON on stdin, `setup|teardown <netns>`,
// run in the lab's host namespace. It does no IPAM: the harness gives each sandbox a static address.
// With dns: true, netavark spawns aardvark-dns (the DNS registration part of a sandbox's setup).
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, nsPath } from '../lib/lab.js';
import { run } from '../lib/proc.js';
import type { DnsSystem, NetSetupSystem } from './types.js';

export const NETAVARK = '/usr/lib/podman/netavark';
export const AARDVARK = '/usr/lib/podman/aardvark-dns';

const SUBNET = '10.89.0.0/16';
const GATEWAY = '10.89.0.1';

function hex64(prefix: string, i: number): string {
  return (prefix + i.toString(16)).padStart(64, '0');
}

/** Sandbox i (1-based) gets 10.89.0.0 + i + 1. */
export function sandboxIp(i: number): string {
  const n = i + 1;
  return `10.89.${(n >> 8) & 255}.${n & 255}`;
}

export class NetavarkSystem implements NetSetupSystem, DnsSystem {
  readonly lab: Lab;
  private confDir: string;
  readonly serverIp = GATEWAY;
  private clientNs = '';

  constructor(
    readonly name: string,
    tag: string,
    private dns: boolean,
  ) {
    this.lab = new Lab(tag);
    this.confDir = join(this.lab.dir, 'netavark');
  }

  async check(): Promise<string | undefined> {
    if (!existsSync(NETAVARK)) return `${NETAVARK} not found (package netavark)`;
    if (this.dns && !existsSync(AARDVARK)) return `${AARDVARK} not found (package aardvark-dns)`;
    return undefined;
  }

  async start(names?: string[]): Promise<void> {
    await this.lab.create();
    // aardvark-dns forwards names it does not know to /etc/resolv.conf: give it the lab's.
    await this.lab.startHolder();
    mkdirSync(this.confDir, { recursive: true });
    if (names) {
      for (let i = 0; i < names.length; i++) await this.setup(i + 1, 0, names[i]);
      this.clientNs = this.lab.nsName('c1');
    }
  }

  private config(i: number, hostPort: number, name: string): string {
    return JSON.stringify({
      container_id: hex64('b0', i),
      container_name: name,
      port_mappings: hostPort
        ? [{ host_ip: '', container_port: 80, host_port: hostPort, range: 1, protocol: 'tcp' }]
        : [],
      networks: { 'bn-net': { static_ips: [sandboxIp(i)], aliases: [name], interface_name: 'eth0' } },
      network_info: {
        'bn-net': {
          name: 'bn-net',
          id: hex64('bbbb', 1),
          driver: 'bridge',
          network_interface: 'bn-nvbr0',
          created: '2024-01-01T00:00:00Z',
          subnets: [{ subnet: SUBNET, gateway: GATEWAY }],
          ipv6_enabled: false,
          internal: false,
          dns_enabled: this.dns,
          ipam_options: { driver: 'host-local' },
        },
      },
    });
  }

  private ports = new Map<number, { port: number; name: string }>();

  private netavark(cmd: 'setup' | 'teardown', ns: string, input: string): string[] {
    return this.lab.hostCmd([NETAVARK, '--config', this.confDir, '--rootless=false', '--aardvark-binary', AARDVARK, cmd, ns]);
  }

  async setup(i: number, hostPort: number, name = `bn-c${i}`): Promise<void> {
    const ns = await this.lab.addNs(`c${i}`);
    const input = this.config(i, hostPort, name);
    this.ports.set(i, { port: hostPort, name });
    await run(this.netavark('setup', nsPath(ns), input), { input });
  }

  async teardown(i: number): Promise<void> {
    const p = this.ports.get(i) ?? { port: 0, name: `bn-c${i}` };
    const ns = this.lab.nsName(`c${i}`);
    const input = this.config(i, p.port, p.name);
    await run(this.netavark('teardown', nsPath(ns), input), { input });
    await this.lab.delNs(`c${i}`);
    this.ports.delete(i);
  }

  dnsClientCmd(argv: string[]): string[] {
    return this.lab.nsCmd(this.clientNs, argv);
  }

  async stop(): Promise<void> {
    await this.lab.destroy();
    this.ports.clear();
  }
}
