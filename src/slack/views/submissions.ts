import type { App } from '@slack/bolt';
import type { ServiceContext } from '../../services/context.ts';
import { deny } from '../../services/deny.ts';
import { submitRequest, type SubmitResult } from '../../services/submit-request.ts';
import { BLOCK_DURATION, BLOCK_JUSTIFICATION, BLOCK_PROFILE, BLOCK_REASON, BLOCK_TICKET, DENY_VIEW, REQUEST_VIEW } from '../ids.ts';
import type { HomeNotes } from '../actions/respond.ts';
import type { DenyFormState } from '../blocks/deny-modal.ts';
import { plain } from '../text.ts';
import { describeError } from '../../services/poll.ts';

type StateValues = Record<string, Record<string, { value?: string | null; selected_option?: { value?: string } | null }>>;

const selected = (v: StateValues, block: string) => v[block]?.[block]?.selected_option?.value ?? null;
const typed = (v: StateValues, block: string) => v[block]?.[block]?.value ?? null;

/** Slack waits 3 seconds for the answer to a submission; past this, answer "working on it" and finish by DM. */
const SUBMIT_ANSWER_MS = 2_300;

export function registerSubmissions(app: App, ctx: ServiceContext, homes: HomeNotes): void {
  app.view(REQUEST_VIEW, async ({ ack, body, view, client }) => {
    const values = view.state.values as StateValues;
    const userId = body.user.id;
    const work = submitRequest(ctx, userId, {
      profileId: selected(values, BLOCK_PROFILE),
      duration: selected(values, BLOCK_DURATION),
      justification: typed(values, BLOCK_JUSTIFICATION),
      ticket: typed(values, BLOCK_TICKET),
    }).catch((err: unknown): SubmitResult => {
      // Slack or AWS failed under the check: the form still gets an answer, and nothing was stored.
      ctx.log.error({ err, event: 'slack.submit_failed' }, 'a request could not be checked');
      return { ok: false, errors: { [BLOCK_PROFILE]: `breakglass could not check this request right now (${describeError(err)}); nothing was submitted. Try again in a minute.` } };
    });
    const early = await Promise.race([work, new Promise<null>((resolve) => setTimeout(() => resolve(null), SUBMIT_ANSWER_MS).unref())]);
    if (early) {
      await ack(early.ok ? undefined : { response_action: 'errors', errors: early.errors });
      return;
    }
    await ack({
      response_action: 'update',
      view: {
        type: 'modal',
        title: plain('Breakglass access', 24),
        close: plain('Close', 24),
        blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'Checking your request with IAM Identity Center… you will get a DM with the outcome.' } }],
      },
    });
    const late: SubmitResult = await work;
    if (!late.ok) {
      const dm = await client.conversations.open({ users: userId });
      if (dm.channel?.id) {
        await client.chat.postMessage({ channel: dm.channel.id, text: `Your breakglass request was not submitted: ${Object.values(late.errors).join(' ')}` });
      }
    }
  });

  app.view(DENY_VIEW, async ({ ack, body, view }) => {
    const values = view.state.values as StateValues;
    const reason = (typed(values, BLOCK_REASON) ?? '').trim();
    if (reason.length < 3) {
      await ack({ response_action: 'errors', errors: { [BLOCK_REASON]: 'Give the requester a reason (at least 3 characters).' } });
      return;
    }
    let state: DenyFormState;
    try {
      const stored = JSON.parse(view.private_metadata || '{}') as Partial<Record<keyof DenyFormState, unknown>>;
      state = { requestId: typeof stored.requestId === 'string' ? stored.requestId : '', fromHome: stored.fromHome === true };
    } catch {
      state = { requestId: '', fromHome: false };
    }
    const result = await deny(ctx, state.requestId, body.user.id, reason);
    await ack(result.ok ? undefined : { response_action: 'errors', errors: { [BLOCK_REASON]: result.message } });
    // Denied from the App Home: the home says so once the form has closed (a refusal stays in the form).
    if (result.ok && state.fromHome) await homes.tell(body.user.id, result.message);
  });
}
