/**
 * The access request and its lifecycle. Pure: no I/O, no clock of its own.
 *
 * PENDING ──quorum──▶ APPROVED ──▶ GRANTING ──▶ ACTIVE ──▶ REVOKING ──▶ REVOKED
 *    ├─deny──▶ DENIED               └─failure──▶ FAILED
 *    ├─cancel─▶ CANCELLED
 *    └─timeout▶ EXPIRED
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
] as const;
export type RequestStatus = (typeof REQUEST_STATUSES)[number];

const TRANSITIONS: Record<RequestStatus, readonly RequestStatus[]> = {
  PENDING: ['APPROVED', 'DENIED', 'CANCELLED', 'EXPIRED'],
  APPROVED: ['GRANTING', 'FAILED', 'CANCELLED'],
  GRANTING: ['ACTIVE', 'FAILED'],
  ACTIVE: ['REVOKING'],
  REVOKING: ['REVOKED'],
  REVOKED: [],
  DENIED: [],
  CANCELLED: [],
  EXPIRED: [],
  FAILED: [],
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

export interface Approval {
  slackUserId: string;
  at: string;
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

export type RevokeReason = 'expired' | 'ended' | 'revoke-all';

export interface AccessRequest {
  id: string;
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
  approvalsRequired: number;
  approvals: Approval[];
  pendingUntil: string;
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
  slack: {
    /** `repeated`: posted again after an interrupted delivery, so an earlier copy may exist; the message says so. */
    approvalMessage: { channel: string; ts: string; repeated?: boolean } | null;
    auditThread: { channel: string; ts: string; repeated?: boolean } | null;
  };
}
