import type { App, BlockButtonAction } from '@slack/bolt';
import { confirmCustodian, type ReviewDeps } from '../../services/review.ts';
import { ACTION_CUSTODIAN_CONFIRM } from '../ids.ts';
import { answer, tell } from './respond.ts';

/** "I still hold it", in a custodian's DM during an access review. */
export function registerCustodianConfirm(app: App, d: ReviewDeps): void {
  app.action<BlockButtonAction>({ action_id: ACTION_CUSTODIAN_CONFIRM, type: 'block_actions' }, async ({ ack, body, action, respond }) => {
    await ack();
    const [reviewId = '', index = ''] = (action.value ?? '').split('|');
    await answer(d.ctx, (text) => tell(respond, text), 'confirmation', () => confirmCustodian(d, reviewId, Number.parseInt(index, 10), body.user.id));
  });
}
