import { isTemporary } from '../aws/errors.ts';
import { backoffMs } from '../aws/pacing.ts';
import type { DomainEvent } from '../domain/events.ts';
import { transition, type AccessRequest, type RevokeReason } from '../domain/request.ts';
import type { ServiceContext } from './context.ts';
import { LockLost } from './renewed-lock.ts';
import type { AssignmentRecord, Changes } from './ports.ts';
import { reportWhenRevoked } from './activity-report.ts';
import { classifyHolders, lockOwnerFor, settleForeignCreation, withAssignmentLock, type HeldAssignment } from './assignment-lock.ts';
import { change, later, reschedule } from './change.ts';
import { describeError, pollUntilSettled } from './poll.ts';
import { endSessions, sessionsKeptBecause } from './sessions.ts';
import { addDuration } from '../domain/duration.ts';
import { leaseFrom, withLease } from './lease.ts';
import { lapseWaitingExtension } from './extend.ts';

/** ACTIVE → REVOKING; the caller runs or queues the revoke. Null when the request was not active. */
export async function startRevoke(
  ctx: ServiceContext,
  id: string,
  reason: RevokeReason,
  by: string | null,
  extra: { operator?: string; note?: string } = {},
): Promise<AccessRequest | null> {
  return begin(ctx, id, reason, by, extra, false);
}

/** Starts the revoke and runs it at once, under the lease its start took (no claim after it). False when the request was not active. */
export async function revokeNow(ctx: ServiceContext, id: string, reason: RevokeReason): Promise<boolean> {
  const started = await begin(ctx, id, reason, null, {}, true);
  if (started) await continueRevoke(ctx, id, started);
  return started !== null;
}

async function begin(ctx: ServiceContext, id: string, reason: RevokeReason, by: string | null, extra: { operator?: string; note?: string }, leased: boolean): Promise<AccessRequest | null> {
  const started = await change(ctx, id, ['ACTIVE'], (r, now) => {
    const events: DomainEvent[] = [];
    if (by) events.push({ type: 'access.ended', requestId: id, actor: { slackUserId: by, principalId: by === r.requester.slackUserId ? r.requester.principalId : null }, details: { reason } });
    events.push({ type: 'revoke.started', requestId: id, actor: by ? { slackUserId: by, principalId: null } : null, details: { reason, expiresAt: r.grant.expiresAt, ...extra } });
    return {
      set: { ...transition(r, 'REVOKING'), revoke: { reason, by, startedAt: now, deletionRequestId: null, attempts: 0, lastError: null, kept: null, doneAt: null } },
      events,
      due: now,
      ...(leased ? { lease: leaseFrom(ctx, now) } : {}),
    };
  });
  if (started) await lapseWaitingExtension(ctx, started, LAPSED_BECAUSE[reason]);
  return started;
}

const LAPSED_BECAUSE: Record<RevokeReason, string> = {
  expired: 'the access it extends ran out first',
  ended: 'the access it extends was ended early',
  'revoke-all': 'an operator revoked all access',
  denied: 'the access it extends was denied',
  unratified: 'the access it extends was not ratified',
};

/**
 * Removes the assignment unless something else still relies on it, and waits for Identity
 * Center to confirm; then ends the sessions the grant issued (services/sessions.ts). Never gives
 * up: a failure is retried with backoff, and repeated failures are shouted.
 */
export async function continueRevoke(ctx: ServiceContext, id: string, leased: AccessRequest | null = null): Promise<void> {
  await withLease(
    ctx,
    id,
    'REVOKING',
    async (claimed) => {
      if (!claimed.revoke) return;
      if (claimed.revoke.sessions?.state === 'ending') await runSessionEnding(ctx, claimed);
      else await runRevoke(ctx, claimed);
    },
    leased,
  );
}

async function runRevoke(ctx: ServiceContext, request: AccessRequest): Promise<void> {
  const locked = await withAssignmentLock(ctx, request.target, lockOwnerFor(request.id), async (held) => {
    try {
      await revokeUnderLock(ctx, request, held);
    } catch (err) {
      ctx.log.warn({ err, event: 'revoke.error', requestId: request.id }, 'revoke attempt failed');
      if (err instanceof LockLost) await reschedule(ctx, request.id, 1000);
      else await retryLater(ctx, request.id, describeError(err), isTemporary(err));
    }
  });
  if (!locked) await reschedule(ctx, request.id, 1000);
}

