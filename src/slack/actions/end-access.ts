import type { App, BlockButtonAction } from '@slack/bolt';
import type { ServiceContext } from '../../services/context.ts';
import { endAccess } from '../../services/end-access.ts';
import { ACTION_END_ACCESS } from '../ids.ts';
import { answer } from './respond.ts';

/** "End access now", in the requester's DM. */
export function registerEndAccess(app: App, ctx: ServiceContext): void {
  app.action<BlockButtonAction>({ action_id: ACTION_END_ACCESS, type: 'block_actions' }, async ({ ack, body, action, respond }) => {
    await ack();
    await answer(ctx, respond, 'request to end access', () => endAccess(ctx, action.value ?? '', body.user.id));
  });
}
