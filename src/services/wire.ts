// Health checks and services wired into berthd: started after the store and kernel are
// reconciled, stopped first at shutdown (sandboxes keep running; loops resume at the next start).
import type { Ctx } from '../daemon/context.js';
import type { Router } from '../daemon/http.js';
import type { Sandboxes } from '../daemon/sandboxes.js';
import { registerServiceRoutes } from '../daemon/services-api.js';
import { HealthChecker } from './health-checker.js';
import { ServiceManager } from './service-manager.js';
import { VipFollower } from './vip-follower.js';
import { UdpFlowFollower } from './udp-flow-follower.js';

export interface ServicesRuntime {
  health: HealthChecker;
  manager: ServiceManager;
  routes: (r: Router) => void;
  close(): void;
}

export async function wireServices(ctx: Ctx, sandboxes: Sandboxes): Promise<ServicesRuntime> {
  const vips = new VipFollower();
  await ctx.lock.run(() => vips.reconcile(ctx.state));
  ctx.followers.push(vips);
  const udp = new UdpFlowFollower(ctx.log);
  await udp.reconcile(ctx.state);
  ctx.followers.push(udp);
  const manager = new ServiceManager(ctx, sandboxes);
  // An unhealthy replica is replaced at once, not at the next reconcile tick.
  const health = new HealthChecker(ctx, { envOf: (sb) => sandboxes.envList(sb), onChange: () => manager.kick() });
  health.start();
  manager.start();
  return {
    health,
    manager,
    routes: (r) => registerServiceRoutes(r, ctx, manager),
    close: () => {
      manager.stop();
      health.stop();
    },
  };
}
