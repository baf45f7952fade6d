import type { App, BlockButtonAction } from '@slack/bolt';
import { mayAttest, type ReviewDeps } from '../../services/review.ts';
import { describeError } from '../../services/poll.ts';
import { attestModal } from '../blocks/review.ts';
import { ACTION_ATTEST } from '../ids.ts';
import { tell } from './respond.ts';

/** Attest, on an access review in the audit channel: opens the attest form (the attestation is its submission). */
export function registerAttest(app: App, d: ReviewDeps): void {
  app.action<BlockButtonAction>({ action_id: ACTION_ATTEST, type: 'block_actions' }, async ({ ack, body, action, client, respond }) => {
    await ack();
    const reviewId = action.value ?? '';
    try {
      const may = await mayAttest(d, reviewId, body.user.id);
      if (!may.ok) return await tell(respond, may.message);
      const review = await d.reviews.get(reviewId);
      if (review) await client.views.open({ trigger_id: body.trigger_id, view: attestModal(review) });
    } catch (err) {
      d.ctx.log.error({ err, event: 'slack.click_failed', action: 'attest' }, 'a click could not be handled');
      await tell(respond, `breakglass could not open the attest form (${describeError(err)}); try again.`);
    }
  });
}
