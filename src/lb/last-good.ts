// The last-good guard (consul-template's empty-render outages, lb-catalog.md 1c): when the source
// of a back-end's servers is merely unavailable (its service's replicas not known yet, e.g. right
// after berthd starts and before the first health results), the back-end keeps the servers it
// had instead of being rendered empty. A source that is available and says "none" empties it.
// Pure.
import type { RenderBackend } from './config.js';

export function keepLastGood(prev: readonly RenderBackend[], next: readonly RenderBackend[], unavailable: ReadonlySet<string>): RenderBackend[] {
  const before = new Map(prev.map((b) => [b.id, b]));
  return next.map((b) => {
    const old = before.get(b.id);
    return unavailable.has(b.id) && old ? { ...b, servers: [...old.servers] } : b;
  });
}
