// docker logs and attach from log-relay's records (libexec/log-relay: Docker's json-file lines,
// {"log", "stream", "time"}), for image sandboxes without a TTY: stdout and stderr as their own
// streams (8-byte frames 1 and 2), chosen by the client, with Docker's timestamps when asked.
import { frame } from './streams.js';

export interface RecordView {
  stdout: boolean;
  stderr: boolean;
  timestamps: boolean;
}

interface LogRecord {
  log: string;
  stream: string;
  time: string;
}

function parse(line: string): LogRecord | undefined {
  try {
    const r = JSON.parse(line) as Partial<LogRecord>;
    return typeof r.log === 'string' && (r.stream === 'stdout' || r.stream === 'stderr') && typeof r.time === 'string' ? (r as LogRecord) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A `send` for followFile: takes the records file's bytes as they come (a record may be split
 * between two reads: the rest is kept for the next) and gives the frames the client asked for.
 */
export function recordFramer(v: RecordView): (b: Buffer) => Buffer {
  let rest = Buffer.alloc(0);
  return (b: Buffer) => {
    const all = rest.length ? Buffer.concat([rest, b]) : b;
    const end = all.lastIndexOf(10);
    rest = Buffer.from(all.subarray(end + 1));
    if (end < 0) return Buffer.alloc(0);
    const out: Buffer[] = [];
    for (const line of all.subarray(0, end).toString('utf8').split('\n')) {
      const r = parse(line);
      if (!r || (r.stream === 'stdout' ? !v.stdout : !v.stderr)) continue;
      out.push(frame(r.stream === 'stdout' ? 1 : 2, Buffer.from(v.timestamps ? `${r.time} ${r.log}` : r.log)));
    }
    return Buffer.concat(out);
  };
}

/** The offset where the last n lines of text begin (n < 0: all of it). */
export function tailOffset(text: Buffer, n: number): number {
  if (n < 0) return 0;
  if (n === 0) return text.length;
  let pos = text.length;
  let lines = n;
  if (pos > 0 && text[pos - 1] === 10) pos -= 1;
  while (lines > 0 && pos > 0) {
    pos = text.lastIndexOf(10, pos - 1);
    if (pos < 0) break;
    lines -= 1;
  }
  return pos < 0 || lines > 0 ? 0 : pos + 1;
}
