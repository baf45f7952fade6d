import type { Logger } from 'pino';
import { reviewPass, type ReviewDeps } from '../services/review.ts';
import { Periodic } from './periodic.ts';

/** How often the review schedule is looked at: starts are once a period, reminders once a day, so a minute is plenty. */
const REVIEW_PASS_MS = 60_000;

/** Starts each period's access review, reminds reviewers and shouts overdue reviews (src/services/review.ts). */
export class ReviewWatcher extends Periodic {
  constructor(
    private readonly d: ReviewDeps,
    log: Logger,
  ) {
    super(d.ctx.clock, REVIEW_PASS_MS, () => reviewPass(d).catch((err: unknown) => log.error({ err, event: 'review.error' }, 'access review pass failed')));
  }

  override start(): void {
    if (this.d.ctx.policy.review) super.start();
  }
}
