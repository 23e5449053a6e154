// Wiring of the firewall, host-port allocation and the embedded DNS into the daemon. The
// firewall and DNS follow the state (StateFollower); ports are allocated when a sandbox starts.
import { run } from '../kernel/exec.js';
import { readEphemeralRange, readHostListeners, readHostListenersVia } from '../kernel/host-listeners.js';
import { netlinkHelper } from '../kernel/netlink-helper.js';
import { allocateHostPorts } from '../ipam/host-ports.js';
import { parseHostServices, type HostService } from '../model/host-service.js';
import { Conflict, NotFound } from '../model/errors.js';
import type { PortBinding } from '../model/types.js';
import { type FirewallView, type firewallView, FirewallViewBuilder, publishNetwork } from '../plan/firewall-view.js';
import { changedUdpPorts } from '../plan/udp-flows.js';
import { forgetUdpFlows } from '../kernel/conntrack.js';
import { sandboxLinkEnv } from '../plan/sandbox-files.js';
import { DnsFollower } from '../dns/follower.js';
import { DnsServer } from '../dns/server.js';
import { HostResolvers } from '../dns/upstreams.js';
import type { Ctx } from './context.js';
import { Firewall } from './firewall.js';
import { catalogNode } from './catalog.js';
import { FirewallGuard } from './firewall-guard.js';
import type { Sandboxes } from './sandboxes.js';

export interface Features {
  rules: () => Promise<string>;
  close: () => Promise<void>;
  /** berth host-service add/ls/rm: added at run time, persisted, applied to running sandboxes. */
  hostServices: {
    list: () => string[];
    add: (spec: string) => Promise<void>;
    remove: (name: string) => Promise<void>;
  };
}

function resolverIps(state: Parameters<typeof firewallView>[0]): Set<string> {
  return new Set(Object.values(state.networks).flatMap((n) => (n.dns && n.gateway && n.driver === 'bridge' ? [n.gateway] : [])));
}

