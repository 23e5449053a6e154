// What each benchmark needs from a system. One adapter per system implements the parts it can.
import type { ProcInfo } from '../lib/procfs.js';

export interface Ctx {
  quick: boolean;
  log: (s: string) => void;
  /** Shared read-only rootfs (busybox-static + applets) for systems that run images. */
  rootfs: string;
}

export interface SystemBase {
  /** Name shown in the tables, e.g. "netavark", "berth (API)". */
  readonly name: string;
  /** undefined when the system can run here; otherwise why it cannot. */
  check(): Promise<string | undefined>;
  /** Remove everything this system made (lab, processes). Safe to call twice. */
  stop(): Promise<void>;
  /** Facts worth a note in the report, asked once the system is started (e.g. a missing feature). */
  describe?(): Promise<string[]>;
}

/** Metrics 1 and 2: the network of one sandbox on one bridge network, with one published port. */
export interface NetSetupSystem extends SystemBase {
  start(): Promise<void>;
  /** Make sandbox i's network (and its namespace, if the system does not make it itself). */
  setup(i: number, hostPort: number): Promise<void>;
  teardown(i: number): Promise<void>;
  /**
   * Time the daemon itself reports for sandbox i's last setup or teardown (ms): its whole operation
   * and the network part of it. Only for systems with a daemon that reports it.
   */
  daemonSide?(i: number, kind: 'setup' | 'teardown'): { total: number; net: number } | undefined;
  /** Stop the daemon (its sandboxes keep running) and start it again: ms until it answers, sandboxes it lists as running. */
  restartDaemon?(): Promise<{ ms: number; running: number }>;
}

/** Metric 3: `run -d -p HOST:80` end to end through the system's CLI. */
export interface RunSystem extends SystemBase {
  start(): Promise<void>;
  runDetached(name: string, hostPort: number): Promise<void>;
  remove(name: string): Promise<void>;
  /** A CLI call that changes nothing (`ps`): the floor under every CLI figure. */
  cliFloor(): Promise<void>;
}

export interface PortRange {
  host: number;
  container: number;
  count: number;
}

/** Metrics 4 and 6: published ports, the data path through them, and the daemon's processes. */
export interface PublishSystem extends SystemBase {
  start(opts: { userlandProxy: boolean }): Promise<void>;
  /** A long-running sandbox publishing these port ranges (tcp). */
  runWithPorts(name: string, ranges: PortRange[]): Promise<void>;
  remove(name: string): Promise<void>;
  /** Path of the sandbox's network namespace (to start a server in it with nsenter). */
  netnsPath(name: string): Promise<string>;
  /** argv to run a command in the lab's outside namespace (the client side). */
  clientCmd(argv: string[]): string[];
  /** argv to run a command in the lab's host namespace. */
  hostCmd(argv: string[]): string[];
  /** Address published ports answer on, as seen from the outside namespace. */
  readonly publicIp: string;
  /**
   * Append the system's own rules for `count` more published ports (start..start+count-1), copied from the
   * rules it made for templatePort, in one batch. Only for systems whose publishing is too slow to reach
   * thousands of ports within the run's time.
   */
  addRuleFillers?(templatePort: number, start: number, count: number): Promise<void>;
  /** The daemon's process(es) and everything they spawned that is not a sandbox's own command. */
  daemonProcs(): Promise<{ daemon: ProcInfo[]; proxies: ProcInfo[]; other: ProcInfo[] }>;
}

/** Metric 5: an embedded DNS server answering for sandbox names. */
export interface DnsSystem extends SystemBase {
  /** Start sandboxes named `names` on one network with DNS; the first is the client. */
  start(names: string[]): Promise<void>;
  /** argv to run a command inside the client sandbox's network namespace. */
  dnsClientCmd(argv: string[]): string[];
  /** Address the client queries. */
  readonly serverIp: string;
}
