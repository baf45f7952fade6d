import type { View } from '@slack/types';
import { BLOCK_REASON, DENY_VIEW } from '../ids.ts';
import { plain } from '../text.ts';

export const DENY_REASON_MAX = 1000;

export function denyModal(requestId: string, summary: string): View {
  return {
    type: 'modal',
    callback_id: DENY_VIEW,
    private_metadata: JSON.stringify({ requestId }),
    title: plain('Deny request', 24),
    submit: plain('Deny', 24),
    close: plain('Back', 24),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: summary.slice(0, 3000) } },
      {
        type: 'input',
        block_id: BLOCK_REASON,
        label: plain('Reason', 2000),
        element: { type: 'plain_text_input', action_id: BLOCK_REASON, multiline: true, min_length: 3, max_length: DENY_REASON_MAX },
      },
    ],
  };
}
