import type { KnownBlock } from '@slack/types';
import type { DomainEvent } from '../../domain/events.ts';
import type { DriftAlert, SlackText } from '../../services/ports.ts';
import { humanDuration, humanInstant } from '../../domain/duration.ts';
import { rulesOf, tallyOf } from '../../domain/approval.ts';
import type { AccessRequest } from '../../domain/request.ts';
import { approveButton, denyButton, driftRevokeButton, endAccessButton } from './buttons.ts';
import { escapeMrkdwn, mention, mrkdwn, plain, quoteUserText } from '../text.ts';

export type SlackMessage = SlackText;

/** How a request's state reads wherever it is shown. */
export const STATUS_LINE: Record<AccessRequest['status'], string> = {
  PENDING: ':hourglass_flowing_sand: Waiting for approval',
  APPROVED: ':white_check_mark: Approved, granting access',
  GRANTING: ':gear: Granting access',
  ACTIVE: ':unlock: Access active',
  REVOKING: ':lock: Removing access',
  REVOKED: ':lock: Access ended',
  DENIED: ':no_entry: Denied',
  CANCELLED: ':wastebasket: Cancelled by the requester',
  EXPIRED: ':alarm_clock: Expired without a decision',
  FAILED: ':x: Grant failed',
  EXTENDED: ':hourglass: Extension applied',
};

/** "1 of 2 approvals: @ann", or per rule when the profile has several: "security 1 of 1 (@ann) · platform 0 of 1". */
export function approvalsLine(r: AccessRequest): string {
  const rules = rulesOf(r);
  const t = tallyOf(r);
  const denials = (r.denials ?? []).length > 0 && (r.denialsRequired ?? 1) > 1 ? ` · ${(r.denials ?? []).length} of ${r.denialsRequired ?? 1} denials: ${(r.denials ?? []).map((d) => mention(d.slackUserId)).join(', ')}` : '';
  if (rules.length === 1) {
    const who = r.approvals.map((a) => mention(a.slackUserId)).join(', ');
    return `${t.counted} of ${t.required} approvals${who ? `: ${who}` : ''}${denials}`;
  }
  const parts = rules.map((rule, i) => {
    const who = t.perRule[i] ?? [];
    return `${escapeMrkdwn(rule.label)} ${who.length} of ${rule.count}${who.length > 0 ? ` (${who.map(mention).join(', ')})` : ''}`;
  });
  const extra = r.approvals.filter((a) => !t.perRule.flat().includes(a.slackUserId));
  return `${t.counted} of ${t.required} approvals: ${parts.join(' · ')}${extra.length > 0 ? ` · also approved: ${extra.map((a) => mention(a.slackUserId)).join(', ')}` : ''}${denials}`;
}

function outcomeLine(r: AccessRequest): string {
  switch (r.status) {
    case 'DENIED':
      return `Denied by ${mention(r.decision?.by ?? '')}${r.decision?.reason ? `:\n${quoteUserText(r.decision.reason, 1000)}` : ''}`;
    case 'ACTIVE':
      return `Active until ${humanInstant(r.grant.expiresAt ?? '', 'UTC')}`;
    case 'REVOKED':
      return r.revoke?.kept ? `Ended; the assignment was left in place: ${escapeMrkdwn(r.revoke.kept)}` : 'Ended; the assignment was removed';
    case 'FAILED':
      return `Failed: ${escapeMrkdwn(r.grant.failure ?? 'unknown reason')}`;
    default:
      return '';
  }
}

/** Who receives the access in Identity Center: user name, email and id, so approvers see more than a Slack name. */
function identityLine(r: AccessRequest): string {
  const id = r.requester.identity;
  const who = id ? `*${escapeMrkdwn(id.userName)}* (${escapeMrkdwn(id.email)})` : escapeMrkdwn(r.requester.email);
  return `${who} · \`${escapeMrkdwn(r.target.principalId)}\``;
}

function requestFields(r: AccessRequest): KnownBlock[] {
  return [
    {
      type: 'section',
      fields: [
        mrkdwn(`*Requester*\n${mention(r.requester.slackUserId)}`),
        mrkdwn(`*Profile*\n${escapeMrkdwn(r.profileName)} (account ${r.target.accountId})`),
        mrkdwn(`*Duration*\n${humanDuration(r.duration)}`),
        mrkdwn(`*Ticket*\n${r.ticket ? escapeMrkdwn(r.ticket) : '—'}`),
      ],
    },
    {
      type: 'context',
      elements: [mrkdwn(`Access goes to Identity Center user ${identityLine(r)}`)],
    },
    { type: 'section', text: mrkdwn(`*Justification*\n${quoteUserText(r.justification)}`) },
  ];
}

