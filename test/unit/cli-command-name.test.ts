// cli/command-name.ts: which subcommand a command line names, found before commander parses it
// (only that command is built). A wrong answer would make a valid command "not a berth command".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commandName } from '../../src/cli/command-name.js';

test('commandName: the first operand after the root options', () => {
  assert.equal(commandName(['ps']), 'ps');
  assert.equal(commandName(['-H', 'unix:///s', 'run', '-d', '--', 'sleep', '1']), 'run');
  assert.equal(commandName(['--host', 'unix:///s', 'network', 'ls']), 'network');
  assert.equal(commandName(['--host=unix:///s', 'rm', '-f', 'x']), 'rm');
  assert.equal(commandName(['-Hunix:///s', 'logs', 'x']), 'logs');
  assert.equal(commandName(['--', 'ps']), 'ps');
});

test('commandName: help, no command or a root flag first builds every command', () => {
  assert.equal(commandName([]), undefined);
  assert.equal(commandName(['--help']), undefined);
  assert.equal(commandName(['-h', 'ps']), undefined);
  assert.equal(commandName(['help', 'run']), undefined);
  assert.equal(commandName(['-H', 'unix:///s']), undefined);
});
