import type { ActivityReport } from './activity.ts';
import type { ReasonCategory } from './categories.ts';
/**
 * The access request and its lifecycle. Pure: no I/O, no clock of its own.
 *
 * PENDING ──quorum──▶ APPROVED ──▶ GRANTING ──▶ ACTIVE ──▶ REVOKING ──▶ REVOKED
 *    ├─deny──▶ DENIED      │        └─failure──▶ FAILED
 *    ├─cancel─▶ CANCELLED  └─(an extension)──▶ EXTENDED: the grant it extends runs longer
 *    └─timeout▶ EXPIRED
 *
 * Three kinds share it: access (the above), an extension (approved like access, then moves the
 * expiry of the grant it extends instead of creating anything), and an emergency (created
 * APPROVED and granted at once; approvers then ratify it, or it is revoked).
 */
export const REQUEST_STATUSES = [
  'PENDING',
  'APPROVED',
  'GRANTING',
  'ACTIVE',
  'REVOKING',
  'REVOKED',
  'DENIED',
  'CANCELLED',
  'EXPIRED',
  'FAILED',
  'EXTENDED',
] as const;
export type RequestStatus = (typeof REQUEST_STATUSES)[number];

const TRANSITIONS: Record<RequestStatus, readonly RequestStatus[]> = {
  PENDING: ['APPROVED', 'DENIED', 'CANCELLED', 'EXPIRED'],
  APPROVED: ['GRANTING', 'FAILED', 'CANCELLED', 'EXTENDED'],
  GRANTING: ['ACTIVE', 'FAILED'],
  ACTIVE: ['REVOKING'],
  REVOKING: ['REVOKED'],
  REVOKED: [],
  DENIED: [],
  CANCELLED: [],
  EXPIRED: [],
  FAILED: [],
  EXTENDED: [],
};

