// berthd's flags, parsed and validated before anything is touched.
import { parseIpv4 } from '../model/net-values.js';
import type { DomainName, IpAddress, Ipv4 } from '../model/types.js';
import { availableParallelism, hostname } from 'node:os';
import { Command, Option } from 'commander';
import { type ClusterConfig, parseClusterFlags } from '../model/cluster-config.js';
import { BadRequest } from '../model/errors.js';
import { parseCidr, parseIp } from '../ipam/ipv4.js';
import { parseHostService } from '../model/host-service.js';
import { DEFAULT_POOLS, parsePoolFlag, type AddressPool } from '../ipam/pools.js';
import { validateDnsSearch, validateDnsServer } from '../model/dns-options.js';
import { DEFAULT_CONFIG_FILE, readDaemonJson } from './config-file.js';

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
  /** Set with --cluster-store: this host joins a multi-host cluster through etcd. */
  cluster?: ClusterConfig | undefined;
  /** Default DNS servers and search domains for sandboxes that give none (daemon.json dns, dns-search). */
  dns: IpAddress[];
  dnsSearch: Array<DomainName | '.'>;
  /** The daemon.json read at start (absent is fine for the default path). */
  configFile: string;
  /** The catalog's TCP listener (Consul's HTTP API), when asked for. */
  catalogAddr?: { ip: string; port: number };
  /** --catalog-host-service NAME=IP:PORT, completed to a host-service spec pointing at catalogAddr. */
  catalogHostService?: string;
  /** Processes reading the embedded DNS's UDP sockets besides berthd (src/dns/udp-worker.ts). */
  dnsWorkers: number;
}

