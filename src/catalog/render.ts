// Consul's JSON shapes for berth's catalog view (field names exactly as Consul's HTTP API, so its
// client libraries parse them unchanged). Pure.
import { formatGoDuration } from '../model/duration.js';
import { aggregateStatus, nodeCheck, type CatalogView, type CheckEntry, type Instance, type NodeInfo } from './view.js';
import { entryIndex, type IndexTable } from './index-table.js';

/** The Consul version berth reports to clients that look at it (the API subset berth follows). */
export const CONSUL_VERSION = '1.17.0';
const SERF_LAN_PORT = 8301;
const SERVER_RPC_PORT = 8300;

function taggedNode(node: NodeInfo) {
  return { lan: node.address, lan_ipv4: node.address, wan: node.address, wan_ipv4: node.address };
}

function serviceTagged(i: Instance, node: NodeInfo) {
  const address = i.address || node.address;
  return { lan_ipv4: { Address: address, Port: i.port }, wan_ipv4: { Address: address, Port: i.port } };
}

/** GET /v1/catalog/service/:name entries. */
export function catalogServiceEntries(view: CatalogView, table: IndexTable, name: string, tags: readonly string[]): unknown[] {
  const node = view.node;
  return instancesOf(view, name, tags).map((i) => {
    const idx = entryIndex(table, `inst:${name}/${i.id}`);
    return {
      ID: node.id, Node: node.name, Address: node.address, Datacenter: node.datacenter,
      TaggedAddresses: taggedNode(node), NodeMeta: { 'consul-network-segment': '' },
      ServiceKind: '', ServiceID: i.id, ServiceName: i.service, ServiceTags: [...i.tags],
      ServiceAddress: i.address, ServiceWeights: { Passing: i.weights.passing, Warning: i.weights.warning },
      ServiceMeta: { ...i.meta }, ServicePort: i.port, ServiceSocketPath: '',
      ServiceTaggedAddresses: serviceTagged(i, node), ServiceEnableTagOverride: i.enableTagOverride,
      ServiceProxy: { Mode: '', MeshGateway: {}, Expose: {} }, ServiceConnect: {},
      CreateIndex: idx.create, ModifyIndex: idx.modify,
    };
  });
}

function checkJson(c: CheckEntry, node: NodeInfo, tags: readonly string[], table: IndexTable) {
  const idx = entryIndex(table, c.checkId === 'serfHealth' ? 'node' : `check:${c.checkId}`);
  return {
    Node: node.name, CheckID: c.checkId, Name: c.name, Status: c.status, Notes: c.notes, Output: c.output,
    ServiceID: c.serviceId, ServiceName: c.serviceName, ServiceTags: c.serviceId ? [...tags] : [],
    Type: c.type === 'berth' ? '' : c.type,
    Interval: c.interval ? formatGoDuration(c.interval) : '', Timeout: c.timeout ? formatGoDuration(c.timeout) : '',
    ExposedPort: 0, Definition: {}, CreateIndex: idx.create, ModifyIndex: idx.modify,
  };
}

/** GET /v1/health/service/:name entries; `passing` keeps instances whose checks all pass. */
export function healthServiceEntries(view: CatalogView, table: IndexTable, name: string, tags: readonly string[], passing: boolean): unknown[] {
  const node = view.node;
  const nodeIdx = entryIndex(table, 'node');
  return instancesOf(view, name, tags)
    .filter((i) => !passing || aggregateStatus(i.checks) === 'passing')
    .map((i) => {
      const idx = entryIndex(table, `inst:${name}/${i.id}`);
      return {
        Node: {
          ID: node.id, Node: node.name, Address: node.address, Datacenter: node.datacenter,
          TaggedAddresses: taggedNode(node), Meta: { 'consul-network-segment': '' },
          CreateIndex: nodeIdx.create, ModifyIndex: nodeIdx.modify,
        },
        Service: {
          ID: i.id, Service: i.service, Tags: [...i.tags], Address: i.address, Meta: { ...i.meta }, Port: i.port,
          Weights: { Passing: i.weights.passing, Warning: i.weights.warning }, EnableTagOverride: i.enableTagOverride,
          TaggedAddresses: serviceTagged(i, node), Kind: '', SocketPath: '', Proxy: { Mode: '', MeshGateway: {}, Expose: {} }, Connect: {},
          CreateIndex: idx.create, ModifyIndex: idx.modify,
        },
        Checks: [nodeCheck(node), ...i.checks].map((c) => checkJson(c, node, i.tags, table)),
      };
    });
}

/** Instances of a service carrying every one of `tags`. */
export function instancesOf(view: CatalogView, name: string, tags: readonly string[] = []): readonly Instance[] {
  const list = view.services.get(name) ?? [];
  return tags.length === 0 ? list : list.filter((i) => tags.every((t) => i.tags.includes(t)));
}

function member(node: NodeInfo) {
  return {
    Name: node.name, Addr: node.address, Port: SERF_LAN_PORT,
    Tags: { build: `${CONSUL_VERSION}:berth`, dc: node.datacenter, id: node.id, port: String(SERVER_RPC_PORT), role: 'consul', segment: '', vsn: '2', vsn_max: '3', vsn_min: '2' },
    Status: 1, ProtocolMin: 1, ProtocolMax: 5, ProtocolCur: 2, DelegateMin: 2, DelegateMax: 5, DelegateCur: 4,
  };
}

/** GET /v1/agent/members: the berth host. */
export function agentMembers(view: CatalogView): unknown[] {
  return [member(view.node)];
}

/** GET /v1/agent/self. */
export function agentSelf(view: CatalogView): unknown {
  const node = view.node;
  return {
    Config: { Datacenter: node.datacenter, PrimaryDatacenter: node.datacenter, NodeName: node.name, NodeID: node.id, Server: true, Revision: 'berth', Version: CONSUL_VERSION, BuildDate: '' },
    DebugConfig: {},
    Coord: null,
    Member: member(node),
    Stats: { agent: { check_monitors: '0', services: String(view.services.size) } },
    Meta: { 'consul-network-segment': '' },
    xDS: null,
  };
}

/** GET /v1/status/leader: the node's server RPC address. */
export function statusLeader(view: CatalogView): string {
  return `${view.node.address}:${SERVER_RPC_PORT}`;
}

/** GET /v1/agent/services: the agent's local services (all of them here: one node). */
export function agentServices(view: CatalogView): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const list of view.services.values()) {
    for (const i of list) {
      out[i.id] = {
        Kind: '', ID: i.id, Service: i.service, Tags: [...i.tags], Meta: { ...i.meta }, Port: i.port, Address: i.address,
        TaggedAddresses: serviceTagged(i, view.node), Weights: { Passing: i.weights.passing, Warning: i.weights.warning },
        EnableTagOverride: i.enableTagOverride, Datacenter: view.node.datacenter,
      };
    }
  }
  return out;
}
