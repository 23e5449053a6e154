// HAProxy's stats CSV (`show stat` on the runtime API, /lbstats;csv) parsed by column name. Pure.

export interface StatRow {
  pxname: string;
  svname: string;
  /** Current sessions. */
  scur: number;
  /** UP, DOWN, "UP 1/3", MAINT, DRAIN, "no check", OPEN... */
  status: string;
  weight: number;
  /** Seconds since the last UP/DOWN change. */
  lastchg: number;
  /** L7OK, L4CON, L7STS... ("* " in front while a check runs). */
  checkStatus: string;
  checkCode: string;
  /** Milliseconds of the last check. */
  checkDuration: number;
  /** Text of the last check (last_chk). */
  lastCheck: string;
  addr: string;
}

export function parseStatCsv(text: string): StatRow[] {
  const lines = text.split('\n').filter((l) => l.trim());
  const head = lines.shift();
  if (!head || !head.startsWith('# ')) return [];
  const cols = head.slice(2).split(',');
  const at = (name: string) => cols.indexOf(name);
  const idx = {
    pxname: at('pxname'), svname: at('svname'), scur: at('scur'), status: at('status'), weight: at('weight'),
    lastchg: at('lastchg'), check_status: at('check_status'), check_code: at('check_code'),
    check_duration: at('check_duration'), last_chk: at('last_chk'), addr: at('addr'),
  };
  const num = (v: string | undefined) => (v ? Number(v) || 0 : 0);
  return lines.map((l) => {
    const v = l.split(',');
    const get = (i: number) => (i >= 0 ? (v[i] ?? '') : '');
    return {
      pxname: get(idx.pxname),
      svname: get(idx.svname),
      scur: num(get(idx.scur)),
      status: get(idx.status),
      weight: num(get(idx.weight)),
      lastchg: num(get(idx.lastchg)),
      checkStatus: get(idx.check_status),
      checkCode: get(idx.check_code),
      checkDuration: num(get(idx.check_duration)),
      lastCheck: get(idx.last_chk),
      addr: get(idx.addr),
    };
  });
}

/** Server rows only (not FRONTEND/BACKEND). */
export function serverRows(rows: readonly StatRow[]): StatRow[] {
  return rows.filter((r) => r.svname !== 'FRONTEND' && r.svname !== 'BACKEND');
}
