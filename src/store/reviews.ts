import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { DomainEvent } from '../domain/events.ts';
import type { AttestOutcome, ReviewRecord, ReviewStorePort } from '../services/ports.ts';
import { queryPages, updateIf, type Database } from './dynamo.ts';
import { OUTBOX_PARTITION } from './keys.ts';
import { materialize } from './requests.ts';

export const reviewKey = (id: string) => ({ pk: `REVIEW#${id}`, sk: 'REVIEW' });
/** Every review is listed twice by start (all, and its period's), so the newest overall or of a period is one query. */
const REVIEWS_PARTITION = 'REVIEWS';
const listPartition = (periodLabel?: string) => (periodLabel ? `${REVIEWS_PARTITION}#${periodLabel}` : REVIEWS_PARTITION);
const listSk = (r: Pick<ReviewRecord, 'id' | 'startedAt'>) => `${r.startedAt}#${r.id}`;
const scheduleKey = () => ({ pk: 'SYSTEM', sk: 'REVIEW_SCHEDULE' });

const FIELDS = ['id', 'status', 'startedAt', 'report', 'attestations', 'completedAt', 'nextReminderAt', 'overdueAt', 'overdueShouted', 'confirmations', 'message'] as const;

export function toReview(it: Record<string, unknown>): ReviewRecord {
  return Object.fromEntries(FIELDS.map((f) => [f, it[f] ?? null])) as unknown as ReviewRecord;
}

/** Reviews in the single table; each change is one conditional write that also queues its events. */
export class ReviewStore implements ReviewStorePort {
  constructor(private readonly db: Database) {}