async function revokeUnderLock(ctx: ServiceContext, request: AccessRequest, held: HeldAssignment): Promise<void> {
  const t = request.target;
  const settled = await settleForeignCreation(ctx, held.record, t, request.id);
  // Another request is creating this assignment: its outcome decides whether anyone else relies on it.
  if (settled === 'wait') return reschedule(ctx, request.id, 1000);
  const holders = await classifyHolders(ctx, settled.holders, t, request.id);
  let deletionId = request.revoke?.deletionRequestId ?? null;
  if (!deletionId) {
    if (holders.deleting.length > 0) return reschedule(ctx, request.id, 1000);
    const others = holders.relying;
    const keepBecause = others.length > 0 ? `access granted by ${others.join(', ')} is still active` : settled.heldBefore;
    if (keepBecause) {
      await held.save({ holders: others, heldBefore: settled.heldBefore, creating: settled.creating === request.id ? null : settled.creating });
      return finish(ctx, request.id, keepBecause);
    }
    held.check();
    deletionId = await ctx.ic.startDeletion(t);
    const stored = deletionId;
    const still = await change(ctx, request.id, ['REVOKING'], (r) => (r.revoke ? { set: { revoke: { ...r.revoke, deletionRequestId: stored } } } : null));
    if (!still) return;
  }
  const id = deletionId;
  const status = await pollUntilSettled(ctx.clock, () => ctx.ic.deletionStatus(t.instanceArn, id), ctx.clock.ms() + ctx.timing.pollRoundMs);
  // Nobody else relies on it (a grant that finds it being deleted waits for this): the record is emptied.
  const gone: AssignmentRecord = { holders: [], heldBefore: null, creating: null };
  if (status.state === 'SUCCEEDED') {
    await held.save(gone);
    return removed(ctx, request.id);
  }
  if (status.state === 'FAILED') {
    if (!(await ctx.ic.hasAssignment(t))) {
      // Someone removed it meanwhile: the access is gone, which is what the revoke is for.
      await held.save(gone);
      return removed(ctx, request.id);
    }
    // AWS documents no permanent reason for a FAILED deletion: it is tried again soon.
    return retryLater(ctx, request.id, `Identity Center could not delete the assignment: ${status.failureReason ?? 'no reason given'}`, true);
  }
  // Still deleting: keep the lock into the next pass so nobody judges a half-deleted assignment.
  await held.keepFor(1000);
  await reschedule(ctx, request.id, 1000);
}

/** The assignment stays (another grant relies on it, or the user held it before): so do the sessions. */
async function finish(ctx: ServiceContext, id: string, kept: string): Promise<void> {
  await change(ctx, id, ['REVOKING'], (r, now) =>
    r.revoke
      ? {
          ...withReport(ctx, r, now, { ...transition(r, 'REVOKED'), revoke: { ...r.revoke, kept, doneAt: now, sessions: { state: 'kept', instant: null, why: kept, attempts: 0 } } }),
          events: [{ type: 'revoke.kept', requestId: id, actor: null, details: { why: kept } }],
        }
      : null,
  );
}

/**
 * Identity Center confirmed the assignment gone. That is recorded first (so a failure later never
 * deletes it again), with the instant before which the grant's sessions are to be denied; then the
 * sessions are ended in the same pass.
 */
async function removed(ctx: ServiceContext, id: string): Promise<void> {
  const marked = await change(ctx, id, ['REVOKING'], (r, now) =>
    r.revoke
      ? {
          set: { revoke: { ...r.revoke, removedAt: now, sessions: { state: 'ending', instant: now, why: null, attempts: 0 } } },
          events: [{ type: 'revoke.succeeded', requestId: id, actor: null, details: { deletionRequestId: r.revoke.deletionRequestId, attempts: r.revoke.attempts + 1 } }],
          due: now,
        }
      : null,
  );
  if (marked) await runSessionEnding(ctx, marked);
}

