import type { App, BlockButtonAction } from '@slack/bolt';
import type { Profile } from '../../domain/policy.ts';
import type { ServiceContext } from '../../services/context.ts';
import { requestableBy } from '../../services/home.ts';
import { describeError } from '../../services/poll.ts';
import { requestModal } from '../blocks/request-modal.ts';
import { ACTION_REQUEST_ACCESS, COMMAND } from '../ids.ts';
import { replyTo, type HomeNotes } from './respond.ts';

/**
 * The trigger id lives 3 seconds: the form lists only the profiles the person may request when
 * that is known within this long (group membership is usually cached), and every profile
 * otherwise; the submission checks the profile either way.
 */
const PROFILES_WITHIN_MS = 1_000;

/** Request access, on the App Home: the same request form as `/breakglass`, with the profiles this person may request. */
export function registerRequestAccess(app: App, ctx: ServiceContext, homes: HomeNotes): void {
  app.action<BlockButtonAction>({ action_id: ACTION_REQUEST_ACCESS, type: 'block_actions' }, async ({ ack, body, client, respond }) => {
    await ack();
    const reply = replyTo(body, respond, homes);
    try {
      const all = ctx.policy.profiles;
      const profiles = await Promise.race([
        requestableBy(ctx, body.user.id),
        new Promise<Profile[]>((resolve) => setTimeout(() => resolve(all), PROFILES_WITHIN_MS).unref()),
      ]);
      if (profiles.length === 0) return await reply('You may not request any breakglass profile: the policy names who may.');
      await client.views.open({ trigger_id: body.trigger_id, view: requestModal(profiles) });
    } catch (err) {
      ctx.log.error({ err, event: 'slack.click_failed', action: 'request access' }, 'a click could not be handled');
      await reply(`breakglass could not open the request form (${describeError(err)}); try \`${COMMAND}\` instead.`);
    }
  });
}
