import type { App, BlockButtonAction } from '@slack/bolt';
import type { ServiceContext } from '../../services/context.ts';
import { extendable } from '../../services/extend.ts';
import { describeError } from '../../services/poll.ts';
import { extendModal } from '../blocks/extend-modal.ts';
import { ACTION_EXTEND } from '../ids.ts';
import { replyTo, type HomeNotes } from './respond.ts';

/** Extend, in the requester's DMs or on their App Home: opens the extension form (the extension itself is the form's submission, src/services/extend.ts). */
export function registerExtend(app: App, ctx: ServiceContext, homes: HomeNotes): void {
  app.action<BlockButtonAction>({ action_id: ACTION_EXTEND, type: 'block_actions' }, async ({ ack, body, action, client, respond }) => {
    await ack();
    const reply = replyTo(body, respond, homes);
    try {
      const found = await extendable(ctx, action.value ?? '', body.user.id);
      if (!found.ok) return await reply(found.message);
      await client.views.open({ trigger_id: body.trigger_id, view: extendModal(found.grant, found.durations, found.profile.maxTotal) });
    } catch (err) {
      ctx.log.error({ err, event: 'slack.click_failed', action: 'extend' }, 'a click could not be handled');
      await reply(`breakglass could not open the extension form (${describeError(err)}); try again.`);
    }
  });
}
