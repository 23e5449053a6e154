// Usage errors worded as docker's, from commander's own errors on a small command tree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { dockerUsageErrors } from '../../src/cli/usage-errors.js';

function errorOf(argv: string[]): string {
  let out = '';
  const root = new Command('berth').exitOverride();
  root.addCommand(new Command('inspect').description('Show sandboxes').argument('<name...>').option('-f, --format <t>', 'template').action(() => undefined));
  root.addCommand(new Command('port').description('Ports').argument('<name>').argument('[port]').action(() => undefined));
  root.addCommand(new Command('ps').description('List').action(() => undefined));
  for (const c of root.commands) c.exitOverride();
  dockerUsageErrors(root, argv);
  const each = (c: Command): void => {
    c.configureOutput({ writeErr: (s) => (out += s) });
    c.commands.forEach(each);
  };
  each(root);
  assert.throws(() => root.parse(argv, { from: 'user' }));
  return out;
}

test('docker wording for flags, argument counts and commands', () => {
  assert.equal(errorOf(['ps', '--foo']), "unknown flag: --foo\nSee 'berth ps --help'.\n");
  assert.equal(errorOf(['ps', '-z']), "unknown shorthand flag: 'z' in -z\nSee 'berth ps --help'.\n");
  assert.equal(errorOf(['inspect', 'x', '-f']), "flag needs an argument: 'f' in -f\nSee 'berth inspect --help'.\n");
  assert.equal(errorOf(['inspect', 'x', '--format']), "flag needs an argument: --format\nSee 'berth inspect --help'.\n");
  assert.equal(errorOf(['inspect']), `"berth inspect" requires at least 1 argument.\nSee 'berth inspect --help'.\n\nUsage:  berth inspect [options] <name...>\n\nShow sandboxes\n`);
  assert.match(errorOf(['port']), /^"berth port" requires at least 1 and at most 2 arguments\./);
  assert.match(errorOf(['ps', 'x']), /^"berth ps" accepts no arguments\./);
  assert.equal(errorOf(['nosuch']), "berth: 'nosuch' is not a berth command.\nSee 'berth --help'.\n");
});
