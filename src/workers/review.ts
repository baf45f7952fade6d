import type { Logger } from 'pino';
import { reviewPass, type ReviewDeps } from '../services/review.ts';

/** How often the review schedule is looked at: starts are once a period, reminders once a day, so a minute is plenty. */
export const REVIEW_PASS_MS = 60_000;

/** Starts each period's access review, reminds reviewers and shouts overdue reviews (src/services/review.ts). */
export class ReviewWatcher {
  private stopTimer: (() => void) | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly d: ReviewDeps,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (!this.d.ctx.policy.review) return;
    this.stopTimer = this.d.ctx.clock.every(REVIEW_PASS_MS, () => void this.pass());
    void this.pass();
  }

  async stop(): Promise<void> {
    this.stopTimer?.();
    this.stopTimer = null;
    await this.running;
  }

  pass(): Promise<void> {
    if (this.running) return this.running;
    this.running = reviewPass(this.d)
      .catch((err: unknown) => this.log.error({ err, event: 'review.error' }, 'access review pass failed'))
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }
}
