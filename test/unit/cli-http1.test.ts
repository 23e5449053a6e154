// cli/http1.ts: the CLI's own HTTP/1.1 exchange over a unix socket, against a real node:http server
// (berthd's kind): answers with Content-Length, chunked, empty, error statuses, a body sent, a
// server that keeps the connection open after the answer, and one that closes it too early.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { http1, parseResponse } from '../../src/cli/http1.js';
import { ApiError, Client } from '../../src/cli/client.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-http1-'));
const sock = join(dir, 'api.sock');
const rawSock = join(dir, 'raw.sock');
let server: Server;
let raw: NetServer;
let rawAnswer = '';

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      if (req.url === '/json') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ method: req.method, body, type: req.headers['content-type'] ?? null }));
      if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('one,');
        setTimeout(() => res.end('two'), 20);
        return;
      }
      if (req.url === '/empty') return void res.writeHead(204).end();
      if (req.url === '/big') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('x'.repeat(300_000));
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'No such thing: ' + req.url }));
    });
  });
  await new Promise<void>((r) => server.listen(sock, r));
  // A server that answers then keeps the connection open (Connection: close ignored).
  raw = createNetServer((s) => s.once('data', () => s.write(rawAnswer)));
  await new Promise<void>((r) => raw.listen(rawSock, r));
});

after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await new Promise<void>((r) => raw.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

test('http1: JSON with a body sent, chunked, empty and large answers', async () => {
  const j = await http1(sock, 'POST', '/json', '{"a":1}', { 'Content-Type': 'application/json' });
  assert.equal(j.status, 200);
  assert.deepEqual(JSON.parse(j.body.toString()), { method: 'POST', body: '{"a":1}', type: 'application/json' });
  assert.equal((await http1(sock, 'GET', '/chunked')).body.toString(), 'one,two');
  const e = await http1(sock, 'DELETE', '/empty');
  assert.equal(e.status, 204);
  assert.equal(e.body.length, 0);
  assert.equal((await http1(sock, 'GET', '/big')).body.length, 300_000);
});

test('Client.call: JSON decoded, an error status is an ApiError with the message of berthd, an absent socket says so', async () => {
  const c = new Client(sock);
  assert.deepEqual(await c.call('POST', '/json', { x: 'y' }), { method: 'POST', body: '{"x":"y"}', type: 'application/json' });
  await assert.rejects(c.call('GET', '/nope'), (e: unknown) => e instanceof ApiError && e.status === 404 && e.message === 'No such thing: /nope');
  await assert.rejects(new Client(join(dir, 'absent.sock')).call('GET', '/json'), /Cannot connect to berthd at unix:\/\/.*absent\.sock/);
});

test('http1: done when the declared body is in, though the server keeps the connection open', async () => {
  rawAnswer = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]';
  assert.deepEqual(JSON.parse((await http1(rawSock, 'GET', '/')).body.toString()), []);
  rawAnswer = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n';
  assert.equal((await http1(rawSock, 'GET', '/')).body.toString(), 'abc');
});

test('parseResponse: an answer cut short or not HTTP is an error, not a wrong value', () => {
  assert.throws(() => parseResponse(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc')), /before the whole answer/);
  assert.throws(() => parseResponse(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab')), /middle of a chunked answer/);
  assert.throws(() => parseResponse(Buffer.from('HTTP/1.1 200 OK\r\nContent-Le')), /before a complete answer/);
  assert.throws(() => parseResponse(Buffer.from('SSH-2.0-x\r\n\r\n')), /not an HTTP answer/);
});
