import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DomainEvent } from '../domain/events.ts';
import type { ChainedEvent, DeliveredAt, DeliveryProgress, DeliveryStep, ItemKey, OutboxItem, OutboxPort, PreviousClaim, QueuedEvent } from '../services/ports.ts';
import type { ChainRecord } from '../audit/chain.ts';
import { queryPages, updateIf, type Database } from './dynamo.ts';
import { sawChainAt } from './chain-floor.ts';
import { AUDIT_PARTITION, auditKey, INDEX_OUTBOX, OUTBOX_PARTITION, seqKey, systemOutboxKey } from './keys.ts';
import { materialize } from './requests.ts';

/** The events waiting on an item (a request, or the system item) and the append-only chain they go to. */
export class OutboxStore implements OutboxPort {
  constructor(private readonly db: Database) {}

  /** Items with undelivered events whose next attempt is due by `now` (all of them when null), oldest first. */
  async pending(now: string | null, limit = 500): Promise<OutboxItem[]> {
    const items: OutboxItem[] = [];
    for await (const page of queryPages(this.db, {
      IndexName: INDEX_OUTBOX,
      KeyConditionExpression: now ? 'outboxPk = :p AND outboxAt <= :now' : 'outboxPk = :p',
      ExpressionAttributeValues: now ? { ':p': OUTBOX_PARTITION, ':now': now } : { ':p': OUTBOX_PARTITION },
    })) {
      for (const it of page) items.push({ key: { pk: it.pk as string, sk: it.sk as string }, outbox: (it.outbox as QueuedEvent[]) ?? [], item: it });
      if (items.length >= limit) break;
    }
    return items;
  }

  async read(key: ItemKey): Promise<OutboxItem | null> {
    const out = await this.db.doc.send(new GetCommand({ TableName: this.db.table, Key: key, ConsistentRead: true }));
    if (!out.Item) return null;
    return { key, outbox: (out.Item.outbox as QueuedEvent[]) ?? [], item: out.Item };
  }

  /** Queues events that belong to no request (configuration, alerts). */
  async appendSystem(events: DomainEvent[], now: string): Promise<void> {
    await this.db.doc.send(
      new UpdateCommand({
        TableName: this.db.table,
        Key: systemOutboxKey(),
        UpdateExpression: 'SET outbox = list_append(if_not_exists(outbox, :empty), :e), outboxPk = :p, outboxAt = :now',
        ExpressionAttributeValues: { ':empty': [], ':e': materialize(events, now, this.db), ':p': OUTBOX_PARTITION, ':now': now },
      }),
    );
  }

  async claim(key: ItemKey, owner: string, now: string, until: string): Promise<PreviousClaim | null> {
    try {
      // The claim it replaces (ALL_OLD), read in the same write: nobody can slip one in between.
      const out = await this.db.doc.send(
        new UpdateCommand({
          TableName: this.db.table,
          Key: key,
          UpdateExpression: 'SET deliveryOwner = :me, deliveryUntil = :until',
          ConditionExpression: 'attribute_exists(outboxPk) AND (attribute_not_exists(deliveryUntil) OR deliveryUntil < :now OR deliveryOwner = :me)',
          ExpressionAttributeValues: { ':me': owner, ':until': until, ':now': now },
          ReturnValues: 'ALL_OLD',
        }),
      );
      return { owner: (out.Attributes?.deliveryOwner as string | undefined) ?? null, until: (out.Attributes?.deliveryUntil as string | undefined) ?? null };
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return null;
      throw err;
    }
  }

  async release(key: ItemKey, owner: string): Promise<void> {
    await updateIf(this.db, {
      Key: key,
      UpdateExpression: 'REMOVE deliveryOwner, deliveryUntil',
      ConditionExpression: 'deliveryOwner = :me',
      ExpressionAttributeValues: { ':me': owner },
    });
  }

