// The netlink helper's overlay ops on the real kernel, without berthd: in a throw-away namespace
// (prefix "on-") with a bridge and a VXLAN device made as berth makes them, the helper's
// fdbset/neighset leave exactly the entries the `bridge -batch` / `ip -batch` path leaves, and its
// removals are done even when the entry or the device is already gone (a later removal, a
// network removed meanwhile). Needs root and the built helper (npm run build with a C compiler).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { run } from '../../src/kernel/exec.js';
import { parseIfName as ifn, parseIpv4 as ip } from '../../src/model/net-values.js';
import { type NlOps, peerFdbBatch, peerNeighBatch, peerOps, type PeerLine, vxlanCreateBatch } from '../../src/plan/link-plan.js';

const NS = `on-po${process.pid.toString(36)}`;
const HELPER = fileURLToPath(new URL('../../src/kernel/berth-netlink', import.meta.url));
const viaHelper = ifn('bvx-helper');
const viaBatch = ifn('bvx-batch');
const peer = (vxlan: typeof viaHelper, n: number): PeerLine => ({ vxlan, ip: ip(`10.0.9.${n}`), mac: `02:42:0a:00:09:0${n}`, vtep: ip(`10.99.0.2${n}`) });

async function must(argv: readonly string[], input?: string): Promise<string> {
  const r = await run(['nsenter', `--net=/run/netns/${NS}`, '--', ...argv], { timeoutMs: 20_000, ...(input === undefined ? {} : { input }) });
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** One request to a fresh helper in the lab namespace; its reply line. */
async function helper(ops: NlOps): Promise<string> {
  return (await must([HELPER], `1\t${ops.join('\t')}\n`)).trim();
}

/** The device's FDB and neighbour entries, the device's name taken out (to compare two devices). */
async function entries(dev: string): Promise<string[]> {
  const fdb = (await must(['bridge', 'fdb', 'show', 'dev', dev])).split('\n').filter((l) => l.includes(' dst '));
  const neigh = (await must(['ip', 'neigh', 'show', 'dev', dev])).split('\n').filter(Boolean);
  return [...fdb, ...neigh].map((l) => l.replaceAll(dev, 'DEV').trim()).sort();
}

before(async () => {
  assert.ok(existsSync(HELPER), `${HELPER} not built`);
  const r = await run(['ip', 'netns', 'add', NS]);
  assert.equal(r.code, 0, r.stderr);
  await must(['ip', 'link', 'add', 'bron', 'type', 'bridge']);
  await must(['ip', '-batch', '-'], vxlanCreateBatch(viaHelper, 42, ip('10.99.0.1'), ifn('bron'), 1450).join('\n') + '\n');
  await must(['ip', '-batch', '-'], vxlanCreateBatch(viaBatch, 43, ip('10.99.0.1'), ifn('bron'), 1450).join('\n') + '\n');
});

after(async () => {
  await run(['ip', 'netns', 'del', NS]);
});

test('fdbset/neighset leave the same static entries as bridge fdb replace / ip neigh replace', async () => {
  const want = [peer(viaBatch, 5), peer(viaBatch, 6)];
  await must(['bridge', '-batch', '-'], peerFdbBatch('replace', want).join('\n') + '\n');
  await must(['ip', '-batch', '-'], peerNeighBatch('replace', want).join('\n') + '\n');
  assert.equal(await helper(peerOps('replace', [peer(viaHelper, 5), peer(viaHelper, 6)])), '1 ok');
  assert.equal(await helper(peerOps('replace', [peer(viaHelper, 5)])), '1 ok', 'an addition is idempotent (replace)');
  const got = await entries(viaHelper);
  assert.equal(got.length, 4, got.join('\n'));
  assert.deepEqual(got, await entries(viaBatch));
  assert.match(got.join('\n'), /02:42:0a:00:09:05 dst 10\.99\.0\.25 self permanent/);
  assert.match(got.join('\n'), /10\.0\.9\.6 lladdr 02:42:0a:00:09:06 PERMANENT/);
});

test('removals take the entries away, and one already gone (entry or device) is done', async () => {
  assert.equal(await helper(peerOps('del', [peer(viaHelper, 5)])), '1 ok');
  assert.deepEqual(
    await entries(viaHelper),
    ['02:42:0a:00:09:06 dst 10.99.0.26 self permanent', '10.0.9.6 lladdr 02:42:0a:00:09:06 PERMANENT'].sort(),
  );
  assert.equal(await helper(peerOps('del', [peer(viaHelper, 5), peer(viaHelper, 6), peer(ifn('bvx-gone'), 7)])), '1 ok');
  assert.deepEqual(await entries(viaHelper), []);
});

test('an addition on a missing device is an error naming the op', async () => {
  assert.match(await helper(peerOps('replace', [peer(ifn('bvx-gone'), 7)])), /^1 err 0 fdbset .*bvx-gone/);
});
