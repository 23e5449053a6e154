// Docker's detach keys: a sequence typed into an attached TTY that detaches the client and leaves
// the container running (ctrl-p ctrl-q unless the client names others with detachKeys=).
// Pure: parsing, and a filter that passes on what is typed and holds back a partial sequence.
import { BadRequest } from '../../model/errors.js';

export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/** "ctrl-p,ctrl-q" -> [0x10, 0x11], as moby's term.ToBytes: a single character or ctrl-X. */
export function parseDetachKeys(spec: string): Buffer {
  const out: number[] = [];
  for (const raw of spec.split(',')) {
    const key = raw.trim();
    if (key.length > 1) {
      const m = /^ctrl-([a-z@[\\\]^_])$/.exec(key);
      if (!m) throw new BadRequest(`Invalid detach keys (${spec}) provided`);
      const c = m[1]!;
      out.push(c >= 'a' && c <= 'z' ? c.charCodeAt(0) - 96 : { '@': 0, '[': 27, '\\': 28, ']': 29, '^': 30, _: 31 }[c]!);
    } else if (key.length === 1) {
      out.push(key.charCodeAt(0));
    } else {
      throw new BadRequest(`Invalid detach keys (${spec}) provided`);
    }
  }
  return Buffer.from(out);
}

/**
 * Feeds typed bytes through: returns what to pass on, and whether the sequence was completed
 * (then nothing after it is passed). Bytes that begin the sequence are held until it is either
 * completed (dropped) or broken (passed on), as moby's escapeProxy does.
 */
export class DetachFilter {
  private held = 0;
  constructor(private readonly keys: Buffer) {}

  feed(b: Buffer): { pass: Buffer; detached: boolean } {
    const out: number[] = [];
    for (const byte of b) {
      if (this.keys.length && byte === this.keys[this.held]) {
        this.held += 1;
        if (this.held === this.keys.length) return { pass: Buffer.from(out), detached: true };
        continue;
      }
      if (this.held) out.push(...this.keys.subarray(0, this.held));
      this.held = 0;
      if (this.keys.length && byte === this.keys[0]) this.held = 1;
      else out.push(byte);
    }
    return { pass: Buffer.from(out), detached: false };
  }
}
