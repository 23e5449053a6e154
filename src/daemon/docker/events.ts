// GET /events: container and network events as moby sends them (Type, Action, status, id,
// Actor.Attributes, time, timeNano), to every listener while it is connected.
export interface DockerEvent {
  Type: 'container' | 'network' | 'image';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
  status?: string;
  id?: string;
  from?: string;
}

export class EventBus {
  private readonly listeners = new Set<(e: DockerEvent) => void>();

  emit(type: DockerEvent['Type'], action: string, id: string, attributes: Record<string, string>): void {
    const now = Date.now();
    const e: DockerEvent = { Type: type, Action: action, Actor: { ID: id, Attributes: attributes }, scope: 'local', time: Math.floor(now / 1000), timeNano: now * 1_000_000 };
    // The older fields clients still read (compose 1.x reads status and id).
    if (type === 'container') Object.assign(e, { status: action, id, from: attributes['image'] ?? '' });
    for (const l of this.listeners) l(e);
  }

  subscribe(fn: (e: DockerEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
