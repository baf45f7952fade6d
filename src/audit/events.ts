/** The vocabulary of the audit record: every event breakglass can write. */
export const EVENT_TYPES = [
  'config.loaded',
  'request.submitted',
  'approval.given',
  'request.approved',
  'request.denied',
  'request.cancelled',
  'request.expired',
  'attempt.rejected',
  'grant.started',
  'grant.succeeded',
  'grant.failed',
  'access.ended',
  'revoke.started',
  'revoke.succeeded',
  'revoke.kept',
  'revoke.retrying',
  'revoke.failed',
  'quorum.unsafe',
  'drift.detected',
  'drift.revoked',
  'drift.resolved',
  'revoke_all.started',
  'revoke_all.finished',
  'freeze.set',
  'freeze.lifted',
  'audit.checkpoint',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface Actor {
  slackUserId: string | null;
  principalId: string | null;
}

export interface AuditEvent {
  id: string;
  type: EventType;
  at: string;
  requestId: string | null;
  actor: Actor | null;
  details: Record<string, unknown>;
  /** Delivery steps already done, so a retry repeats none of them. */
  done?: Partial<Record<DeliveryStep, boolean>>;
  /** Chain position reserved for this event, so a crash after the append does not append it twice. */
  chainSeq?: number;
  /** Slack posts started but not known to have landed: a retry marks its post as a possible repeat. */
  tried?: Partial<Record<DeliveryStep, boolean>>;
}

export type DeliveryStep = 'chain' | 'approvalMessage' | 'thread' | 'dm' | 'views' | 'shout' | 'alertUpdate';

export type NewEvent = Omit<AuditEvent, 'id' | 'at' | 'done' | 'chainSeq' | 'tried'> & { at?: string };

/** The bot itself, for events no person caused (expiry, sweeper). */
export const SYSTEM_ACTOR: Actor = { slackUserId: null, principalId: null };
