import type { AssignmentTarget } from '../domain/request.ts';
import type { ServiceContext } from './context.ts';
import { later } from './change.ts';
import type { AssignmentRecord } from './ports.ts';

/** The lock was taken over (it ran out while this process could not renew it): stop, write nothing. */
export class LockLost extends Error {
  constructor(what: string) {
    super(`lost the assignment lock ${what}; the request is retried`);
    this.name = 'LockLost';
  }
}

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
 * Runs `work` holding the assignment's lock, renewed while the work runs (Identity Center calls
 * can outlast any fixed lock: throttled retries, conflicts, polling). Null when someone else
 * holds the lock. Unless the work saved or kept it, the lock is released at the end.
 */
export async function withAssignmentLock<T>(
  ctx: ServiceContext,
  target: AssignmentTarget,
  owner: string,
  work: (held: HeldAssignment) => Promise<T>,
): Promise<{ value: T } | null> {
  const lockMs = ctx.timing.leaseMs;
  const now = ctx.clock.now();
  const record = await ctx.assignments.lock(target, owner, now, later(now, lockMs));
  if (!record) return null;
  let heldUntil = Date.parse(later(now, lockMs));
  let lost = false;
  let done = false;
  const stopRenewing = ctx.clock.every(Math.max(250, Math.floor(lockMs / 3)), () => {
    const at = ctx.clock.now();
    const until = later(at, lockMs);
    void ctx.assignments.renew(target, owner, until).then(
      (ok) => {
        if (ok) heldUntil = Date.parse(until);
        else lost = true;
      },
      (err: unknown) => ctx.log.warn({ err, event: 'assignment.lock_renew_failed', owner }, 'could not renew the assignment lock'),
    );
  });
  const held: HeldAssignment = {
    target,
    owner,
    record,
    check() {
      // Past the last renewed end, someone else may have taken it even if no renewal said so yet.
      if (lost || ctx.clock.ms() > heldUntil) throw new LockLost('while working');
    },
    async markCreating(requestId) {
      held.check();
      if (!(await ctx.assignments.markCreating(target, owner, requestId))) throw new LockLost('before creating');
    },
    async save(next) {
      done = true;
      if (!(await ctx.assignments.saveAndUnlock(target, owner, next))) throw new LockLost('before saving');
    },
    async keepFor(ms) {
      done = true;
      if (!(await ctx.assignments.renew(target, owner, later(ctx.clock.now(), ms + lockMs)))) throw new LockLost('while keeping it');
    },
  };
  try {
    return { value: await work(held) };
  } finally {
    stopRenewing();
    if (!done && !(await ctx.assignments.unlock(target, owner))) {
      ctx.log.warn({ event: 'assignment.lock_lost', owner }, 'the assignment lock had already been taken over when released');
    }
  }
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