/** The message approvers act on; re-rendered from the stored request after every change. */
export function approvalMessage(r: AccessRequest): SlackMessage {
  const blocks: KnownBlock[] = [
    { type: 'header', text: plain(`Breakglass request: ${r.profileName}`, 150) },
    ...requestFields(r),
    { type: 'context', elements: [mrkdwn(`${STATUS_LINE[r.status]} · ${approvalsLine(r)} · request \`${r.id}\``)] },
  ];
  if (r.status === 'PENDING') {
    blocks.push({
      type: 'actions',
      block_id: 'decision',
      elements: [approveButton(r), denyButton(r)],
    });
  } else {
    const outcome = outcomeLine(r);
    if (outcome) blocks.push({ type: 'section', text: mrkdwn(outcome) });
  }
  return { text: `Breakglass request from ${mention(r.requester.slackUserId)} for ${r.profileName}: ${STATUS_LINE[r.status]} (${approvalsLine(r)})`, blocks };
}

/** The audit thread's parent: names the request and the requester and always shows the current state. */
export function auditParent(r: AccessRequest): SlackMessage {
  const text = `${STATUS_LINE[r.status]} · request \`${r.id}\` by ${mention(r.requester.slackUserId)}: ${escapeMrkdwn(r.profileName)} (account ${r.target.accountId}) for ${humanDuration(r.duration)}`;
  const blocks: KnownBlock[] = [{ type: 'section', text: mrkdwn(text) }, { type: 'context', elements: [mrkdwn(approvalsLine(r))] }];
  const outcome = outcomeLine(r);
  if (outcome) blocks.push({ type: 'section', text: mrkdwn(outcome) });
  return { text, blocks };
}

const who = (e: DomainEvent) => (e.actor?.slackUserId ? mention(e.actor.slackUserId) : 'breakglass');
const text = (v: string | number) => escapeMrkdwn(String(v));
const when = (iso: string) => humanInstant(iso, 'UTC');

/** One line per event in the audit thread, naming who acted. */
export function auditReply(e: DomainEvent): string {
  switch (e.type) {
    case 'request.submitted':
      return `${who(e)} requested ${text(e.details.profileName)} for ${humanDuration(e.details.duration)}`;
    case 'approval.given':
      return `${who(e)} approved (${e.details.count} of ${e.details.required})`;
    case 'request.approved':
      return `Quorum reached: approved by ${e.details.approvers.map(mention).join(', ')}`;
    case 'request.denied':
      return `${who(e)} denied the request:\n${quoteUserText(e.details.reason, 1000)}`;
    case 'request.cancelled':
      return e.details.by ? `Cancelled by operator \`${text(e.details.by)}\` (${text(e.details.reason ?? '')})` : `${who(e)} cancelled the request`;
    case 'request.expired':
      return `Expired: nobody decided within ${humanDuration(e.details.pendingTimeout)}`;
    case 'attempt.rejected': {
      const count = e.details.count ?? 1;
      return `:warning: ${who(e)} tried to ${text(e.details.action)} and was refused${count > 1 ? ` (${count} times so far)` : ''}: ${text(e.details.reason)}`;
    }
    case 'grant.started':
      return 'Granting access in IAM Identity Center';
    case 'grant.succeeded':
      return e.details.alreadyHeld
        ? `Access active until ${when(e.details.expiresAt)} (no new assignment: ${text(e.details.alreadyHeld)})`
        : `Access granted; active until ${when(e.details.expiresAt)}`;
    case 'grant.failed':
      return `:x: Grant failed: ${text(e.details.reason)}`;
    case 'access.ended':
      return `${who(e)} ended the access early`;
    case 'revoke.started':
      return `Removing access (${text(e.details.reason)})`;
    case 'revoke.succeeded':
      return e.details.cleanup ? `Removed what the failed grant may have left: ${text(e.details.note ?? '')}` : 'Access removed: Identity Center confirmed the deletion';
    case 'revoke.kept':
      return `Access ended for this request; the assignment stays because ${text(e.details.why)}, so open sessions are not ended`;
    case 'sessions.ended':
      return `Sessions ended: the permission set now denies this user's sessions issued before ${when(e.details.instant)} in account ${text(e.details.accountId)}; Identity Center confirmed the re-provisioning${e.details.combined ? ' (one statement for all listed users, the policy being near its size limit)' : ''}`;
    case 'sessions.kept':
      return `Sessions not ended: ${text(e.details.why)}`;
    case 'sessions.retrying':
      return `:warning: Ending open sessions failed (attempt ${e.details.attempt}): ${text(e.details.error)}. Retrying at ${when(e.details.nextAttemptAt)}`;
    case 'sessions.lapsed':
      return `Open sessions could not be ended (${text(e.details.error)}); they have all expired by now anyway`;
    case 'revoke.retrying':
      return `:warning: Removing access failed (attempt ${e.details.attempt}): ${text(e.details.error)}. Retrying at ${when(e.details.nextAttemptAt)}`;
    case 'revoke.failed':
      return `:rotating_light: Removing access keeps failing (attempt ${e.details.attempt}): ${text(e.details.error)}. breakglass keeps retrying; next at ${when(e.details.nextAttemptAt)}`;
    default:
      return `${e.type} by ${who(e)}`;
  }
}

