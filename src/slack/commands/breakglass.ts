import type { App } from '@slack/bolt';
import { humanDuration, humanInstant } from '../../domain/duration.ts';
import type { ServiceContext } from '../../services/context.ts';
import { cancel } from '../../services/cancel.ts';
import { endAccess } from '../../services/end-access.ts';
import { openRequestsOf } from '../../services/status.ts';
import { requestModal } from '../blocks/request-modal.ts';
import { AfterAck } from '../after-ack.ts';
import { COMMAND } from '../ids.ts';
import { escapeMrkdwn } from '../text.ts';

export const HELP = [
  '*breakglass*: time-boxed, approved access to the AWS management account.',
  `• \`${COMMAND}\` or \`${COMMAND} request\`: ask for access (opens a form); approvers decide in the approvals channel`,
  `• \`${COMMAND} emergency\`: take emergency access at once when no quorum can be reached in time (only profiles that offer it; limited per day). Every approver is alerted; unless the quorum ratifies it within minutes, or if anyone denies it, it is revoked`,
  `• \`${COMMAND} status\`: your open requests and active access (the App Home shows the same, with buttons)`,
  `• \`${COMMAND} cancel <request id>\`: withdraw a request nobody has decided yet`,
  `• \`${COMMAND} end <request id>\`: end your access now (approvers may end anyone's)`,
  '• *Extend* (in your DMs and the App Home): ask for more time on active access; it needs the same approvals, and lapses if not approved before the access ends',
  `• \`${COMMAND} help\`: this list`,
].join('\n');

export function registerBreakglassCommand(app: App, ctx: ServiceContext): void {
  const answers = new AfterAck(2);
  app.command(COMMAND, async ({ command, ack, client, respond }) => {
    const [sub = '', arg = ''] = command.text.trim().split(/\s+/);
    switch (sub.toLowerCase()) {
      case '':
      case 'request':
        // The trigger id lives 3 seconds: open the form before anything else.
        await ack();
        await client.views.open({ trigger_id: command.trigger_id, view: requestModal(ctx.policy.profiles) });
        return;
      case 'emergency':
        if (!ctx.policy.profiles.some((p) => p.emergency)) {
          await ack({ response_type: 'ephemeral', text: `No profile offers emergency access; ask with \`${COMMAND} request\`.` });
          return;
        }
        await ack();
        await client.views.open({ trigger_id: command.trigger_id, view: requestModal(ctx.policy.profiles, 'emergency') });
        return;
      case 'help':
        await ack({ response_type: 'ephemeral', text: HELP });
        return;
      case 'cancel':
      case 'end': {
        await ack();
        if (!arg) {
          await respond({ response_type: 'ephemeral', text: `Say which request: \`${COMMAND} ${sub} <request id>\` (see \`${COMMAND} status\`).` });
          return;
        }
        const result = sub === 'cancel' ? await cancel(ctx, arg, command.user_id) : await endAccess(ctx, arg, command.user_id);
        await respond({ response_type: 'ephemeral', text: result.message });
        return;
      }
      case 'status': {
        await ack();
        answers.acked();
        await answers.run(async () => respond({ response_type: 'ephemeral', text: await statusText(ctx, command.user_id) }));
        return;
      }
      default:
        await ack({ response_type: 'ephemeral', text: `I don't know \`${escapeMrkdwn(sub)}\`.\n${HELP}` });
    }
  });
}

async function statusText(ctx: ServiceContext, userId: string): Promise<string> {
  const mine = await openRequestsOf(ctx, userId);
  if (mine.length === 0) return 'You have no open breakglass requests or active access.';
  return mine
    .map((r) => {
      const until = r.status === 'ACTIVE' && r.grant.expiresAt ? ` until ${humanInstant(r.grant.expiresAt, r.requester.tz)}` : '';
      return `• \`${r.id}\` ${escapeMrkdwn(r.profileName)} for ${humanDuration(r.duration)}: ${r.status.toLowerCase()}${until} (${r.approvals.length} of ${r.approvalsRequired} approvals)`;
    })
    .join('\n');
}
