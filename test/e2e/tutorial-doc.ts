// docs/tutorials.md as a test: its ```console blocks are transcripts. `$ CMD` runs in the lab's
// host namespace (the berth host, 192.0.2.1, with DOCKER_HOST set), `outside$ CMD` on "another
// machine" (the lab's outside namespace, 192.0.2.2); the lines after a command are what it prints
// (stdout and stderr as a terminal shows them). In expected lines `...` stands for any text, and a
// line of just `...` for any number of lines. A command that exits non-zero fails the test unless
// its transcript shows why (the tutorial writes `|| echo "exit $?"`). Directives in HTML comments,
// unseen by readers: `<!-- test: skip -->` skips the next block (steps a lab cannot take, such as
// systemctl), `<!-- test: berthd ARGS -->` restarts the lab's berthd with ARGS in their place.
// Commands that only look (exec, run --rm, curl, wget, inspect, port, logs) are tried again
// until they print what the tutorial says (30 s), as a reader would wait for a server to start.

export interface Step {
  kind: "run";
  where: "host" | "outside";
  cmd: string;
  expect: string[];
  line: number;
}
export interface Restart {
  kind: "berthd";
  args: string[];
  line: number;
}
/** A web server on the other machine that answers with the address it sees (lab.startServer). */
export interface OutsideServer {
  kind: "outside-http";
  port: number;
  line: number;
}

export function parseTutorial(md: string): Array<Step | Restart | OutsideServer> {
  const out: Array<Step | Restart | OutsideServer> = [];
  const lines = md.split("\n");
  let inBlock = false;
  let skip = false;
  let skipNext = false;
  let cur: Step | undefined;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const directive = /^<!-- test: (skip|outside-http (\d+)|berthd ?(.*)) -->$/.exec(l.trim());
    if (!inBlock && directive) {
      if (directive[1] === "skip") skipNext = true;
      else if (directive[2]) out.push({ kind: "outside-http", port: Number(directive[2]), line: i + 1 });
      else out.push({ kind: "berthd", args: (directive[3] ?? "").split(/\s+/).filter(Boolean), line: i + 1 });
      continue;
    }
    if (!inBlock && l.startsWith("```console")) {
      inBlock = true;
      skip = skipNext;
      skipNext = false;
      continue;
    }
    if (inBlock && l.startsWith("```")) {
      inBlock = false;
      cur = undefined;
      continue;
    }
    if (!inBlock || skip) continue;
    const m = /^(outside)?\$ (.*)$/.exec(l);
    if (m) {
      let cmd = m[2]!;
      while (cmd.endsWith("\\") && i + 1 < lines.length) cmd = `${cmd.slice(0, -1)}\n${lines[++i]!}`;
      // A here-document: its lines, to its end marker, belong to the command.
      const here = /<<-?'?(\w+)'?/.exec(cmd);
      if (here) {
        while (i + 1 < lines.length && lines[i + 1] !== here[1]) cmd += `\n${lines[++i]!}`;
        cmd += `\n${lines[++i] ?? ""}`;
      }
      cur = { kind: "run", where: m[1] ? "outside" : "host", cmd, expect: [], line: i + 1 };
      out.push(cur);
    } else if (cur) {
      cur.expect.push(l);
    }
  }
  return out;
}

const RETRIED = /^(docker (exec|run --rm|inspect|port|logs|network inspect)|curl|wget)\b/;
export const retried = (cmd: string) => RETRIED.test(cmd);

function lineRegex(pattern: string): RegExp {
  return new RegExp(`^${pattern.split("...").map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
}

/** True when the output's lines match the expected lines (`...` wildcards, see above). */
export function matches(expect: readonly string[], output: string): boolean {
  const want = trimEnd(expect.map((l) => l.trimEnd()));
  const got = trimEnd(output.replace(/\r/g, "").split("\n").map((l) => l.trimEnd()));
  const go = (i: number, j: number): boolean => {
    if (i === want.length) return j === got.length;
    if (want[i] === "...") {
      for (let k = j; k <= got.length; k++) if (go(i + 1, k)) return true;
      return false;
    }
    return j < got.length && lineRegex(want[i]!).test(got[j]!) && go(i + 1, j + 1);
  };
  return go(0, 0);
}

function trimEnd(a: string[]): string[] {
  const b = [...a];
  while (b.length && b[b.length - 1] === "") b.pop();
  return b;
}