  async delivered(key: ItemKey, eventId: string, stored: DeliveredAt[], last: boolean): Promise<boolean> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ':id': eventId };
    const sets = storedAt(stored, names, values);
    const removes = ['outbox[0]', ...(last ? ['outboxPk', 'outboxAt', 'deliveryOwner', 'deliveryUntil'] : [])];
    if (last) values[':one'] = 1;
    const item = await updateIf(this.db, {
      Key: key,
      UpdateExpression: `${sets.length > 0 ? `SET ${sets.join(', ')} ` : ''}REMOVE ${removes.join(', ')}`,
      ConditionExpression: `outbox[0].id = :id${last ? ' AND size(outbox) = :one' : ''}`,
      ExpressionAttributeNames: Object.keys(names).length > 0 ? names : undefined,
      ExpressionAttributeValues: values,
    });
    return item !== null;
  }

  async stopped(key: ItemKey, owner: string, progress: DeliveryProgress | null, chained: ChainedEvent[], retryAt: string): Promise<boolean> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ':me': owner, ':at': retryAt };
    const marks = chainedAt(chained, values);
    const sets = [...marks.sets, 'outboxAt = :at'];
    const conditions = ['attribute_exists(outboxPk)', '(deliveryOwner = :me OR attribute_not_exists(deliveryOwner))', ...marks.conditions];
    if (progress) {
      values[':id'] = progress.eventId;
      conditions.push('outbox[0].id = :id');
      const steps = (kind: 'done' | 'tried', list: DeliveryStep[]) =>
        list.map((step, i) => {
          names[`#${kind}${i}`] = step;
          values[':t'] = true;
          return `outbox[0].${kind}.#${kind}${i} = :t`;
        });
      sets.push(...steps('done', progress.done), ...steps('tried', progress.tried), ...storedAt(progress.stored, names, values));
    }
    const item = await updateIf(this.db, {
      Key: key,
      UpdateExpression: `SET ${sets.join(', ')} REMOVE deliveryOwner, deliveryUntil`,
      ConditionExpression: conditions.join(' AND '),
      ExpressionAttributeNames: Object.keys(names).length > 0 ? names : undefined,
      ExpressionAttributeValues: values,
    });
    return item !== null;
  }

  async markChained(key: ItemKey, chained: ChainedEvent[]): Promise<boolean> {
    if (chained.length === 0) return true;
    const values: Record<string, unknown> = {};
    const marks = chainedAt(chained, values);
    const item = await updateIf(this.db, {
      Key: key,
      UpdateExpression: `SET ${marks.sets.join(', ')}`,
      ConditionExpression: marks.conditions.join(' AND '),
      ExpressionAttributeValues: values,
    });
    return item !== null;
  }

  /** Puts off the next attempt, e.g. while Slack is down or asks us to wait. */
  async defer(key: ItemKey, until: string): Promise<void> {
    await updateIf(this.db, { Key: key, UpdateExpression: 'SET outboxAt = :u', ConditionExpression: 'attribute_exists(outboxPk)', ExpressionAttributeValues: { ':u': until } });
  }

  async chainHead(): Promise<ChainRecord | null> {
    const out = await this.db.doc.send(
      new QueryCommand({
        TableName: this.db.table,
        KeyConditionExpression: 'pk = :p',
        ExpressionAttributeValues: { ':p': AUDIT_PARTITION },
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      }),
    );
    const it = out.Items?.[0];
    return it ? this.seen(chainRecordOf(it)) : null;
  }

  async chainFrom(seq: number): Promise<ChainRecord[]> {
    const records: ChainRecord[] = [];
    for await (const page of queryPages(this.db, {
      KeyConditionExpression: 'pk = :p AND sk >= :from',
      ExpressionAttributeValues: { ':p': AUDIT_PARTITION, ':from': seqKey(Math.max(0, seq)) },
      ConsistentRead: true,
    })) {
      for (const it of page) records.push(chainRecordOf(it));
    }
    const head = records.at(-1);
    if (head) this.seen(head);
    return records;
  }

  /** Appends at record.seq; false when that position is taken (another replica won it). */
  async putChainRecord(record: ChainRecord): Promise<boolean> {
    try {
      await this.db.doc.send(
        new PutCommand({ TableName: this.db.table, Item: { ...auditKey(record.seq), ...record }, ConditionExpression: 'attribute_not_exists(pk)' }),
      );
      this.seen(record);
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  /** The chain in order, a page at a time. */
  async *chain(): AsyncGenerator<ChainRecord> {
    for await (const page of queryPages(this.db, { KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': AUDIT_PARTITION }, ConsistentRead: true })) {
      for (const it of page) yield chainRecordOf(it);
    }
  }

  private seen(record: ChainRecord): ChainRecord {
    sawChainAt(this.db, record.seq);
    return record;
  }
}

/** SET clauses storing where deliveries went. */
function storedAt(stored: DeliveredAt[], names: Record<string, string>, values: Record<string, unknown>): string[] {
  return stored.map((s, i) => {
    s.path.forEach((p, j) => (names[`#s${i}_${j}`] = p));
    values[`:s${i}`] = s.value;
    return `${s.path.map((_, j) => `#s${i}_${j}`).join('.')} = :s${i}`;
  });
}

/** SET clauses recording where events are in the chain (the conditions use :c<index>). */
function chainedAt(chained: ChainedEvent[], values: Record<string, unknown>): { sets: string[]; conditions: string[] } {
  if (chained.length > 0) values[':t'] = true;
  for (const c of chained) {
    values[`:c${c.index}`] = c.eventId;
    values[`:n${c.index}`] = c.seq;
  }
  return {
    sets: chained.flatMap((c) => [`outbox[${c.index}].done.chain = :t`, `outbox[${c.index}].chainSeq = :n${c.index}`]),
    // Each mark lands only on the event it names (the outbox moves as events are delivered).
    conditions: chained.map((c) => `outbox[${c.index}].id = :c${c.index}`),
  };
}

/** A chain record as an item holds it. */
export function chainRecordOf(it: Record<string, unknown>): ChainRecord {
  return {
    seq: it.seq as number,
    at: it.at as string,
    type: it.type as string,
    requestId: (it.requestId as string | null) ?? null,
    actor: (it.actor as ChainRecord['actor']) ?? null,
    details: (it.details as Record<string, unknown>) ?? {},
    eventId: it.eventId as string,
    prevHash: it.prevHash as string,
    ...(typeof it.keyId === 'string' ? { keyId: it.keyId } : {}),
    hash: it.hash as string,
  };
}
