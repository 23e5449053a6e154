// The records berth keeps in its store. Pure data: no I/O, no classes.
// Everything the kernel holds for berth can be derived from these records.
import type { CatalogState } from './catalog.js';
import type { Healthcheck, HealthState } from './healthcheck.js';

/** Branded strings for values that look alike but must not be mixed up. */
export type NetworkId = string & { readonly __brand: 'NetworkId' };
export type SandboxId = string & { readonly __brand: 'SandboxId' };
// The values below reach ip/nft scripts, hosts files and resolv.conf. Each is a distinct type that
// only its parse function produces (model/net-values.ts, model/names.ts, model/dns-options.ts), so
// a string that has not been checked cannot be passed where one is expected.
/** An IPv4 address in dotted form, e.g. "172.17.0.2" (parseIpv4). */
export type Ipv4 = string & { readonly __brand: 'Ipv4' };
/** An IPv4 prefix, e.g. "172.17.0.0/16" (parseCidrText). */
export type Cidr = string & { readonly __brand: 'Cidr' };
/** A kernel interface name, validated to IFNAMSIZ and a safe alphabet (parseIfName). */
export type IfName = string & { readonly __brand: 'IfName' };
/** A name for DNS, /etc/hosts or resolv.conf: no whitespace, control characters or '#' (validateDnsSearch, validateHostname, validateAlias...). */
export type DomainName = string & { readonly __brand: 'DomainName' };
/** A --dns server: an IPv4 or IPv6 address in canonical form (validateDnsServer). */
export type IpAddress = string & { readonly __brand: 'IpAddress' };
/** One resolv.conf option token such as ndots:2 (validateDnsOption). */
export type DnsOption = string & { readonly __brand: 'DnsOption' };

export type NetworkDriver = 'bridge' | 'host' | 'null' | 'p2p';

export interface NetworkRecord {
  id: NetworkId;
  name: string;
  driver: NetworkDriver;
  /** RFC 3339 creation time. */
  created: string;
  /** bridge, host and none exist from the first start and cannot be removed. */
  builtin: boolean;
  internal: boolean;
  /** The Linux bridge device (bridge driver only). */
  bridge?: IfName;
  subnet?: Cidr;
  gateway?: Ipv4;
  ipRange?: Cidr;
  /** True when the user gave --subnet (only then is --ip allowed, as in Docker). */
  userSubnet: boolean;
  /** Options exactly as given (-o), shown by inspect. */
  options: Record<string, string>;
  labels: Record<string, string>;
  /** Effective settings derived from options and daemon flags. */
  icc: boolean;
  masquerade: boolean;
  mtu: number;
  /** Default host address for -p without an address (com.docker.network.bridge.host_binding_ipv4). */
  hostBindingIpv4: Ipv4;
  /** User networks get embedded DNS; the default bridge does not. */
  dns: boolean;
  /** Intent recorded before the kernel is changed: a create or remove that a crash cut off is
   * finished at the next start by removing the network and its bridge (the client never got
   * an answer). Absent once the operation completed. */
  pending?: 'create' | 'remove';
  /** Set for an overlay network (berthd --cluster-store): on this host it is a bridge like any
   * other, plus a VXLAN port carrying it to the other hosts (docs/overlay.md). */
  overlay?: { vni: number; attachable: boolean; bridgeMac?: string };
}

export type PortProto = 'tcp' | 'udp';

/** A port exposed by a sandbox (--expose, or the container side of -p). */
export interface ExposedPort {
  port: number;
  proto: PortProto;
}

/** What the user asked for with -p (before host ports are allocated). */
export interface PortRequest {
  hostIp: Ipv4 | ''; // '' means the default binding address
  hostPortStart: number; // 0 means "pick a free one"
  hostPortEnd: number;
  containerPortStart: number;
  containerPortEnd: number;
  proto: PortProto;
}

/** An allocated mapping: one host port to one container port. */
export interface PortBinding {
  hostIp: Ipv4; // '0.0.0.0' for all addresses
  hostPort: number;
  containerPort: number;
  proto: PortProto;
}

