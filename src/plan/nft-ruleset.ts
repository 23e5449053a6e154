// berth's nftables ruleset, planned from a FirewallView. Pure: text in, text out.
//
// One table, `inet berth`. Its rules are fixed: they never mention a network, a sandbox or a port.
// Everything that changes lives in sets and maps (elements commented with the network, sandbox or
// port they belong to), so a change is a handful of `add element` / `delete element` lines in one
// `nft -f` transaction, and the cost of a packet does not grow with sandboxes or published ports.
// See docs/firewall.md for the walk of a packet through these chains.
import { isIpv4 } from '../model/ip-literal.js';
import { Internal } from '../model/errors.js';
import type { FirewallView, FwPublished } from './firewall-view.js';
import { VIP_SLOTS } from './service-view.js';
import { HOST_BRIDGE_MAC_PREFIX } from './overlay-plan.js';

// The set match comes first so that the counter moves only for the flows it spreads: any other
// new flow (a sandbox's outbound connection, VXLAN datagrams of other hosts) would otherwise
// advance it too, and the spread of a VIP's flows would depend on unrelated traffic.
const VIP_DNAT = `ip daddr @vips dnat ip to ip daddr . numgen inc mod ${VIP_SLOTS} map @vip-backends`;
const SERVICE_PORT_DNAT = `fib daddr type local meta l4proto . th dport @service-port-keys dnat ip to meta l4proto . th dport . numgen inc mod ${VIP_SLOTS} map @service-ports`;

export const FAMILY = 'inet';
export const TABLE = 'berth';
/** The chain users own: berth creates it if missing and never flushes or rewrites it. */
export const USER_CHAIN = 'user-forward';
/** Set by berth on every forwarded packet to or from a berth bridge; other firewalls may accept it. */
export const MARK_BERTH = 0x00800000;
/** Set it (in a table of yours, before berth's forward chain) to make berth accept a packet unfiltered. */
export const MARK_SKIP = 0x00400000;
/** Priority of berth's forward filter chain: before the usual filter chains (0), e.g. iptables' FORWARD. */
export const FORWARD_PRIORITY = -10;

const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;

interface SetDef {
  name: string;
  kind: 'set' | 'map';
  /** `type ...`, or with `typeof:` the expression form (needed for numgen in a key). */
  type: string;
  typeof?: boolean;
  flags?: string;
  comment: string;
}

/** Every set and map of the table, in the order they are created. */
export const SETS: readonly SetDef[] = [
  { name: 'bridges', kind: 'set', type: 'ifname', comment: 'bridge devices of berth networks' },
  { name: 'internal-bridges', kind: 'set', type: 'ifname', comment: 'bridges of internal networks (no traffic in or out)' },
  {
    name: 'intra-bridge',
    kind: 'map',
    type: 'ifname . ifname : verdict',
    comment: 'traffic between sandboxes of one network: accept (ICC on) or goto icc-off',
  },
  { name: 'masq-subnets', kind: 'set', type: 'ipv4_addr', flags: 'interval', comment: 'subnets masqueraded on the way out' },
  {
    name: 'published-any',
    kind: 'map',
    type: 'inet_proto . inet_service : ipv4_addr . inet_service',
    comment: 'published ports on every host address: proto . host port -> sandbox address . port',
  },
  {
    name: 'published-addr',
    kind: 'map',
    type: 'ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service',
    comment: 'published ports on one host address: address . proto . host port -> sandbox address . port',
  },
  {
    name: 'published-targets',
    kind: 'set',
    type: 'ipv4_addr . inet_proto . inet_service',
    comment: 'sandbox address . proto . port behind a published port',
  },
  {
    name: 'hairpin',
    kind: 'set',
    type: 'ipv4_addr . ipv4_addr',
    comment: 'sandbox . itself: a sandbox reaching its own published port is masqueraded',
  },
  {
    name: 'links',
    kind: 'set',
    type: 'ipv4_addr . ipv4_addr . inet_proto . inet_service',
    comment: 'legacy links with ICC off: linking sandbox . target . proto . exposed port',
  },
  {
    name: 'resolvers',
    kind: 'set',
    type: 'ipv4_addr',
    comment: 'embedded DNS of berth: the gateway address of every user network',
  },
  {
    name: 'host-services',
    kind: 'map',
    type: 'ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service',
    comment: 'host services: link-local address . proto . port -> host address . port',
  },
  { name: 'vips', kind: 'set', type: 'ipv4_addr', comment: 'service virtual IPs (on their bridges)' },
  {
    name: 'vip-backends',
    kind: 'map',
    type: `ip daddr . numgen inc mod ${VIP_SLOTS} : ip daddr`,
    typeof: true,
    comment: `service VIP . slot (new flow counter mod ${VIP_SLOTS}) -> replica in rotation`,
  },
  { name: 'service-port-keys', kind: 'set', type: 'inet_proto . inet_service', comment: 'published ports of services (proto . host port)' },
  {
    name: 'service-ports',
    kind: 'map',
    type: `meta l4proto . th dport . numgen inc mod ${VIP_SLOTS} : ip daddr . th dport`,
    typeof: true,
    comment: 'published port of a service . slot -> replica address . target port',
  },
];

