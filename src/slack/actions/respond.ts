import type { RespondFn } from '@slack/bolt';
import type { ServiceContext } from '../../services/context.ts';
import type { DecisionResult } from '../../services/decision.ts';
import { describeError } from '../../services/poll.ts';

/** Tells the clicker privately what happened (through the click's response_url, which works in any channel). */
export async function tell(respond: RespondFn, text: string): Promise<void> {
  await respond({ response_type: 'ephemeral', replace_original: false, text });
}

/** Every click gets an answer, also when Slack or AWS fails under it (the ack has already gone). */
export async function answer(ctx: ServiceContext, respond: RespondFn, what: string, work: () => Promise<DecisionResult>): Promise<void> {
  let text: string;
  try {
    text = (await work()).message;
  } catch (err) {
    ctx.log.error({ err, event: 'slack.click_failed', action: what }, 'a click could not be handled');
    text = `breakglass could not finish your ${what} (${describeError(err)}). Check the request's state in the audit channel before trying again.`;
  }
  await tell(respond, text);
}