/** What the requester hears, by DM. Null: nothing to say for this event. */
export function requesterDm(r: AccessRequest, e: DomainEvent, o: { accessPortalUrl: string | undefined; endsSessions: boolean }): SlackMessage | null {
  const tz = r.requester.tz || 'UTC';
  const name = escapeMrkdwn(r.profileName);
  const simple = (body: string): SlackMessage => ({ text: body, blocks: [{ type: 'section', text: mrkdwn(body) }] });
  switch (e.type) {
    case 'request.submitted':
      return simple(`Your request \`${r.id}\` for *${name}* (${humanDuration(r.duration)}) is waiting for ${r.approvalsRequired} approval${r.approvalsRequired === 1 ? '' : 's'}.`);
    case 'approval.given':
      return simple(`${who(e)} approved your request \`${r.id}\` (${e.details.count} of ${e.details.required}).`);
    case 'request.denied':
      return simple(`Your request \`${r.id}\` for *${name}* was denied by ${who(e)}:\n${quoteUserText(e.details.reason, 1000)}`);
    case 'request.expired':
      return simple(`Your request \`${r.id}\` for *${name}* expired: nobody decided in time. Ask again if you still need access.`);
    case 'request.cancelled':
      return e.details.by ? simple(`Your request \`${r.id}\` for *${name}* was cancelled: ${text(e.details.reason ?? 'an operator stopped breakglass')}.`) : null;
    case 'grant.succeeded': {
      const until = humanInstant(e.details.expiresAt, tz);
      const portal = o.accessPortalUrl ? `<${o.accessPortalUrl}|AWS access portal>` : 'the AWS access portal';
      const body = `:unlock: *${name}* is active until *${until}*. Sign in through ${portal}.`;
      return {
        text: body,
        blocks: [
          { type: 'section', text: mrkdwn(body) },
          { type: 'context', elements: [mrkdwn(`Request \`${r.id}\` · account ${r.target.accountId} · ${o.endsSessions ? 'when access ends, the assignment is removed and the sessions it opened are ended' : 'ending access removes the assignment; sessions already open last until their own expiry'}`)] },
          {
            type: 'actions',
            block_id: 'access',
            elements: [endAccessButton(r, { label: 'End access now', endsSessions: o.endsSessions })],
          },
        ],
      };
    }
    case 'grant.failed':
      return simple(`:x: Access for \`${r.id}\` could not be granted: ${text(e.details.reason)}. Nothing was left behind; ask again or contact the platform team.`);
    case 'revoke.kept':
      return simple(`:lock: Your breakglass access \`${r.id}\` to *${name}* has ended; the assignment stays because ${text(e.details.why)}.`);
    case 'sessions.ended':
      return simple(`:lock: Your breakglass access \`${r.id}\` to *${name}* has ended, and the sessions it opened were ended too.`);
    case 'sessions.kept':
      return simple(`:lock: Your breakglass access \`${r.id}\` to *${name}* has ended. Sessions you already had open were not ended: ${text(e.details.why)}.`);
    case 'sessions.retrying':
      return e.details.attempt === 1 ? simple(`:lock: Your breakglass access \`${r.id}\` to *${name}* was removed; ending the sessions you had open is taking longer (${text(e.details.error)}). breakglass keeps trying.`) : null;
    case 'sessions.lapsed':
      return simple(`:lock: Your breakglass access \`${r.id}\` to *${name}* has ended; its sessions have expired.`);
    default:
      return null;
  }
}

