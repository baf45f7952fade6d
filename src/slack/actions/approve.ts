import type { App, BlockButtonAction } from '@slack/bolt';
import { approve } from '../../services/approve.ts';
import type { ServiceContext } from '../../services/context.ts';
import { ACTION_APPROVE } from '../ids.ts';
import { answer, replyTo, type HomeNotes } from './respond.ts';

/** Approve, on the approval message or the App Home: ack, then the service (src/services/approve.ts), then tell the approver. */
export function registerApprove(app: App, ctx: ServiceContext, homes: HomeNotes): void {
  app.action<BlockButtonAction>({ action_id: ACTION_APPROVE, type: 'block_actions' }, async ({ ack, body, action, respond }) => {
    await ack();
    await answer(ctx, replyTo(body, respond, homes), 'approval', () => approve(ctx, action.value ?? '', body.user.id));
  });
}
