// Turning a parsed create request (schema/container-schemas.ts) into a SandboxConfig: the checks
// that need state (networks, names, link targets) and the rootfs on disk. Nothing is changed here.
import { statSync } from 'node:fs';
import { BadRequest, Conflict, NotFound } from '../model/errors.js';
import { validateAlias, validateName } from '../model/names.js';
import { sandboxIdOf } from '../model/ids.js';
import type { LinkRecord, NetworkId, SandboxConfig } from '../model/types.js';
import { allocateAddress, planSubnet } from '../ipam/allocator.js';
import { formatExtraHost } from '../model/extra-hosts.js';
import type { Ctx } from './context.js';
import type { CreateSandboxInput } from './schema/container-schemas.js';
import { IP_ONLY_WITH_USER_SUBNET } from './sandbox-net.js';
import type { Image } from '../images/store.js';
import { join } from 'node:path';
import { portRequestsOf } from '../model/port-requests.js';

export interface SpecResult {
  config: SandboxConfig;
  warnings: string[];
}

/** Env lists merged by key, later ones winning (image first, then the container's). */
function mergeEnv(base: readonly string[], over: readonly string[]): string[] {
  const out = new Map<string, string>();
  for (const e of [...base, ...over]) out.set(e.split('=')[0]!, e);
  return [...out.values()];
}

