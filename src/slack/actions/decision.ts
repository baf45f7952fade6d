import type { App, BlockButtonAction, RespondFn } from '@slack/bolt';
import type { ServiceContext } from '../../services/context.ts';
import { approve, type DecisionResult } from '../../services/decide.ts';
import { describeError } from '../../services/poll.ts';
import { endAccess } from '../../services/revoke.ts';
import { humanDuration } from '../../domain/duration.ts';
import { denyModal } from '../blocks/deny-modal.ts';
import { revokeDrift } from '../../services/drift.ts';
import { ACTION_APPROVE, ACTION_DENY, ACTION_DRIFT_REVOKE, ACTION_END_ACCESS } from '../ids.ts';
import { escapeMrkdwn, mention } from '../text.ts';

/** Tells the clicker privately what happened to their click (through the click's response_url, which works in any channel). */
async function tell(respond: RespondFn, text: string): Promise<void> {
  await respond({ response_type: 'ephemeral', replace_original: false, text });
}

/** Every click gets an answer, also when Slack or AWS fails under it (the ack has already gone). */
async function answer(ctx: ServiceContext, respond: RespondFn, what: string, work: () => Promise<DecisionResult>): Promise<void> {
  let text: string;
  try {
    text = (await work()).message;
  } catch (err) {
    ctx.log.error({ err, event: 'slack.click_failed', action: what }, 'a click could not be handled');
    text = `breakglass could not finish your ${what} (${describeError(err)}). Check the request's state in the audit channel before trying again.`;
  }
  await tell(respond, text);
}

/** Approve / Deny on the approval message, "End access now" in the requester's DM, Revoke on a drift alert. Ack first, then the service. */
export function registerDecisionActions(app: App, ctx: ServiceContext): void {
  app.action<BlockButtonAction>({ action_id: ACTION_APPROVE, type: 'block_actions' }, async ({ ack, body, action, respond }) => {
    await ack();
    await answer(ctx, respond, 'approval', () => approve(ctx, action.value ?? '', body.user.id));
  });

  app.action<BlockButtonAction>({ action_id: ACTION_DENY, type: 'block_actions' }, async ({ ack, body, action, client, respond }) => {
    await ack();
    const requestId = action.value ?? '';
    const request = await ctx.requests.get(requestId);
    if (!request || request.status !== 'PENDING') {
      await tell(respond, request ? `This request is no longer waiting for a decision (it is ${request.status.toLowerCase()}).` : `There is no breakglass request ${requestId}.`);
      return;
    }
    const summary = `Deny ${mention(request.requester.slackUserId)}'s request for *${escapeMrkdwn(request.profileName)}* (${humanDuration(request.duration)})? The requester sees your reason.`;
    await client.views.open({ trigger_id: body.trigger_id, view: denyModal(requestId, summary) });
  });

  app.action<BlockButtonAction>({ action_id: ACTION_END_ACCESS, type: 'block_actions' }, async ({ ack, body, action, respond }) => {
    await ack();
    await answer(ctx, respond, 'request to end access', () => endAccess(ctx, action.value ?? '', body.user.id));
  });

  app.action<BlockButtonAction>({ action_id: ACTION_DRIFT_REVOKE, type: 'block_actions' }, async ({ ack, body, action, respond }) => {
    await ack();
    await answer(ctx, respond, 'revoke', () => revokeDrift(ctx, action.value ?? '', body.user.id));
  });
}