export interface EndpointRecord {
  /** 64 hex digits. */
  id: string;
  networkId: NetworkId;
  /** Interface name inside the sandbox: eth0, eth1... */
  ifName: IfName;
  /** Host-side veth name (bridge networks). */
  hostIfName?: IfName;
  ip?: Ipv4;
  prefixLen?: number;
  mac?: string;
  gateway?: Ipv4;
  /** True when the user asked for this address with --ip. */
  staticIp: boolean;
  aliases: DomainName[];
  /** --link NAME:ALIAS recorded on this endpoint's network (user networks: DNS aliases only). */
  links: string[];
  /** Set while a connect builds the endpoint in the kernel: after a crash the next start
   * rebuilds it (or drops it, if that fails). */
  pending?: 'attach';
}

export type SandboxStatus = 'created' | 'running' | 'exited';

export interface LinkRecord {
  /** Target sandbox id and name at link time; alias as given. */
  targetId: SandboxId;
  targetName: string;
  alias: DomainName;
}

export interface SandboxConfig {
  cmd: string[];
  env: string[];
  hostname: DomainName | '';
  /** 'bridge' | 'host' | 'none' | 'container:<id>' | a network name (the first of several). */
  networkMode: string;
  /** Networks requested at create, in order: network id -> endpoint settings. */
  networks: Array<{ networkId: NetworkId; ip?: Ipv4; aliases: DomainName[] }>;
  exposedPorts: ExposedPort[];
  portRequests: PortRequest[];
  publishAll: boolean;
  links: LinkRecord[];
  extraHosts: string[];
  dns: IpAddress[];
  /** Domains, or "." (no search list). */
  dnsSearch: Array<DomainName | '.'>;
  dnsOptions: DnsOption[];
  rootfs: string;
  /** The user gave --hostname (it is then also a DNS alias). */
  userHostname: boolean;
  /** --rm (Docker's HostConfig.AutoRemove): berthd removes the sandbox when it exits. */
  autoRemove?: boolean;
  /** --label KEY=VALUE (service replicas carry com.docker.swarm.* labels). */
  labels?: Record<string, string>;
  /** --health-*: absent means no check. */
  healthcheck?: Healthcheck;
  /** Made from an image: runs through the OCI runtime in a root filesystem from its layers. */
  image?: SandboxImage;
  /** Docker's container config kept for inspect and the Docker API (absent on older records). */
  docker?: DockerFields;
}

export interface SandboxImage {
  /** "sha256:<hex>" */
  id: string;
  /** As the user named it ("busybox", "web:1"). */
  name: string;
  /** diff_ids, bottom layer first. */
  layers: string[];
}

export interface BindMount {
  source: string;
  target: string;
  readOnly: boolean;
}

export interface DockerFields {
  entrypoint: string[];
  /** The Cmd part of the command (cmd above is entrypoint + this). */
  cmd: string[];
  workingDir: string;
  tty: boolean;
  openStdin: boolean;
  /** The TTY's size at start (docker's HostConfig.ConsoleSize). */
  consoleSize?: { rows: number; cols: number };
  /** user[:group] the command runs as (image sandboxes): docker run --user, else the image's User. */
  user?: string;
  binds: BindMount[];
  restartPolicy: { name: string; maximumRetryCount: number };
}

export interface SandboxState {
  status: SandboxStatus;
  pid: number;
  /** /proc/PID/stat start time, to tell our process from a recycled PID. */
  pidStartTime: string;
  /** The shim (sandbox-init) PID and the sandbox's mount namespace, to find every process of it. */
  shimPid: number;
  /** Start time of the shim, like pidStartTime (absent in records written before it existed). */
  shimStartTime?: string;
  mntNs: string;
  startedAt: string;
  finishedAt: string;
  exitCode: number;
  error: string;
  /** Restarts by the restart policy since the user last started it (Docker's RestartCount). */
  restartCount?: number;
  /** Stopped or killed by the user since its last start: unless-stopped leaves it alone, also across berthd restarts. */
  stoppedByUser?: boolean;
  /** Docker's State.Health, while a sandbox with a health check runs (reset at every start). */
  health?: HealthState;
  /** A service replica being taken down: out of rotation before it is stopped. */
  draining?: boolean;
}

export interface SandboxRecord {
  id: SandboxId;
  /** validateName('container'). */
  name: DomainName;
  created: string;
  config: SandboxConfig;
  state: SandboxState;
  /** Live endpoints while running: network id -> endpoint. */
  endpoints: Record<string, EndpointRecord>;
  /** Allocated port bindings while running. */
  ports: PortBinding[];
  /** Bumped on every start, so a restart can be told from a stale one. */
  generation: number;
}