/** Ends the sessions the grant issued, or records why they stay; retried with backoff until done or until they have all expired anyway. */
async function runSessionEnding(ctx: ServiceContext, request: AccessRequest): Promise<void> {
  const instant = request.revoke?.sessions?.instant ?? request.revoke?.removedAt ?? ctx.clock.now();
  try {
    const kept = await sessionsKeptBecause(ctx, request.profileId, request.target);
    if (kept) return await sessionsSettled(ctx, request.id, { state: 'kept', why: kept }, { type: 'sessions.kept', requestId: request.id, actor: null, details: { why: kept } });
    const outcome = await endSessions(ctx, request.target, instant);
    if (outcome.ended) {
      return await sessionsSettled(ctx, request.id, { state: 'ended', why: null }, { type: 'sessions.ended', requestId: request.id, actor: null, details: { instant, accountId: request.target.accountId, combined: outcome.combined } });
    }
    // Another revoke holds the permission set and writes this wish with its own: look again soon, no failure.
    if (outcome.busy) return await reschedule(ctx, request.id, 500);
    await sessionsRetry(ctx, request, instant, outcome.retry, true);
  } catch (err) {
    ctx.log.warn({ err, event: 'sessions.error', requestId: request.id }, 'ending sessions failed');
    await sessionsRetry(ctx, request, instant, describeError(err), isTemporary(err));
  }
}

async function sessionsSettled(ctx: ServiceContext, id: string, outcome: { state: 'ended' | 'kept' | 'lapsed'; why: string | null }, event: DomainEvent): Promise<void> {
  await change(ctx, id, ['REVOKING'], (r, now) =>
    r.revoke?.sessions
      ? { ...withReport(ctx, r, now, { ...transition(r, 'REVOKED'), revoke: { ...r.revoke, doneAt: now, sessions: { ...r.revoke.sessions, ...outcome } } }), events: [event] }
      : null,
  );
}

async function sessionsRetry(ctx: ServiceContext, request: AccessRequest, instant: string, error: string, temporary: boolean): Promise<void> {
  // Once the session duration has passed since the instant, every session it was about has expired by itself.
  const duration = await ctx.ic.sessionDuration(request.target.instanceArn, request.target.permissionSetArn).catch(() => null);
  if (duration && ctx.clock.now() >= addDuration(instant, duration)) {
    return sessionsSettled(ctx, request.id, { state: 'lapsed', why: error }, { type: 'sessions.lapsed', requestId: request.id, actor: null, details: { instant, error } });
  }
  await change(ctx, request.id, ['REVOKING'], (r, now) => {
    const s = r.revoke?.sessions;
    if (!r.revoke || !s) return null;
    const attempt = s.attempts + 1;
    const nextAttemptAt = later(now, retryBackoff(ctx, attempt, temporary));
    return {
      set: { revoke: { ...r.revoke, sessions: { ...s, attempts: attempt, why: error } } },
      events: [{ type: 'sessions.retrying', requestId: r.id, actor: null, details: { attempt, error, nextAttemptAt } }],
      due: nextAttemptAt,
    };
  });
}

/** REVOKED, with the session activity report asked for in the same write (services/activity-report.ts). */
function withReport(ctx: ServiceContext, r: AccessRequest, now: string, set: NonNullable<Changes['set']>): Changes {
  const { due, ...report } = reportWhenRevoked(ctx, r, now);
  return { set: { ...set, ...report }, due };
}

/**
 * How long before attempt `attempt + 1`: within seconds after a temporary failure, backing off to
 * minutes after one that needs a person or one that keeps coming (an outage: every attempt is an
 * audited event, and a retry every few seconds for hours helps nobody).
 */
function retryBackoff(ctx: ServiceContext, attempt: number, temporary: boolean): number {
  const t = ctx.timing;
  if (temporary && attempt <= t.temporaryAttempts) return backoffMs(attempt - 1, t.temporaryBackoffBaseMs, t.temporaryBackoffCapMs);
  return backoffMs(attempt - 1, t.revokeBackoffBaseMs, t.revokeBackoffCapMs);
}

async function retryLater(ctx: ServiceContext, id: string, error: string, temporary: boolean): Promise<void> {
  await change(ctx, id, ['REVOKING'], (r, now) => {
    if (!r.revoke) return null;
    const attempt = r.revoke.attempts + 1;
    const nextAttemptAt = later(now, retryBackoff(ctx, attempt, temporary));
    const loud = attempt >= ctx.timing.shoutAfterAttempts;
    return {
      // A failed deletion is started afresh next time; the old request id has nothing more to say.
      set: { revoke: { ...r.revoke, attempts: attempt, lastError: error, deletionRequestId: null } },
      events: [{ type: loud ? 'revoke.failed' : 'revoke.retrying', requestId: id, actor: null, details: { attempt, error, nextAttemptAt } }],
      due: nextAttemptAt,
    };
  });
}
