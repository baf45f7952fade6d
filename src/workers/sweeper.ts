import type { Logger } from 'pino';
import type { ServiceContext } from '../services/context.ts';
import { advance } from '../services/advance.ts';
import { pruneSessionDenies } from '../services/sessions.ts';

/**
 * Every interval, looks up the requests whose next action is due (the sparse
 * "due" index, never a Scan) and moves each along: remind the approvers of
 * pending ones, escalate or expire them, grant approved ones, revoke expired
 * ones, retry failing revokes. Listeners
 * queue urgent work here too, so a quorum is granted without waiting.
 */
export class Sweeper {
  private stopTimer: (() => void) | null = null;
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly rerun = new Set<string>();
  private sweeping: Promise<void> | null = null;
  private stopping = false;
  lastSweepAt = 0;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.stopTimer = this.ctx.clock.every(this.intervalMs, () => void this.sweep());
    void this.sweep();
  }

  /** Stops taking new work and waits for what is in flight (its leases are then released). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopTimer?.();
    this.stopTimer = null;
    await this.sweeping;
    await Promise.allSettled([...this.inFlight.values()]);
  }

  sweep(): Promise<void> {
    if (this.sweeping) return this.sweeping;
    this.sweeping = this.sweepOnce().finally(() => {
      this.sweeping = null;
    });
    return this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    try {
      const due = await this.ctx.requests.due(this.ctx.clock.now());
      this.lastSweepAt = this.ctx.clock.ms();
      // A request still in flight here is skipped, not queued again: its own step has set when it is next due
      // (a revoke's backoff, a grant's next poll), and re-running it at once would defeat that.
      for (const item of due) if (!this.inFlight.has(item.id)) this.queue(item.id);
      // Denials of sessions that have all expired by now leave the permission sets' inline policies.
      for (const permissionSet of await this.ctx.sessionDenies.due(this.ctx.clock.now())) this.track(`sessions:${permissionSet}`, () => pruneSessionDenies(this.ctx, permissionSet));
    } catch (err) {
      this.log.error({ err, event: 'sweep.error' }, 'sweep failed');
    }
  }

  /**
   * Runs the request's next step now, at most once at a time per request in
   * this process. Work queued by people (quorum reached, end access) while a
   * step is in flight runs again right after it, so it is never lost.
   */
  queue(id: string): void {
    if (this.stopping) return;
    if (this.inFlight.has(id)) {
      this.rerun.add(id);
      return;
    }
    this.track(id, () => advance(this.ctx, id));
  }

  /** Runs one piece of work, at most once at a time per key; a request queued meanwhile runs again after it. */
  private track(key: string, work: () => Promise<void>): void {
    if (this.stopping || this.inFlight.has(key)) return;
    const run = work()
      .catch((err: unknown) => this.log.error({ err, event: 'lifecycle.error', requestId: key }, 'lifecycle step failed'))
      .finally(() => {
        this.inFlight.delete(key);
        if (this.rerun.delete(key)) this.queue(key);
      });
    this.inFlight.set(key, run);
  }

  async idle(): Promise<void> {
    while (this.inFlight.size > 0 || this.sweeping) {
      await Promise.allSettled([...this.inFlight.values(), this.sweeping]);
    }
  }
}
