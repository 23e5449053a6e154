// State records rendered in Docker's JSON shapes (see shared/reference/docker-api-shapes.txt).
import { join } from 'node:path';
import { shortId } from '../model/ids.js';
import type { NetworkRecord, PortBinding, SandboxRecord } from '../model/types.js';
import { healthcheckToApi, type HealthState } from '../model/healthcheck.js';
import type { Ctx } from './context.js';
import { netnsOf } from './sandbox-net.js';

export function networkInspect(ctx: Ctx, net: NetworkRecord): Record<string, unknown> {
  const containers: Record<string, unknown> = {};
  for (const sb of Object.values(ctx.state.sandboxes)) {
    const ep = sb.endpoints[net.id];
    if (!ep) continue;
    containers[sb.id] = {
      Name: sb.name,
      EndpointID: ep.id,
      MacAddress: ep.mac ?? '',
      IPv4Address: ep.ip ? `${ep.ip}/${ep.prefixLen}` : '',
      IPv6Address: '',
    };
  }
  const ipamConfig = net.subnet
    ? [{ Subnet: net.subnet, ...(net.gateway ? { Gateway: net.gateway } : {}), ...(net.ipRange ? { IPRange: net.ipRange } : {}) }]
    : [];
  return {
    Name: net.name,
    Id: net.id,
    Created: net.created,
    Scope: net.overlay ? 'swarm' : 'local',
    Driver: net.overlay ? 'overlay' : net.driver,
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: net.builtin ? null : {}, Config: ipamConfig },
    Internal: net.internal,
    Attachable: net.overlay?.attachable ?? false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: containers,
    Options: net.options,
    Labels: net.labels,
  };
}

export function portsMap(sb: SandboxRecord): Record<string, Array<{ HostIp: string; HostPort: string }> | null> {
  const out: Record<string, Array<{ HostIp: string; HostPort: string }> | null> = {};
  for (const e of sb.config.exposedPorts) out[`${e.port}/${e.proto}`] = null;
  const sorted = [...sb.ports].sort((a: PortBinding, b: PortBinding) => a.containerPort - b.containerPort || a.hostPort - b.hostPort);
  for (const p of sorted) {
    const key = `${p.containerPort}/${p.proto}`;
    (out[key] ??= []).push({ HostIp: p.hostIp, HostPort: String(p.hostPort) });
  }
  return out;
}

export function sandboxInspect(ctx: Ctx, sb: SandboxRecord): Record<string, unknown> {
  const dir = ctx.sandboxDir(sb.id);
  const d = sb.config.docker;
  const running = sb.state.status === 'running';
  const networks: Record<string, unknown> = {};
  const mode = sb.config.networkMode;
  if (mode === 'host' || mode === 'none') {
    const net = Object.values(ctx.state.networks).find((n) => n.name === mode)!;
    networks[mode] = endpointShape(net.id, undefined, sb, ctx);
  }
  for (const n of sb.config.networks) {
    const net = ctx.state.networks[n.networkId];
    if (!net) continue;
    networks[net.name] = endpointShape(net.id, n, sb, ctx);
  }
  const firstEp = sb.config.networks[0] ? sb.endpoints[sb.config.networks[0].networkId] : undefined;
  const onDefault = sb.config.networks[0] && ctx.state.networks[sb.config.networks[0].networkId]?.builtin;
  const exposed: Record<string, object> = {};
  for (const e of sb.config.exposedPorts) exposed[`${e.port}/${e.proto}`] = {};
  const portBindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const r of sb.config.portRequests) {
    for (let i = 0; i <= r.containerPortEnd - r.containerPortStart; i++) {
      const key = `${r.containerPortStart + i}/${r.proto}`;
      const hp = r.hostPortStart === 0 ? '' : r.hostPortEnd > r.hostPortStart && r.containerPortEnd === r.containerPortStart ? `${r.hostPortStart}-${r.hostPortEnd}` : String(r.hostPortStart + i);
      (portBindings[key] ??= []).push({ HostIp: r.hostIp, HostPort: hp });
    }
  }
  return {
    Id: sb.id,
    Created: sb.created,
    Path: sb.config.cmd[0],
    Args: sb.config.cmd.slice(1),
    State: {
      Status: sb.state.status,
      Running: running,
      Paused: false,
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: sb.state.pid,
      ExitCode: sb.state.exitCode,
      Error: sb.state.error,
      StartedAt: sb.state.startedAt,
      FinishedAt: sb.state.finishedAt,
      ...(sb.config.healthcheck ? { Health: healthShape(sb.state.health) } : {}),
    },
    ResolvConfPath: join(dir, 'resolv.conf'),
    HostnamePath: join(dir, 'hostname'),
    HostsPath: join(dir, 'hosts'),
    LogPath: join(dir, 'log'),
    Name: `/${sb.name}`,
    RestartCount: sb.state.restartCount ?? 0,
    Image: sb.config.image?.id ?? '',
    Driver: sb.config.image ? 'overlay' : '',
    Platform: 'linux',
    Mounts: (d?.binds ?? []).map((b) => ({
      Type: b.source.startsWith(`${ctx.cfg.dataRoot}/volumes/`) ? 'volume' : 'bind',
      ...(b.source.startsWith(`${ctx.cfg.dataRoot}/volumes/`) ? { Name: b.source.split('/').slice(-2, -1)[0], Driver: 'local' } : {}),
      Source: b.source,
      Destination: b.target,
      Mode: b.readOnly ? 'ro' : '',
      RW: !b.readOnly,
      Propagation: 'rprivate',
    })),
    HostConfig: {
      Binds: d?.binds.length ? d.binds.map((b) => `${b.source}:${b.target}${b.readOnly ? ':ro' : ''}`) : null,
      RestartPolicy: { Name: d?.restartPolicy.name ?? 'no', MaximumRetryCount: d?.restartPolicy.maximumRetryCount ?? 0 },
      NetworkMode: mode,
      PortBindings: portBindings,
      PublishAllPorts: sb.config.publishAll,
      Links: sb.config.links.length ? sb.config.links.map((l) => `/${l.targetName}:/${sb.name}/${l.alias}`) : null,
      ExtraHosts: sb.config.extraHosts.length ? sb.config.extraHosts : null,
      Dns: sb.config.dns,
      DnsSearch: sb.config.dnsSearch,
      DnsOptions: sb.config.dnsOptions,
      AutoRemove: sb.config.autoRemove === true,
    },
    Config: {
      Hostname: sb.config.hostname || shortId(sb.id),
      ExposedPorts: Object.keys(exposed).length ? exposed : null,
      Env: sb.config.env.length ? sb.config.env : null,
      Cmd: d ? (d.cmd.length ? d.cmd : null) : sb.config.cmd,
      Image: sb.config.image?.name ?? '',
      Entrypoint: d?.entrypoint.length ? d.entrypoint : null,
      WorkingDir: d?.workingDir ?? '',
      Tty: d?.tty ?? false,
      OpenStdin: d?.openStdin ?? false,
      AttachStdin: false,
      AttachStdout: !sb.config.autoRemove,
      AttachStderr: !sb.config.autoRemove,
      Domainname: '',
      User: d?.user ?? '',
      Volumes: null,
      OnBuild: null,
      Rootfs: sb.config.rootfs,
      MacAddress: firstEp?.mac ?? '',
      Labels: sb.config.labels ?? {},
      ...(sb.config.healthcheck ? { Healthcheck: healthcheckToApi(sb.config.healthcheck) } : {}),
    },
    NetworkSettings: {
      Bridge: '',
      SandboxID: running && !mode.startsWith('container:') ? sb.id : '',
      HairpinMode: false,
      Ports: portsMap(sb),
      SandboxKey: running && !mode.startsWith('container:') ? (netnsOf(ctx, sb) ?? '') : '',
      EndpointID: onDefault ? (firstEp?.id ?? '') : '',
      Gateway: onDefault ? (firstEp?.gateway ?? '') : '',
      IPAddress: onDefault ? (firstEp?.ip ?? '') : '',
      IPPrefixLen: onDefault ? (firstEp?.prefixLen ?? 0) : 0,
      MacAddress: onDefault ? (firstEp?.mac ?? '') : '',
      Networks: networks,
    },
  };
}

