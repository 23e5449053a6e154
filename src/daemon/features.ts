// Wiring of the firewall, host-port allocation and the embedded DNS into the daemon. The
// firewall and DNS follow the state (StateFollower); ports are allocated when a sandbox starts.
import { run } from '../kernel/exec.js';
import { readEphemeralRange, readHostListeners } from '../kernel/host-listeners.js';
import { allocateHostPorts } from '../ipam/host-ports.js';
import { parseHostServices } from '../model/host-service.js';
import type { PortBinding } from '../model/types.js';
import { firewallView } from '../plan/firewall-view.js';
import { sandboxesLinkingTo, sandboxLinkEnv } from '../plan/sandbox-files.js';
import { DnsFollower } from '../dns/follower.js';
import { DnsServer } from '../dns/server.js';
import { HostResolvers } from '../dns/upstreams.js';
import type { Ctx } from './context.js';
import { Firewall } from './firewall.js';
import type { Sandboxes } from './sandboxes.js';

export interface Features {
  rules: () => Promise<string>;
  close: () => Promise<void>;
}

export async function wireFeatures(ctx: Ctx, sandboxes: Sandboxes): Promise<Features> {
  const { cfg, log } = ctx;
  const hostServices = parseHostServices(cfg.hostServices);

  // Upstream resolvers: followed as the file changes; sandboxes without embedded DNS copy them.
  const resolvers = new HostResolvers({ path: cfg.resolvConf, log });
  await resolvers.start();
  ctx.host.resolvConf = resolvers.current().text;
  resolvers.onChange((snap) => {
    ctx.host.resolvConf = snap.text;
  });

  // Firewall: the whole table at start, the delta after every change.
  const fw = new Firewall({ mode: cfg.firewall }, run, log);
  const view = (s: Parameters<typeof firewallView>[0]) => firewallView(s, { hostServices, ipMasq: cfg.ipMasq });
  ctx.followers.push({ sync: (s) => fw.sync(view(s)), reconcile: (s) => fw.reconcile(view(s)) });

  // Host ports: checked against every other mapping and against sockets bound on the host.
  ctx.ports = {
    allocate: async (state, sb, net) => {
      const taken: PortBinding[] = Object.values(state.sandboxes).flatMap((s) => (s.id === sb.id ? [] : s.ports));
      const nets = sb.config.networks.map((n) => state.networks[n.networkId]).filter((n) => n !== undefined);
      const res = allocateHostPorts({
        requests: sb.config.portRequests,
        exposed: sb.config.exposedPorts,
        publishAll: sb.config.publishAll,
        taken,
        listeners: await readHostListeners(),
        ephemeral: await readEphemeralRange(),
        defaultBindIp: net?.hostBindingIpv4 ?? cfg.defaultBindIp,
        internal: nets.length > 0 && nets.every((n) => n.internal),
      });
      for (const w of res.warnings) log('warn', `sandbox ${sb.name}: ${w}`);
      return res.bindings;
    },
  };

  // Embedded DNS on the gateway of every user network.
  const dns = new DnsServer({ log, hostUpstreams: () => resolvers.servers(), bindRetryMs: 1000 });
  await dns.start();
  const dnsFollower = new DnsFollower(dns, hostServices, log);
  ctx.followers.push(dnsFollower);

  // Links: environment variables at start; /etc/hosts of linking sandboxes follow their targets.
  sandboxes.linkEnv = (sb) => sandboxLinkEnv(ctx.state, sb);
  ctx.followers.push({
    sync: async (state) => {
      for (const sb of Object.values(state.sandboxes)) {
        if (sb.state.status !== 'running' || sb.config.links.length === 0) continue;
        await sandboxes.writeFiles(sb).catch((e: Error) => log('warn', `rewriting /etc/hosts of ${sb.name}: ${e.message}`));
      }
      void sandboxesLinkingTo;
    },
  });

  return {
    rules: () => fw.rules(),
    close: async () => {
      await dns.stop();
      resolvers.stop();
    },
  };
}
