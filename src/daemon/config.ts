// berthd's flags, parsed and validated before anything is touched.
import { parseIpv4 } from '../model/net-values.js';
import type { Ipv4 } from '../model/types.js';
import { Command, Option } from 'commander';
import { BadRequest } from '../model/errors.js';
import { parseCidr, parseIp } from '../ipam/ipv4.js';
import { parseHostService } from '../model/host-service.js';
import { DEFAULT_POOLS, parsePoolFlag, type AddressPool } from '../ipam/pools.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface DaemonConfig {
  dataRoot: string;
  execRoot: string;
  socket: string;
  /** A second socket serving the same API, for Docker clients (e.g. /var/run/docker.sock). */
  dockerSocket: string | undefined;
  /** The default bridge's gateway address and prefix length (--bip 172.17.0.1/16). */
  bip: string;
  pools: AddressPool[];
  logLevel: LogLevel;
  resolvConf: string;
  icc: boolean;
  ipMasq: boolean;
  firewall: 'nftables' | 'none';
  defaultBindIp: Ipv4;
  hostServices: string[];
  mtu: number;
  /** The catalog's TCP listener (Consul's HTTP API), when asked for. */
  catalogAddr?: { ip: string; port: number };
  /** --catalog-host-service NAME=IP:PORT, completed to a host-service spec pointing at catalogAddr. */
  catalogHostService?: string;
}

function bool(name: string) {
  return (v: string): boolean => {
    if (v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
    throw new BadRequest(`invalid value "${v}" for --${name}: use true or false`);
  };
}

export function parseDaemonArgs(argv: string[]): DaemonConfig {
  const cmd = new Command('berthd')
    .description('berth daemon: container networking on the kernel, controlled over a unix socket')
    .option('--data-root <dir>', 'persistent state', '/var/lib/berth')
    .option('--exec-root <dir>', 'runtime files: namespaces, sockets', '/run/berth')
    .option('--socket <path>', 'API socket (default EXEC_ROOT/berth.sock)')
    .option('--docker-socket <path>', 'also serve the API (Docker Engine API 1.41) on this socket')
    .option('--bip <cidr>', 'address and prefix of the default bridge', '172.17.0.1/16')
    .option('--default-address-pool <spec>', 'base=CIDR,size=N (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']).default('info'))
    .option('--resolv-conf <path>', 'upstream resolvers for sandboxes and the embedded DNS', '/etc/resolv.conf')
    .option('--icc <bool>', 'inter-sandbox communication on the default bridge', bool('icc'), true)
    .option('--ip-masq <bool>', 'masquerade outbound traffic', bool('ip-masq'), true)
    .addOption(new Option('--firewall <mode>', 'firewall backend').choices(['nftables', 'none']).default('nftables'))
    .option('--default-bind-ip <ip>', 'host address for -p without one', '0.0.0.0')
    .option('--host-service <spec>', 'NAME=LINKLOCAL_IP:PORT->HOSTPORT (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--mtu <n>', 'MTU of berth bridges and veths', '1500')
    .option('--catalog-addr <[ip:]port>', "serve the catalog (Consul's HTTP API) on TCP, loopback by default, e.g. 127.0.0.1:8500")
    .option('--catalog-allow-remote', 'allow --catalog-addr on an address other than loopback (the catalog has no authentication)', false)
    .option('--catalog-host-service <spec>', 'serve the catalog inside every sandbox: NAME=169.254.X.Y:PORT, e.g. consul.local=169.254.32.1:80')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  cmd.parse(argv, { from: 'user' });
  const o = cmd.opts<Record<string, unknown>>();
  const execRoot = String(o['execRoot']);
  const bip = String(o['bip']);
  parseCidr(bip, '--bip');
  const defaultBindIp = parseIpv4(String(o['defaultBindIp']), '--default-bind-ip');
  const mtu = Number(o['mtu']);
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new BadRequest(`invalid --mtu ${String(o['mtu'])}`);
  const poolFlags = o['defaultAddressPool'] as string[];
  const catalogHostService = o['catalogHostService'] === undefined ? undefined : String(o['catalogHostService']);
  const catalogAddr = parseCatalogAddr(o['catalogAddr'] === undefined ? (catalogHostService ? '127.0.0.1:8500' : undefined) : String(o['catalogAddr']), o['catalogAllowRemote'] === true);
  return {
    dataRoot: String(o['dataRoot']),
    execRoot,
    socket: o['socket'] ? String(o['socket']) : `${execRoot}/berth.sock`,
    dockerSocket: o['dockerSocket'] ? String(o['dockerSocket']) : undefined,
    bip,
    pools: poolFlags.length ? poolFlags.map(parsePoolFlag) : DEFAULT_POOLS,
    logLevel: o['logLevel'] as LogLevel,
    resolvConf: String(o['resolvConf']),
    icc: o['icc'] as boolean,
    ipMasq: o['ipMasq'] as boolean,
    firewall: o['firewall'] as 'nftables' | 'none',
    defaultBindIp,
    hostServices: [...(o['hostService'] as string[]), ...(catalogHostService ? [catalogHostServiceSpec(catalogHostService, catalogAddr!)] : [])],
    mtu,
    ...(catalogAddr ? { catalogAddr } : {}),
    ...(catalogHostService ? { catalogHostService } : {}),
  };
}

/** "8500" or "IP:8500"; an address off loopback only with --catalog-allow-remote. */
export function parseCatalogAddr(text: string | undefined, allowRemote: boolean): { ip: string; port: number } | undefined {
  if (text === undefined) return undefined;
  const m = /^(?:([0-9.]+):)?(\d{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  if (!m || !(port >= 1 && port <= 65535)) throw new BadRequest(`invalid --catalog-addr "${text}": give [IP:]PORT, e.g. 127.0.0.1:8500`);
  const ip = m[1] ?? '127.0.0.1';
  parseIp(ip, '--catalog-addr');
  if (!ip.startsWith('127.') && !allowRemote) {
    throw new BadRequest(
      `--catalog-addr ${text} is not a loopback address: the catalog takes registrations without authentication, so berthd serves it on 127.0.0.1 unless you add --catalog-allow-remote`,
    );
  }
  return { ip, port };
}

/** consul.local=169.254.32.1:80 -> consul.local=169.254.32.1:80->127.0.0.1:8500 (the catalog's listener). */
export function catalogHostServiceSpec(spec: string, addr: { ip: string; port: number }): string {
  if (!/^[^=]+=[0-9.]+:\d{1,5}$/.test(spec)) {
    throw new BadRequest(`invalid --catalog-host-service "${spec}": expected NAME=169.254.X.Y:PORT, e.g. consul.local=169.254.32.1:80`);
  }
  const hostIp = addr.ip === '0.0.0.0' ? '127.0.0.1' : addr.ip;
  const full = `${spec}->${hostIp}:${addr.port}`;
  parseHostService(full); // the host-service rules: a link-local address, a DNS name
  return full;
}
