import type { App, SlackViewMiddlewareArgs } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import type { ServiceContext } from '../../services/context.ts';
import { deny } from '../../services/deny.ts';
import { invokeEmergency } from '../../services/emergency.ts';
import { requestExtension } from '../../services/extend.ts';
import { submitRequest, type SubmitResult } from '../../services/submit-request.ts';
import { BLOCK_CATEGORY, BLOCK_DURATION, BLOCK_JUSTIFICATION, BLOCK_PROFILE, BLOCK_REASON, BLOCK_TICKET, DENY_VIEW, EMERGENCY_VIEW, EXTEND_VIEW, REQUEST_VIEW } from '../ids.ts';
import type { HomeNotes } from '../actions/respond.ts';
import type { FormState } from '../blocks/deny-modal.ts';
import { plain } from '../text.ts';
import { describeError } from '../../services/poll.ts';

type StateValues = Record<string, Record<string, { value?: string | null; selected_option?: { value?: string } | null }>>;

const selected = (v: StateValues, block: string) => v[block]?.[block]?.selected_option?.value ?? null;
const typed = (v: StateValues, block: string) => v[block]?.[block]?.value ?? null;

/** Slack waits 3 seconds for the answer to a submission; past this, answer "working on it" and finish by DM. */
const SUBMIT_ANSWER_MS = 2_300;

/** The request a form was opened for, and whether from the App Home (its private metadata). */
function formState(privateMetadata: string | undefined): FormState {
  try {
    const stored = JSON.parse(privateMetadata || '{}') as Partial<Record<keyof FormState, unknown>>;
    return { requestId: typeof stored.requestId === 'string' ? stored.requestId : '', fromHome: stored.fromHome === true };
  } catch {
    return { requestId: '', fromHome: false };
  }
}

type Ack = SlackViewMiddlewareArgs['ack'];

/**
 * Answers a form within Slack's 3 seconds: the errors in the form, or (when the checks take
 * longer) a "working on it" view and the outcome by DM.
 */
async function answer(ctx: ServiceContext, ack: Ack, client: WebClient, userId: string, what: string, run: () => Promise<SubmitResult>): Promise<void> {
  const work = run().catch((err: unknown): SubmitResult => {
    // Slack or AWS failed under the check: the form still gets an answer, and nothing was stored.
    ctx.log.error({ err, event: 'slack.submit_failed' }, `${what} could not be checked`);
    return { ok: false, errors: { [BLOCK_PROFILE]: `breakglass could not check this ${what} right now (${describeError(err)}); nothing was submitted. Try again in a minute.` } };
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
      blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `Checking your ${what} with IAM Identity Center… you will get a DM with the outcome.` } }],
    },
  });
  const late: SubmitResult = await work;
  if (!late.ok) {
    const dm = await client.conversations.open({ users: userId });
    if (dm.channel?.id) {
      await client.chat.postMessage({ channel: dm.channel.id, text: `Your breakglass ${what} was not submitted: ${Object.values(late.errors).join(' ')}` });
    }
  }
}

export function registerSubmissions(app: App, ctx: ServiceContext, homes: HomeNotes): void {
  app.view(REQUEST_VIEW, async ({ ack, body, view, client }) => {
    const values = view.state.values as StateValues;
    await answer(ctx, ack, client, body.user.id, 'request', () =>
      submitRequest(ctx, body.user.id, {
        profileId: selected(values, BLOCK_PROFILE),
        duration: selected(values, BLOCK_DURATION),
        justification: typed(values, BLOCK_JUSTIFICATION),
        ticket: typed(values, BLOCK_TICKET),
        category: selected(values, BLOCK_CATEGORY),
      }),
    );
  });

  app.view(EMERGENCY_VIEW, async ({ ack, body, view, client }) => {
    const values = view.state.values as StateValues;
    await answer(ctx, ack, client, body.user.id, 'emergency request', () =>
      invokeEmergency(ctx, body.user.id, {
        profileId: selected(values, BLOCK_PROFILE),
        duration: selected(values, BLOCK_DURATION),
        justification: typed(values, BLOCK_JUSTIFICATION),
        ticket: typed(values, BLOCK_TICKET),
        category: selected(values, BLOCK_CATEGORY),
      }),
    );
  });

  app.view(EXTEND_VIEW, async ({ ack, body, view, client }) => {
    const values = view.state.values as StateValues;
    await answer(ctx, ack, client, body.user.id, 'extension', async () => {
      const result = await requestExtension(ctx, body.user.id, formState(view.private_metadata).requestId, { duration: selected(values, BLOCK_DURATION), justification: typed(values, BLOCK_JUSTIFICATION) });
      // The extension form has no profile block: a problem of the person or the grant is shown at its duration.
      return result.ok || !result.errors.profile ? result : { ok: false, errors: { ...result.errors, profile: undefined, duration: result.errors.profile } };
    });
  });

  app.view(DENY_VIEW, async ({ ack, body, view }) => {
    const values = view.state.values as StateValues;
    const reason = (typed(values, BLOCK_REASON) ?? '').trim();
    if (reason.length < 3) {
      await ack({ response_action: 'errors', errors: { [BLOCK_REASON]: 'Give the requester a reason (at least 3 characters).' } });
      return;
    }
    const state = formState(view.private_metadata);
    const result = await deny(ctx, state.requestId, body.user.id, reason);
    await ack(result.ok ? undefined : { response_action: 'errors', errors: { [BLOCK_REASON]: result.message } });
    // Denied from the App Home: the home says so once the form has closed (a refusal stays in the form).
    if (result.ok && state.fromHome) await homes.tell(body.user.id, result.message);
  });
}
