import type { Logger } from 'pino';
import type { ServiceContext } from '../services/context.ts';
import { advance } from '../services/advance.ts';
import { pruneSessionDenies } from '../services/sessions.ts';

/**
 * Every interval, looks up the requests whose next action is due (the sparse
 * "due" index, never a Scan) and moves each along: remind the approvers of
 * pending ones, escalate or expire them, grant approved ones, revoke expired
 * ones, retry failing revokes. Listeners
 * queue urgent work here too, so a quorum is granted without waiting. A step
 * due before the next sweep (an expiry, a retry) gets a timer of its own, so a
 * revoke starts at the expiry instant; the sweep stays the safety net for
 * crashes and for steps another replica set.
 */
export class Sweeper {
  private stopTimer: (() => void) | null = null;
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly rerun = new Set<string>();
  /** The newest due time this replica knows of each request with a wake-up timer, and its cancel. */
  private readonly wakes = new Map<string, { at: number; cancel: () => void }>();
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
    for (const w of this.wakes.values()) w.cancel();
    this.wakes.clear();
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
      const now = this.ctx.clock.ms();
      const due = await this.ctx.requests.due(new Date(now + this.intervalMs).toISOString());
      this.lastSweepAt = this.ctx.clock.ms();
      for (const item of due) {
        // Due before the next sweep: a timer for its instant.
        if (Date.parse(item.dueAt) > now) this.wake(item.id, item.dueAt);
        // A request still in flight here is skipped, not queued again: its own step has set when it is next due
        // (a revoke's backoff, a grant's next poll), and re-running it at once would defeat that.
        else if (!this.inFlight.has(item.id)) this.queue(item.id);
      }
      // Denials of sessions that have all expired by now leave the permission sets' inline policies.
      for (const permissionSet of await this.ctx.sessionDenies.due(this.ctx.clock.now())) this.track(`sessions:${permissionSet}`, () => pruneSessionDenies(this.ctx, permissionSet));
    } catch (err) {
      this.log.error({ err, event: 'sweep.error' }, 'sweep failed');
    }
  }

  /**
   * A request's next step is due at `at` (written here, or seen by a sweep): when that is before
   * the next sweep, run it then. The newest due time wins; an older timer finds itself replaced
   * and does nothing, so a step pushed later (a backoff) never runs early.
   */
  wake(id: string, at: string): void {
    const dueMs = Date.parse(at);
    const wait = dueMs - this.ctx.clock.ms();
    const known = this.wakes.get(id);
    if (known?.at === dueMs) return;
    known?.cancel();
    this.wakes.delete(id);
    if (this.stopping || wait <= 0 || wait > this.intervalMs) return;
    const cancel = this.ctx.clock.after(wait, () => {
      if (this.wakes.get(id)?.at !== dueMs) return;
      this.wakes.delete(id);
      if (!this.inFlight.has(id)) this.queue(id);
      // In flight: it runs again right after, as work queued by people does.
      else this.rerun.add(id);
    });
    this.wakes.set(id, { at: dueMs, cancel });
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
