// The records berth keeps in its store. Pure data: no I/O, no classes.
// Everything the kernel holds for berth can be derived from these records.

/** Branded strings for values that look alike but must not be mixed up. */
export type NetworkId = string & { readonly __brand: 'NetworkId' };
export type SandboxId = string & { readonly __brand: 'SandboxId' };
/** An IPv4 address in dotted form, e.g. "172.17.0.2". */
export type Ipv4 = string;
/** An IPv4 prefix, e.g. "172.17.0.0/16". */
export type Cidr = string;
/** A kernel interface name, validated to IFNAMSIZ and a safe alphabet. */
export type IfName = string;

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
  aliases: string[];
  /** --link NAME:ALIAS recorded on this endpoint's network (user networks: DNS aliases only). */
  links: string[];
}

export type SandboxStatus = 'created' | 'running' | 'exited';

export interface LinkRecord {
  /** Target sandbox id and name at link time; alias as given. */
  targetId: SandboxId;
  targetName: string;
  alias: string;
}

export interface SandboxConfig {
  cmd: string[];
  env: string[];
  hostname: string;
  /** 'bridge' | 'host' | 'none' | 'container:<id>' | a network name (the first of several). */
  networkMode: string;
  /** Networks requested at create, in order: network id -> endpoint settings. */
  networks: Array<{ networkId: NetworkId; ip?: Ipv4; aliases: string[] }>;
  exposedPorts: ExposedPort[];
  portRequests: PortRequest[];
  publishAll: boolean;
  links: LinkRecord[];
  extraHosts: string[];
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  rootfs: string;
  /** The user gave --hostname (it is then also a DNS alias). */
  userHostname: boolean;
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
  labels: Record<string, string>;
  tty: boolean;
  openStdin: boolean;
  autoRemove: boolean;
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
}

export interface SandboxRecord {
  id: SandboxId;
  name: string;
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
}
