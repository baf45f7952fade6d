import type { View } from '@slack/types';
import { humanDuration } from '../../domain/duration.ts';
import { CATEGORY_LABEL, REASON_CATEGORIES } from '../../domain/categories.ts';
import { categoriesOf, describeRules, emergencyDurations, JUSTIFICATION_MAX, TICKET_MAX, type Profile } from '../../domain/policy.ts';
import { BLOCK_CATEGORY, BLOCK_DURATION, BLOCK_JUSTIFICATION, BLOCK_PROFILE, BLOCK_TICKET, EMERGENCY_VIEW, REQUEST_VIEW } from '../ids.ts';
import { plain } from '../text.ts';

/**
 * The request form. Durations list the union of every profile's choices
 * (Slack modals cannot filter one select by another without a round trip);
 * the server accepts only the chosen profile's own choices and says which.
 * The emergency form has the same blocks (the ticket is the incident
 * reference), lists only profiles that offer emergency access, and says plainly
 * what happens. The reason category lists every category a listed profile
 * serves; it is optional in the form unless every listed profile asks for one
 * (the server says which profile needs which).
 */
export function requestModal(profiles: Profile[], kind: 'access' | 'emergency' = 'access'): View {
  const emergency = kind === 'emergency';
  const offered = emergency ? profiles.filter((p) => p.emergency) : profiles;
  const durationsOf = (p: Profile) => (emergency ? emergencyDurations(p) : p.durations);
  const durations = [...new Set(offered.flatMap(durationsOf))];
  const ticketRequired = (p: Profile) => (emergency ? (p.emergency?.requireTicket ?? true) : p.requireTicket);
  const needsTicket = offered.some(ticketRequired);
  const served = new Set(offered.flatMap(categoriesOf));
  const categories = REASON_CATEGORIES.filter((c) => served.has(c));
  const needsCategory = offered.length > 0 && offered.every((p) => p.reasons !== null);
  const intro = emergency
    ? ':rotating_light: *Emergency access is granted at once, without approval.* Every approver is alerted, and the quorum must ratify it within minutes or it is revoked; one denial revokes it. Use it only when no quorum can be reached in time; each use is limited per day.'
    : 'Ask for time-boxed access to the AWS management account. Approvers are asked in the approvals channel; the clock starts when access is granted.';
  return {
    type: 'modal',
    callback_id: emergency ? EMERGENCY_VIEW : REQUEST_VIEW,
    title: plain(emergency ? 'Emergency access' : 'Breakglass access', 24),
    submit: plain(emergency ? 'Grant now' : 'Request', 24),
    close: plain('Cancel', 24),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: intro } },
      {
        type: 'input',
        block_id: BLOCK_PROFILE,
        label: plain('Profile', 2000),
        element: {
          type: 'static_select',
          action_id: BLOCK_PROFILE,
          placeholder: plain('Choose what you need'),
          options: offered.slice(0, 100).map((p) => ({
            text: plain(`${p.name} (${p.accountId})`),
            value: p.id,
            description: plain(
              emergency
                ? `ratify within ${humanDuration(p.emergency?.ratifyWithin ?? '')}; up to ${humanDuration(p.emergency?.maxDuration ?? '')}`
                : `${describeRules(p)}; up to ${humanDuration(p.durations[p.durations.length - 1] ?? '')}${p.requireTicket ? '; ticket required' : ''}`,
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
        block_id: BLOCK_CATEGORY,
        optional: !needsCategory,
        label: plain('Reason category', 2000),
        hint: plain('Which management-account task this is; the session report is compared with it.', 2000),
        element: {
          type: 'static_select',
          action_id: BLOCK_CATEGORY,
          placeholder: plain('What kind of task'),
          options: categories.map((c) => ({ text: plain(CATEGORY_LABEL[c]), value: c })),
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
          placeholder: plain(emergency ? 'What is down, and why it cannot wait for approval' : 'What is broken and why this access fixes it', 150),
        },
      },
      {
        type: 'input',
        block_id: BLOCK_TICKET,
        optional: !needsTicket || offered.some((p) => !ticketRequired(p)),
        label: plain(emergency ? 'Incident reference' : 'Ticket', 2000),
        hint: plain(emergency ? 'The incident this is for.' : needsTicket ? 'Required for some profiles.' : 'Optional incident or change reference.', 2000),
        element: { type: 'plain_text_input', action_id: BLOCK_TICKET, max_length: TICKET_MAX, placeholder: plain('INC-1234', 150) },
      },
    ],
  };
}
