import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DomainEvent } from '../domain/events.ts';
import type { DeliveryStep, ItemKey, OutboxItem, OutboxPort, QueuedEvent } from '../services/ports.ts';
import type { ChainRecord } from '../audit/chain.ts';
import { queryPages, updateIf, type Database } from './dynamo.ts';
import { AUDIT_PARTITION, auditKey, INDEX_OUTBOX, OUTBOX_PARTITION, systemOutboxKey } from './keys.ts';
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
        ExpressionAttributeValues: { ':empty': [], ':e': materialize(events, now), ':p': OUTBOX_PARTITION, ':now': now },
      }),
    );
  }

  /**
   * Records a delivery step of the event at `index` as done (and optionally
   * stores where it went, e.g. the Slack message ts); false when that
   * position no longer holds the event.
   */
  async markDone(key: ItemKey, index: number, eventId: string, step: DeliveryStep, extra?: { path: string[]; value: unknown }): Promise<boolean> {
    const names: Record<string, string> = { '#step': step };
    let extraSet = '';
    if (extra) {
      extra.path.forEach((p, i) => (names[`#x${i}`] = p));
      extraSet = `, ${extra.path.map((_, i) => `#x${i}`).join('.')} = :extra`;
    }
    return this.conditional(key, eventId, `SET outbox[${index}].done.#step = :t${extraSet}`, {
      index,
      names,
      values: { ':t': true, ...(extra ? { ':extra': extra.value } : {}) },
    });
  }

  /**
   * Reserves chain position `seq` for the event, only if nobody changed its
   * reservation since we read `previous` and it is not in the chain yet:
   * two replicas never both decide where the same event goes.
   */
  async reserveSeq(key: ItemKey, index: number, eventId: string, seq: number, previous: number | null): Promise<boolean> {
    return this.conditional(key, eventId, `SET outbox[${index}].chainSeq = :n`, {
      index,
      values: { ':n': seq, ...(previous === null ? {} : { ':old': previous }) },
      extraCondition: `attribute_not_exists(outbox[${index}].done.chain) AND ${
        previous === null ? `attribute_not_exists(outbox[${index}].chainSeq)` : `outbox[${index}].chainSeq = :old`
      }`,
    });
  }

  /** Notes that a Slack post of the head event is about to be made, so a retry knows it may repeat one. */
  async markTried(key: ItemKey, eventId: string, step: DeliveryStep): Promise<boolean> {
    return this.conditional(key, eventId, 'SET outbox[0].tried.#step = :t', { names: { '#step': step }, values: { ':t': true } });
  }

  /** Slack refused the post outright: the next try is not a repeat. */
  async clearTried(key: ItemKey, eventId: string, step: DeliveryStep): Promise<boolean> {
    return this.conditional(key, eventId, 'REMOVE outbox[0].tried.#step', { names: { '#step': step } });
  }

  /**
   * Claims the right to deliver an item's events to Slack for a while, so
   * replicas do not post the same event twice; renewed by claiming again.
   */
  async claimDelivery(key: ItemKey, owner: string, now: string, until: string): Promise<boolean> {
    const item = await updateIf(this.db, {
      Key: key,
      UpdateExpression: 'SET deliveryOwner = :me, deliveryUntil = :until',
      ConditionExpression: 'attribute_exists(outboxPk) AND (attribute_not_exists(deliveryUntil) OR deliveryUntil < :now OR deliveryOwner = :me)',
      ExpressionAttributeValues: { ':me': owner, ':until': until, ':now': now },
    });
    return item !== null;
  }

  async releaseDelivery(key: ItemKey, owner: string): Promise<void> {
    await updateIf(this.db, {
      Key: key,
      UpdateExpression: 'REMOVE deliveryOwner, deliveryUntil',
      ConditionExpression: 'deliveryOwner = :me',
      ExpressionAttributeValues: { ':me': owner },
    });
  }

  /** Stores where something was posted, outside any one event (the audit thread's parent). */
  async setPath(key: ItemKey, path: string[], value: unknown): Promise<void> {
    const names: Record<string, string> = {};
    path.forEach((p, i) => (names[`#p${i}`] = p));
    await this.db.doc.send(
      new UpdateCommand({
        TableName: this.db.table,
        Key: key,
        UpdateExpression: `SET ${path.map((_, i) => `#p${i}`).join('.')} = :v`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: { ':v': value },
      }),
    );
  }

  /** Drops the delivered head event; the item leaves the outbox index with its last event. */
  async pop(key: ItemKey, eventId: string, lastAsRead = true): Promise<void> {
    // Others were queued behind it when read: it cannot be the last (events are only ever appended).
    const last = lastAsRead && (await this.conditional(key, eventId, 'REMOVE outbox[0], outboxPk, outboxAt', { values: { ':one': 1 }, extraCondition: 'size(outbox) = :one' }));
    if (!last) await this.conditional(key, eventId, 'REMOVE outbox[0]', {});
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
    return it ? chainRecordOf(it) : null;
  }

  async chainRecord(seq: number): Promise<ChainRecord | null> {
    const out = await this.db.doc.send(new GetCommand({ TableName: this.db.table, Key: auditKey(seq), ConsistentRead: true }));
    return out.Item ? chainRecordOf(out.Item) : null;
  }

  /** Appends at record.seq; false when that position is taken (another replica won it). */
  async putChainRecord(record: ChainRecord): Promise<boolean> {
    try {
      await this.db.doc.send(
        new PutCommand({ TableName: this.db.table, Item: { ...auditKey(record.seq), ...record }, ConditionExpression: 'attribute_not_exists(pk)' }),
      );
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

  private async conditional(
    key: ItemKey,
    eventId: string,
    update: string,
    o: { index?: number; names?: Record<string, string>; values?: Record<string, unknown>; extraCondition?: string },
  ): Promise<boolean> {
    const item = await updateIf(this.db, {
      Key: key,
      UpdateExpression: update,
      ConditionExpression: `outbox[${o.index ?? 0}].id = :id${o.extraCondition ? ` AND ${o.extraCondition}` : ''}`,
      ExpressionAttributeNames: o.names && Object.keys(o.names).length > 0 ? o.names : undefined,
      ExpressionAttributeValues: { ':id': eventId, ...(o.values ?? {}) },
    });
    return item !== null;
  }
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
