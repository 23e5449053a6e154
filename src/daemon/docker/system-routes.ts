// Docker's system endpoints: /_ping (HEAD and GET), /version and /info, and the headers every
// answer carries. Clients negotiate from these: the CLI reads Api-Version from the ping, docker-py
// (compose) reads ApiVersion from /version, and compose reads /info on every `up`.
import { readFileSync } from 'node:fs';
import { arch, cpus, hostname, release, totalmem } from 'node:os';
import type { Ctx } from '../context.js';
import type { Router } from '../http.js';
import type { ImageStore } from '../../images/store.js';

export const API_VERSION = '1.41';
export const MIN_API_VERSION = '1.24';
export const BERTH_VERSION = '0.1.0';

/** On every answer, as moby sends them. */
export const DOCKER_HEADERS: Record<string, string> = {
  'Api-Version': API_VERSION,
  'Docker-Experimental': 'false',
  Ostype: 'linux',
  Server: `Docker/${BERTH_VERSION} (linux) berth`,
};

/** Go's GOARCH names, which clients print and compare. */
function goArch(): string {
  const a = arch();
  return a === 'x64' ? 'amd64' : a === 'ia32' ? '386' : a;
}

function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'));
    return m?.[1] ?? 'Linux';
  } catch {
    return 'Linux';
  }
}

export function addSystemRoutes(r: Router, ctx: Ctx, images: ImageStore, runtimeName: string): void {
  const ping = async (q: { res: import('node:http').ServerResponse }) => {
    q.res.setHeader('Cache-Control', 'no-cache, no-store, must-revalidate');
    q.res.setHeader('Pragma', 'no-cache');
    q.res.setHeader('Swarm', 'inactive');
    return 'OK';
  };
  r.route({ method: 'GET', path: '/_ping' }, ping);
  r.route({ method: 'HEAD', path: '/_ping' }, ping);
  r.route({ method: 'GET', path: '/version' }, async () => {
    const details = { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, Os: 'linux', Arch: goArch(), KernelVersion: release() };
    return {
      Platform: { Name: 'berth' },
      Components: [{ Name: 'Engine', Version: BERTH_VERSION, Details: { ...details, GitCommit: '', GoVersion: `node ${process.version}` } }],
      Version: BERTH_VERSION,
      ...details,
      GitCommit: '',
      GoVersion: `node ${process.version}`,
      BuildTime: '',
    };
  });
  r.route({ method: 'GET', path: '/info' }, async () => {
    const all = Object.values(ctx.state.sandboxes);
    const running = all.filter((s) => s.state.status === 'running').length;
    return {
      ID: hostname(),
      Containers: all.length,
      ContainersRunning: running,
      ContainersPaused: 0,
      ContainersStopped: all.length - running,
      Images: (await images.list()).length,
      Driver: 'overlay',
      DriverStatus: [],
      Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'null'], Authorization: null, Log: ['berth-file'] },
      MemoryLimit: false,
      SwapLimit: false,
      IPv4Forwarding: true,
      Debug: ctx.cfg.logLevel === 'debug',
      NFd: 0,
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: 'berth-file',
      CgroupDriver: 'none',
      CgroupVersion: '2',
      KernelVersion: release(),
      OperatingSystem: osName(),
      OSType: 'linux',
      Architecture: goArch(),
      IndexServerAddress: '',
      RegistryConfig: { IndexConfigs: {}, InsecureRegistryCIDRs: [], Mirrors: [] },
      NCPU: cpus().length,
      MemTotal: totalmem(),
      DockerRootDir: ctx.cfg.dataRoot,
      Name: hostname(),
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: BERTH_VERSION,
      Runtimes: { [runtimeName]: { path: runtimeName } },
      DefaultRuntime: runtimeName,
      Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
      LiveRestoreEnabled: true,
      Isolation: '',
      InitBinary: '',
      SecurityOptions: [],
      Warnings: [],
    };
  });
}
