import type { App, BlockButtonAction } from '@slack/bolt';
import { humanDuration } from '../../domain/duration.ts';
import type { ServiceContext } from '../../services/context.ts';
import { deniable } from '../../services/deny.ts';
import { describeError } from '../../services/poll.ts';
import { denyModal } from '../blocks/deny-modal.ts';
import { ACTION_DENY } from '../ids.ts';
import { escapeMrkdwn, mention } from '../text.ts';
import { fromHome, replyTo, type HomeNotes } from './respond.ts';

/** Deny, on the approval message or the App Home: opens the reason form (the denial itself is the form's submission). */
export function registerDeny(app: App, ctx: ServiceContext, homes: HomeNotes): void {
  app.action<BlockButtonAction>({ action_id: ACTION_DENY, type: 'block_actions' }, async ({ ack, body, action, client, respond }) => {
    await ack();
    const requestId = action.value ?? '';
    const reply = replyTo(body, respond, homes);
    try {
      const found = await deniable(ctx, requestId, body.user.id);
      if ('refuse' in found) return await reply(found.refuse);
      const r = found.request;
      const summary = `Deny ${mention(r.requester.slackUserId)}'s request for *${escapeMrkdwn(r.profileName)}* (${humanDuration(r.duration)})? The requester sees your reason.`;
      await client.views.open({ trigger_id: body.trigger_id, view: denyModal(requestId, summary, { fromHome: fromHome(body) }) });
    } catch (err) {
      ctx.log.error({ err, event: 'slack.click_failed', action: 'deny' }, 'a click could not be handled');
      await reply(`breakglass could not open the denial form (${describeError(err)}); try again.`);
    }
  });
}
