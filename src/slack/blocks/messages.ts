import { CATEGORY_SHORT } from '../../domain/categories.ts';
import type { KnownBlock } from '@slack/types';
import type { DomainEvent } from '../../domain/events.ts';
import type { DriftAlert, SlackText } from '../../services/ports.ts';
import { humanDuration, humanInstant, humanRelative } from '../../domain/duration.ts';
import { rulesOf, tallyOf } from '../../domain/approval.ts';
import { capped, decisionDeadline, nudgesOf } from '../../domain/nudges.ts';
import { kindOf, type AccessRequest, type RequestKind } from '../../domain/request.ts';
import { approveButton, denyButton, driftRevokeButton, endAccessButton, extendButton } from './buttons.ts';
import { escapeMrkdwn, mention, mentions, mrkdwn, plain, quoteUserText } from '../text.ts';

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
      return kindOf(r) === 'extension' ? `Not applied: ${escapeMrkdwn(r.grant.failure ?? 'unknown reason')}` : `Failed: ${escapeMrkdwn(r.grant.failure ?? 'unknown reason')}`;
    case 'EXTENDED':
      return `Extended \`${r.extends ?? ''}\` by ${humanDuration(r.duration)}`;
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
        ...(r.category ? [mrkdwn(`*Reason category*\n${CATEGORY_SHORT[r.category]}`)] : []),
      ],
    },
    {
      type: 'context',
      elements: [mrkdwn(`Access goes to Identity Center user ${identityLine(r)}`)],
    },
    { type: 'section', text: mrkdwn(`*Justification*\n${quoteUserText(r.justification)}`) },
  ];
}

const HEADER: Record<RequestKind, string> = { access: 'Breakglass request', extension: 'Breakglass extension', emergency: 'EMERGENCY breakglass access' };

/** What kind of request this is, in one line, when it is not plain access. */
function kindLine(r: AccessRequest): KnownBlock[] {
  const e = r.emergency;
  if (kindOf(r) === 'emergency' && e) {
    const incident = r.ticket ? ` for incident *${escapeMrkdwn(r.ticket)}*` : '';
    const state = e.ratifiedAt
      ? `:white_check_mark: Ratified at ${humanInstant(e.ratifiedAt, 'UTC')}.`
      : e.rejected
        ? `:lock: ${e.rejected.why === 'denied' ? `Denied by ${mention(e.rejected.by ?? '')}` : `Not ratified: ${escapeMrkdwn(e.rejected.reason)}`}; the access is revoked.`
        : `The quorum must *Ratify* by *${humanInstant(e.ratifyBy, 'UTC')}*, or the access is revoked; one *Deny* revokes it now.`;
    return [{ type: 'section', text: mrkdwn(`:rotating_light: *EMERGENCY*: granted at once${incident}, without approval. ${state}`) }];
  }
  if (kindOf(r) === 'extension' && r.extends) {
    return [{ type: 'section', text: mrkdwn(`:hourglass: Extends the active access \`${r.extends}\` by *${humanDuration(r.duration)}*; approving moves its end, nothing new is granted.`) }];
  }
  return [];
}

