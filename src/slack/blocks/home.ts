/**
 * The App Home of one person, rendered from what src/services/home.ts gathered for them. It
 * shows only buttons the person may use now, with the same action ids and values as the approval
 * message and the DMs (the server checks every click again anyway). Block Kit allows a home 100
 * blocks and a section 3000 characters: each list shows at most LISTED entries and says how many
 * more there are, which keeps the whole view under 100 blocks.
 */
import type { Button, HomeView, KnownBlock } from '@slack/types';
import { humanDuration, humanInstant, humanRelative } from '../../domain/duration.ts';
import { describeRules, longestDuration } from '../../domain/policy.ts';
import { kindOf, type AccessRequest } from '../../domain/request.ts';
import type { Home, Shown } from '../../services/home.ts';
import type { HomeVisitor } from '../../services/ports.ts';
import { ACTION_REQUEST_ACCESS, COMMAND } from '../ids.ts';
import { escapeMrkdwn, mention, mrkdwn, plain, quoteUserText } from '../text.ts';
import { approveButton, denyButton, endAccessButton, extendButton } from './buttons.ts';
import { approvalsLine, STATUS_LINE } from './messages.ts';

/** Entries shown per list; the rest are counted. */
export const LISTED = 10;

/** Characters of a justification shown to approvers on the home (the approval message has it all). */
const JUSTIFICATION_SHOWN = 500;

const section = (text: string, blockId?: string, accessory?: Button): KnownBlock => ({
  type: 'section',
  text: mrkdwn(text),
  ...(blockId ? { block_id: blockId } : {}),
  ...(accessory ? { accessory } : {}),
});
const context = (text: string): KnownBlock => ({ type: 'context', elements: [mrkdwn(text)] });
const header = (text: string): KnownBlock => ({ type: 'header', text: plain(text, 150) });

/** An instant as the viewer reads it: their zone and UTC, and how far from now. */
const at = (h: Home, iso: string) => `${humanInstant(iso, h.tz)}, ${humanRelative(iso, h.now)}`;

const what = (r: AccessRequest) => `*${escapeMrkdwn(r.profileName)}* (account ${r.target.accountId})`;

/** "extension of req_…" / "emergency" before a request's profile, when it is not plain access. */
function kindWords(r: AccessRequest): string {
  const kind = kindOf(r);
  if (kind === 'extension') return `Extension${r.extends ? ` of \`${escapeMrkdwn(r.extends)}\`` : ''}: `;
  if (kind === 'emergency') return ':rotating_light: Emergency: ';
  return '';
}

/** "…and 3 more" under a cut list. */
function more(total: number, where: string): KnownBlock[] {
  return total > LISTED ? [context(`…and ${total - LISTED} more; ${where}.`)] : [];
}

/** An emergency grant's ratification, while it is still open. */
function ratification(h: Home, r: AccessRequest): string {
  const e = r.emergency;
  if (kindOf(r) !== 'emergency' || !e || e.ratifiedAt || e.rejected) return '';
  return `\nWaiting for ratification (${approvalsLine(r)}); revoked unless ratified by ${at(h, e.ratifyBy)}`;
}

/**
 * Every button on the viewer's own active access, in the order shown: the one place such a
 * button is added.
 */
function ownAccessButtons(s: Shown): Button[] {
  // As in the grant DM: emergency access is never extended (the click would say so anyway).
  const extend = kindOf(s.request) === 'access' ? [extendButton(s.request)] : [];
  return [...extend, endAccessButton(s.request, { label: 'End access now', endsSessions: s.endsSessions })];
}

/** One of the viewer's own grants: its state, its time left, and their buttons while it is active. */
function ownAccessRow(h: Home, s: Shown): KnownBlock[] {
  const r = s.request;
  const until = r.status === 'ACTIVE' && r.grant.expiresAt ? ` until ${at(h, r.grant.expiresAt)}` : '';
  const sessions = s.endsSessions ? 'ending it also ends the sessions it opened' : 'ending it leaves open sessions to their own expiry';
  const blocks: KnownBlock[] = [section(`${kindWords(r)}${what(r)} for ${humanDuration(r.duration)}\n${STATUS_LINE[r.status]}${until}${ratification(h, r)}\n\`${r.id}\` · ${sessions}`)];
  if (r.status === 'ACTIVE') blocks.push({ type: 'actions', block_id: `own:${r.id}`, elements: ownAccessButtons(s) });
  return blocks;
}

/** One of the viewer's requests waiting for approval. */
function openRow(h: Home, r: AccessRequest): KnownBlock {
  return section(
    `${kindWords(r)}${what(r)} for ${humanDuration(r.duration)}\n${STATUS_LINE[r.status]}: ${approvalsLine(r)}\nExpires ${at(h, r.pendingUntil)} unless approved · \`${r.id}\` (withdraw: \`${COMMAND} cancel ${r.id}\`)`,
  );
}

function historyRow(h: Home, r: AccessRequest): KnownBlock {
  return context(`${STATUS_LINE[r.status]} · ${kindWords(r)}${what(r)} for ${humanDuration(r.duration)} · asked ${at(h, r.createdAt)} · \`${r.id}\``);
}

