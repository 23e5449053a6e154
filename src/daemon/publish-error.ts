// Docker's words for a host port that cannot be bound: the allocator's "Bind for IP:PORT failed:
// port is already allocated" prefixed, as dockerd 20.10 does on `run` and `network connect`, with
// the endpoint that publishes (the sandbox's name and the endpoint id). Checked against the real
// engine in test/e2e/600-docker-parity.test.ts.
import { Conflict } from '../model/errors.js';
import type { EndpointRecord } from '../model/types.js';

export async function onPublishingEndpoint<T>(sb: { name: string }, ep: Pick<EndpointRecord, 'id'> | undefined, allocate: () => Promise<T>): Promise<T> {
  try {
    return await allocate();
  } catch (err) {
    if (ep && err instanceof Conflict && err.message.startsWith('Bind for ')) {
      throw new Conflict(`driver failed programming external connectivity on endpoint ${sb.name} (${ep.id}): ${err.message}`);
    }
    throw err;
  }
}
