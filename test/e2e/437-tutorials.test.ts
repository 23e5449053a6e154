// docs/tutorials.md, run as written (tutorial-doc.ts says how): every docker command of the
// networking scenarios, against berthd in a lab, printing what the tutorial says it prints.
// TUTORIAL_RECORD=FILE writes what each command printed to FILE instead of failing (to update the
// tutorial after a deliberate change; read the diff before committing it).
import assert from "node:assert/strict";
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { withLab, type PeerServer } from "./lab.js";
import { matches, parseTutorial, retried } from "./tutorial-doc.js";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "../../..");
const RECORD = process.env["TUTORIAL_RECORD"];

test("docs/tutorials.md: every command prints what the tutorial says", { timeout: 1_200_000 }, async () => {
  const steps = parseTutorial(readFileSync(join(REPO, "docs", "tutorials.md"), "utf8"));
  assert.ok(steps.filter((s) => s.kind === "run").length > 40, "the tutorial has its commands");
  const work = mkdtempSync("/tmp/berth-tutorial-");
  if (RECORD) writeFileSync(RECORD, "");
  try {
    mkdirSync(join(work, "bin"));
    symlinkSync(join(REPO, "bin", "berth"), join(work, "bin", "berth"));
    await withLab("dt", { upstreamDns: true, outsideDefaultRoute: true }, async (lab) => {
      const env = { ...process.env, DOCKER_HOST: lab.berthHost, BERTH_HOST: lab.berthHost, DOCKER_CONFIG: join(work, ".docker"), PATH: `${join(work, "bin")}:${process.env["PATH"]}` };
      const servers: PeerServer[] = [];
      for (const s of steps) {
        if (s.kind === "berthd") {
          await lab.restartBerthd(s.args);
          continue;
        }
        if (s.kind === "outside-http") {
          servers.push(await lab.outsideServer({ proto: "http", port: s.port }));
          continue;
        }
        const argv = ["sh", "-c", `cd '${work}' && { ${s.cmd}\n} 2>&1`];
        const deadline = Date.now() + (retried(s.cmd) ? (RECORD ? 3000 : 30_000) : 0);
        for (;;) {
          const r = s.where === "host" ? await lab.inHost(argv, { env, timeoutMs: 120_000 }) : await lab.inOutside(argv, { env, timeoutMs: 60_000 });
          const ok = r.code === 0 && !r.timedOut && matches(s.expect, r.stdout);
          if (ok || Date.now() > deadline) {
            if (RECORD) {
              appendFileSync(RECORD, `${ok ? "" : "!! "}line ${s.line}: ${s.where === "host" ? "$" : "outside$"} ${s.cmd}\n${r.stdout}${r.code ? `(exit ${r.code})\n` : ""}\n`);
            } else {
              assert.ok(ok, `docs/tutorials.md line ${s.line}: \`${s.cmd}\` ${r.code ? `exited ${r.code}${r.timedOut ? " (timed out)" : ""} and ` : ""}printed:\n${r.stdout}\n--- the tutorial says:\n${s.expect.join("\n")}`);
            }
            break;
          }
          await new Promise((res) => setTimeout(res, 300));
        }
      }
    });
  } finally {
    await new Promise((r) => setTimeout(r, 0));
    rmSync(work, { recursive: true, force: true });
  }
});
