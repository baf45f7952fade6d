import type { App } from '@slack/bolt';
import { attestReview, type ReviewDeps } from '../../services/review.ts';
import { ATTEST_VIEW, BLOCK_NOTE } from '../ids.ts';

/** The attest form's submission: records the attestation, or keeps the form open with the refusal. */
export function registerAttestSubmission(app: App, d: ReviewDeps): void {
  app.view(ATTEST_VIEW, async ({ ack, body, view }) => {
    const values = view.state.values as Record<string, Record<string, { value?: string | null }>>;
    const note = values[BLOCK_NOTE]?.[BLOCK_NOTE]?.value ?? null;
    let reviewId: string;
    try {
      const meta = JSON.parse(view.private_metadata || '{}') as { reviewId?: unknown };
      reviewId = typeof meta.reviewId === 'string' ? meta.reviewId : '';
    } catch {
      reviewId = '';
    }
    const result = await attestReview(d, reviewId, body.user.id, note);
    await ack(result.ok ? undefined : { response_action: 'errors', errors: { [BLOCK_NOTE]: result.message } });
  });
}