function endpointShape(
  netId: string,
  req: { ip?: string; aliases: string[] } | undefined,
  sb: SandboxRecord,
  ctx: Ctx,
): Record<string, unknown> {
  const net = ctx.state.networks[netId]!;
  const ep = sb.endpoints[netId];
  const aliases = net.builtin ? null : [...(req?.aliases ?? []), shortId(sb.id), ...(sb.config.userHostname ? [sb.config.hostname] : [])];
  return {
    IPAMConfig: req?.ip ? { IPv4Address: req.ip } : null,
    Links: !net.builtin && sb.config.links.length ? sb.config.links.map((l) => `${l.targetName}:${l.alias}`) : null,
    Aliases: aliases,
    NetworkID: netId,
    EndpointID: ep?.id ?? '',
    Gateway: ep?.gateway ?? '',
    IPAddress: ep?.ip ?? '',
    IPPrefixLen: ep?.prefixLen ?? 0,
    IPv6Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    MacAddress: ep?.mac ?? '',
    DriverOpts: null,
  };
}

export function sandboxSummary(ctx: Ctx, sb: SandboxRecord): Record<string, unknown> {
  const nets: Record<string, unknown> = {};
  for (const n of sb.config.networks) {
    const net = ctx.state.networks[n.networkId];
    if (net) nets[net.name] = { NetworkID: net.id, IPAddress: sb.endpoints[net.id]?.ip ?? '' };
  }
  return {
    Id: sb.id,
    Names: [`/${sb.name}`],
    Image: sb.config.image?.name ?? '',
    ImageID: sb.config.image?.id ?? '',
    Command: sb.config.cmd.join(' '),
    Labels: sb.config.labels ?? {},
    Mounts: [],
    Created: Math.floor(Date.parse(sb.created) / 1000),
    State: sb.state.status,
    Status: statusText(sb),
    Ports: sb.ports.map((p) => ({ IP: p.hostIp, PrivatePort: p.containerPort, PublicPort: p.hostPort, Type: p.proto })),
    HostConfig: { NetworkMode: sb.config.networkMode },
    NetworkSettings: { Networks: nets },
  };
}

function ago(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} seconds`;
  if (s < 3600) return `${Math.round(s / 60)} minutes`;
  return `${Math.round(s / 3600)} hours`;
}

function statusText(sb: SandboxRecord): string {
  if (sb.state.status === 'running') {
    const h = sb.state.health;
    const health = !sb.config.healthcheck || !h ? '' : h.status === 'starting' ? ' (health: starting)' : ` (${h.status})`;
    return `Up ${ago(sb.state.startedAt)}${health}`;
  }
  if (sb.state.status === 'exited') return `Exited (${sb.state.exitCode}) ${ago(sb.state.finishedAt)} ago`;
  return 'Created';
}

/** Docker's State.Health. */
function healthShape(h: HealthState | undefined): Record<string, unknown> {
  const cur = h ?? { status: 'starting', failingStreak: 0, log: [] };
  return {
    Status: cur.status,
    FailingStreak: cur.failingStreak,
    Log: cur.log.map((r) => ({ Start: r.start, End: r.end, ExitCode: r.exitCode, Output: r.output })),
  };
}