interface Rule {
  rule: string;
  comment: string;
}

interface ChainDef {
  name: string;
  /** "type filter hook forward priority -10" for a base chain. */
  base?: { type: 'filter' | 'nat'; hook: string; priority: string };
  comment: string;
  rules: readonly Rule[];
}

const PUBLISHED_MATCH = 'ct status dnat ip daddr . meta l4proto . th dport @published-targets';

/** Every chain berth owns (the user chain is not one of them), in the order they are created. */
export const CHAINS: readonly ChainDef[] = [
  {
    name: 'icc-off',
    comment: 'traffic between two sandboxes of a network with ICC off',
    rules: [
      { rule: `${PUBLISHED_MATCH} accept`, comment: 'published port reached through a host address (hairpin)' },
      { rule: 'ip saddr . ip daddr . meta l4proto . th dport @links accept', comment: 'link: linking sandbox to an exposed port of its target' },
      {
        // Bridged from the VXLAN port: not DNATed here, but by the host that sent it. Only a
        // published port's target, which any sandbox reaches anyway through a host address.
        rule: `ether saddr & ff:ff:00:00:00:00 == ${HOST_BRIDGE_MAC_PREFIX}:00:00:00:00 ip daddr . meta l4proto . th dport @published-targets accept`,
        comment: 'routing mesh: from the bridge of another host (MAC 02:4d:...) to a published service replica here',
      },
      { rule: 'drop', comment: 'ICC disabled on this network' },
    ],
  },
  {
    name: 'filter-forward',
    base: { type: 'filter', hook: 'forward', priority: `filter - ${-FORWARD_PRIORITY}` },
    comment: 'forwarded traffic to and from berth bridges',
    rules: [
      { rule: 'iifname != @bridges oifname != @bridges accept', comment: 'not to or from a berth bridge: left to other rules' },
      {
        rule: `meta mark set meta mark | ${hex(MARK_BERTH)}`,
        comment: 'berth traffic: host firewalls that drop forwarding let this mark through',
      },
      { rule: `jump ${USER_CHAIN}`, comment: `user rules first (chain ${USER_CHAIN} is never touched by berth)` },
      { rule: `meta mark & ${hex(MARK_SKIP)} == ${hex(MARK_SKIP)} accept`, comment: 'a user rule set the skip mark: no berth filtering' },
      { rule: 'ct state established,related accept', comment: 'replies and related traffic of allowed connections' },
      { rule: 'iifname . oifname vmap @intra-bridge', comment: 'between sandboxes of one network: ICC on or off' },
      { rule: 'iifname @internal-bridges drop', comment: 'internal network: nothing leaves' },
      { rule: 'oifname @internal-bridges drop', comment: 'internal network: nothing enters' },
      { rule: `${PUBLISHED_MATCH} accept`, comment: 'published port' },
      { rule: 'iifname @bridges oifname @bridges drop', comment: 'isolation between networks' },
      { rule: 'iifname @bridges accept', comment: 'outbound from a sandbox' },
      { rule: 'oifname @bridges drop', comment: 'inbound to a sandbox, not to a published port' },
    ],
  },
  {
    name: 'filter-input',
    base: { type: 'filter', hook: 'input', priority: 'filter' },
    comment: 'traffic to the host itself',
    rules: [
      {
        rule: 'ip daddr @resolvers meta l4proto { tcp, udp } th dport 53 iifname != @bridges iifname != "lo" drop',
        comment: 'the embedded DNS answers sandboxes and the host only, never the network',
      },
      { rule: 'ip daddr @vips reject', comment: 'a service VIP with no replica in rotation: refused at once' },
    ],
  },
  {
    name: 'raw-prerouting',
    base: { type: 'filter', hook: 'prerouting', priority: 'raw' },
    comment: 'before connection tracking',
    rules: [
      {
        rule: 'iifname @bridges ip daddr 127.0.0.0/8 drop',
        comment: 'sandboxes never reach the host loopback (route_localnet is on for berth bridges)',
      },
    ],
  },
  {
    name: 'nat-prerouting',
    base: { type: 'nat', hook: 'prerouting', priority: 'dstnat' },
    comment: 'destination NAT of packets from the network and from sandboxes',
    rules: [
      {
        rule: 'iifname @bridges dnat ip to ip daddr . meta l4proto . th dport map @host-services',
        comment: 'host service: link-local address in sandboxes to a service on the host',
      },
      { rule: 'ip daddr 127.0.0.0/8 return', comment: 'never DNAT loopback addresses of packets from the network' },
      {
        rule: 'iifname @bridges ip daddr @resolvers meta l4proto { tcp, udp } th dport 53 return',
        comment: 'a sandbox asking the embedded DNS: never a published port 53',
      },
      { rule: VIP_DNAT, comment: 'service VIP: a new flow goes to the next replica in rotation (no SNAT)' },
      { rule: SERVICE_PORT_DNAT, comment: 'published port of a service: the next replica in rotation' },
      {
        rule: 'fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @published-addr',
        comment: 'published port bound to one host address',
      },
      {
        rule: 'fib daddr type local dnat ip to meta l4proto . th dport map @published-any',
        comment: 'published port bound to every host address',
      },
    ],
  },
  {
    name: 'nat-output',
    base: { type: 'nat', hook: 'output', priority: '-100' },
    comment: 'destination NAT of packets from the host itself (127.0.0.1 included)',
    rules: [
      {
        rule: 'ip daddr @resolvers meta l4proto { tcp, udp } th dport 53 return',
        comment: 'the host asking the embedded DNS: never a published port 53',
      },
      { rule: VIP_DNAT, comment: 'service VIP, from the host' },
      { rule: SERVICE_PORT_DNAT, comment: 'published port of a service, from the host' },
      {
        rule: 'fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @published-addr',
        comment: 'published port bound to one host address, from the host',
      },
      {
        rule: 'fib daddr type local dnat ip to meta l4proto . th dport map @published-any',
        comment: 'published port bound to every host address, from the host',
      },
    ],
  },
  {
    name: 'nat-postrouting',
    base: { type: 'nat', hook: 'postrouting', priority: 'srcnat' },
    comment: 'source NAT',
    rules: [
      { rule: 'ct status dnat ip saddr . ip daddr @hairpin masquerade', comment: 'hairpin: a sandbox reaching its own published port' },
      {
        rule: 'oifname @bridges ip saddr 127.0.0.0/8 masquerade',
        comment: 'host loopback to a published port: source becomes the bridge address',
      },
      // Not out of lo: the host's own packets from a gateway address to a local address (e.g. to
      // berth's DNS on a gateway) would get the uplink's address and look foreign.
      { rule: 'ip saddr @masq-subnets oifname != @bridges oifname != "lo" masquerade', comment: 'outbound masquerade' },
    ],
  },
];

