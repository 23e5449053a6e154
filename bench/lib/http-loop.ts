// A client for the services metric, run inside a sandbox's namespace (nsenter --net):
// `node http-loop.js IP MS [WORKERS]` GETs http://IP/ with new connections (Connection: close)
// for MS milliseconds from WORKERS loops, printing one JSON line per request:
// {"t": start (ms since epoch), "who": the body (the replica's hostname), "ok"}. "ready" first.
import { request } from 'node:http';

const [ip, msText, workersText] = process.argv.slice(2);
const end = Date.now() + Number(msText);

function once(): Promise<void> {
  return new Promise((resolve) => {
    const t = Date.now();
    const done = (ok: boolean, who: string) => {
      process.stdout.write(JSON.stringify({ t, ok, who }) + '\n');
      resolve();
    };
    const req = request({ host: ip, port: 80, path: '/', agent: false, headers: { connection: 'close' }, timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => done(res.statusCode === 200, body.trim()));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => done(false, ''));
    req.end();
  });
}

async function worker(): Promise<void> {
  while (Date.now() < end) await once();
}

process.stdout.write('ready\n');
await Promise.all(Array.from({ length: Number(workersText ?? 4) }, worker));
