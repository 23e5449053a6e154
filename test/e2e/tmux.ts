// A terminal a test types into and reads, as a person would: a tmux session of a fixed size on a
// server of its own (-L NAME), running sh with the given environment. send() types, screen() is
// what the terminal shows (capture-pane), waitFor() polls the screen for a pattern.
import assert from "node:assert/strict";
import { run, runOk } from "./lab-exec.js";

export class Tmux {
  private constructor(
    readonly server: string,
    readonly session: string,
  ) {}

  static async start(server: string, env: Record<string, string>, size = { rows: 30, cols: 100 }): Promise<Tmux> {
    const t = new Tmux(server, "main");
    const envArgs = Object.entries({ ...env, PATH: process.env["PATH"] ?? "/usr/bin:/bin" }).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
    // CI has no terminal and may have no TERM: tmux's server wants one to describe its own.
    await runOk(["tmux", "-L", server, "-f", "/dev/null", "new-session", "-d", "-s", t.session, "-x", String(size.cols), "-y", String(size.rows), ...envArgs, "/bin/sh"], { env: { ...process.env, TERM: process.env["TERM"] || "xterm" } });
    // sh sets its own prompt: set ours, one no sandbox shell shows.
    await t.type("PS1='tt$ '");
    await t.waitFor(/tt\$ $/m, 10_000);
    return t;
  }

  /** Types text (literally), then Enter unless enter is false. */
  async type(text: string, enter = true): Promise<void> {
    await runOk(["tmux", "-L", this.server, "send-keys", "-t", this.session, "-l", text]);
    if (enter) await this.keys("Enter");
  }

  /** Presses keys by tmux's names: C-p, C-q, Enter. */
  async keys(...names: string[]): Promise<void> {
    await runOk(["tmux", "-L", this.server, "send-keys", "-t", this.session, ...names]);
  }

  async resize(rows: number, cols: number): Promise<void> {
    await runOk(["tmux", "-L", this.server, "resize-window", "-t", this.session, "-x", String(cols), "-y", String(rows)]);
  }

  async screen(): Promise<string> {
    return (await runOk(["tmux", "-L", this.server, "capture-pane", "-p", "-J", "-S", "-200", "-t", this.session])).replace(/\n+$/, "");
  }

  /**
   * Clears the screen and its history once the user's shell shows only its prompt. `clear` is
   * typed once the shell's prompt is back (typed earlier, while a CLI that had the terminal in raw
   * mode was still ending, it can be swallowed), and again every 5 s until the screen is clear.
   */
  async clear(): Promise<void> {
    await this.waitFor(/tt\$ ?$/);
    const deadline = Date.now() + 30_000;
    let typedAt = 0;
    for (;;) {
      if (Date.now() - typedAt > 5_000) {
        await this.type("clear");
        typedAt = Date.now();
      }
      const visible = (await runOk(["tmux", "-L", this.server, "capture-pane", "-p", "-t", this.session])).trim();
      if (visible === "tt$") break;
      if (Date.now() > deadline) assert.fail(`the screen was not cleared; it shows:\n${visible}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await runOk(["tmux", "-L", this.server, "clear-history", "-t", this.session]);
  }

  /** Waits until the screen matches; fails showing the screen. */
  async waitFor(re: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      last = await this.screen();
      const m = last.match(re);
      if (m) return m;
      await new Promise((r) => setTimeout(r, 150));
    }
    assert.fail(`the terminal did not show ${re} within ${timeoutMs} ms; it shows:\n${last}`);
  }

  async stop(): Promise<void> {
    await run(["tmux", "-L", this.server, "kill-server"], { timeoutMs: 10_000 });
  }
}
