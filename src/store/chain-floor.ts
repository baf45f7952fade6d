/**
 * The highest chain position this process has seen on each database: a floor for the events it
 * queues (QueuedEvent.chainFloor). Whoever appends an event looks for it above its floor, so the
 * floor only has to be at or below the head, which any position once seen is, for good (the
 * chain only grows). Kept per database handle (tests open many), beside it rather than on it.
 */
const seen = new WeakMap<object, number>();

export function chainFloor(db: object): number {
  return seen.get(db) ?? 0;
}

export function sawChainAt(db: object, seq: number): void {
  if (seq > chainFloor(db)) seen.set(db, seq);
}
