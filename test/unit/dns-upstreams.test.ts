import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostResolvers, type HostResolverSnapshot } from '../../src/dns/upstreams.js';

async function waitFor(cond: () => boolean, ms: number): Promise<number> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return performance.now() - t0;
}

test('reads the file, follows an atomic replace quickly, keeps the last list when the file goes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-dns-'));
  const path = join(dir, 'resolv.conf');
  await writeFile(path, 'search lab.example\nnameserver 10.99.0.2\nnameserver 127.0.0.1\n');
  const logs: string[] = [];
  const hr = new HostResolvers({ path, resolvedPath: join(dir, 'nonexistent'), pollMs: 5000, log: (l, m) => logs.push(`${l} ${m}`) });
  const changes: HostResolverSnapshot[] = [];
  hr.onChange((s) => changes.push(s));
  await hr.start();
  try {
    // loopback kept: berthd runs in the host's namespace and can reach it
    assert.deepEqual(hr.servers(), [
      { host: '10.99.0.2', port: 53 },
      { host: '127.0.0.1', port: 53 },
    ]);
    assert.match(hr.current().text, /search lab.example/);
    // replaced by rename, as resolvconf and NetworkManager do: seen through the directory watch, not the 5 s poll
    await writeFile(path + '.tmp', 'nameserver 10.99.0.3\n');
    await rename(path + '.tmp', path);
    const ms = await waitFor(() => hr.servers()[0]?.host === '10.99.0.3', 2000);
    assert.ok(ms < 1000, `change seen after ${ms} ms`);
    assert.equal(changes.at(-1)?.servers.length, 1);
    // the file disappears: the last good list stays, one warning
    await rm(path);
    await hr.reload();
    await hr.reload();
    assert.equal(hr.servers()[0]?.host, '10.99.0.3');
    assert.equal(logs.filter((l) => l.startsWith('warn') && l.includes('cannot read')).length, 1);
  } finally {
    hr.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('only the systemd-resolved stub: the full list from resolved\'s file (as Docker)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-dns-'));
  const path = join(dir, 'resolv.conf');
  const resolved = join(dir, 'resolved.conf');
  await writeFile(path, 'nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n');
  await writeFile(resolved, 'nameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch corp.example\n');
  const hr = new HostResolvers({ path, resolvedPath: resolved, port: 5353 });
  await hr.start();
  try {
    assert.deepEqual(
      hr.servers().map((s) => `${s.host}:${s.port}`),
      ['192.0.2.53:5353', '192.0.2.54:5353'],
    );
    assert.equal(hr.current().source, resolved);
    assert.match(hr.current().text, /corp.example/);
  } finally {
    hr.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a change is also caught by the poll (no watch event)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-dns-'));
  const path = join(dir, 'resolv.conf');
  await writeFile(path, 'nameserver 10.0.0.1\n');
  const hr = new HostResolvers({ path, pollMs: 100 });
  await hr.start();
  try {
    hr['watchers'].forEach((w) => w.close()); // simulate a filesystem without inotify
    await writeFile(path, 'nameserver 10.0.0.2\n');
    await waitFor(() => hr.servers()[0]?.host === '10.0.0.2', 2000);
  } finally {
    hr.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
