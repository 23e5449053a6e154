// The rules berth puts into other firewalls' forward chains when their policy drops forwarded
// traffic (ufw, Docker, firewalld leave iptables FORWARD at DROP): one rule per chain that
// accepts packets carrying MARK_BERTH (set by berth's own forward chain on what it accepted).
// Pure: argv and nft text; daemon/firewall.ts decides where, kernel/ runs them.
import { Internal } from '../model/errors.js';
import { MARK_BERTH } from './nft-ruleset.js';

/** The comment that marks every rule berth inserts into another firewall's chain. */
export const FOREIGN_COMMENT = 'berth: accept traffic that berth accepted';

const hex8 = `0x${MARK_BERTH.toString(16).padStart(8, '0')}`;
/** iptables' spelling of the mark and mask: 0x800000/0x800000. */
export const IPT_MARK = `0x${MARK_BERTH.toString(16)}/0x${MARK_BERTH.toString(16)}`;

/** The iptables rule (after `-I FORWARD 1` or `-D FORWARD`). */
export const IPT_RULE: readonly string[] = ['-m', 'mark', '--mark', IPT_MARK, '-m', 'comment', '--comment', FOREIGN_COMMENT, '-j', 'ACCEPT'];

/** Table and chain names berth is willing to write into nft text. */
const NFT_NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;

/** A forward chain of another firewall, as `nft -j list chains` describes it. */
export interface ForwardChain {
  family: string;
  table: string;
  name: string;
  hook?: string;
  prio?: number;
  policy?: string;
}

/** "family table chain", checked so that it is safe in nft text. */
export function chainRef(c: ForwardChain): string {
  if (!(c.family === 'ip' || c.family === 'inet') || !NFT_NAME_RE.test(c.table) || !NFT_NAME_RE.test(c.name)) {
    throw new Internal(`refusing to write chain ${c.family} ${c.table} ${c.name} into nft text`);
  }
  return `${c.family} ${c.table} ${c.name}`;
}

/** Chains berth may act on: ip/inet forward chains with plain names, not berth's own table. */
export function isForeignForwardChain(c: ForwardChain, own: { family: string; table: string }): boolean {
  return (
    c.hook === 'forward' &&
    !(c.family === own.family && c.table === own.table) &&
    (c.family === 'ip' || c.family === 'inet') &&
    NFT_NAME_RE.test(c.table) &&
    NFT_NAME_RE.test(c.name)
  );
}

/** nft text that inserts berth's accept rule first in chain `c`. */
export function foreignInsertNft(c: ForwardChain): string {
  return `insert rule ${chainRef(c)} meta mark & ${hex8} == ${hex8} accept comment "${FOREIGN_COMMENT}"\n`;
}

/** nft text that deletes the rules with these handles from chain `c`. */
export function foreignDeleteNft(c: ForwardChain, handles: readonly number[]): string {
  const ref = chainRef(c);
  return handles.map((h) => {
    if (!Number.isInteger(h) || h < 1) throw new Internal(`refusing to delete rule handle ${h}`);
    return `delete rule ${ref} handle ${h}`;
  }).join('\n') + '\n';
}

/** How `berth rules` shows a rule berth put into another firewall. */
export function foreignRuleText(kind: 'iptables' | 'nft', where: string): string {
  return kind === 'iptables'
    ? `# iptables -I FORWARD -m mark --mark ${IPT_MARK} -m comment --comment "${FOREIGN_COMMENT}" -j ACCEPT\n`
    : `# nft insert rule ${where} meta mark & ${hex8} == ${hex8} accept comment "${FOREIGN_COMMENT}"\n`;
}

/** Does `iptables -S FORWARD` drop forwarded traffic (policy DROP, or a last catch-all DROP/REJECT)? */
export function iptablesForwardDrops(lines: readonly string[]): boolean {
  const appended = lines.filter((l) => l.startsWith('-A FORWARD') && !l.includes(FOREIGN_COMMENT));
  const last = appended[appended.length - 1] ?? '';
  return lines.includes('-P FORWARD DROP') || /^-A FORWARD -j (DROP|REJECT)\b/.test(last);
}

/** How many of berth's rules `iptables -S FORWARD` shows. */
export function iptablesOwnRules(lines: readonly string[]): number {
  return lines.filter((l) => l.includes(FOREIGN_COMMENT)).length;
}
