/**
 * Everything breakglass can record, one payload type per event. A change to a request and the
 * events it causes are written together; the audit chain, the log and every Slack message are
 * rendered from these. Pure types: no I/O.
 */
import type { ReasonCategory } from './categories.ts';
import type { AssignmentTarget, RevokeReason } from './request.ts';

/** Who caused an event: a Slack user, and their Identity Center user when known. Null: breakglass itself. */
export interface Actor {
  slackUserId: string | null;
  principalId: string | null;
}

export interface EventPayloads {
  'config.loaded': { policyPath: string; policySha256: string; profiles: string[]; store: string };
  'request.submitted': {
    profileId: string;
    profileName: string;
    accountId: string;
    permissionSetArn: string;
    duration: string;
    justification: string;
    ticket: string | null;
    /** The reason category chosen (null: none); absent on records made before categories. */
    category?: ReasonCategory | null;
    approvalsRequired: number;
    identityCenterUser?: { userId: string; userName: string; email: string };
    /** Absent: access. An extension names the request it extends; an emergency was granted at once. */
    kind?: 'extension' | 'emergency';
    extends?: string;
  };
  /** `counted: false`: recorded, but it fills no rule still open (the person's rules were already met). */
  'approval.given': { count: number; required: number; counted?: boolean };
  /** One of several denials a profile needs (`denials` above 1); the last one is request.denied. */
  'denial.given': { count: number; required: number; reason: string };
  /** Approvers who had not acted were mentioned in the approval message's thread; `more`: how many others were left out of one message. */
  'request.reminded': { mentioned: string[]; more?: number };
  /** The escalation pool may approve from now on; `mentioned`: who of it was told. */
  'request.escalated': { after: string; mentioned: string[]; more?: number };
  /** The requester was warned that the grant ends soon. */
  'access.expiring': { expiresAt: string; warning: string };
  /** An approved extension moved this grant's end. */
  'access.extended': { extensionId: string; duration: string; from: string; to: string; approvers: string[] };
  /** This extension moved the end of the grant it extends. */
  'extension.applied': { extends: string; expiresAt: string };
  /** Emergency access was granted without approval; the quorum must ratify it by `ratifyBy`. `notified`: the approvers told by DM. */
  'emergency.invoked': { ratifyBy: string; ratifyWithin: string; incident: string | null; notified: string[] };
  'emergency.ratified': { approvers: string[] };
  /** Not ratified in time, or denied: the access is revoked at once. */
  'emergency.rejected': { why: 'denied' | 'unratified'; reason: string };
  'request.approved': { approvers: string[] };
  'request.denied': { reason: string };
  /** `by` and `reason` when an operator's kill switch cancelled it. */
  'request.cancelled': { by?: string; reason?: string };
  /** `lapsed`: an extension whose grant ended first, and how. */
  'request.expired': { pendingTimeout: string; pendingUntil: string; lapsed?: string };
  /** `count`: how many times this person has been refused on this request (the 1st, 10th, 100th… are recorded). */
  'attempt.rejected': { action: string; reason: string; count?: number; reviewId?: string };
  'grant.started': { target: AssignmentTarget };
  'grant.succeeded': { grantedAt: string; expiresAt: string; alreadyHeld: string | null; creationRequestId: string | null };
  /** `refused`: the request no longer satisfied the policy, so nothing was asked of Identity Center. */
  'grant.failed': { reason: string; creationRequestId: string | null; refused?: boolean };
  'access.ended': { reason: RevokeReason };
  'revoke.started': { reason: RevokeReason; expiresAt: string | null; operator?: string; note?: string };
  /** `cleanup`: a failed grant's unconfirmed creation was removed. */
  'revoke.succeeded': { deletionRequestId?: string | null; attempts?: number; cleanup?: boolean; note?: string };
  'revoke.kept': { why: string };
  /** The permission set now denies the user's sessions issued before `instant` in the account (provisioning confirmed). */
  'sessions.ended': { instant: string; accountId: string; combined: boolean };
  /** Sessions were not ended, and why (another grant, standing access, a group, the profile's setting). */
  'sessions.kept': { why: string };
  'sessions.retrying': { attempt: number; error: string; nextAttemptAt: string };
  /** Ending them kept failing until they had all expired by themselves. */
  'sessions.lapsed': { instant: string; error: string };
  'revoke.retrying': { attempt: number; error: string; nextAttemptAt: string };
  'revoke.failed': { attempt: number; error: string; nextAttemptAt: string };
  /** What the grant's sessions did, from CloudTrail; the full report is on the request, `digest` is its SHA-256. */
  'activity.reported': {
    window: { start: string; end: string; endsAt: 'removal' | 'session-expiry' };
    regions: string[];
    failedRegions: string[];
    complete: boolean;
    calls: number;
    writes: number;
    expected: number;
    flagged: number;
    /** The flagged calls' event names, distinct, at most 20. */
    flaggedNames: string[];
    /** How the work compared with the reason category: matched, not-matched, no-writes, not-compared, no-category. */
    category: string;
    digest: string;
  };
  'quorum.unsafe': { problems: string[] };
  'drift.detected': {
    driftId: string;
    profileId: string;
    profileName: string;
    accountId: string;
    permissionSetArn: string;
    principalType: 'USER' | 'GROUP';
    principalId: string;
    mode: 'alert' | 'revoke';
  };
  /** `sessions`: 'ended', or why they were not. */
  'drift.revoked': { driftId: string; deletionRequestId: string; sessions?: string };
  'drift.resolved': { driftId: string; note: string };
  'revoke_all.started': { operator: string; reason: string; count: number };
  'revoke_all.finished': { operator: string; reason: string; revoked: number; pending: number; remaining: string[] };
  'freeze.set': { operator: string; reason: string };
  'freeze.lifted': { operator: string; reason: string };
  /** An access review was started (`by`: the operator, null: on schedule); `custodians`: the holders asked by DM to confirm they still hold their items. */
  'review.started': { reviewId: string; by: string | null; period: string; since: string; until: string; findings: number; flagged: number; approvals: number; custodians: string[] };
  /** A reviewer attested (each once); `count` distinct reviewers so far of `required`. */
  'review.attested': { reviewId: string; note: string | null; count: number; required: number };
  'review.completed': { reviewId: string; attestedBy: string[] };
  /** Reviewers who have not attested were reminded in the review's thread. */
  'review.reminded': { reviewId: string; mentioned: string[]; more: number };
  /** Not attested by its quorum in time: shouted in the audit channel once. */
  'review.overdue': { reviewId: string; startedAt: string; overdueAt: string; attested: number; required: number };
  /** A holder confirmed they still hold a root-credential item. */
  'custodian.confirmed': { reviewId: string; item: string };
  'audit.checkpoint': { seq: number; hash: string; keyId: string | null; archived: boolean };
}

export type EventType = keyof EventPayloads;

/** One event as a change causes it: `details` is the payload of its type. */
export type DomainEvent = {
  [T in EventType]: { type: T; requestId: string | null; actor: Actor | null; details: EventPayloads[T]; at?: string };
}[EventType];
