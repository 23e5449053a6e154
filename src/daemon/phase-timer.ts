// Where an operation spends its time, logged at debug level: "start web: reserve 0.4 netns 3.1 ...".
export class PhaseTimer {
  private last = performance.now();
  private readonly parts: string[] = [];

  mark(phase: string): void {
    const now = performance.now();
    this.parts.push(`${phase} ${(now - this.last).toFixed(1)}`);
    this.last = now;
  }

  toString(): string {
    return this.parts.join(' ');
  }
}