/** Number of rules in berth's chains: a constant, whatever the state. */
export const RULE_COUNT = CHAINS.reduce((n, c) => n + c.rules.length, 0);

// ---- elements ---------------------------------------------------------------------------------

export interface Element {
  /** The key as nft writes it, e.g. `tcp . 8080`. */
  key: string;
  /** The value of a map element, e.g. `172.17.0.2 . 80` or `goto icc-off`. */
  value?: string;
  comment: string;
}

/** Set name -> element key -> element. Every set of SETS is present. */
export type Elements = Map<string, Map<string, Element>>;

const IFNAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$/;
const CIDR_RE = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/;

function ifname(name: string): string {
  if (!IFNAME_RE.test(name)) throw new Internal(`refusing to put interface name "${name}" in the ruleset`);
  return `"${name}"`;
}
/** Addresses already checked: a state with thousands of published ports names few addresses. */
const checkedIps = new Set<string>();
function ip(addr: string): string {
  if (checkedIps.has(addr)) return addr;
  if (!isIpv4(addr)) throw new Internal(`refusing to put address "${addr}" in the ruleset`);
  if (checkedIps.size > 100_000) checkedIps.clear();
  checkedIps.add(addr);
  return addr;
}
function cidr(text: string): string {
  const m = CIDR_RE.exec(text);
  if (!m || !isIpv4(m[1]!) || Number(m[2]) > 32) throw new Internal(`refusing to put subnet "${text}" in the ruleset`);
  return text;
}
function port(n: number): string {
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Internal(`refusing to put port ${n} in the ruleset`);
  return String(n);
}
function proto(p: string): string {
  if (p !== 'tcp' && p !== 'udp') throw new Internal(`refusing to put protocol "${p}" in the ruleset`);
  return p;
}
/** A comment safe inside nft's double quotes, at most 128 bytes (nft's limit). */
const SAFE_COMMENT_RE = /^[A-Za-z0-9 _.,:/()<>=+@#-]{0,128}$/;
export function nftComment(text: string): string {
  if (SAFE_COMMENT_RE.test(text)) return text;
  return text.replace(/[^A-Za-z0-9 _.,:/()<>=+@#-]/g, '_').slice(0, 128);
}

/** Work items between two pauses of the step-wise planners (a few ms of work, even on a busy host). */
export const STEP = 500;

/** Runs a step-wise planner to its end at once. */
function finish<T>(steps: Generator<void, T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** Every element of every set and map for a view. */
export function elementsOf(view: FirewallView, opts: ElementOptions = {}): Elements {
  return finish(elementSteps(view, opts));
}

export interface ElementOptions {
  /** false: plan every VIP and service port afresh, without the group cache (the reference the tests compare with). */
  cache?: boolean;
}

/**
 * elementsOf, pausing (yield) after every STEP items, so that a caller on an event loop that also
 * serves DNS can let it breathe between steps (daemon/firewall.ts); the result is the same.
 */
export function* elementSteps(view: FirewallView, opts: ElementOptions = {}): Generator<void, Elements> {
  const els: Elements = new Map(SETS.map((s) => [s.name, new Map<string, Element>()]));
  const put = (set: string, e: Element): void => {
    const m = els.get(set)!;
    const prior = m.get(e.key);
    // One element may serve several owners (two host ports to one sandbox port): keep one, name both.
    // A merged element is a new object: elements of the VIP cache below are shared between plans.
    if (prior) {
      if (!prior.comment.split(', ').includes(e.comment)) m.set(e.key, { ...prior, comment: nftComment(`${prior.comment}, ${e.comment}`) });
    } else {
      m.set(e.key, { ...e, comment: nftComment(e.comment) });
    }
  };
  for (const b of view.bridges) {
    const dev = ifname(b.name);
    const what = `network ${b.network}`;
    put('bridges', { key: dev, comment: what });
    if (b.internal) put('internal-bridges', { key: dev, comment: what });
    put('intra-bridge', { key: `${dev} . ${dev}`, value: b.icc ? 'accept' : 'goto icc-off', comment: `${what}: ICC ${b.icc ? 'on' : 'off'}` });
    if (b.masquerade && !b.internal) put('masq-subnets', { key: cidr(b.subnet), comment: what });
    if (b.resolver) put('resolvers', { key: ip(b.resolver), comment: `${what}: DNS` });
  }
  // Groups planned once per content (see planGroup): published ports, VIPs, service ports.
  const used = new Map<string, Group>();
  const putGroup = (g: Group | Array<[string, Element]>): void => {
    if (!isGroup(g)) {
      for (const [set, e] of g) put(set, e);
      return;
    }
    for (const [set, list] of g) {
      const m = els.get(set)!;
      for (const e of list) {
        if (m.has(e.key)) put(set, e);
        else m.set(e.key, e);
      }
    }
  };
  let n = 0;
  // Published ports, one group per sandbox (firewallView lists a sandbox's ports one after
  // another): planned once per content, so while a sandbox's ports do not change its elements
  // are the same objects as in the last plan, which deltaSteps skips by identity. A change then
  // costs a lookup per sandbox, not the planning and comparing of every element.
  const pubs = view.published;
  for (let i = 0; i < pubs.length; ) {
    let j = i + 1;
    while (j < pubs.length && pubs[j]!.sandbox === pubs[i]!.sandbox) j++;
    const mine = pubs.slice(i, j);
    i = j;
    n += mine.length;
    if (n >= STEP) {
      n = 0;
      yield;
    }
    putGroup(planGroup(opts.cache === false ? undefined : used, publishedKey(mine), () => mine.flatMap(publishedElements)));
  }
  // VIPs and service ports: grouped the same way.
  for (const v of view.vips ?? []) {
    if (++n % STEP === 0) yield;
    putGroup(
      planGroup(opts.cache === false ? undefined : used, `vip\n${v.service}\n${v.network}\n${v.vip}\n${v.slots.join(' ')}`, () => {
        const what = `service ${v.service} on ${v.network}`;
        const out: Array<[string, Element]> = [['vips', { key: ip(v.vip), comment: what }]];
        v.slots.forEach((target, slot) => {
          out.push(['vip-backends', { key: `${ip(v.vip)} . ${slot}`, value: ip(target), comment: what }]);
          // A replica reaching its own service's VIP may be sent to itself: masquerade that (hairpin).
          out.push(['hairpin', { key: `${target} . ${target}`, comment: `service ${v.service} replica` }]);
        });
        return out;
      }),
    );
  }
  for (const p of view.servicePorts ?? []) {
    if (++n % STEP === 0) yield;
    const key = `port\n${p.service}\n${p.hostPort}\n${p.proto}\n${p.targetPort}\n${p.slots.join(' ')}`;
    putGroup(
      planGroup(opts.cache === false ? undefined : used, key, () => {
        const what = `service ${p.service}: ${p.hostPort}/${p.proto} -> ${p.targetPort}`;
        const out: Array<[string, Element]> = p.slots.length ? [['service-port-keys', { key: `${proto(p.proto)} . ${port(p.hostPort)}`, comment: what }]] : [];
        p.slots.forEach((target, slot) => {
          out.push(['service-ports', { key: `${proto(p.proto)} . ${port(p.hostPort)} . ${slot}`, value: `${ip(target)} . ${port(p.targetPort)}`, comment: what }]);
          out.push(['published-targets', { key: `${ip(target)} . ${proto(p.proto)} . ${port(p.targetPort)}`, comment: what }]);
          out.push(['hairpin', { key: `${target} . ${target}`, comment: `service ${p.service} replica` }]);
        });
        return out;
      }),
    );
  }
  if (opts.cache !== false) groupCache = used;
  for (const l of view.links) {
    put('links', {
      key: `${ip(l.fromIp)} . ${ip(l.toIp)} . ${proto(l.proto)} . ${port(l.port)}`,
      comment: `link ${l.from} -> ${l.to} ${l.port}/${l.proto}`,
    });
  }
  for (const s of view.hostServices) {
    put('host-services', {
      key: `${ip(s.ip)} . ${proto(s.proto)} . ${port(s.port)}`,
      value: `${ip(s.hostIp)} . ${port(s.hostPort)}`,
      comment: `host service ${s.name}`,
    });
  }
  return els;
}

/** The elements one VIP or service port contributes, per set in first-put order, one per key. */
/** The elements of one published port: the mapping, its target, the hairpin of its sandbox. */
function publishedElements(p: FwPublished): Array<[string, Element]> {
  const target = `${ip(p.targetIp)} . ${port(p.targetPort)}`;
  const what = `${p.sandbox}: ${p.hostIp}:${p.hostPort}/${p.proto} -> ${p.targetPort}`;
  const mapping: [string, Element] =
    p.hostIp === '0.0.0.0'
      ? ['published-any', { key: `${proto(p.proto)} . ${port(p.hostPort)}`, value: target, comment: what }]
      : ['published-addr', { key: `${ip(p.hostIp)} . ${proto(p.proto)} . ${port(p.hostPort)}`, value: target, comment: what }];
  return [
    mapping,
    ['published-targets', { key: `${ip(p.targetIp)} . ${proto(p.proto)} . ${port(p.targetPort)}`, comment: `${p.sandbox}: ${p.targetPort}/${p.proto}` }],
    ['hairpin', { key: `${p.targetIp} . ${p.targetIp}`, comment: p.sandbox }],
  ];
}

type Group = Array<[string, Element[]]>;

/** What a sandbox's published ports' group is planned from (its key in the group cache). */
function publishedKey(mine: readonly FwPublished[]): string {
  return `pub\n${mine.map((p) => `${p.sandbox} ${p.hostIp} ${p.hostPort} ${p.proto} ${p.targetIp} ${p.targetPort}`).join('\n')}`;
}

/**
 * The elements of one sandbox's published ports as elementSteps plans them (the same objects as
 * the last plan's while they are the same), set by set, one per key; undefined when a comment
 * needs sanitizing (then only the full planner merges them right). For ElementsBuilder.
 */
export function publishedGroup(mine: readonly FwPublished[]): Group | undefined {
  const g = planGroup(new Map(), publishedKey(mine), () => mine.flatMap(publishedElements));
  return isGroup(g) ? g : undefined;
}

/**
 * Groups of the last plan, by the content they came from (a FwVip or FwServicePort): with 1,000
 * services a change of one replica plans one VIP's 60 slots again, not 60,000 (BENCHMARKS.md 8c).
 * Only what the last plan used is kept. Cached elements are shared between plans and never
 * changed (put copies an element it merges into).
 */
let groupCache = new Map<string, Group>();

/**
 * The group for `key`, from the cache or from `plan` (the puts the plain planner would do, in
 * order). Repeated puts of one key inside a group that carry the same comment are one element,
 * as put makes them, as long as comments need no sanitizing; when they need it, or two puts of
 * one key differ in comment, the puts themselves are returned (not cached) and made one by one
 * (put merges their comments).
 */
function planGroup(used: Map<string, Group> | undefined, key: string, plan: () => Array<[string, Element]>): Group | Array<[string, Element]> {
  if (!used) return plan();
  const hit = used.get(key) ?? groupCache.get(key);
  if (hit) {
    used.set(key, hit);
    return hit;
  }
  const puts = plan();
  if (puts.some(([, e]) => nftComment(e.comment) !== e.comment)) return puts;
  const bySet = new Map<string, Map<string, Element>>();
  for (const [set, e] of puts) {
    let m = bySet.get(set);
    if (!m) bySet.set(set, (m = new Map()));
    const prior = m.get(e.key);
    // Two puts of one key with different comments (two host ports on one -p key, which the port
    // allocator refuses anyway) are merged by put: not cached.
    if (prior && prior.comment !== e.comment) return puts;
    if (!prior) m.set(e.key, e);
  }
  const group: Group = [...bySet].map(([set, m]) => [set, [...m.values()]]);
  used.set(key, group);
  return group;
}

const isGroup = (g: Group | Array<[string, Element]>): g is Group => g.length === 0 || Array.isArray(g[0]![1]);

export function elementText(e: Element): string {
  return `${e.key} comment "${e.comment}"${e.value === undefined ? '' : ` : ${e.value}`}`;
}

/** At most this many elements per `add element` line, to keep lines readable and batches small. */
const CHUNK = 256;

export function elementLines(verb: 'add' | 'delete', set: string, items: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < items.length; i += CHUNK) {
    out.push(`${verb} element ${FAMILY} ${TABLE} ${set} { ${items.slice(i, i + CHUNK).join(', ')} }`);
  }
  return out;
}

// ---- whole ruleset ----------------------------------------------------------------------------

/** Names of objects found in berth's table (from `nft -j list table inet berth`). */
export interface ExistingObjects {
  chains: readonly string[];
  sets: readonly string[];
  maps: readonly string[];
}

export interface FullRulesetOptions {
  /** What the table holds now: berth's objects among them are re-created with `recreate`. */
  existing?: ExistingObjects;
  /** Delete and re-create every set, map and chain berth owns (not the user chain): for a table from an older berth. */
  recreate?: boolean;
}

/** Names of the chains berth creates and may flush or delete (the user chain is not one of them). */
export const OWN_CHAINS: ReadonlySet<string> = new Set(CHAINS.map((c) => c.name));
/** Names of the sets and maps berth creates, with their kind. */
export const OWN_SETS: ReadonlyMap<string, 'set' | 'map'> = new Map(SETS.map((s) => [s.name, s.kind]));

function chainSpec(c: ChainDef): string {
  const parts: string[] = [];
  if (c.base) parts.push(`type ${c.base.type} hook ${c.base.hook} priority ${c.base.priority}; policy accept;`);
  parts.push(`comment "${nftComment(c.comment)}";`);
  return `{ ${parts.join(' ')} }`;
}

/**
 * The `nft -f` text that (re)creates berth's table in one transaction: every chain and set of berth
 * is created if missing and emptied, then filled. The user chain is only ever `add`ed, so its
 * rules survive; chains, sets and maps that berth did not create (a user's own chain jumped to
 * from the user chain, say) are never touched. This is what berthd runs when it reconciles.
 */
export function fullRuleset(view: FirewallView, opts: FullRulesetOptions = {}): string {
  const T = `${FAMILY} ${TABLE}`;
  const existing = opts.existing ?? { chains: [], sets: [], maps: [] };
  const lines: string[] = [
    '#!/usr/sbin/nft -f',
    '# berth: the whole table, in one transaction (chain user-forward and chains you add are yours and left as they are)',
    `add table ${T} { comment "berth container networking: see docs/firewall.md; add your rules to chain ${USER_CHAIN}"; }`,
    `add chain ${T} ${USER_CHAIN} { comment "${nftComment(`yours: evaluated first for forwarded berth traffic (accept skips berth filtering, drop drops), berth never flushes it`)}"; }`,
  ];
  if (opts.recreate) {
    // Only objects berth owns, by name; every chain that could jump to them or use their sets
    // is emptied before they are deleted.
    const chains = existing.chains.filter((c) => OWN_CHAINS.has(c));
    for (const c of chains) lines.push(`flush chain ${T} ${c}`);
    // Maps before chains: a verdict map element (`goto icc-off`) keeps its chain busy.
    for (const name of existing.sets) if (OWN_SETS.has(name)) lines.push(`delete set ${T} ${name}`);
    for (const name of existing.maps) if (OWN_SETS.has(name)) lines.push(`delete map ${T} ${name}`);
    for (const c of chains) lines.push(`delete chain ${T} ${c}`);
    for (const c of CHAINS) lines.push(`add chain ${T} ${c.name} ${chainSpec(c)}`);
  } else {
    for (const c of CHAINS) lines.push(`add chain ${T} ${c.name} ${chainSpec(c)}`, `flush chain ${T} ${c.name}`);
  }

  const els = elementsOf(view);
  const present = new Set(opts.recreate ? [] : [...existing.sets, ...existing.maps]);
  for (const s of SETS) {
    const flags = s.flags ? ` flags ${s.flags};` : '';
    // nft cannot add a rule that uses an existing `typeof … th dport` map it did not create in the
    // same transaction ("conflicting protocols specified: inet-service vs. th"), so such a map is
    // deleted and made again here; the chains that use it were flushed above, and its elements
    // are added again below.
    if (s.typeof && present.has(s.name)) lines.push(`delete ${s.kind} ${T} ${s.name}`);
    lines.push(`add ${s.kind} ${T} ${s.name} { ${s.typeof ? 'typeof' : 'type'} ${s.type};${flags} comment "${nftComment(s.comment)}"; }`);
    lines.push(`flush ${s.kind} ${T} ${s.name}`);
    lines.push(...elementLines('add', s.name, [...els.get(s.name)!.values()].map(elementText)));
  }
  for (const c of CHAINS) {
    for (const r of c.rules) lines.push(`add rule ${T} ${c.name} ${r.rule} comment "${nftComment(r.comment)}"`);
  }
  return lines.join('\n') + '\n';
}

/**
 * The `nft -f` text that turns the ruleset of `prev` into the one of `next`: element deletions
 * and additions only (an element whose value or comment changed is deleted and added again).
 * Empty when nothing changes.
 */
export function deltaRuleset(prev: FirewallView, next: FirewallView): string {
  return deltaOfElements(elementsOf(prev), elementsOf(next));
}

/** deltaRuleset on elements already computed (berthd keeps those of the applied view). */
export function deltaOfElements(a: Elements, b: Elements): string {
  return finish(deltaSteps(a, b));
}

/** deltaOfElements, pausing after every STEP elements compared (see elementSteps). */
export function* deltaSteps(a: Elements, b: Elements): Generator<void, string> {
  let n = 0;
  const dels: string[] = [];
  const adds: string[] = [];
  for (const s of SETS) {
    const before = a.get(s.name)!;
    const after = b.get(s.name)!;
    const gone: string[] = [];
    const added: string[] = [];
    for (const [k, e] of before) {
      if (++n % STEP === 0) yield;
      const now = after.get(k);
      if (now === e) continue;
      if (!now || now.value !== e.value || now.comment !== e.comment) gone.push(k);
    }
    for (const [k, e] of after) {
      if (++n % STEP === 0) yield;
      const was = before.get(k);
      if (was === e) continue;
      if (!was || was.value !== e.value || was.comment !== e.comment) added.push(elementText(e));
    }
    dels.push(...elementLines('delete', s.name, gone));
    adds.push(...elementLines('add', s.name, added));
  }
  const lines = [...dels, ...adds];
  return lines.length ? lines.join('\n') + '\n' : '';
}

/**
 * The nft text that removes everything berth owns except its table and the user chain; chains,
 * sets and maps berth did not create stay. With removeUserChain the whole table goes (the user
 * asked for everything in it to go).
 */
export function removalRuleset(existing: ExistingObjects, opts: { removeUserChain?: boolean } = {}): string {
  const T = `${FAMILY} ${TABLE}`;
  if (opts.removeUserChain) return `delete table ${T}\n`;
  const chains = existing.chains.filter((c) => OWN_CHAINS.has(c));
  const lines = [
    ...chains.map((c) => `flush chain ${T} ${c}`),
    ...chains.map((c) => `delete chain ${T} ${c}`),
    ...existing.sets.filter((s) => OWN_SETS.get(s) === 'set').map((s) => `delete set ${T} ${s}`),
    ...existing.maps.filter((m) => OWN_SETS.get(m) === 'map').map((m) => `delete map ${T} ${m}`),
  ];
  return lines.length ? lines.join('\n') + '\n' : '';
}
