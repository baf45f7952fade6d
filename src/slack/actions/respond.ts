import type { BlockAction, RespondFn } from '@slack/bolt';
import type { ServiceContext } from '../../services/context.ts';
import type { DecisionResult } from '../../services/decision.ts';
import { describeError } from '../../services/poll.ts';

/** Tells the clicker privately what happened (through the click's response_url, which works in any channel). */
export async function tell(respond: RespondFn, text: string): Promise<void> {
  await respond({ response_type: 'ephemeral', replace_original: false, text });
}

/** Where the answer to a click on the App Home goes: a note on top of the clicker's home (workers/home-refresher.ts). */
export interface HomeNotes {
  tell(slackUserId: string, text: string): Promise<void>;
}

/** How the clicker hears what their click came to. */
export type Reply = (text: string) => Promise<void>;

/**
 * A click on a message carries a response_url: the answer goes there, privately. A click on the
 * App Home carries none (Bolt then gives no `respond`, though its types say otherwise): the
 * answer becomes a note on top of the clicker's home, published again at once.
 */
export function replyTo(body: BlockAction, respond: RespondFn | undefined, homes: HomeNotes): Reply {
  if (respond) return (text) => tell(respond, text);
  return (text) => homes.tell(body.user.id, text);
}

/** Whether the click came from the App Home. */
export const fromHome = (body: BlockAction): boolean => body.view?.type === 'home';

/** Every click gets an answer, also when Slack or AWS fails under it (the ack has already gone). */
export async function answer(ctx: ServiceContext, reply: Reply, what: string, work: () => Promise<DecisionResult>): Promise<void> {
  let text: string;
  try {
    text = (await work()).message;
  } catch (err) {
    ctx.log.error({ err, event: 'slack.click_failed', action: what }, 'a click could not be handled');
    text = `breakglass could not finish your ${what} (${describeError(err)}). Check the request's state in the audit channel before trying again.`;
  }
  await reply(text);
}