/** The whole persisted state. */
export interface BerthState {
  version: 1;
  networks: Record<string, NetworkRecord>;
  sandboxes: Record<string, SandboxRecord>;
  /** Host services added through the API (berth host-service add), as NAME=IP:PORT->HOSTPORT specs. */
  hostServices?: string[];
  /** Services registered in the catalog through Consul's agent API, and their check results. */
  catalog?: CatalogState;
  /** Services (berth service create): service id -> record. Replicas are ordinary sandboxes. */
  services?: Record<string, ServiceRecord>;
  /** Load balancers (berth lb create): name -> record. Their HAProxy runs in an ordinary sandbox. */
  lbs?: Record<string, LbRecord>;
  /** Replicas of services across hosts running on other hosts (from the cluster store; never
   * persisted): the VIP maps, DNS and the catalog list them beside the local ones. */
  remoteTasks?: RemoteTask[];
}

/** Where a load balancer sends requests: a service's replicas on one target port. */
export interface LbTarget {
  service: string;
  /** 0: the service's first TCP target port. */
  port: number;
}

export interface LbRoute extends LbTarget {
  /** Lower case, no port, no trailing dot (what HAProxy's host_only leaves). */
  host: string;
}

export type LbCheck = { kind: 'http'; path: string } | { kind: 'tcp' };

export interface LbSpec {
  /** Back-end network ids, in the order given. */
  networks: NetworkId[];
  /** The front network id (publishes the port). */
  front: NetworkId;
  published: number;
  /** The port HAProxy listens on inside its sandbox. */
  port: number;
  routes: LbRoute[];
  default?: LbTarget;
  check: LbCheck;
  stats?: { uri: string; user?: string; pass?: string };
  /** Back-end slots declared in haproxy.cfg (default 32): see lb/slots.ts. */
  slots?: number;
}

export interface LbRecord {
  name: string;
  created: string;
  /** The sandbox HAProxy runs in (named like the load balancer). */
  sandboxId: string;
  spec: LbSpec;
}

export type EndpointMode = 'vip' | 'dnsrr';

/** A port a service publishes: on its VIPs (target) and, with a published port, on the host. */
export interface ServicePort {
  /** Host port (-p PUBLISHED:TARGET); 0 when only the target port is declared. */
  published: number;
  target: number;
  proto: PortProto;
  /** Services across hosts: 'local' makes a host send new flows of this published port to its
   * own replicas in rotation when it has any (else to all); default: all replicas (the mesh). */
  mode?: 'local';
}

export interface ServiceSpec {
  replicas: number;
  /** Network ids, in the order given. */
  networks: NetworkId[];
  endpointMode: EndpointMode;
  ports: ServicePort[];
  healthcheck?: Healthcheck;
  env: string[];
  rootfs: string;
  labels: Record<string, string>;
  cmd: string[];
  /** --network-alias: more names for the service on each of its networks. */
  aliases: string[];
  update: { parallelism: number; delayMs: number };
  /** --constraint node.name==N / node.name!=N (services across hosts). */
  constraints?: string[];
}

export interface ServiceRecord {
  /** 25 characters of [a-z0-9], like a swarm service id. */
  id: string;
  name: string;
  created: string;
  updated: string;
  spec: ServiceSpec;
  /** vip mode: one virtual address per network, reserved in that network's IPAM. */
  vips: Record<string, Ipv4>;
  /** Bumped on every spec change; replicas carry the version they were made from (label). */
  version: number;
  /** A service across hosts (on overlay networks): the record is a mirror of the cluster store's;
   * replicas run where the cluster's placement assigns their slots (daemon/cluster-services.ts). */
  cluster?: true;
}

/** A replica of a service across hosts that runs on another host, as the cluster store says. */
export interface RemoteTask {
  serviceId: string;
  /** NAME.SLOT */
  name: string;
  slot: number;
  node: string;
  sandboxId: string;
  /** Network id -> address. */
  ips: Record<string, Ipv4>;
  state: 'running' | 'starting' | 'failed' | 'complete';
  health?: string;
  inRotation: boolean;
  startedAt: string;
  /** The service version it runs (label com.berth.service.version): a rolling update's progress. */
  version?: number;
}