/** The message approvers act on; re-rendered from the stored request after every change. */
export function approvalMessage(r: AccessRequest): SlackMessage {
  const blocks: KnownBlock[] = [
    { type: 'header', text: plain(`${HEADER[kindOf(r)]}: ${r.profileName}`, 150) },
    ...kindLine(r),
    ...requestFields(r),
    { type: 'context', elements: [mrkdwn(`${STATUS_LINE[r.status]} · ${approvalsLine(r)} · request \`${r.id}\``)] },
  ];
  const escalation = escalationLine(r);
  if (escalation) blocks.push({ type: 'context', elements: [mrkdwn(escalation)] });
  if (takesDecisions(r)) {
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

/** Whether the message offers Approve / Deny: a pending request, or an emergency grant awaiting ratification. */
function takesDecisions(r: AccessRequest): boolean {
  if (kindOf(r) !== 'emergency') return r.status === 'PENDING';
  const e = r.emergency;
  return Boolean(e && !e.ratifiedAt && !e.rejected && ['APPROVED', 'GRANTING', 'ACTIVE'].includes(r.status));
}

/** When the pool of people who may decide grew, and who joined it; null: it has not. */
function escalationLine(r: AccessRequest): string | null {
  const n = nudgesOf(r);
  if (!n.escalated || !r.escalatesAt) return null;
  const to = n.escalatedTo;
  const who = to && to.mentioned.length + to.more > 0 ? mentions(to.mentioned, to.more) : 'the escalation approvers';
  return `:arrow_up: Escalated at ${humanInstant(r.escalatesAt, 'UTC')}: ${who} may approve too`;
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
      return `${who(e)} requested ${text(e.details.profileName)} for ${humanDuration(e.details.duration)}${e.details.category ? ` (${CATEGORY_SHORT[e.details.category]})` : ''}`;
    case 'approval.given':
      return e.details.counted === false
        ? `${who(e)} approved; it fills no rule still open (${e.details.count} of ${e.details.required})`
        : `${who(e)} approved (${e.details.count} of ${e.details.required})`;
    case 'request.approved':
      return `Quorum reached: approved by ${e.details.approvers.map(mention).join(', ')}`;
    case 'request.denied':
      return `${who(e)} denied the request:\n${quoteUserText(e.details.reason, 1000)}`;
    case 'request.cancelled':
      return e.details.by ? `Cancelled by operator \`${text(e.details.by)}\` (${text(e.details.reason ?? '')})` : `${who(e)} cancelled the request`;
    case 'request.expired':
      return e.details.lapsed ? `Lapsed: ${text(e.details.lapsed)}` : `Expired: nobody decided within ${humanDuration(e.details.pendingTimeout)}`;
    case 'denial.given':
      return `${who(e)} denied (${e.details.count} of the ${e.details.required} denials that end it):\n${quoteUserText(e.details.reason, 1000)}`;
    case 'access.expiring':
      return `The requester was warned that access ends at ${when(e.details.expiresAt)}`;
    case 'access.extended':
      return `Extended by ${humanDuration(e.details.duration)} through \`${text(e.details.extensionId)}\` (approved by ${e.details.approvers.map(mention).join(', ')}): now ends at ${when(e.details.to)} instead of ${when(e.details.from)}`;
    case 'emergency.invoked':
      return `:rotating_light: EMERGENCY: ${who(e)} took access at once, without approval${e.details.incident ? ` (incident ${text(e.details.incident)})` : ''}; the quorum must ratify it by ${when(e.details.ratifyBy)} or it is revoked. ${e.details.notified.length} approver${e.details.notified.length === 1 ? '' : 's'} alerted by DM`;
    case 'emergency.ratified':
      return `Emergency access ratified by ${e.details.approvers.map(mention).join(', ')}`;
    case 'emergency.rejected':
      return e.details.why === 'denied'
        ? `:rotating_light: Emergency access denied by ${who(e)}; revoking it now`
        : `:rotating_light: Emergency access was not ratified: ${text(e.details.reason)}; revoking it now`;
    case 'extension.applied':
      return `Applied: \`${text(e.details.extends)}\` now ends at ${when(e.details.expiresAt)}`;
    case 'request.reminded':
      return `Reminded the approvers who have not acted: ${mentions(e.details.mentioned, e.details.more)}`;
    case 'request.escalated':
      return `Escalated after ${humanDuration(e.details.after)}: ${e.details.mentioned.length + (e.details.more ?? 0) > 0 ? mentions(e.details.mentioned, e.details.more) : 'the escalation approvers (none left to ask)'} may approve too`;
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
    case 'activity.reported': {
      const d = e.details;
      const flagged = d.flagged > 0 ? `, :rotating_light: ${d.flagged} flagged (${d.flaggedNames.map(text).join(', ')})` : '';
      return `:mag: Session activity: ${d.calls} calls, ${d.writes} writes, ${d.expected} expected${flagged}; ${d.complete ? 'complete' : `incomplete${d.failedRegions.length > 0 ? ` (could not read ${d.failedRegions.map(text).join(', ')})` : ''}`}; digest \`${text(d.digest)}\``;
    }
    case 'revoke.failed':
      return `:rotating_light: Removing access keeps failing (attempt ${e.details.attempt}): ${text(e.details.error)}. breakglass keeps retrying; next at ${when(e.details.nextAttemptAt)}`;
    default:
      return `${e.type} by ${who(e)}`;
  }
}

/**
 * How an event that ends the wait for decisions reads, and whom it names as deciding; null: the
 * event ends nothing. Everyone a reminder or the escalation mentioned hears it (one case per such event).
 */
function decided(e: DomainEvent): { line: string; by: string[] } | null {
  switch (e.type) {
    case 'request.approved':
      return { line: `:white_check_mark: Decided: approved by ${mentions(e.details.approvers)}`, by: e.details.approvers };
    case 'request.denied':
      return { line: `:no_entry: Decided: denied by ${who(e)}`, by: e.actor?.slackUserId ? [e.actor.slackUserId] : [] };
    case 'request.expired':
      return { line: e.details.lapsed ? `:alarm_clock: Closed: it lapsed, ${text(e.details.lapsed)}` : `:alarm_clock: Closed: nobody decided within ${humanDuration(e.details.pendingTimeout)}, so the request expired`, by: [] };
    case 'emergency.ratified':
      return { line: `:white_check_mark: Decided: ratified by ${mentions(e.details.approvers)}`, by: e.details.approvers };
    case 'emergency.rejected':
      // A denial is told by its request.denied; only the missed deadline needs its own line.
      return e.details.why === 'unratified' ? { line: `:lock: Closed: ${text(e.details.reason)}, so the emergency access is revoked`, by: [] } : null;
    case 'request.cancelled':
      return { line: e.details.by ? `:wastebasket: Closed: cancelled by operator \`${text(e.details.by)}\` (${text(e.details.reason ?? '')})` : ':wastebasket: Closed: the requester withdrew the request', by: [] };
    default:
      return null;
  }
}

/** Whether the event gets a reply in the approval message's thread: reminders, escalation, and the end of a wait someone was reminded of. */
export function repliesInApprovalThread(r: AccessRequest, e: DomainEvent): boolean {
  if (e.type === 'request.reminded' || e.type === 'request.escalated') return true;
  return decided(e) !== null && nudgesOf(r).pinged.length > 0;
}

/** The reply in the approval message's thread that mentions the people the event concerns (never the requester); null: none. */
export function approvalThreadReply(r: AccessRequest, e: DomainEvent): SlackMessage | null {
  const simple = (body: string): SlackMessage => ({ text: body, blocks: [{ type: 'section', text: mrkdwn(body) }] });
  if (e.type === 'request.reminded') {
    return simple(`:bell: Reminder: this request is still waiting for a decision, until ${when(decisionDeadline(r))}. ${mentions(e.details.mentioned, e.details.more)}: please approve or deny it above.`);
  }
  if (e.type === 'request.escalated') {
    const d = e.details;
    return d.mentioned.length + (d.more ?? 0) > 0
      ? simple(`:arrow_up: Escalated: nobody decided within ${humanDuration(d.after)}, so ${mentions(d.mentioned, d.more)} may now approve or deny this request too.`)
      : simple(`:arrow_up: Escalated: nobody decided within ${humanDuration(d.after)}, so the escalation approvers may now decide too (none of them is left to ask).`);
  }
  const end = decided(e);
  const pinged = nudgesOf(r).pinged;
  if (!end || pinged.length === 0) return null;
  const named = new Set(end.by);
  const { mentioned, more } = capped(pinged.filter((id) => !named.has(id)));
  return simple(`${end.line}.${mentioned.length + more > 0 ? ` ${mentions(mentioned, more)}: nothing left to do here.` : ''}`);
}


/** The buttons of an active grant in its requester's DMs: Extend (plain access only) and End access now. */
function accessButtons(r: AccessRequest, endsSessions: boolean): KnownBlock {
  const elements = [...(kindOf(r) === 'access' ? [extendButton(r)] : []), endAccessButton(r, { label: 'End access now', endsSessions })];
  return { type: 'actions', block_id: 'access', elements };
}

/** What the requester hears, by DM. Null: nothing to say for this event. `now`: when it is sent (for "in 9 minutes"). */
export function requesterDm(r: AccessRequest, e: DomainEvent, o: { accessPortalUrl: string | undefined; endsSessions: boolean; now: string }): SlackMessage | null {
  const tz = r.requester.tz || 'UTC';
  const name = escapeMrkdwn(r.profileName);
  const simple = (body: string): SlackMessage => ({ text: body, blocks: [{ type: 'section', text: mrkdwn(body) }] });
  const extension = kindOf(r) === 'extension';
  const yours = extension ? `Your extension \`${r.id}\` of \`${r.extends ?? ''}\`` : `Your request \`${r.id}\``;
  switch (e.type) {
    case 'request.submitted':
      return simple(
        extension
          ? `${yours} (*${name}*, ${humanDuration(r.duration)} more) is waiting for ${r.approvalsRequired} approval${r.approvalsRequired === 1 ? '' : 's'}. If it is not approved before your access ends, it lapses.`
          : `Your request \`${r.id}\` for *${name}* (${humanDuration(r.duration)}) is waiting for ${r.approvalsRequired} approval${r.approvalsRequired === 1 ? '' : 's'}.`,
      );
    case 'approval.given':
      return simple(`${who(e)} approved ${extension ? 'your extension' : 'your request'} \`${r.id}\` (${e.details.count} of ${e.details.required}).`);
    case 'request.denied':
      return simple(`${yours} for *${name}* was denied by ${who(e)}:\n${quoteUserText(e.details.reason, 1000)}`);
    case 'request.expired':
      if (e.details.lapsed) return simple(`${yours} lapsed: ${text(e.details.lapsed)}.`);
      return simple(`${yours} for *${name}* expired: nobody decided in time. Ask again if you still need access.`);
    case 'request.cancelled':
      return e.details.by ? simple(`${yours} for *${name}* was cancelled: ${text(e.details.reason ?? 'an operator stopped breakglass')}.`) : null;
    case 'grant.succeeded': {
      const until = humanInstant(e.details.expiresAt, tz);
      const portal = o.accessPortalUrl ? `<${o.accessPortalUrl}|AWS access portal>` : 'the AWS access portal';
      const body = `:unlock: *${name}* is active until *${until}*. Sign in through ${portal}.`;
      return {
        text: body,
        blocks: [
          { type: 'section', text: mrkdwn(body) },
          { type: 'context', elements: [mrkdwn(`Request \`${r.id}\` · account ${r.target.accountId} · ${o.endsSessions ? 'when access ends, the assignment is removed and the sessions it opened are ended' : 'ending access removes the assignment; sessions already open last until their own expiry'}`)] },
          accessButtons(r, o.endsSessions),
        ],
      };
    }
    case 'access.expiring': {
      const body = `:hourglass_flowing_sand: Your access to *${name}* (\`${r.id}\`) ends *${humanRelative(e.details.expiresAt, o.now)}*, at ${humanInstant(e.details.expiresAt, tz)}. Need longer? *Extend* asks the approvers; done early? *End access now*.`;
      return { text: body, blocks: [{ type: 'section', text: mrkdwn(body) }, accessButtons(r, o.endsSessions)] };
    }
    case 'emergency.invoked':
      return simple(
        `:rotating_light: Emergency access to *${name}* (\`${r.id}\`) is being granted now. Every approver was alerted: unless the quorum ratifies it by *${humanInstant(e.details.ratifyBy, tz)}*, or if anyone denies it, it is revoked at once.`,
      );
    case 'emergency.ratified':
      return simple(`:white_check_mark: Your emergency access \`${r.id}\` to *${name}* was ratified by ${e.details.approvers.map(mention).join(', ')}; it runs until it ends.`);
    case 'emergency.rejected':
      return simple(
        e.details.why === 'denied'
          ? `:lock: Your emergency access \`${r.id}\` to *${name}* was denied by ${who(e)}; it is being revoked now.`
          : `:lock: Your emergency access \`${r.id}\` to *${name}* was not ratified in time (${text(e.details.reason)}); it is being revoked now.`,
      );
    case 'access.extended':
      return simple(`:hourglass: Your access to *${name}* (\`${r.id}\`) was extended by ${humanDuration(e.details.duration)}: it now ends at *${humanInstant(e.details.to, tz)}*.`);
    case 'grant.failed':
      return extension
        ? simple(`:x: ${yours} was not applied: ${text(e.details.reason)}. Your access still ends when it did.`)
        : simple(`:x: Access for \`${r.id}\` could not be granted: ${text(e.details.reason)}. Nothing was left behind; ask again or contact the platform team.`);
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

/** The DM every eligible approver gets when someone takes emergency access: what, why, and Ratify / Deny. */
export function approverEmergencyDm(r: AccessRequest, e: Extract<DomainEvent, { type: 'emergency.invoked' }>): SlackMessage {
  const incident = e.details.incident ? ` for incident *${text(e.details.incident)}*` : '';
  const body = `:rotating_light: *EMERGENCY*: ${mention(r.requester.slackUserId)} took access to *${escapeMrkdwn(r.profileName)}* (account ${r.target.accountId}) for ${humanDuration(r.duration)}${incident}, without approval. Ratify by *${humanInstant(e.details.ratifyBy, 'UTC')}* or it is revoked; one denial revokes it now.`;
  return {
    text: body,
    blocks: [
      { type: 'section', text: mrkdwn(body) },
      { type: 'section', text: mrkdwn(`*Justification*\n${quoteUserText(r.justification, 1500)}`) },
      { type: 'actions', block_id: 'decision', elements: [approveButton(r), denyButton(r)] },
    ],
  };
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