  async create(review: ReviewRecord, event: DomainEvent): Promise<boolean> {
    try {
      await this.db.doc.send(
        new PutCommand({
          TableName: this.db.table,
          Item: { ...reviewKey(review.id), ...review, attestCount: 0, refusals: {}, outbox: materialize([event], review.startedAt, this.db), outboxPk: OUTBOX_PARTITION, outboxAt: review.startedAt },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      // Someone else stored it: list it as stored (again, if a crash came between the two writes), once.
      const existing = await this.get(review.id);
      if (existing) await this.list(existing);
      return false;
    }
    await this.list(review);
    return true;
  }

  private async list(review: ReviewRecord): Promise<void> {
    for (const pk of [listPartition(), listPartition(review.report.period.label)]) {
      await this.db.doc.send(new PutCommand({ TableName: this.db.table, Item: { pk, sk: listSk(review), id: review.id } }));
    }
  }

  async get(id: string): Promise<ReviewRecord | null> {
    const out = await this.db.doc.send(new GetCommand({ TableName: this.db.table, Key: reviewKey(id), ConsistentRead: true }));
    return out.Item ? toReview(out.Item) : null;
  }

  async latest(limit: number, periodLabel?: string): Promise<ReviewRecord[]> {
    const found: ReviewRecord[] = [];
    for await (const page of queryPages(this.db, {
      KeyConditionExpression: 'pk = :p',
      ExpressionAttributeValues: { ':p': listPartition(periodLabel) },
      ScanIndexForward: false,
      ConsistentRead: true,
      Limit: limit,
    })) {
      for (const it of page) {
        const review = await this.get(String(it.id));
        if (review && found.length < limit) found.push(review);
      }
      if (found.length >= limit) break;
    }
    return found;
  }

  async attest(id: string, reviewer: string, note: string | null, at: string, required: number): Promise<AttestOutcome> {
    // Read, then write guarded by what was read: each reviewer once, and the count moves by one per write.
    for (let attempt = 0; attempt < 20; attempt++) {
      const review = await this.get(id);
      if (!review) return 'missing';
      if (review.attestations[reviewer]) return 'already';
      if (review.status !== 'open') return 'closed';
      const seen = Object.keys(review.attestations).length;
      const count = seen + 1;
      const completes = count >= required;
      const attestedBy = [...Object.keys(review.attestations), reviewer].sort();
      const events: DomainEvent[] = [{ type: 'review.attested', requestId: null, actor: { slackUserId: reviewer, principalId: null }, details: { reviewId: id, note, count, required } }];
      if (completes) events.push({ type: 'review.completed', requestId: null, actor: null, details: { reviewId: id, attestedBy } });
      const item = await updateIf(this.db, {
        Key: reviewKey(id),
        UpdateExpression: `SET attestations.#r = :a, attestCount = :count${completes ? ', #status = :done, completedAt = :at, nextReminderAt = :null' : ''}, outbox = list_append(if_not_exists(outbox, :empty), :e), outboxPk = :obpk, outboxAt = :at`,
        ConditionExpression: '#status = :open AND attribute_not_exists(attestations.#r) AND attestCount = :seen',
        ExpressionAttributeNames: { '#r': reviewer, '#status': 'status' },
        ExpressionAttributeValues: {
          ':a': { at, note },
          ':count': count,
          ':seen': seen,
          ':open': 'open',
          ':at': at,
          ':empty': [],
          ':e': materialize(events, at, this.db),
          ':obpk': OUTBOX_PARTITION,
          ...(completes ? { ':done': 'completed', ':null': null } : {}),
        },
      });
      if (item) return completes ? 'completed' : 'attested';
    }
    throw new Error(`could not record the attestation on review ${id}: it kept changing`);
  }

  /**
   * One guarded write on the review: `set` (if any) and the events queued with it, only when
   * `condition` holds. False when it did not (someone got there first, or no such review).
   */
  private async appendWith(id: string, events: DomainEvent[], now: string, o: { set?: string; condition: string; names?: Record<string, string>; values?: Record<string, unknown> }): Promise<boolean> {
    const item = await updateIf(this.db, {
      Key: reviewKey(id),
      UpdateExpression: `SET ${o.set ? `${o.set}, ` : ''}outbox = list_append(if_not_exists(outbox, :empty), :e), outboxPk = :obpk, outboxAt = :now`,
      ConditionExpression: o.condition,
      ...(o.names ? { ExpressionAttributeNames: o.names } : {}),
      ExpressionAttributeValues: { ...o.values, ':empty': [], ':e': materialize(events, now, this.db), ':obpk': OUTBOX_PARTITION, ':now': now },
    });
    return item !== null;
  }

  appendEvents(id: string, events: DomainEvent[], now: string): Promise<boolean> {
    return this.appendWith(id, events, now, { condition: 'attribute_exists(pk)' });
  }

  async countRefusal(id: string, slackUserId: string): Promise<number> {
    const item = await updateIf(this.db, {
      Key: reviewKey(id),
      UpdateExpression: 'SET refusals.#u = if_not_exists(refusals.#u, :zero) + :one',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeNames: { '#u': slackUserId },
      ExpressionAttributeValues: { ':zero': 0, ':one': 1 },
    });
    const count = (item?.refusals as Record<string, unknown> | undefined)?.[slackUserId];
    return typeof count === 'number' ? count : 0;
  }

  remind(id: string, seen: string, next: string, event: DomainEvent, now: string): Promise<boolean> {
    return this.appendWith(id, [event], now, {
      set: 'nextReminderAt = :next',
      condition: '#status = :open AND nextReminderAt = :seen',
      names: { '#status': 'status' },
      values: { ':next': next, ':seen': seen, ':open': 'open' },
    });
  }

  markOverdue(id: string, event: DomainEvent, now: string): Promise<boolean> {
    return this.appendWith(id, [event], now, {
      set: 'overdueShouted = :t',
      condition: '#status = :open AND overdueShouted = :f',
      names: { '#status': 'status' },
      values: { ':t': true, ':f': false, ':open': 'open' },
    });
  }

  confirmCustodian(id: string, key: string, event: DomainEvent, now: string): Promise<boolean> {
    return this.appendWith(id, [event], now, {
      set: 'confirmations.#k = :now',
      condition: 'attribute_exists(pk) AND attribute_not_exists(confirmations.#k)',
      names: { '#k': key },
    });
  }

  async scheduleSince(now: string): Promise<string> {
    const item = await updateIf(this.db, {
      Key: scheduleKey(),
      UpdateExpression: 'SET since = if_not_exists(since, :now)',
      ExpressionAttributeValues: { ':now': now },
    });
    return typeof item?.since === 'string' ? item.since : now;
  }
}
