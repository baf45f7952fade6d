import type { CreationSlotsPort } from '../services/ports.ts';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { updateIf, type Database } from './dynamo.ts';

const SLOT_PARTITION = 'CREATION_SLOT';
const slotKey = (n: number) => ({ pk: SLOT_PARTITION, sk: n.toString().padStart(2, '0') });

/**
 * AWS allows 15 account-assignment creations in progress per instance. The
 * slots are items in the shared table, so the limit holds across replicas; a
 * slot names its holder (a request) and runs out, so a crashed holder's slot
 * comes back and a resumed grant finds its own slot again.
 */
export class CreationSlots implements CreationSlotsPort {
  /** Holders this process turned away, oldest first: a slot it frees goes to one of them at once. */
  private readonly waiting = new Set<string>();

  constructor(
    private readonly db: Database,
    private readonly size: number,
    /** Told of a holder turned away here when this process frees a slot (it queues that grant's work). */
    private readonly onFree: (holder: string) => void = () => undefined,
  ) {}

  /** Takes a free slot for `holder` (or the one it already has); null when all are busy. */
  async acquire(holder: string, now: string, until: string): Promise<number | null> {
    // One read says which slots are worth a write: with many grants at once, trying them blindly
    // in turn cost a failed (and billed) conditional write per busy slot.
    const out = await this.db.doc.send(new QueryCommand({ TableName: this.db.table, KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': SLOT_PARTITION }, ConsistentRead: true }));
    const held = new Map((out.Items ?? []).map((it) => [Number(it.sk), it]));
    const start = Math.floor(Math.random() * this.size);
    for (let i = 0; i < this.size; i++) {
      const n = (start + i) % this.size;
      const it = held.get(n);
      if (it?.holder !== undefined && it.holder !== holder && String(it.holdUntil) >= now) continue;
      const taken = await updateIf(this.db, {
        Key: slotKey(n),
        UpdateExpression: 'SET holder = :h, holdUntil = :u',
        ConditionExpression: 'attribute_not_exists(holder) OR holder = :h OR holdUntil < :now',
        ExpressionAttributeValues: { ':h': holder, ':u': until, ':now': now },
      });
      if (taken) {
        this.waiting.delete(holder);
        return n;
      }
    }
    this.waiting.add(holder);
    return null;
  }

  /** Frees the holder's slot (every slot it may hold when the number was not recorded). */
  async release(holder: string, slot: number | null): Promise<void> {
    let freed = false;
    for (const n of slot === null ? [...Array(this.size).keys()] : [slot]) {
      const released = await updateIf(this.db, {
        Key: slotKey(n),
        UpdateExpression: 'REMOVE holder, holdUntil',
        ConditionExpression: 'holder = :h',
        ExpressionAttributeValues: { ':h': holder },
      });
      freed ||= released !== null;
    }
    const next = this.waiting.values().next();
    if (freed && !next.done) {
      this.waiting.delete(next.value);
      this.onFree(next.value);
    }
  }
}
