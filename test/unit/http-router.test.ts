import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HANDLED, Router } from '../../src/daemon/http.js';

function call(socketPath: string, method: string, path: string): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = request({ socketPath, method, path }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', (e) => resolve({ error: e.message }));
    });
    req.on('error', (e) => resolve({ error: e.message }));
    req.end();
  });
}

test('Router: an unexpected exception fails that request with 500 and a logged stack; the server goes on', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-router-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const logged: string[] = [];
  const r = new Router((level, msg) => logged.push(`${level} ${msg}`));
  r.route({ method: 'GET', path: '/boom' }, async () => {
    const o = null as unknown as { x: string };
    return o.x; // TypeError, as a bug would throw
  });
  r.route({ method: 'GET', path: '/half' }, async (q) => {
    q.res.writeHead(200, { 'content-type': 'application/octet-stream' });
    q.res.write('partial');
    throw new Error('stream broke');
  });
  r.route({ method: 'GET', path: '/ok' }, async () => ({ fine: true }));
  r.route({ method: 'GET', path: '/stream' }, async (q) => {
    q.res.writeHead(200).end('done');
    return HANDLED;
  });
  const server = createServer((req, res) => void r.handle(req, res));
  const sock = join(dir, 's.sock');
  await new Promise<void>((ok) => server.listen(sock, ok));
  t.after(() => server.close());

  const boom = await call(sock, 'GET', '/boom');
  assert.ok('status' in boom);
  assert.equal(boom.status, 500);
  assert.match(JSON.parse(boom.body).message, /Cannot read properties of null/);
  assert.ok(logged.some((l) => /^error GET \/boom: TypeError: Cannot read properties of null[\s\S]*\n\s+at /.test(l)), logged.join('\n'));
  // Headers already out: the connection is cut (the client sees an error or a short body), not answered twice.
  const half = await call(sock, 'GET', '/half');
  assert.ok('error' in half || half.body === 'partial', JSON.stringify(half));
  assert.ok(logged.some((l) => l.includes('GET /half: Error: stream broke')));
  // A path that matches no route is an error answer too, not a crash.
  const bad = await call(sock, 'GET', '/v1.41/%E0%A4%A');
  assert.ok('status' in bad && bad.status === 404, JSON.stringify(bad));
  assert.deepEqual(await call(sock, 'GET', '/ok'), { status: 200, body: '{"fine":true}' });
  assert.deepEqual(await call(sock, 'GET', '/stream'), { status: 200, body: 'done' });
});