function yourAccess(h: Home): KnownBlock[] {
  const history = h.history ?? [];
  if (h.requestable.length === 0 && h.open.length === 0 && h.access.length === 0 && history.length === 0) return [];
  const blocks: KnownBlock[] = [header('Your access')];
  if (h.requestable.length > 0) {
    const button: Button = { type: 'button', action_id: ACTION_REQUEST_ACCESS, style: 'primary', text: plain('Request access') };
    blocks.push(section(`Need access to the management account? Ask here or with \`${COMMAND}\`.`, 'request', button));
  }
  for (const s of h.access.slice(0, LISTED)) blocks.push(...ownAccessRow(h, s));
  blocks.push(...more(h.access.length, `\`${COMMAND} status\` lists them all`));
  for (const r of h.open.slice(0, LISTED)) blocks.push(openRow(h, r));
  blocks.push(...more(h.open.length, `\`${COMMAND} status\` lists them all`));
  if (h.access.length === 0 && h.open.length === 0) blocks.push(section('You have no open requests and no active access.'));
  blocks.push(section(`*Your last ${LISTED} requests*`));
  if (h.history === null) {
    blocks.push(context('Your request history is not available yet: the store was made before it kept one (see README, "App Home").'));
  } else if (history.length === 0) {
    blocks.push(context('You have not asked for access yet.'));
  } else {
    for (const r of history.slice(0, LISTED)) blocks.push(historyRow(h, r));
  }
  return blocks;
}

/** A request for the viewer's decision, with Approve (Ratify) and Deny. */
function decisionRow(h: Home, r: AccessRequest): KnownBlock[] {
  const emergency = kindOf(r) === 'emergency' && r.emergency;
  const deadline = emergency ? `granted at once; revoked unless ratified by ${at(h, r.emergency?.ratifyBy ?? r.pendingUntil)}` : `expires ${at(h, r.pendingUntil)}`;
  const ticket = r.ticket ? ` · ticket ${escapeMrkdwn(r.ticket)}` : '';
  return [
    section(
      `${kindWords(r)}${mention(r.requester.slackUserId)} asks for ${what(r)} for ${humanDuration(r.duration)}${ticket}\n${quoteUserText(r.justification, JUSTIFICATION_SHOWN)}\n${approvalsLine(r)} · ${deadline} · \`${r.id}\``,
    ),
    { type: 'actions', block_id: `decide:${r.id}`, elements: [approveButton(r), denyButton(r)] },
  ];
}

function decisions(h: Home): KnownBlock[] {
  if (!h.approver && h.waiting.length === 0) return [];
  const blocks: KnownBlock[] = [{ type: 'divider' }, header('Waiting for your decision')];
  if (h.waiting.length === 0) blocks.push(section('Nothing is waiting for you.'));
  for (const r of h.waiting.slice(0, LISTED)) blocks.push(...decisionRow(h, r));
  blocks.push(...more(h.waiting.length, 'the approvals channel has them all'));
  return blocks;
}

/** Others' active access the viewer may revoke. */
function grants(h: Home): KnownBlock[] {
  if (h.grants.length === 0) return [];
  const blocks: KnownBlock[] = [{ type: 'divider' }, header('Active access you may revoke')];
  for (const s of h.grants.slice(0, LISTED)) {
    const r = s.request;
    const until = r.grant.expiresAt ? ` until ${at(h, r.grant.expiresAt)}` : '';
    blocks.push(section(`${kindWords(r)}${mention(r.requester.slackUserId)} has ${what(r)}${until} · \`${r.id}\``, `revoke:${r.id}`, endAccessButton(r, { label: 'Revoke', endsSessions: s.endsSessions })));
  }
  blocks.push(...more(h.grants.length, 'the audit channel lists every grant'));
  return blocks;
}

function howItWorks(h: Home): KnownBlock[] {
  const profiles =
    h.requestable.length === 0
      ? 'You may not request access: the policy names who may. Ask the people who run breakglass if you need it.'
      : `*You may request:*\n${h.requestable
          .map((p) => `• *${escapeMrkdwn(p.name)}* (account ${p.accountId}): ${describeRules(p)} (never your own); up to ${humanDuration(longestDuration(p))}${p.requireTicket ? '; ticket required' : ''}`)
          .join('\n')}`;
  return [
    { type: 'divider' },
    header('How breakglass works'),
    section(
      'You ask for a profile (a permission set on an AWS account) for a limited time, with a reason. It is granted only once enough distinct approvers agree (the requester never counts), through IAM Identity Center, and removed again when the time is up. Every step is recorded in the audit channel.',
    ),
    section(profiles),
  ];
}

/** The note answering the viewer's last click here, at the top. */
function noteBlocks(h: Home, note: HomeVisitor['note']): KnownBlock[] {
  if (!note) return [];
  return [section(`:speech_balloon: ${escapeMrkdwn(note.text)}`), context(`Your last action here, ${at(h, note.at)}`)];
}

export function homeView(h: Home, note: HomeVisitor['note'] = null): HomeView {
  return {
    type: 'home',
    blocks: [...noteBlocks(h, note), header('breakglass'), ...yourAccess(h), ...decisions(h), ...grants(h), ...howItWorks(h)],
  };
}