export function canTransition(from: RequestStatus, to: RequestStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export class IllegalTransition extends Error {
  constructor(from: RequestStatus, to: RequestStatus) {
    super(`a request cannot go from ${from} to ${to}`);
    this.name = 'IllegalTransition';
  }
}

/** Every status change goes through here: the fields that move `r` to `to`, or IllegalTransition. */
export function transition(r: Pick<AccessRequest, 'status'>, to: RequestStatus): { status: RequestStatus } {
  if (!canTransition(r.status, to)) throw new IllegalTransition(r.status, to);
  return { status: to };
}

export function isFinal(status: RequestStatus): boolean {
  return TRANSITIONS[status].length === 0;
}

export const kindOf = (r: Pick<AccessRequest, 'kind'>): RequestKind => r.kind ?? 'access';

export interface Approval {
  slackUserId: string;
  at: string;
  /** The approval rules (indexes into the request's `rules`) this person could count toward when they approved; absent: the only rule. */
  rules?: number[];
}

/** A denial, when a profile needs more than one to end a request. */
export interface Denial {
  slackUserId: string;
  at: string;
  reason: string;
}

/** One approval rule as the request was submitted under it: how many, and whom people see it asks. */
export interface RuleSnapshot {
  count: number;
  label: string;
}

export type RequestKind = 'access' | 'extension' | 'emergency';

/** An emergency grant: given at once, then ratified by the quorum or revoked. */
export interface EmergencyState {
  /** The quorum must approve before this instant, or the access is revoked. */
  ratifyBy: string;
  ratifiedAt: string | null;
  /** Why the access is being taken back: an approver denied it, or nobody ratified it in time. */
  rejected: { why: 'denied' | 'unratified'; by: string | null; at: string; reason: string } | null;
}

/** An extension that moved this grant's expiry. */
export interface AppliedExtension {
  requestId: string;
  duration: string;
  at: string;
  from: string;
  to: string;
}

/** What the bot stored about one assignment it manages for a request. */
export interface AssignmentTarget {
  instanceArn: string;
  accountId: string;
  permissionSetArn: string;
  principalId: string;
}

/** Ending the sessions a grant issued, after its assignment is gone. */
export interface SessionEnding {
  state: 'ending' | 'ended' | 'kept' | 'lapsed';
  /** Sessions issued before this instant are denied. */
  instant: string | null;
  /** Why sessions were not ended (kept), or what keeps failing. */
  why: string | null;
  attempts: number;
}

/** The session activity report of a grant that ended: waiting for CloudTrail, then the report. */
export interface ActivityState {
  state: 'waiting' | 'reported';
  attempts: number;
  lastError: string | null;
  report: ActivityReport | null;
  /** SHA-256 of the report's canonical JSON, as the audit record carries it. */
  digest: string | null;
}

export type RevokeReason = 'expired' | 'ended' | 'revoke-all' | 'denied' | 'unratified';

export interface AccessRequest {
  id: string;
  /** Absent on requests stored before kinds existed: 'access'. */
  kind?: RequestKind;
  /** An extension: the request whose grant it extends. */
  extends?: string | null;
  status: RequestStatus;
  version: number;
  createdAt: string;
  updatedAt: string;
  requester: {
    slackUserId: string;
    principalId: string;
    email: string;
    name: string;
    tz: string;
    /** The Identity Center user the access goes to, as approvers are shown it. */
    identity?: { userName: string; email: string; displayName: string | null };
  };
  profileId: string;
  profileName: string;
  target: AssignmentTarget;
  /** ISO-8601 duration, one of the profile's choices. */
  duration: string;
  justification: string;
  ticket: string | null;
  /** The reason category the requester chose (absent: none, or stored before categories). */
  category?: ReasonCategory | null;
  approvalsRequired: number;
  /** The profile's approval rules when it was submitted; absent: one rule of `approvalsRequired` from the approver pool. */
  rules?: RuleSnapshot[];
  approvals: Approval[];
  /** How many distinct denials end it (absent: 1), and those given so far. */
  denialsRequired?: number;
  denials?: Denial[];
  pendingUntil: string;
  /** From this instant the policy's escalation approvers may approve too (absent: never). */
  escalatesAt?: string | null;
  /** Reminders and escalation: when the next reminder is due, whether the pool has grown, and everyone mentioned so far. */
  nudges?: {
    nextReminderAt: string | null;
    escalated: boolean;
    pinged: string[];
    /** Who of the escalation pool was told when it grew (`more`: not mentioned, to keep the message short). */
    escalatedTo?: { mentioned: string[]; more: number };
  };
  emergency?: EmergencyState | null;
  decision: { by: string; at: string; reason: string | null } | null;
  grant: {
    startedAt: string | null;
    /** Set before CreateAccountAssignment is called, so a crash before its id is stored is recognised. */
    creationAttemptedAt: string | null;
    /** The shared creation slot this grant holds while its creation is outstanding. */
    creationSlot: number | null;
    creationRequestId: string | null;
    grantedAt: string | null;
    expiresAt: string | null;
    /** Why no assignment was created: the user already held it. */
    alreadyHeld: string | null;
    failure: string | null;
    /** When the creation was last seen still in progress: the time box starts no later than its confirmation. */
    pendingSeenAt?: string | null;
    /** The cleanup's deletion of a creation that landed late, once asked for. */
    cleanupDeletionId?: string | null;
    /** A creation that was never confirmed may still land: the sweeper removes it if so. */
    cleanupPending: boolean;
    attempts: number;
    /** Extensions that moved `expiresAt`, oldest first. */
    extensions?: AppliedExtension[];
    /** The latest extension asked for: one waits for approval at a time, and it lapses when this grant ends. */
    extensionRequested?: string | null;
    /** The expiry the requester was last warned about (a moved expiry is warned about again). */
    warnedFor?: string | null;
  };
  revoke: {
    reason: RevokeReason;
    by: string | null;
    startedAt: string;
    deletionRequestId: string | null;
    attempts: number;
    lastError: string | null;
    /** Why the assignment was left in place (standing access, another grant). */
    kept: string | null;
    doneAt: string | null;
    /** When Identity Center confirmed the assignment gone; sessions issued before it are then ended. */
    removedAt?: string | null;
    sessions?: SessionEnding | null;
  } | null;
  /** Absent: no report was asked for (ended before reports, never granted, or reports off). */
  activity?: ActivityState | null;
  slack: {
    /** `repeated`: posted again after an interrupted delivery, so an earlier copy may exist; the message says so. */
    approvalMessage: { channel: string; ts: string; repeated?: boolean } | null;
    auditThread: { channel: string; ts: string; repeated?: boolean } | null;
  };
}