export function buildConfig(ctx: Ctx, name: string, req: CreateSandboxInput, image?: Image): SpecResult {
  const warnings: string[] = [];
  const hc = req.HostConfig;
  const ic = image?.config.config ?? undefined;
  if (image && req.Rootfs) throw new BadRequest('conflicting options: an image and --rootfs');
  // Docker's merge: a container Entrypoint drops the image's Cmd unless Cmd is given too.
  const entrypoint = req.Entrypoint ?? ic?.Entrypoint ?? [];
  const dcmd = req.Cmd.length ? req.Cmd : req.Entrypoint ? [] : (ic?.Cmd ?? []);
  const cmd = [...entrypoint, ...dcmd];
  if (cmd.length === 0) throw new BadRequest(image ? 'No command specified' : 'No command specified: give the command to run after --');
  const env = image ? mergeEnv(ic?.Env ?? [], req.Env) : req.Env;
  if (image) {
    // The image's exposed ports count as the container's own (for -P and inspect).
    const imagePorts = Object.fromEntries(Object.keys(ic?.ExposedPorts ?? {}).map((k) => [k, {}]));
    req = { ...req, ports: portRequestsOf({ ExposedPorts: { ...imagePorts, ...req.ExposedPorts }, PortBindings: hc.PortBindings }) };
  }
  // The image's labels under the container's own (Docker's merge).
  const labels = { ...(ic?.Labels ?? {}), ...req.Labels };
  const binds = [...hc.Binds, ...hc.Mounts].map((b) => ({
    source: b.source || join(ctx.cfg.dataRoot, 'volumes', b.volume, '_data'),
    target: b.target,
    readOnly: b.readOnly,
  }));
  if (binds.length && !image) throw new BadRequest('bind mounts need an image (the sandbox then runs in its own root filesystem)');
  let mode = hc.NetworkMode || 'bridge';
  if (mode === 'default') mode = 'bridge';
  // CLI 28 keys the default network's endpoint "default" too; it is the bridge network.
  const endpointsConfig = Object.fromEntries(Object.entries(req.NetworkingConfig.EndpointsConfig).map(([k, v]) => [k === 'default' ? 'bridge' : k, v]));
  const { exposed, requests } = req.ports;
  const hostname = req.Hostname;
  const rootfs = req.Rootfs;
  if (rootfs) {
    let isDir = false;
    try {
      isDir = statSync(rootfs).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) throw new BadRequest(`--rootfs ${rootfs} is not a directory`);
  }
  const extraHosts = hc.ExtraHosts;
  const dns = hc.Dns;

  const networks: SandboxConfig['networks'] = [];
  let networkMode = mode;
  if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) {
    const others = Object.keys(endpointsConfig).filter((n) => n !== mode);
    if (others.length) throw new BadRequest(`conflicting options: cannot attach both user-defined and non-user-defined network-modes`);
    if (mode.startsWith('container:')) {
      const target = ctx.sandbox(mode.slice('container:'.length));
      if (target.config.networkMode.startsWith('container:')) throw new BadRequest(`cannot join the network of ${target.name}: it shares another container's network itself`);
      networkMode = `container:${target.id}`;
      if (requests.length || hc.PublishAllPorts) throw new BadRequest('conflicting options: port publishing and the container type network mode.');
      if (hostname) throw new BadRequest('conflicting options: hostname and the network mode.');
      if (extraHosts.length) throw new BadRequest('conflicting options: custom host-to-IP mapping and the network mode.');
      if (dns.length) throw new BadRequest('conflicting options: dns and the network mode.');
    }
    if (mode === 'host' && (requests.length || hc.PublishAllPorts)) {
      warnings.push('Published ports are discarded when using host network mode');
      requests.length = 0;
    }
  } else {
    const names = [mode, ...Object.keys(endpointsConfig).filter((n) => n !== mode)];
    for (const ref of names) {
      const net = ctx.network(ref);
      if (net.driver === 'host' || net.driver === 'null') throw new BadRequest(`conflicting options: cannot attach both user-defined and non-user-defined network-modes`);
      if (networks.some((n) => n.networkId === net.id)) continue;
      const ec = endpointsConfig[ref] ?? endpointsConfig[net.name];
      const ip = ec?.IPAMConfig.IPv4Address;
      if (ip && !net.userSubnet) throw new BadRequest(IP_ONLY_WITH_USER_SUBNET);
      // An address outside the subnet (or its network, broadcast or gateway address) can never
      // work: refuse it now rather than leave a sandbox that fails at every start.
      if (ip && net.subnet) allocateAddress(planSubnet(net.subnet, net.gateway, net.ipRange), new Set(), ip);
      const aliases = ec?.Aliases ?? [];
      if (aliases.length && net.builtin) throw new BadRequest('network-scoped alias is supported only for containers in user defined networks');
      networks.push({ networkId: net.id as NetworkId, ip, aliases });
    }
    networkMode = ctx.state.networks[networks[0]!.networkId]!.name;
  }

  const links: LinkRecord[] = hc.Links.map((l) => {
    const [target = '', alias] = l.split(':');
    const t = (() => {
      try {
        return ctx.sandbox(target.replace(/^\//, ''));
      } catch {
        // On an overlay network the target may run on another host: a link there is a DNS
        // alias of this sandbox for the target's address on that network (as on any user network).
        const remote = ctx.remoteNames().find((r) => r.name === target.replace(/^\//, '') && networks.some((n) => n.networkId === r.networkId));
        if (remote) return { id: sandboxIdOf(remote.sandboxId), name: validateName('container', remote.name) };
        throw new NotFound(`could not get container for ${target}: No such container: ${target}`);
      }
    })();
    const a = validateAlias((alias ?? t.name).replace(/^.*\//, ''));
    return { targetId: t.id, targetName: t.name, alias: a };
  });
  if (links.length && !networks.length) throw new BadRequest('links are supported only on bridge networks');

  if (Object.values(ctx.state.sandboxes).some((s) => s.name === name)) {
    const other = Object.values(ctx.state.sandboxes).find((s) => s.name === name)!;
    throw new Conflict(`Conflict. The container name "/${name}" is already in use by container "${other.id}". You have to remove (or rename) that container to be able to reuse that name.`);
  }
  return {
    warnings,
    config: {
      cmd,
      env,
      hostname,
      userHostname: Boolean(hostname),
      networkMode,
      networks,
      exposedPorts: exposed,
      portRequests: requests,
      publishAll: hc.PublishAllPorts && mode !== 'host',
      links,
      extraHosts: extraHosts.map(formatExtraHost),
      // daemon.json dns / dns-search (or berthd --dns) fill in for a sandbox that names none.
      dns: dns.length || mode.startsWith('container:') ? dns : ctx.cfg.dns,
      dnsSearch: hc.DnsSearch.length || mode.startsWith('container:') ? hc.DnsSearch : ctx.cfg.dnsSearch,
      dnsOptions: hc.DnsOptions,
      rootfs,
      autoRemove: hc.AutoRemove,
      ...(image ? { image: { id: image.id, name: req.Image ?? image.id, layers: image.config.rootfs.diff_ids } } : {}),
      ...(Object.keys(labels).length ? { labels } : {}),
      ...(req.Healthcheck ? { healthcheck: req.Healthcheck } : {}),
      docker: {
        entrypoint,
        cmd: dcmd,
        workingDir: req.WorkingDir || ic?.WorkingDir || '',
        tty: req.Tty,
        openStdin: req.OpenStdin,
        user: req.User || ic?.User || '',
        ...(req.Tty && hc.ConsoleSize ? { consoleSize: hc.ConsoleSize } : {}),
        binds,
        restartPolicy: { name: hc.RestartPolicy.Name, maximumRetryCount: hc.RestartPolicy.MaximumRetryCount },
      },
    },
  };
}
