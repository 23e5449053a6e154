// The CNI reference plugins executed directly as a chain, the way a CNI runtime (libcni) does:
// bridge (+host-local IPAM) -> portmap -> firewall. Each ADD result becomes the next plugin's
// prevResult; the final result is cached and sent as prevResult on DEL, which runs in reverse order.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, nsPath } from '../lib/lab.js';
import { run } from '../lib/proc.js';
import type { NetSetupSystem } from './types.js';

export const CNI_PATH = '/usr/lib/cni';
const NAME = 'bn-cni';
const VERSION = '1.0.0';

type Json = Record<string, unknown>;

export class CniSystem implements NetSetupSystem {
  readonly lab: Lab;
  private plugins: Json[];
  private cache = new Map<number, { result: Json; hostPort: number }>();

  constructor(
    readonly name: string,
    tag: string,
  ) {
    this.lab = new Lab(tag);
    this.plugins = [
      {
        type: 'bridge',
        bridge: 'bn-cnibr0',
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: '10.88.0.0/16', gateway: '10.88.0.1' }]],
          routes: [{ dst: '0.0.0.0/0' }],
          dataDir: join(this.lab.dir, 'ipam'),
        },
      },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      { type: 'firewall', backend: 'iptables' },
    ];
  }

  async check(): Promise<string | undefined> {
    for (const p of ['bridge', 'host-local', 'portmap', 'firewall']) {
      if (!existsSync(join(CNI_PATH, p))) return `${CNI_PATH}/${p} not found (package containernetworking-plugins)`;
    }
    return undefined;
  }

  async start(): Promise<void> {
    await this.lab.create();
    mkdirSync(join(this.lab.dir, 'ipam'), { recursive: true });
  }

  private conf(plugin: Json, hostPort: number, prev: Json | undefined): string {
    const c: Json = { ...plugin, name: NAME, cniVersion: VERSION };
    if (plugin.type === 'portmap' && hostPort > 0) {
      c.runtimeConfig = { portMappings: [{ hostPort, containerPort: 80, protocol: 'tcp' }] };
    }
    if (prev) c.prevResult = prev;
    return JSON.stringify(c);
  }

  private async exec(cmd: 'ADD' | 'DEL', i: number, plugin: Json, conf: string): Promise<string> {
    const env = {
      CNI_COMMAND: cmd,
      CNI_CONTAINERID: `bncni${i}`,
      CNI_NETNS: nsPath(this.lab.nsName(`c${i}`)),
      CNI_IFNAME: 'eth0',
      CNI_PATH,
    };
    const argv = this.lab.hostCmd([join(CNI_PATH, String(plugin.type))]);
    return (await run(argv, { input: conf, env })).stdout;
  }

  async setup(i: number, hostPort: number): Promise<void> {
    await this.lab.addNs(`c${i}`);
    let prev: Json | undefined;
    for (const p of this.plugins) {
      prev = JSON.parse(await this.exec('ADD', i, p, this.conf(p, hostPort, prev))) as Json;
    }
    this.cache.set(i, { result: prev ?? {}, hostPort });
  }

  async teardown(i: number): Promise<void> {
    const c = this.cache.get(i);
    for (const p of [...this.plugins].reverse()) {
      await this.exec('DEL', i, p, this.conf(p, c?.hostPort ?? 0, c?.result));
    }
    await this.lab.delNs(`c${i}`);
    this.cache.delete(i);
  }

  async stop(): Promise<void> {
    await this.lab.destroy();
    this.cache.clear();
  }
}
