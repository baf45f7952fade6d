import type { View } from '@slack/types';
import { BLOCK_REASON, DENY_VIEW } from '../ids.ts';
import { plain } from '../text.ts';

export const DENY_REASON_MAX = 1000;

/** What the form carries to its submission: the request, and whether the outcome goes to the denier's App Home. */
export interface FormState {
  requestId: string;
  fromHome: boolean;
}

export function denyModal(requestId: string, summary: string, o: { fromHome: boolean }): View {
  const state: FormState = { requestId, fromHome: o.fromHome };
  return {
    type: 'modal',
    callback_id: DENY_VIEW,
    private_metadata: JSON.stringify(state),
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
