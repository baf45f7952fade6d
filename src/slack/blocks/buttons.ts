/**
 * Every button that changes access, with Slack's confirmation dialog saying exactly what will
 * happen. The same buttons appear on the approval message, in DMs and in the App Home; the
 * server checks every click whatever the button said.
 */
import type { Button, ConfirmationDialog } from '@slack/types';
import { humanDuration } from '../../domain/duration.ts';
import { kindOf, type AccessRequest } from '../../domain/request.ts';
import { ACTION_APPROVE, ACTION_DENY, ACTION_DRIFT_REVOKE, ACTION_END_ACCESS, ACTION_EXTEND } from '../ids.ts';
import { plain } from '../text.ts';

/** Slack's limits: title 100, text 300, button labels 30 characters. */
function confirm(title: string, text: string, yes: string, style: 'primary' | 'danger'): ConfirmationDialog {
  return { title: plain(title, 100), text: plain(text, 300), confirm: plain(yes, 30), deny: plain('Cancel', 30), style };
}

const who = (r: AccessRequest) => r.requester.identity?.userName ?? r.requester.name;
const what = (r: AccessRequest) => `${r.profileName} (account ${r.target.accountId})`;

export function approveButton(r: AccessRequest): Button {
  const kind = kindOf(r);
  const text =
    kind === 'emergency'
      ? `Ratify ${who(r)}'s emergency access to ${what(r)}? Once the quorum ratifies, it runs to its end instead of being revoked.`
      : kind === 'extension'
        ? `Approve extending ${who(r)}'s access to ${what(r)} by ${humanDuration(r.duration)}? Once the quorum is met, the access ends that much later.`
        : `Approve ${who(r)}'s access to ${what(r)} for ${humanDuration(r.duration)}? Once the quorum is met, Identity Center grants it at once.`;
  return {
    type: 'button',
    action_id: ACTION_APPROVE,
    style: 'primary',
    text: plain(kind === 'emergency' ? 'Ratify' : 'Approve'),
    value: r.id,
    confirm: confirm(kind === 'emergency' ? 'Ratify emergency access?' : 'Approve this request?', text, kind === 'emergency' ? 'Ratify' : 'Approve', 'primary'),
  };
}

export function denyButton(r: AccessRequest): Button {
  const required = kindOf(r) === 'emergency' ? 1 : (r.denialsRequired ?? 1);
  const left = required - (r.denials ?? []).length;
  const text =
    kindOf(r) === 'emergency'
      ? `Deny ${who(r)}'s emergency access to ${what(r)}? It is revoked at once, with its open sessions. You will be asked for a reason.`
      : left > 1
        ? `Deny ${who(r)}'s request for ${what(r)}? Your denial is recorded; ${left - 1} more end the request. You will be asked for a reason.`
        : `Deny ${who(r)}'s request for ${what(r)}? The request ends and ${who(r)} sees your reason, which you give next.`;
  return { type: 'button', action_id: ACTION_DENY, style: 'danger', text: plain('Deny'), value: r.id, confirm: confirm('Deny this request?', text, 'Deny', 'danger') };
}

/** End access (the requester) or Revoke (an approver): the assignment goes and so do the sessions it opened, unless the profile keeps them. */
export function endAccessButton(r: AccessRequest, o: { label: 'End access now' | 'Revoke'; endsSessions: boolean }): Button {
  const sessions = o.endsSessions ? ' and the sessions it opened are ended' : '; sessions already open last until their own expiry';
  const text =
    o.label === 'Revoke'
      ? `Revoke ${who(r)}'s access to ${what(r)} now? The assignment is removed${sessions}. ${who(r)} is told.`
      : `End your access to ${what(r)} now? The assignment is removed${sessions}. To work again you need a new request.`;
  return {
    type: 'button',
    action_id: ACTION_END_ACCESS,
    style: 'danger',
    text: plain(o.label),
    value: r.id,
    confirm: confirm(o.label === 'Revoke' ? 'Revoke access?' : 'End access now?', text, o.label === 'Revoke' ? 'Revoke' : 'End access', 'danger'),
  };
}

export function driftRevokeButton(driftId: string, subject: string): Button {
  return {
    type: 'button',
    action_id: ACTION_DRIFT_REVOKE,
    style: 'danger',
    text: plain('Revoke'),
    value: driftId,
    confirm: confirm('Revoke this assignment?', `Remove the assignment ${subject} from Identity Center now? Nothing breakglass granted backs it; the user's open sessions are ended too.`, 'Revoke', 'danger'),
  };
}

/** Opens the extension form (no confirmation: the form is the next step, and an extension needs approval). */
export function extendButton(r: AccessRequest): Button {
  return { type: 'button', action_id: ACTION_EXTEND, text: plain('Extend'), value: r.id };
}
