import type { Clock } from '../services/ports.ts';

/**
 * Runs one pass of some work every interval (and once at start), never two at once: a pass
 * asked for while one runs joins it. Stopping waits for the pass in flight.
 */
export class Periodic {
  private stopTimer: (() => void) | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly everyMs: number,
    private readonly work: () => Promise<void>,
  ) {}

  start(): void {
    this.stopTimer = this.clock.every(this.everyMs, () => void this.pass());
    void this.pass();
  }

  async stop(): Promise<void> {
    this.stopTimer?.();
    this.stopTimer = null;
    await this.running;
  }

  /** `work` must not reject: it handles (logs) its own failures. */
  pass(): Promise<void> {
    if (this.running) return this.running;
    this.running = this.work().finally(() => {
      this.running = null;
    });
    return this.running;
  }
}