function bool(name: string) {
  return (v: string | undefined): boolean => {
    if (v === undefined) return true; // a bare --icc, as Docker's boolean flags allow
    if (v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
    throw new BadRequest(`invalid value "${v}" for --${name}: use true or false`);
  };
}

export function parseDaemonArgs(argv: string[]): DaemonConfig {
  const cmd = new Command('berthd')
    .description('berth daemon: container networking on the kernel, controlled over a unix socket')
    .option('--config-file <path>', "daemon configuration file with Docker's daemon.json keys; flags override it", DEFAULT_CONFIG_FILE)
    .option('--data-root <dir>', 'persistent state', '/var/lib/berth')
    .option('--exec-root <dir>', 'runtime files: namespaces, sockets', '/run/berth')
    .option('--socket <path>', 'API socket (default EXEC_ROOT/berth.sock)')
    .option('--docker-socket <path>', 'also serve the API (Docker Engine API 1.41) on this socket')
    .option('--bip <cidr>', 'address and prefix of the default bridge', '172.17.0.1/16')
    .option('--default-address-pool <spec>', 'base=CIDR,size=N (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']).default('info'))
    .option('--resolv-conf <path>', 'upstream resolvers for sandboxes and the embedded DNS', '/etc/resolv.conf')
    .option('--icc [bool]', 'inter-sandbox communication on the default bridge', bool('icc'), true)
    .option('--ip-masq [bool]', 'masquerade outbound traffic', bool('ip-masq'), true)
    .addOption(new Option('--firewall <mode>', 'firewall backend').choices(['nftables', 'none']).default('nftables'))
    .option('--iptables [bool]', "Docker's spelling: --iptables=false is --firewall none", bool('iptables'))
    .option('--default-bind-ip <ip>', 'host address for -p without one', '0.0.0.0')
    .option('--ip <ip>', "Docker's spelling of --default-bind-ip")
    .option('--dns <ip>', 'default DNS server for sandboxes (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--dns-search <domain>', 'default DNS search domain for sandboxes (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--host-service <spec>', 'NAME=LINKLOCAL_IP:PORT->HOSTPORT (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--mtu <n>', 'MTU of berth bridges and veths', '1500')
    .option('--dns-workers <n>', 'processes that answer embedded-DNS UDP queries besides berthd, 0-8 (default: 1 with 2 or more CPUs)')
    .option('--cluster-store <url>', 'join a multi-host cluster: etcd://HOST:PORT[,HOST:PORT...]')
    .option('--advertise-addr <ip>', 'this host\'s address on the underlay (with --cluster-store)')
    .option('--node-name <name>', 'this host\'s name in the cluster (default: the hostname)')
    .option('--lease-ttl <seconds>', 'how long this host\'s records outlive it in etcd (default 10)')
    .option('--catalog-addr <[ip:]port>', "serve the catalog (Consul's HTTP API) on TCP, loopback by default, e.g. 127.0.0.1:8500")
    .option('--catalog-allow-remote', 'allow --catalog-addr on an address other than loopback (the catalog has no authentication)', false)
    .option('--catalog-host-service <spec>', 'serve the catalog inside every sandbox: NAME=169.254.X.Y:PORT, e.g. consul.local=169.254.32.1:80')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  cmd.parse(argv, { from: 'user' });
  const o = cmd.opts<Record<string, unknown>>();
  const configFile = String(o['configFile']);
  const file = readDaemonJson(configFile, cmd.getOptionValueSource('configFile') === 'cli');
  // A flag given on the command line wins over the file; the file wins over the flag's default.
  const given = (key: string) => cmd.getOptionValueSource(key) === 'cli';
  const pick = <T>(key: string, fromFile: T | undefined): T => (given(key) || fromFile === undefined ? (o[key] as T) : fromFile);
  const execRoot = pick<string>('execRoot', file['exec-root']);
  const bip = pick<string>('bip', file.bip);
  parseCidr(bip, '--bip');
  const bindText = given('ip') ? String(o['ip']) : given('defaultBindIp') ? String(o['defaultBindIp']) : (file.ip ?? String(o['defaultBindIp']));
  const defaultBindIp = parseIpv4(bindText, given('ip') ? '--ip' : '--default-bind-ip');
  const mtu = given('mtu') || file.mtu === undefined ? Number(o['mtu']) : file.mtu;
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new BadRequest(`invalid --mtu ${String(o['mtu'])}`);
  const poolFlags = o['defaultAddressPool'] as string[];
  const pools = poolFlags.length ? poolFlags.map(parsePoolFlag) : (file['default-address-pools'] ?? DEFAULT_POOLS);
  const iptables = given('iptables') ? (o['iptables'] as boolean) : file.iptables;
  const firewall = given('firewall') || iptables === undefined ? (o['firewall'] as 'nftables' | 'none') : iptables ? 'nftables' : 'none';
  const dnsFlags = (o['dns'] as string[]).map(validateDnsServer);
  const searchFlags = (o['dnsSearch'] as string[]).map(validateDnsSearch);
  const dnsWorkers = o['dnsWorkers'] === undefined ? (availableParallelism() >= 2 ? 1 : 0) : Number(o['dnsWorkers']);
  if (!Number.isInteger(dnsWorkers) || dnsWorkers < 0 || dnsWorkers > 8) throw new BadRequest(`invalid --dns-workers ${String(o['dnsWorkers'])}: give 0 to 8`);
  const catalogHostService = o['catalogHostService'] === undefined ? undefined : String(o['catalogHostService']);
  const catalogAddr = parseCatalogAddr(o['catalogAddr'] === undefined ? (catalogHostService ? '127.0.0.1:8500' : undefined) : String(o['catalogAddr']), o['catalogAllowRemote'] === true);
  return {
    dataRoot: pick<string>('dataRoot', file['data-root']),
    execRoot,
    socket: o['socket'] ? String(o['socket']) : `${execRoot}/berth.sock`,
    dockerSocket: o['dockerSocket'] ? String(o['dockerSocket']) : undefined,
    bip,
    pools,
    logLevel: pick<LogLevel>('logLevel', file['log-level']),
    resolvConf: String(o['resolvConf']),
    icc: pick<boolean>('icc', file.icc),
    ipMasq: pick<boolean>('ipMasq', file['ip-masq']),
    firewall,
    defaultBindIp,
    hostServices: [...(o['hostService'] as string[]), ...(catalogHostService ? [catalogHostServiceSpec(catalogHostService, catalogAddr!)] : [])],
    mtu,
    dns: dnsFlags.length ? dnsFlags : (file.dns ?? []),
    dnsSearch: searchFlags.length ? searchFlags : (file['dns-search'] ?? []),
    configFile,
    dnsWorkers,
    ...(catalogAddr ? { catalogAddr } : {}),
    ...(catalogHostService ? { catalogHostService } : {}),
    cluster: parseClusterFlags(
      { clusterStore: o['clusterStore'] as string | undefined, advertiseAddr: o['advertiseAddr'] as string | undefined, nodeName: o['nodeName'] as string | undefined, leaseTtl: o['leaseTtl'] as string | undefined },
      hostname(),
    ),
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
