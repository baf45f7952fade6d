import type { App, BlockButtonAction } from '@slack/bolt';
import type { ServiceContext } from '../../services/context.ts';
import { endAccess } from '../../services/end-access.ts';
import { ACTION_END_ACCESS } from '../ids.ts';
import { answer, replyTo, type HomeNotes } from './respond.ts';

/** "End access now" (the requester's DM, their App Home) and "Revoke" (an approver's App Home). */
export function registerEndAccess(app: App, ctx: ServiceContext, homes: HomeNotes): void {
  app.action<BlockButtonAction>({ action_id: ACTION_END_ACCESS, type: 'block_actions' }, async ({ ack, body, action, respond }) => {
    await ack();
    await answer(ctx, replyTo(body, respond, homes), 'request to end access', () => endAccess(ctx, action.value ?? '', body.user.id));
  });
}
