import type { Clock } from '../../src/services/ports.ts';

/**
 * Real time plus an offset the test moves forward: the bot runs on real timers (its sweeper ticks
 * every second as in production) but sees time jump, so a test waits for an expiry without waiting
 * twenty seconds for it. Only forward: a lease or lock taken "now" is never seen to move back.
 */
export class ShiftableClock implements Clock {
  private offset = 0;

  now(): string {
    return new Date(this.ms()).toISOString();
  }

  ms(): number {
    return Date.now() + this.offset;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  every(ms: number, fn: () => void): () => void {
    const timer = setInterval(fn, ms);
    return () => clearInterval(timer);
  }

  after(ms: number, fn: () => void): () => void {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  }

  /** Moves the bot's time forward by `ms`. */
  advance(ms: number): void {
    this.offset += ms;
  }
}
