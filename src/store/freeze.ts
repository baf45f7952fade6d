import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { DomainEvent } from '../domain/events.ts';
import type { Freeze, FreezePort } from '../services/ports.ts';
import { updateIf, type Database } from './dynamo.ts';
import { OUTBOX_PARTITION } from './keys.ts';
import { materialize } from './requests.ts';

const freezeKey = () => ({ pk: 'SYSTEM', sk: 'FREEZE' });

/**
 * The kill switch's freeze: one item, read fresh (consistently) by every submit, approval and
 * grant, so a freeze set by the CLI holds at once on every replica. Setting and lifting it
 * queue their audit events in the same write.
 */
export class FreezeStore implements FreezePort {
  constructor(private readonly db: Database) {}

  async get(): Promise<Freeze | null> {
    const out = await this.db.doc.send(new GetCommand({ TableName: this.db.table, Key: freezeKey(), ConsistentRead: true }));
    const it = out.Item;
    return it?.frozen === true ? { by: String(it.by), reason: String(it.reason), at: String(it.at) } : null;
  }

  /** Freezes (again: a later freeze replaces who and why); the event goes out with it. */
  async set(freeze: Freeze, event: DomainEvent): Promise<void> {
    await updateIf(this.db, {
      Key: freezeKey(),
      UpdateExpression: 'SET frozen = :t, #by = :by, reason = :reason, #at = :at, outbox = list_append(if_not_exists(outbox, :empty), :e), outboxPk = :obpk, outboxAt = :at',
      ExpressionAttributeNames: { '#by': 'by', '#at': 'at' },
      ExpressionAttributeValues: { ':t': true, ':by': freeze.by, ':reason': freeze.reason, ':at': freeze.at, ':empty': [], ':e': materialize([event], freeze.at, this.db), ':obpk': OUTBOX_PARTITION },
    });
  }

  /** Lifts the freeze; false when there was none. */
  async lift(at: string, event: DomainEvent): Promise<boolean> {
    const item = await updateIf(this.db, {
      Key: freezeKey(),
      UpdateExpression: 'SET frozen = :f, outbox = list_append(if_not_exists(outbox, :empty), :e), outboxPk = :obpk, outboxAt = :at',
      ConditionExpression: 'frozen = :t',
      ExpressionAttributeValues: { ':t': true, ':f': false, ':at': at, ':empty': [], ':e': materialize([event], at, this.db), ':obpk': OUTBOX_PARTITION },
    });
    return item !== null;
  }
}
