import type { View } from '@slack/types';
import { humanDuration, humanInstant } from '../../domain/duration.ts';
import { JUSTIFICATION_MAX } from '../../domain/policy.ts';
import type { AccessRequest } from '../../domain/request.ts';
import { BLOCK_DURATION, BLOCK_JUSTIFICATION, EXTEND_VIEW } from '../ids.ts';
import { escapeMrkdwn, plain } from '../text.ts';

/** The extension form: only durations that keep the grant within its profile's maxTotal are offered. */
export function extendModal(grant: AccessRequest, durations: string[], maxTotal: string): View {
  const ends = grant.grant.expiresAt ? humanInstant(grant.grant.expiresAt, grant.requester.tz || 'UTC') : 'its end';
  return {
    type: 'modal',
    callback_id: EXTEND_VIEW,
    private_metadata: JSON.stringify({ requestId: grant.id }),
    title: plain('Extend access', 24),
    submit: plain('Ask approvers', 24),
    close: plain('Cancel', 24),
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: `Your access to *${escapeMrkdwn(grant.profileName)}* (\`${grant.id}\`) ends ${ends}. An extension needs the same approvals as the access itself; if it is not approved before then, it lapses. In all, this access may last at most ${humanDuration(maxTotal)}.`,
        },
      },
      {
        type: 'input',
        block_id: BLOCK_DURATION,
        label: plain('Extend by', 2000),
        element: {
          type: 'static_select',
          action_id: BLOCK_DURATION,
          placeholder: plain('How much longer'),
          options: durations.slice(0, 100).map((d) => ({ text: plain(humanDuration(d)), value: d })),
        },
      },
      {
        type: 'input',
        block_id: BLOCK_JUSTIFICATION,
        label: plain('Why you need more time', 2000),
        element: { type: 'plain_text_input', action_id: BLOCK_JUSTIFICATION, multiline: true, min_length: 10, max_length: JUSTIFICATION_MAX },
      },
    ],
  };
}
