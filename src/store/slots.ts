import type { CreationSlotsPort } from '../services/ports.ts';
import { updateIf, type Database } from './dynamo.ts';

const slotKey = (n: number) => ({ pk: 'CREATION_SLOT', sk: n.toString().padStart(2, '0') });

/**
 * AWS allows 15 account-assignment creations in progress per instance. The
 * slots are items in the shared table, so the limit holds across replicas; a
 * slot names its holder (a request) and runs out, so a crashed holder's slot
 * comes back and a resumed grant finds its own slot again.
 */
export class CreationSlots implements CreationSlotsPort {
  constructor(
    private readonly db: Database,
    private readonly size: number,
  ) {}

  /** Takes a free slot for `holder` (or the one it already has); null when all are busy. */
  async acquire(holder: string, now: string, until: string): Promise<number | null> {
    const start = Math.floor(Math.random() * this.size);
    for (let i = 0; i < this.size; i++) {
      const n = (start + i) % this.size;
      const taken = await updateIf(this.db, {
        Key: slotKey(n),
        UpdateExpression: 'SET holder = :h, holdUntil = :u',
        ConditionExpression: 'attribute_not_exists(holder) OR holder = :h OR holdUntil < :now',
        ExpressionAttributeValues: { ':h': holder, ':u': until, ':now': now },
      });
      if (taken) return n;
    }
    return null;
  }

  /** Frees the holder's slot (every slot it may hold when the number was not recorded). */
  async release(holder: string, slot: number | null): Promise<void> {
    for (const n of slot === null ? [...Array(this.size).keys()] : [slot]) {
      await updateIf(this.db, {
        Key: slotKey(n),
        UpdateExpression: 'REMOVE holder, holdUntil',
        ConditionExpression: 'holder = :h',
        ExpressionAttributeValues: { ':h': holder },
      });
    }
  }
}
