// berth template: render files from the catalog and keep them current (consul-template's job).
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { parseTemplateSpec, parseWait } from '../../catalog/template-spec.js';
import { collect } from '../output.js';
import { socketPath } from '../client.js';
import type { CatalogEndpoint } from '../template-runner.js';

const EXAMPLE = `
Examples:
  berth template --template haproxy.cfg.hbs:/etc/haproxy/haproxy.cfg:"systemctl reload haproxy"
  berth template --template web.hbs:/tmp/web.txt --once
  berth template --template a.hbs:/tmp/a --wait 2s:10s --catalog http://127.0.0.1:8500

A template (Handlebars) listing a service's healthy instances:
  backend be_web
      balance roundrobin
  {{#each (service "web")}}    server {{ID}} {{Address}}:{{Port}} check
  {{/each}}
COMMAND runs without a shell (argv split like a shell would); for shell syntax say so: sh -c '...'.`;

function endpointOf(catalog: string | undefined, host: string | undefined): CatalogEndpoint {
  if (!catalog) return { socketPath: socketPath(host) };
  let url: URL;
  try {
    url = new URL(catalog);
  } catch {
    throw new Error(`invalid --catalog "${catalog}": give a URL such as http://127.0.0.1:8500`);
  }
  if (url.protocol !== 'http:') throw new Error(`invalid --catalog "${catalog}": only http:// is supported`);
  return { host: url.hostname, port: Number(url.port || 80) };
}

export function templateCommand(hostOf: () => string | undefined): Command {
  return new Command('template')
    .description('Render files from the catalog and re-render them when it changes (like consul-template)')
    .option('--template <SRC:DEST[:COMMAND]>', 'template file, output file, command to run after a change (repeatable)', collect, [] as string[])
    .option('--wait <MIN[:MAX]>', 'wait for MIN of quiet after a change before rendering, at most MAX (default 4xMIN)')
    .option('--once', 'render once and exit')
    .option('--catalog <url>', "the catalog's address (default: berthd's socket), e.g. http://127.0.0.1:8500")
    .addHelpText('after', EXAMPLE)
    .action(async (o: { template: string[]; wait?: string; once?: boolean; catalog?: string }) => {
      if (o.template.length === 0) throw new Error('give at least one --template SRC:DEST[:COMMAND]');
      const specs = o.template.map(parseTemplateSpec);
      const templates = await Promise.all(
        specs.map(async (s) => {
          try {
            return { ...s, text: await readFile(s.source, 'utf8') };
          } catch (e) {
            throw new Error(`cannot read template ${s.source}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
          }
        }),
      );
      // Loaded here: the template engine costs start-up time every other berth command should not pay.
      const { TemplateRunner } = await import('../template-runner.js');
      const runner = new TemplateRunner({
        templates,
        wait: o.wait ? parseWait(o.wait) : undefined,
        once: o.once === true,
        endpoint: endpointOf(o.catalog, hostOf()),
        log: (m) => process.stderr.write(`berth template: ${m}\n`),
      });
      const stop = () => runner.stop(0);
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const code = await runner.start();
      process.exitCode = code;
      // Nothing else is pending once stopped (watches aborted): leave now rather than wait for sockets.
      process.exit(code);
    });
}