export async function wireFeatures(ctx: Ctx, sandboxes: Sandboxes): Promise<Features> {
  const { cfg, log } = ctx;
  // Host services from the flags plus those added through the API; one array, refilled in place,
  // which the firewall view and the DNS follower both read on every sync.
  const hostServices: HostService[] = [];
  const specs = () => [...cfg.hostServices, ...(ctx.state.hostServices ?? [])];
  const refill = (list: readonly string[]) => hostServices.splice(0, hostServices.length, ...parseHostServices(list));
  refill(specs());
  ctx.host.hostServices = hostServices;

  // Upstream resolvers: followed as the file changes; sandboxes without embedded DNS copy them.
  const resolvers = new HostResolvers({ path: cfg.resolvConf, log });
  await resolvers.start();
  ctx.host.resolvConf = resolvers.current().text;
  resolvers.onChange((snap) => {
    ctx.host.resolvConf = snap.text;
  });

  // Firewall: the whole table at start, the delta after every change.
  // The guard learns the PID of every nft/iptables process the firewall starts, to tell berth's
  // own changes from others' in the nft monitor's stream.
  let guard: FirewallGuard | undefined;
  const fw = new Firewall({ mode: cfg.firewall, onSpawn: (pid) => guard?.own.add(pid) }, run, log);
  // Each change makes the view again only for the sandboxes it touched (FirewallViewBuilder).
  const views = new FirewallViewBuilder();
  const view = (s: Parameters<typeof firewallView>[0]) => views.view(s, { hostServices, ipMasq: cfg.ipMasq });
  // After a UDP mapping changes, forget its conntrack entries (plan/udp-flows.ts says why).
  let published: FirewallView['published'] = [];
  const forgetStaleUdp = async (v: FirewallView) => {
    const changed = changedUdpPorts(published, v.published);
    published = v.published;
    if (changed.length === 0) return;
    for (const p of await forgetUdpFlows(run, changed)) log('warn', `cannot delete conntrack entries of ${p}`);
  };
  // Other firewalls that drop forwarding are checked at start (reconcile), when the set of
  // networks changes, and whenever the nft monitor reports someone else's change (the guard).
  let bridgeKey = '';
  const keyOf = (s: Parameters<typeof firewallView>[0]) =>
    Object.values(s.networks).flatMap((n) => (n.bridge ? [n.bridge] : [])).sort().join(',');
  ctx.followers.push({
    independent: true, // the firewall and the DNS below sync at once
    sync: async (s) => {
      const v = view(s);
      await fw.sync(v);
      await forgetStaleUdp(v);
      const key = keyOf(s);
      if (key !== bridgeKey) {
        bridgeKey = key;
        await fw.recheckOthers();
      }
    },
    reconcile: async (s) => {
      const v = view(s);
      await fw.reconcile(v);
      published = v.published;
      bridgeKey = keyOf(s);
    },
  });
  if (cfg.firewall === 'nftables') {
    guard = new FirewallGuard({
      log,
      check: (why) => ctx.lock.run(() => fw.verify(why)),
      poll: { read: () => fw.legacyForward(), what: 'iptables (legacy) FORWARD' },
    });
    guard.start();
  }

  // Host ports: checked against every other mapping and against sockets bound on the host.
  const nl = netlinkHelper();
  nl?.warm(); // sandboxes' namespaces and links go through it: started before the first one
  const listeners = () => (nl ? readHostListenersVia(nl) : readHostListeners());
  ctx.ports = {
    allocate: async (state, sb, previous) => {
      if (sb.config.portRequests.length === 0 && !sb.config.publishAll) return [];
      const taken: PortBinding[] = Object.values(state.sandboxes).flatMap((s) => (s.id === sb.id ? [] : s.ports));
      // Ports land on the network the firewall publishes through (first non-internal bridge).
      const target = publishNetwork(state, sb);
      const dnsIps = resolverIps(state);
      // Both read the kernel: asked at once.
      const [bound, ephemeral] = await Promise.all([listeners(), readEphemeralRange()]);
      const res = allocateHostPorts({
        requests: sb.config.portRequests,
        exposed: sb.config.exposedPorts,
        publishAll: sb.config.publishAll,
        taken,
        // berthd's own DNS sockets on gateways are not in the way of a published port 53: the
        // ruleset keeps queries from sandboxes to their gateway for the embedded DNS.
        listeners: bound.filter((l) => !(l.port === 53 && dnsIps.has(l.ip))),
        ephemeral,
        defaultBindIp: target?.hostBindingIpv4 ?? cfg.defaultBindIp,
        internal: sb.config.networks.length > 0 && !target,
        ...(previous ? { previous } : {}),
      });
      for (const w of res.warnings) log('warn', `sandbox ${sb.name}: ${w}`);
      return res.bindings;
    },
  };

  // Embedded DNS on the gateway of every user network.
  const dns = new DnsServer({ log, hostUpstreams: () => resolvers.servers(), bindRetryMs: 1000, udpWorkers: cfg.dnsWorkers });
  await dns.start();
  // Consul's names (N.service.consul) when the catalog is served inside sandboxes; other hosts'
  // sandboxes on overlay networks (read at each sync).
  const dnsFollower = new DnsFollower(dns, hostServices, log, () => ({ ...(cfg.catalogHostService ? { consul: catalogNode(ctx) } : {}), remote: ctx.remoteNames() }));
  ctx.followers.push(dnsFollower);

  // Links: environment variables at start; /etc/hosts of linking sandboxes follow their targets.
  sandboxes.linkEnv = (sb) => sandboxLinkEnv(ctx.state, sb);
  ctx.followers.push({
    sync: async (state) => {
      // At every change: a pass without copying the sandboxes into an array (most have no links).
      for (const id in state.sandboxes) {
        const sb = state.sandboxes[id]!;
        if (sb.config.links.length === 0 || sb.state.status !== 'running') continue;
        await sandboxes.writeFiles(sb).catch((e: Error) => log('warn', `rewriting /etc/hosts of ${sb.name}: ${e.message}`));
      }
    },
  });

  const changeHostServices = (next: string[]) =>
    ctx.lock.run(async () => {
      const before = ctx.state.hostServices ?? [];
      refill([...cfg.hostServices, ...next]); // validates the whole list: names and addresses unique
      ctx.state.hostServices = next;
      try {
        await ctx.follow();
        await ctx.persist();
      } catch (err) {
        ctx.state.hostServices = before;
        refill(specs());
        await ctx.follow().catch(() => undefined);
        throw err;
      }
      await sandboxes.refreshFiles();
    });

  return {
    hostServices: {
      list: () => specs(),
      add: async (spec) => {
        if (specs().includes(spec)) throw new Conflict(`host service ${spec} already exists`);
        await changeHostServices([...(ctx.state.hostServices ?? []), spec]);
      },
      remove: async (name) => {
        const mine = ctx.state.hostServices ?? [];
        const next = mine.filter((s) => parseHostServices([s])[0]!.name !== name);
        if (next.length === mine.length) {
          if (cfg.hostServices.some((s) => parseHostServices([s])[0]!.name === name)) throw new Conflict(`host service ${name} comes from berthd's --host-service flag; remove it there`);
          throw new NotFound(`host service ${name} not found`);
        }
        await changeHostServices(next);
      },
    },
    rules: () => fw.rules(),
    close: async () => {
      await guard?.stop();
      await dns.stop();
      resolvers.stop();
    },
  };
}
