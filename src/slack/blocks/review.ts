import type { KnownBlock, View } from '@slack/types';
import type { DomainEvent } from '../../domain/events.ts';
import type { Finding, FindingKind } from '../../domain/review.ts';
import type { ReviewRecord, SlackText } from '../../services/ports.ts';
import { ACTION_ATTEST, ACTION_CUSTODIAN_CONFIRM, ATTEST_VIEW, BLOCK_NOTE } from '../ids.ts';
import { escapeMrkdwn, mentions, mrkdwn, plain } from '../text.ts';

/** Lines a section of the review message shows before "and N more" (Block Kit: 3000 characters a section). */
const LINES_PER_SECTION = 12;
const SECTION_CHARS = 2800;

const TITLES: Record<FindingKind, string> = {
  assignment: 'Assignments in Identity Center',
  requester: 'Who may request (flagged only)',
  approver: 'Who may approve (flagged only)',
  use: 'Breakglass uses in the period',
  custodian: 'Root-credential custodians',
};

/** Requesters and approvers can be many: the message shows only those flagged; the report has all. */
const ONLY_FLAGGED = new Set<FindingKind>(['requester', 'approver']);

function section(kind: FindingKind, all: Finding[], reportCommand: string): string {
  const of = all.filter((f) => f.kind === kind);
  // Flagged findings first, so a cut never hides one behind those that need nothing.
  const shown = ONLY_FLAGGED.has(kind) ? of.filter((f) => f.flagged) : [...of.filter((f) => f.flagged), ...of.filter((f) => !f.flagged)];
  const lines: string[] = [];
  let chars = 0;
  for (const f of shown.slice(0, LINES_PER_SECTION)) {
    const line = `${f.flagged ? ':warning: ' : '• '}${escapeMrkdwn(f.subject)}: *${escapeMrkdwn(f.status)}*`;
    if (chars + line.length > SECTION_CHARS - 200) break;
    lines.push(line);
    chars += line.length + 1;
  }
  const more = shown.length - lines.length;
  if (more > 0) lines.push(`…and ${more} more: \`${reportCommand}\``);
  if (shown.length === 0) lines.push(of.length > 0 ? `${of.length} listed, none flagged` : 'none');
  return `*${TITLES[kind]}* (${of.length})\n${lines.join('\n')}`;
}

/** The review in the audit channel: a summary of every section, and Attest while it is open. */
export function reviewMessage(r: ReviewRecord): SlackText {
  const report = r.report;
  const flagged = report.findings.filter((f) => f.flagged).length;
  const attested = Object.entries(r.attestations).sort(([, a], [, b]) => a.at.localeCompare(b.at));
  const command = `npx breakglass review report --period ${report.id}`;
  const status =
    r.status === 'completed'
      ? `:white_check_mark: *Completed*: attested by ${mentions(attested.map(([u]) => u))}`
      : `*${attested.length} of ${report.approvals} attestations*${attested.length > 0 ? `: ${mentions(attested.map(([u]) => u))}` : ''} · reviewers: ${mentions(report.reviewers.slice(0, 10), Math.max(0, report.reviewers.length - 10))}`;
  const head = `:clipboard: *Access review ${escapeMrkdwn(report.period.label)}* (\`${report.id}\`): ${report.findings.length} findings, ${flagged} flagged. Uses and decisions from ${report.period.since} to ${report.period.until}.`;
  const blocks: KnownBlock[] = [
    { type: 'section', text: mrkdwn(head) },
    ...(['assignment', 'requester', 'approver', 'use', 'custodian'] as const).map((k): KnownBlock => ({ type: 'section', text: mrkdwn(section(k, report.findings, command)) })),
    { type: 'section', text: mrkdwn(status) },
  ];
  const notes = attested.filter(([, a]) => a.note).map(([u, a]) => `<@${u}>: ${escapeMrkdwn(a.note ?? '')}`);
  if (notes.length > 0) blocks.push({ type: 'context', elements: [mrkdwn(`Notes: ${notes.join(' · ')}`)] });
  blocks.push({ type: 'context', elements: [mrkdwn(`The full report: \`${command} --format md|csv|json\``)] });
  if (r.status === 'open') {
    blocks.push({ type: 'actions', block_id: 'review', elements: [{ type: 'button', action_id: ACTION_ATTEST, value: report.id, style: 'primary', text: plain('Attest') }] });
  }
  const text = `Access review ${report.period.label} (${report.id}): ${r.status === 'completed' ? 'completed' : `${attested.length} of ${report.approvals} attestations`}`;
  return { text, blocks };
}

/** A reply in the review's thread for each event after it was posted. */
export function reviewReply(e: DomainEvent): string | null {
  const by = e.actor?.slackUserId ? `<@${e.actor.slackUserId}>` : 'breakglass';
  switch (e.type) {
    case 'review.attested':
      return `${by} attested (${e.details.count} of ${e.details.required})${e.details.note ? `: ${escapeMrkdwn(e.details.note)}` : ''}`;
    case 'review.completed':
      return `:white_check_mark: Review complete: attested by ${mentions(e.details.attestedBy)}.`;
    case 'review.reminded':
      return e.details.mentioned.length + e.details.more > 0 ? `Reminder: ${mentions(e.details.mentioned, e.details.more)}, this review waits for your attestation.` : null;
    case 'custodian.confirmed':
      return `${by} confirmed they still hold ${escapeMrkdwn(e.details.item)}.`;
    default:
      return null;
  }
}

export function reviewOverdue(e: Extract<DomainEvent, { type: 'review.overdue' }>): SlackText {
  const d = e.details;
  const body = `:rotating_light: Access review \`${d.reviewId}\` is overdue: started ${d.startedAt}, only ${d.attested} of ${d.required} reviewers have attested.`;
  return { text: body, blocks: [{ type: 'section', text: mrkdwn(body) }] };
}

/** The DM asking a holder to confirm the root-credential items the policy says they hold. */
export function custodianDm(reviewId: string, items: { index: number; item: string }[]): SlackText {
  const text = `For access review ${reviewId}: please confirm you still hold ${items.map((i) => i.item).join(', ')}.`;
  return {
    text,
    blocks: [
      { type: 'section', text: mrkdwn(`:key: For access review \`${reviewId}\`, the policy lists you as a holder of root credentials of the management account. Confirm each item you still hold; tell security about any you no longer hold.`) },
      ...items.slice(0, 20).map(
        (i): KnownBlock => ({
          type: 'section',
          text: mrkdwn(escapeMrkdwn(i.item)),
          accessory: { type: 'button', action_id: ACTION_CUSTODIAN_CONFIRM, value: `${reviewId}|${i.index}`, text: plain('I still hold it') },
        }),
      ),
    ],
  };
}

/** The attest form: what attesting means, and an optional note. */
export function attestModal(r: ReviewRecord): View {
  return {
    type: 'modal',
    callback_id: ATTEST_VIEW,
    private_metadata: JSON.stringify({ reviewId: r.id }),
    title: plain('Attest access review', 24),
    submit: plain('Attest', 24),
    close: plain('Cancel', 24),
    blocks: [
      {
        type: 'section',
        text: mrkdwn(`You attest that you reviewed access review \`${r.id}\` (${escapeMrkdwn(r.report.period.label)}, ${r.report.findings.length} findings) and that the access it lists is justified or being dealt with.`),
      },
      {
        type: 'input',
        block_id: BLOCK_NOTE,
        optional: true,
        label: plain('Note (optional)', 2000),
        element: { type: 'plain_text_input', action_id: BLOCK_NOTE, multiline: true, max_length: 2000 },
      },
    ],
  };
}