/** Who holds what, in a drift alert. */
function driftSubject(d: { principalType: string; principalId: string; profileName?: string; profileId?: string; accountId: string }): string {
  const holder = d.principalType === 'GROUP' ? `group \`${text(d.principalId)}\`` : `user \`${text(d.principalId)}\``;
  return `${holder} holds *${text(d.profileName ?? d.profileId ?? '')}* (account ${text(d.accountId)})`;
}

/** Alerts posted at the top of the audit channel, outside any request's thread. */
export function systemAlert(e: DomainEvent): SlackMessage {
  const section = (body: string): SlackMessage => ({ text: body, blocks: [{ type: 'section', text: mrkdwn(body) }] });
  switch (e.type) {
    case 'quorum.unsafe':
      return section(`:rotating_light: The approver pool no longer satisfies the policy: ${text(e.details.problems.join('; '))}`);
    case 'drift.detected': {
      const d = e.details;
      const body = `:warning: Drift: ${driftSubject(d)}, but no breakglass grant backs it and the policy does not list it as standing access.${d.mode === 'revoke' ? ' Removing it (policy: drift: revoke).' : ''}`;
      if (d.mode === 'revoke') return section(body);
      return {
        text: body,
        blocks: [
          { type: 'section', text: mrkdwn(body) },
          { type: 'context', elements: [mrkdwn(`Drift \`${text(d.driftId)}\` · approvers may remove it; add it to standingAccess if it is meant to stay`)] },
          { type: 'actions', block_id: 'drift', elements: [driftRevokeButton(d.driftId, `${d.principalType === 'GROUP' ? 'of group' : 'of user'} ${d.principalId} to ${d.profileName} (account ${d.accountId})`)] },
        ],
      };
    }
    case 'drift.revoked':
      return section(`:lock: Drift \`${text(e.details.driftId)}\` removed by ${who(e)}; Identity Center confirmed the deletion.${e.details.sessions ? ` Sessions ${text(e.details.sessions)}.` : ''}`);
    case 'drift.resolved':
      return section(`:white_check_mark: Drift \`${text(e.details.driftId)}\` resolved: the assignment is gone.`);
    case 'revoke_all.started':
      return section(`:rotating_light: Operator \`${text(e.details.operator)}\` ran revoke-all: ${text(e.details.reason)} (${e.details.count} requests open or active)`);
    case 'revoke_all.finished': {
      const d = e.details;
      const remaining = d.remaining.length > 0 ? `, :rotating_light: still in Identity Center: ${d.remaining.map((r) => `\`${text(r)}\``).join(', ')}` : '';
      return section(`revoke-all finished: ${d.revoked} revoked, ${d.pending} still being removed${remaining}`);
    }
    case 'audit.checkpoint': {
      const d = e.details;
      return section(
        `:link: Audit checkpoint: the record reached #${d.seq}, hash \`${text(d.hash)}\`${d.keyId ? ` (signed with audit key ${text(d.keyId)})` : ' (not signed: no audit key)'}${d.archived ? '; also locked in the checkpoint bucket' : ''}. \`breakglass audit verify --anchor ${d.seq}:${text(d.hash)}\` checks the record against it.`,
      );
    }
    case 'freeze.set':
      return section(`:ice_cube: breakglass is frozen by operator \`${text(e.details.operator)}\`: ${text(e.details.reason)}. No request, approval or grant is taken until \`breakglass unfreeze\`.`);
    case 'freeze.lifted':
      return section(`:sunny: breakglass is unfrozen by operator \`${text(e.details.operator)}\`: ${text(e.details.reason)}. Requests are taken again.`);
    default:
      return section(e.type);
  }
}

/** The drift alert once it is closed: same subject, no button. */
export function closedDriftAlert(alert: DriftAlert, closing: DomainEvent): SlackMessage {
  const body = `~Drift~ ${driftSubject({ ...alert, profileName: alert.profileId })}: ${closing.type === 'drift.revoked' ? `removed by ${who(closing)}` : 'gone'}.`;
  return { text: body, blocks: [{ type: 'section', text: mrkdwn(body) }] };
}

/** Appended to a post made again after an interrupted delivery that may already have landed. */
export const REPEAT_NOTE = ' (repeated after an interrupted delivery; it may appear twice)';

export function markRepeat(m: SlackMessage): SlackMessage {
  return { text: `${m.text}${REPEAT_NOTE}`, blocks: [...m.blocks, { type: 'context', elements: [mrkdwn(`_${REPEAT_NOTE.trim()}_`)] }] };
}
