// conntrack -D for published UDP ports whose target changed (see plan/udp-flows.ts).
import type { UdpHostPort } from '../plan/udp-flows.js';
import type { Runner } from './exec.js';

/** argv deleting the UDP entries whose original destination is the host port (and address). */
export function conntrackDeleteArgv(p: UdpHostPort): string[] {
  return ['conntrack', '-D', '-p', 'udp', '--orig-port-dst', String(p.hostPort), ...(p.hostIp !== '0.0.0.0' ? ['--orig-dst', p.hostIp] : [])];
}

/** Deletes the entries; "0 flow entries" is not an error. Returns the problems, never throws. */
export async function forgetUdpFlows(run: Runner, ports: readonly UdpHostPort[]): Promise<string[]> {
  const problems: string[] = [];
  for (const p of ports) {
    try {
      const r = await run(conntrackDeleteArgv(p), { timeoutMs: 5000 });
      if (r.code !== 0 && !/0 flow entries/.test(r.stderr)) problems.push(`${p.hostIp}:${p.hostPort}/udp: ${r.stderr.trim() || `exit ${r.code}`}`);
    } catch (e) {
      problems.push(`${p.hostIp}:${p.hostPort}/udp: ${(e as Error).message}`);
    }
  }
  return problems;
}

/** argv deleting UDP entries DNATed from a service VIP (or published service port) to a replica. */
export function conntrackDeleteReplicaArgv(f: { vip?: string; hostPort?: number; replica: string }): string[] {
  return [
    'conntrack', '-D', '-p', 'udp',
    ...(f.vip ? ['--orig-dst', f.vip] : []),
    ...(f.hostPort ? ['--orig-port-dst', String(f.hostPort)] : []),
    '--reply-src', f.replica,
  ];
}
