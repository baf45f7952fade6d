import { later } from './change.ts';
import type { ServiceContext } from './context.ts';

/** The lock was taken over (it ran out while this process could not renew it): stop, write nothing. */
export class LockLost extends Error {
  constructor(what: string) {
    super(`lost the lock ${what}; the work is retried`);
    this.name = 'LockLost';
  }
}

/** A store's lock on one item: taken until a time, renewed by its owner, released. */
export interface LockPort<R> {
  lock(owner: string, now: string, until: string): Promise<R | null>;
  renew(owner: string, until: string): Promise<boolean>;
  unlock(owner: string): Promise<boolean>;
}

export interface HeldLock<R> {
  readonly owner: string;
  /** The item as it was when the lock was taken. */
  readonly record: R;
  /** Throws LockLost unless the lock is still ours: called before every change outside the store. */
  check(): void;
  /** The work saved the item and let go of the lock itself (or keeps it on purpose): do not release it. */
  handedOver(): void;
}

/**
 * Runs `work` holding a lock that is renewed while the work runs (AWS calls can outlast any fixed
 * lock: throttled retries, conflicts, polling). Null when someone else holds the lock. Unless the
 * work handed it over, the lock is released at the end.
 */
export async function withRenewedLock<R, T>(ctx: ServiceContext, port: LockPort<R>, owner: string, what: string, work: (held: HeldLock<R>) => Promise<T>): Promise<{ value: T } | null> {
  const lockMs = ctx.timing.leaseMs;
  const now = ctx.clock.now();
  const record = await port.lock(owner, now, later(now, lockMs));
  if (record === null) return null;
  let heldUntil = Date.parse(later(now, lockMs));
  let lost = false;
  let released = false;
  const stopRenewing = ctx.clock.every(Math.max(250, Math.floor(lockMs / 3)), () => {
    const until = later(ctx.clock.now(), lockMs);
    void port.renew(owner, until).then(
      (ok) => {
        if (ok) heldUntil = Date.parse(until);
        else lost = true;
      },
      (err: unknown) => ctx.log.warn({ err, event: 'lock.renew_failed', lock: what, owner }, 'could not renew a lock'),
    );
  });
  const held: HeldLock<R> = {
    owner,
    record,
    check() {
      // Past the last renewed end, someone else may have taken it even if no renewal said so yet.
      if (lost || ctx.clock.ms() > heldUntil) throw new LockLost(`on ${what} while working`);
    },
    handedOver() {
      released = true;
      // The work writes the lock's end itself (saved and let go, or kept to a time of its own): a renewal from now on is a wasted write, or cuts a kept lock short.
      stopRenewing();
    },
  };
  try {
    return { value: await work(held) };
  } finally {
    stopRenewing();
    if (!released && !(await port.unlock(owner))) ctx.log.warn({ event: 'lock.lost', lock: what, owner }, 'a lock had already been taken over when released');
  }
}
