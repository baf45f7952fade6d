import { humanInstant } from './duration.ts';
import type { AccessRequest, Approval } from './request.ts';

export type ApprovalRejection =
  | { kind: 'self'; message: string }
  | { kind: 'ineligible'; message: string }
  | { kind: 'not_pending'; message: string }
  | { kind: 'expired'; message: string }
  | { kind: 'duplicate'; message: string };

export type ApprovalOutcome =
  | { ok: true; approvals: Approval[]; quorumReached: boolean }
  | { ok: false; rejection: ApprovalRejection };

/**
 * Counts one approval. Eligibility is decided by the caller at click time
 * (policy users or current user-group members); the requester never counts,
 * and the same person counts once however often they click.
 */
export function evaluateApproval(
  request: AccessRequest,
  approverSlackId: string,
  eligible: boolean,
  at: string,
): ApprovalOutcome {
  if (request.status !== 'PENDING') {
    return {
      ok: false,
      rejection: { kind: 'not_pending', message: `This request is no longer waiting for approval (it is ${request.status.toLowerCase()}).` },
    };
  }
  if (at >= request.pendingUntil) return { ok: false, rejection: expired(request) };
  if (approverSlackId === request.requester.slackUserId) {
    return { ok: false, rejection: { kind: 'self', message: 'You cannot approve your own request.' } };
  }
  if (!eligible) {
    return {
      ok: false,
      rejection: { kind: 'ineligible', message: 'You are not an approver for breakglass requests, so your approval was not counted. (Just added to an approver group? Slack is asked again within seconds; try once more.)' },
    };
  }
  if (request.approvals.some((a) => a.slackUserId === approverSlackId)) {
    return { ok: false, rejection: { kind: 'duplicate', message: 'You have already approved this request; it counts once.' } };
  }
  const approvals = [...request.approvals, { slackUserId: approverSlackId, at }];
  return { ok: true, approvals, quorumReached: approvals.length >= request.approvalsRequired };
}

export type DenyOutcome = { ok: true } | { ok: false; rejection: ApprovalRejection };

/** The pending timeout is part of every decision: a click after it never counts, however late the sweeper is. */
function expired(request: AccessRequest): ApprovalRejection {
  return { kind: 'expired', message: `This request expired at ${humanInstant(request.pendingUntil, 'UTC')} without enough approvals; nothing you do now counts. The requester can ask again.` };
}

export function evaluateDenial(request: AccessRequest, approverSlackId: string, eligible: boolean, at: string): DenyOutcome {
  if (request.status !== 'PENDING') {
    return {
      ok: false,
      rejection: { kind: 'not_pending', message: `This request is no longer waiting for a decision (it is ${request.status.toLowerCase()}).` },
    };
  }
  if (at >= request.pendingUntil) return { ok: false, rejection: expired(request) };
  if (approverSlackId === request.requester.slackUserId) {
    return { ok: false, rejection: { kind: 'self', message: 'You cannot decide your own request; use /breakglass cancel to withdraw it.' } };
  }
  if (!eligible) {
    return { ok: false, rejection: { kind: 'ineligible', message: 'Only breakglass approvers can deny a request.' } };
  }
  return { ok: true };
}
