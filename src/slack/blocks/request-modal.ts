import type { View } from '@slack/types';
import { humanDuration } from '../../domain/duration.ts';
import { JUSTIFICATION_MAX, TICKET_MAX, type Profile } from '../../domain/policy.ts';
import { BLOCK_DURATION, BLOCK_JUSTIFICATION, BLOCK_PROFILE, BLOCK_TICKET, REQUEST_VIEW } from '../ids.ts';
import { plain } from '../text.ts';

/**
 * The request form. Durations list the union of every profile's choices
 * (Slack modals cannot filter one select by another without a round trip);
 * the server accepts only the chosen profile's own choices and says which.
 */
export function requestModal(profiles: Profile[]): View {
  const durations = [...new Set(profiles.flatMap((p) => p.durations))];
  const needsTicket = profiles.some((p) => p.requireTicket);
  return {
    type: 'modal',
    callback_id: REQUEST_VIEW,
    title: plain('Breakglass access', 24),
    submit: plain('Request', 24),
    close: plain('Cancel', 24),
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: 'Ask for time-boxed access to the AWS management account. Approvers are asked in the approvals channel; the clock starts when access is granted.',
        },
      },
      {
        type: 'input',
        block_id: BLOCK_PROFILE,
        label: plain('Profile', 2000),
        element: {
          type: 'static_select',
          action_id: BLOCK_PROFILE,
          placeholder: plain('Choose what you need'),
          options: profiles.slice(0, 100).map((p) => ({
            text: plain(`${p.name} (${p.accountId})`),
            value: p.id,
            description: plain(
              `${p.approvals} approval${p.approvals === 1 ? '' : 's'}; up to ${humanDuration(p.durations[p.durations.length - 1] ?? '')}${p.requireTicket ? '; ticket required' : ''}`,
            ),
          })),
        },
      },
      {
        type: 'input',
        block_id: BLOCK_DURATION,
        label: plain('Duration', 2000),
        hint: plain("Only the chosen profile's durations are accepted.", 2000),
        element: {
          type: 'static_select',
          action_id: BLOCK_DURATION,
          placeholder: plain('How long'),
          options: durations.slice(0, 100).map((d) => ({ text: plain(humanDuration(d)), value: d })),
        },
      },
      {
        type: 'input',
        block_id: BLOCK_JUSTIFICATION,
        label: plain('Justification', 2000),
        element: {
          type: 'plain_text_input',
          action_id: BLOCK_JUSTIFICATION,
          multiline: true,
          min_length: 10,
          max_length: JUSTIFICATION_MAX,
          placeholder: plain('What is broken and why this access fixes it', 150),
        },
      },
      {
        type: 'input',
        block_id: BLOCK_TICKET,
        optional: !needsTicket || profiles.some((p) => !p.requireTicket),
        label: plain('Ticket', 2000),
        hint: plain(needsTicket ? 'Required for some profiles.' : 'Optional incident or change reference.', 2000),
        element: { type: 'plain_text_input', action_id: BLOCK_TICKET, max_length: TICKET_MAX, placeholder: plain('INC-1234', 150) },
      },
    ],
  };
}
