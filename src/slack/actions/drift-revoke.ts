import type { App, BlockButtonAction } from '@slack/bolt';
import type { ServiceContext } from '../../services/context.ts';
import { revokeDrift } from '../../services/drift.ts';
import { ACTION_DRIFT_REVOKE } from '../ids.ts';
import { answer, tell } from './respond.ts';

/** Revoke, on a drift alert in the audit channel. */
export function registerDriftRevoke(app: App, ctx: ServiceContext): void {
  app.action<BlockButtonAction>({ action_id: ACTION_DRIFT_REVOKE, type: 'block_actions' }, async ({ ack, body, action, respond }) => {
    await ack();
    await answer(ctx, (text) => tell(respond, text), 'revoke', () => revokeDrift(ctx, action.value ?? '', body.user.id));
  });
}
