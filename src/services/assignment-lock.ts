import type { AssignmentTarget } from '../domain/request.ts';
import type { ServiceContext } from './context.ts';
import { later } from './change.ts';
import { LockLost, withRenewedLock } from './renewed-lock.ts';
import type { AssignmentRecord } from './ports.ts';

/** A request's grants and revokes hold the lock as the request, so whoever resumes the request holds it too. */
export const lockOwnerFor = (requestId: string) => `request:${requestId}`;

export interface HeldAssignment {
  readonly target: AssignmentTarget;
  readonly owner: string;
  /** The record as it was when the lock was taken. */
  readonly record: AssignmentRecord;
  /** Throws LockLost unless the lock is still ours: called before every Identity Center change. */
  check(): void;
  /** Records that `requestId` is about to create the assignment. */
  markCreating(requestId: string): Promise<void>;
  /** Writes the record and lets go of the lock; throws LockLost (writing nothing) when the lock was lost. */
  save(record: AssignmentRecord): Promise<void>;
  /**
   * Keeps the lock past this pass, for work still in flight (a deletion Identity Center has not
   * confirmed yet): the request's next pass takes it again, nobody else judges the assignment meanwhile.
   */
  keepFor(ms: number): Promise<void>;
}

/**
 * Runs `work` holding the assignment's lock, renewed while the work runs (see renewed-lock.ts).
 * Null when someone else holds the lock. Unless the work saved or kept it, it is released at the end.
 */
export async function withAssignmentLock<T>(
  ctx: ServiceContext,
  target: AssignmentTarget,
  owner: string,
  work: (held: HeldAssignment) => Promise<T>,
): Promise<{ value: T } | null> {
  const port = {
    lock: (o: string, now: string, until: string) => ctx.assignments.lock(target, o, now, until),
    renew: (o: string, until: string) => ctx.assignments.renew(target, o, until),
    unlock: (o: string) => ctx.assignments.unlock(target, o),
  };
  return withRenewedLock(ctx, port, owner, 'an assignment', (lock) => {
    const held: HeldAssignment = {
      target,
      owner,
      record: lock.record,
      check: () => lock.check(),
      async markCreating(requestId) {
        lock.check();
        if (!(await ctx.assignments.markCreating(target, owner, requestId))) throw new LockLost('before creating');
      },
      async save(next) {
        lock.handedOver();
        if (!(await ctx.assignments.saveAndUnlock(target, owner, next))) throw new LockLost('before saving');
      },
      async keepFor(ms) {
        lock.handedOver();
        if (!(await ctx.assignments.renew(target, owner, later(ctx.clock.now(), ms + ctx.timing.leaseMs)))) throw new LockLost('while keeping it');
      },
    };
    return work(held);
  });
}

export interface Holders {
  /** Grants that rely on the assignment now (active, being granted, or whose revoke has not decided yet). */
  relying: string[];
  /** Grants whose revoke is deleting the assignment: wait for it to settle. */
  deleting: string[];
  /** Names left behind by grants that no longer rely on it (ended, failed, unknown): dropped. */
  stale: string[];
}

/** Checks every name in the record against the request it names: a name alone proves nothing. */
export async function classifyHolders(ctx: ServiceContext, holders: string[], target: AssignmentTarget, except: string | null): Promise<Holders> {
  const out: Holders = { relying: [], deleting: [], stale: [] };
  for (const id of new Set(holders)) {
    if (id === except) continue;
    const r = await ctx.requests.get(id);
    const same = r !== null && sameTarget(r.target, target);
    if (same && (r.status === 'ACTIVE' || r.status === 'GRANTING')) out.relying.push(id);
    else if (same && r.status === 'REVOKING') (r.revoke?.deletionRequestId ? out.deleting : out.relying).push(id);
    else out.stale.push(id);
  }
  if (out.stale.length > 0) ctx.log.warn({ event: 'assignment.stale_holders', stale: out.stale }, 'dropping holders that no longer rely on the assignment');
  return out;
}

/**
 * What a creation marker left by another request means now: its creation is still unsettled
 * (wait), it landed and that request holds the assignment, or it is stale and is dropped
 * (a marker left behind must never block every later grant).
 */
export async function settleForeignCreation(ctx: ServiceContext, record: AssignmentRecord, target: AssignmentTarget, self: string | null): Promise<AssignmentRecord | 'wait'> {
  const other = record.creating;
  if (!other || other === self) return record;
  const r = await ctx.requests.get(other);
  const same = r !== null && sameTarget(r.target, target);
  if (same && (r.status === 'GRANTING' || (r.status === 'FAILED' && r.grant.cleanupPending))) return 'wait';
  if (same && (r.status === 'ACTIVE' || r.status === 'REVOKING')) {
    return { ...record, holders: [...new Set([...record.holders, other])], creating: null };
  }
  ctx.log.warn({ event: 'assignment.stale_creating', requestId: other }, 'dropping a creation marker whose request no longer creates anything');
  return { ...record, creating: null };
}

export function sameTarget(a: AssignmentTarget, b: AssignmentTarget): boolean {
  return a.instanceArn === b.instanceArn && a.accountId === b.accountId && a.permissionSetArn === b.permissionSetArn && a.principalId === b.principalId;
}
