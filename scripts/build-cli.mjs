// Bundles the CLI with esbuild, shaped for start-up time: every berth command pays for what the
// bundle parses and runs before it parses its arguments (docs/cli-startup.md has the measurements).
// - bin/berth -> dist/berth-cli.cjs, the launcher (src/cli/launch.cjs): runs the bundle
//   dist/berth-cli-main.cjs from V8's code cache dist/berth-cli-main.cache, written here by running
//   one command (`ps` against a socket that does not exist) with BERTH_CLI_WRITE_CACHE=1.
// - `berth template`'s engine (Handlebars, source-map: half the code) is a second bundle,
//   dist/berth-template.cjs, required only by that command.
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

const common = { bundle: true, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'warning' };

// Modules only some commands need are loaded on their first use, not at start:
// - node:child_process (4 ms to load here; commander loads it for executable subcommands, which
//   berth does not use; `berth exec` needs it) and node:http (4 ms; only answers that stream, as
//   run's attach and logs -f, use it: plain calls go through src/cli/http1.ts) are stand-ins that
//   load the real module on first call.
// - src/cli/template-runner.ts is the bundle dist/berth-template.cjs, required by `berth template`.
// These are plain require() calls: the main bundle must not contain import(), since V8 drops the
// dynamic-import hook of a script compiled from a code cache.
const ON_FIRST_CALL = {
  child_process: ['spawn', 'spawnSync', 'execFile', 'execFileSync', 'exec', 'execSync', 'fork'],
  http: ['request', 'get'],
};
const onDemand = {
  name: 'on-demand',
  setup(b) {
    b.onResolve({ filter: /^(node:)?(child_process|http)$/ }, (args) =>
      args.namespace === 'on-demand'
        ? { path: args.path, external: true }
        : { path: args.path.replace(/^node:/, ''), namespace: 'on-demand' },
    );
    b.onResolve({ filter: /[\\/]template-runner\.js$/ }, () => ({ path: 'template-runner', namespace: 'on-demand' }));
    b.onResolve({ filter: /^\.\/berth-template\.cjs$/ }, (args) => ({ path: args.path, external: true }));
    b.onLoad({ filter: /^(child_process|http)$/, namespace: 'on-demand' }, (args) => ({
      contents:
        `let m; const real = () => (m ??= require('node:${args.path}'));\n` +
        ON_FIRST_CALL[args.path].map((f) => `exports.${f} = (...a) => real().${f}(...a);`).join('\n'),
      loader: 'js',
    }));
    b.onLoad({ filter: /^template-runner$/, namespace: 'on-demand' }, () => ({
      contents: "module.exports = require('./berth-template.cjs');",
      loader: 'js',
    }));
  },
};

await Promise.all([
  build({
    ...common,
    entryPoints: ['src/cli/main.ts'],
    outfile: 'dist/berth-cli-main.cjs',
    plugins: [onDemand],
  }),
  build({ ...common, entryPoints: ['src/cli/template-runner.ts'], outfile: 'dist/berth-template.cjs' }),
]);

if (/\bimport\(/.test(readFileSync('dist/berth-cli-main.cjs', 'utf8'))) throw new Error('dist/berth-cli-main.cjs contains import(): see on-demand above');
writeFileSync('dist/berth-cli.cjs', `#!/usr/bin/env node\n${readFileSync('src/cli/launch.cjs', 'utf8')}`);
chmodSync('dist/berth-cli.cjs', 0o755);
rmSync('dist/berth-cli-main.cache', { force: true });
const warm = spawnSync(process.execPath, ['dist/berth-cli.cjs', '--host', 'unix:///nonexistent/berth-build.sock', 'ps'], {
  env: { ...process.env, BERTH_CLI_WRITE_CACHE: '1' },
  encoding: 'utf8',
});
if (!/Cannot connect to berthd/.test(warm.stderr)) throw new Error(`CLI warm-up run did not behave: ${warm.stderr}`);
readFileSync('dist/berth-cli-main.cache');
