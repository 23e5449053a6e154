// berthd logs to stderr, one line per event, with a level filter.
import type { LogLevel } from './config.js';

export type Logger = (level: LogLevel, msg: string) => void;

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function makeLogger(min: LogLevel): Logger {
  return (level, msg) => {
    if (ORDER[level] >= ORDER[min]) process.stderr.write(`${new Date().toISOString()} ${level.padEnd(5)} ${msg}\n`);
  };
}
