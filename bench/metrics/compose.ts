// Metric 12 (compose): `docker-compose up -d` of docs/docker-api.md's example file (two services, an internal
// network with its own subnet, a front network, a published port, aliases, links, depends_on, a
// bind mount, restart policies), the same docker-compose 1.29.2 against berthd's Docker API and
// against dockerd, then `docker-compose down`. Systems alternate every iteration; each iteration
// is a new project (its own networks and containers).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MetricBuilder, type MetricResult } from '../lib/result.js';
import { run, timed } from '../lib/proc.js';
import type { RunSystem } from '../systems/types.js';
import { describe, guarded, rotate, usable, type MetricContext } from './common.js';

export const COMPOSE = '/usr/bin/docker-compose';

/** A system whose Docker API docker-compose can drive. */
export interface ComposeSystem extends RunSystem {
  dockerHost(): string;
  readonly image: string;
}

function composeFile(image: string, subnet: string): string {
  return `version: "3.8"
services:
  db:
    image: ${image}
    command: ["httpd", "-f", "-p", "5432", "-h", "/var/www"]
    networks:
      backend:
        aliases: [database]
    restart: unless-stopped
  web:
    image: ${image}
    command: ["httpd", "-f", "-p", "80", "-h", "/var/www"]
    ports: ["8080:80"]
    expose: ["80"]
    environment:
      DB_HOST: database
    links: ["db:dbhost"]
    depends_on: [db]
    volumes: ["./shared:/data:ro"]
    networks: [backend, front]
    restart: always
networks:
  backend:
    internal: true
    ipam:
      config:
        - subnet: ${subnet}
  front: {}
`;
}

export async function metricCompose(ctx: MetricContext, systems: ComposeSystem[], berth: string[], workDir: string): Promise<MetricResult> {
  const b = new MetricBuilder({
    id: 'compose',
    title: '12. `docker-compose up -d` of the example project',
    description:
      'Wall time of `docker-compose -p P up -d` (Debian\'s docker-compose 1.29.2, DOCKER_HOST at each daemon) of the ' +
      'example file of docs/docker-api.md: networks P_backend (internal, its own /24) and P_front, then db, then web ' +
      'with a published port, links, aliases, a bind mount and restart policies; then of `docker-compose -p P down`. ' +
      'A new project every iteration; daemons are started before and are not timed.',
    systems: systems.map((s) => s.name),
    berthSystems: berth,
    command: ctx.commandFor('compose'),
  });
  b.measure('up', 'docker-compose up -d (to both services running)', 'ms', 'lower');
  b.measure('down', 'docker-compose down', 'ms', 'lower');
  let live = await usable(b, systems, ctx);
  const failed = new Set<ComposeSystem>();
  try {
    for (const s of live) {
      ctx.log(`  ${s.name}: starting`);
      if (!(await guarded(b, s, ctx, async () => {
        await s.start();
        await describe(b, s);
      }))) failed.add(s);
    }
    live = live.filter((s) => !failed.has(s));
    for (let k = 1; k <= ctx.sizes.runIters; k++) {
      for (const s of rotate(live, k)) {
        if (failed.has(s)) continue;
        const ok = await guarded(b, s, ctx, async () => {
          const dir = join(workDir, `compose-${s.image.replace(/\W/g, '')}-${s.name.replace(/\W/g, '')}-${k}`);
          mkdirSync(join(dir, 'shared'), { recursive: true });
          writeFileSync(join(dir, 'docker-compose.yml'), composeFile(s.image, `10.99.${k}.0/24`));
          const compose = (args: string[]) => run([COMPOSE, '-p', `bn${k}`, ...args], { cwd: dir, env: { DOCKER_HOST: s.dockerHost() }, timeoutMs: 300_000 });
          const up = await timed(() => compose(['up', '-d']));
          const down = await timed(() => compose(['down']));
          b.add('up', s.name, up.ms);
          b.add('down', s.name, down.ms);
        });
        if (!ok) failed.add(s);
      }
    }
  } finally {
    for (const s of systems) await s.stop().catch(() => {});
  }
  return b.result;
}
