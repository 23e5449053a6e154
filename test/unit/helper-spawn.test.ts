// The netlink helper's spawn (kernel/netlink-helper.ts): the program gets exactly the argv and
// environment berthd gave, whatever bytes they hold; its output lands in the log; its end is
// heard with sh's code; a program that cannot be run is refused with the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetlinkHelper } from '../../src/kernel/netlink-helper.js';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../src/kernel/berth-netlink', import.meta.url));

/** A helper of its own and a scratch directory, both gone after the test. */
function withHelper(t: { after: (fn: () => void) => void }): { dir: string; helper: NetlinkHelper } {
  const dir = mkdtempSync(join(tmpdir(), 'berth-spawn-'));
  const helper = new NetlinkHelper(BIN);
  keepAlive(t);
  t.after(() => {
    helper.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, helper };
}

/** The helper is not held while idle (berthd's server keeps the loop alive there): a timer does here. */
function keepAlive(t: { after: (fn: () => void) => void }): void {
  const timer = setInterval(() => undefined, 1000);
  t.after(() => clearInterval(timer));
}

test('helper spawn: exact argv and env, output to the log, exit codes as sh gives them, exec errors', async (t) => {
  const { dir, helper } = withHelper(t);
  const log = join(dir, 'log');
  writeFileSync(log, 'before\n');
  const script = join(dir, 'show');
  writeFileSync(script, '#!/bin/sh\nfor a in "$@"; do printf "[%s]" "$a"; done; echo; env | sort; exit 3\n', { mode: 0o755 });
  const args = ['two words', '', 'tab\there', 'new\nline', 'ünïcødé', '-', '$HOME;`id`'];
  const run = await helper.spawn([script, ...args], { A: 'x y', EMPTY: '' }, log);
  assert.ok(run.pid > 0);
  assert.equal(await run.exited, 3);
  const text = readFileSync(log, 'utf8');
  assert.ok(text.startsWith('before\n'), 'the log is appended to');
  assert.ok(text.includes(`${args.map((a) => `[${a}]`).join('')}\n`), text);
  const env = text.split('\n').filter((l) => /^[A-Z_]+=/.test(l));
  assert.deepEqual(env.filter((l) => !l.startsWith('PWD=') && !l.startsWith('SHLVL=') && !l.startsWith('_=')), ['A=x y', 'EMPTY=']);

  // Killed by a signal: 128 + the signal, as the shell script shim reported it.
  const killed = await helper.spawn(['/bin/sh', '-c', 'kill -9 $$'], {}, log);
  assert.equal(await killed.exited, 137);

  // Its own session: not in the helper's process group.
  const sid = await helper.spawn(['/bin/sh', '-c', 'test "$(ps -o sid= -p $$)" -eq $$'], { PATH: '/usr/bin:/bin' }, log);
  assert.equal(await sid.exited, 0);

  await assert.rejects(helper.spawn([join(dir, 'missing')], {}, log), /spawn: No such file or directory: .*missing/);
  await assert.rejects(helper.spawn(['relative'], {}, log), /usage: spawn/);
  // The helper still serves after refusals. Programs that end at once, many at a time: an end
  // read in the same chunk as its spawn's reply is still heard.
  const quick = await Promise.all(Array.from({ length: 40 }, () => helper.spawn(['/bin/true'], {}, log).then((r) => r.exited)));
  assert.deepEqual(quick, Array(40).fill(0));
});

test('helper spawn: a lost helper says so for its programs, which live on', async (t) => {
  const { dir, helper } = withHelper(t);
  const run = await helper.spawn(['/bin/sleep', '30'], {}, join(dir, 'log'));
  process.kill(helper.pid!, 'SIGKILL');
  assert.equal(await run.exited, undefined);
  process.kill(run.pid, 0); // still running
  process.kill(run.pid, 'SIGKILL');
});
