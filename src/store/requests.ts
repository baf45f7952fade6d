import { randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DomainEvent } from '../domain/events.ts';
import type { QueuedEvent } from '../services/ports.ts';
import type { AccessRequest, RequestStatus } from '../domain/request.ts';
import { ConflictError, type Changes, type DueItem, type Guard, type RequestStorePort } from '../services/ports.ts';
import { chainFloor } from './chain-floor.ts';
import { queryPages, updateIf, type Database } from './dynamo.ts';
import { DUE_PARTITION, INDEX_DUE, INDEX_REQUESTER, OUTBOX_PARTITION, refusalKey, requestKey } from './keys.ts';

/** Top-level request fields an update may set. */
export const REQUEST_FIELDS = new Set([
  'status',
  'updatedAt',
  'requester',
  'profileId',
  'profileName',
  'target',
  'duration',
  'justification',
  'ticket',
  'category',
  'approvalsRequired',
  'approvals',
  'rules',
  'denialsRequired',
  'denials',
  'pendingUntil',
  'escalatesAt',
  'nudges',
  'emergency',
  'kind',
  'extends',
  'decision',
  'grant',
  'revoke',
  'slack',
  'activity',
]);

/** Events as they are queued on an item: an id each, and the chain floor of the database they go to. */
export function materialize(events: DomainEvent[], now: string, db: object): QueuedEvent[] {
  const floor = chainFloor(db);
  return events.map((e) => ({ ...e, id: randomUUID(), at: e.at ?? now, chainFloor: floor, done: {}, tried: {} }));
}

/** The replica that queues a request's events delivers them to Slack: it claims them in the same write. */
export interface DeliveryClaim {
  owner: string;
  leaseMs: number;
}

/** The claim on a request's delivery, as of `now`. */
function claimAt(claim: DeliveryClaim, now: string): { deliveryOwner: string; deliveryUntil: string } {
  return { deliveryOwner: claim.owner, deliveryUntil: new Date(Date.parse(now) + claim.leaseMs).toISOString() };
}

/** The claim a write that queues events takes, unless someone holds one (their claim stands). */
function claimOnQueue(claim: DeliveryClaim | null, now: string, values: Record<string, unknown>): string[] {
  if (!claim) return [];
  const { deliveryOwner, deliveryUntil } = claimAt(claim, now);
  values[':downer'] = deliveryOwner;
  values[':duntil'] = deliveryUntil;
  return ['deliveryOwner = if_not_exists(deliveryOwner, :downer)', 'deliveryUntil = if_not_exists(deliveryUntil, :duntil)'];
}

export function toRequest(item: Record<string, unknown>): AccessRequest {
  const { pk: _pk, sk: _sk, duePk: _dp, dueAt: _da, outboxPk: _op, outboxAt: _oa, requesterPk: _rp, requesterAt: _ra, outbox: _o, leaseOwner: _lo, leaseUntil: _lu, deliveryOwner: _do, deliveryUntil: _du, ...rest } = item;
  return rest as unknown as AccessRequest;
}

/** The keys that list a request under its requester (INDEX_REQUESTER); written once, at creation. */
export const requesterKeys = (r: AccessRequest) => ({ requesterPk: r.requester.slackUserId, requesterAt: r.createdAt });

/** The request id in a request item's key. */
export const requestIdOf = (pk: unknown): string => String(pk).replace(/^REQ#/, '');

/** DynamoDB's answer to a query on an index the table lacks, or is still building (backfilling). */
export function indexUnusable(err: unknown): boolean {
  const e = err as { name?: string; message?: string };
  return e.name === 'ValidationException' && /specified index|backfilling/i.test(e.message ?? '');
}

export class RequestStore implements RequestStorePort {
  constructor(
    private readonly db: Database,
    private readonly delivery: DeliveryClaim | null = null,
  ) {}

  /** Stores a new request with its first events; the id is fresh, so this cannot collide. */
  async create(request: AccessRequest, events: DomainEvent[], due: string): Promise<void> {
    const now = request.updatedAt;
    await this.db.doc.send(
      new PutCommand({
        TableName: this.db.table,
        Item: {
          ...requestKey(request.id),
          ...request,
          ...requesterKeys(request),
          duePk: DUE_PARTITION,
          dueAt: due,
          outbox: materialize(events, now, this.db),
          outboxPk: OUTBOX_PARTITION,
          outboxAt: now,
          ...(this.delivery ? claimAt(this.delivery, now) : {}),
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async get(id: string): Promise<AccessRequest | null> {
    const out = await this.db.doc.send(new GetCommand({ TableName: this.db.table, Key: requestKey(id), ConsistentRead: true }));
    return out.Item ? toRequest(out.Item) : null;
  }

  /**
   * Counts one refused attempt by a person on a request, in an item of its own beside the
   * request (so refusals never grow the request item and never change its version);
   * returns how many times that person has now been refused on it.
   */
  async countRefusal(id: string, slackUserId: string, action: string, at: string): Promise<number> {
    const out = await this.db.doc.send(
      new UpdateCommand({
        TableName: this.db.table,
        Key: refusalKey(id, slackUserId),
        UpdateExpression: 'ADD #n :one SET lastAction = :a, lastAt = :at',
        ExpressionAttributeNames: { '#n': 'count' },
        ExpressionAttributeValues: { ':one': 1, ':a': action, ':at': at },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(out.Attributes?.count ?? 1);
  }

  /** Queues events on a request without changing it (no version bump, so it never races a transition). */
  async appendEvents(id: string, events: DomainEvent[], now: string): Promise<boolean> {
    const values: Record<string, unknown> = { ':events': materialize(events, now, this.db), ':empty': [], ':obpk': OUTBOX_PARTITION, ':now': now };
    const item = await updateIf(this.db, {
      Key: requestKey(id),
      UpdateExpression: `SET ${['#outbox = list_append(if_not_exists(#outbox, :empty), :events)', 'outboxPk = :obpk', 'outboxAt = :now', ...claimOnQueue(this.delivery, now, values)].join(', ')}`,
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeNames: { '#outbox': 'outbox' },
      ExpressionAttributeValues: values,
    });
    return item !== null;
  }

  /**
   * The one way a request changes: a single conditional update, guarded by the
   * expected status and version, that also queues the events it causes (the
   * outbox) so a crash between the change and its audit loses nothing.
   */
  async update(id: string, guard: Guard | null, changes: Changes, now: string): Promise<AccessRequest> {
    const names: Record<string, string> = { '#version': 'version', '#updatedAt': 'updatedAt' };
    const values: Record<string, unknown> = { ':one': 1, ':now': now };
    const sets: string[] = ['#version = #version + :one', '#updatedAt = :now'];
    const removes: string[] = [];
    let i = 0;
    for (const [field, value] of Object.entries(changes.set ?? {})) {
      if (!REQUEST_FIELDS.has(field)) throw new Error(`not a request field: ${field}`);
      if (field === 'updatedAt') continue;
      names[`#f${i}`] = field;
      values[`:f${i}`] = value;
      sets.push(`#f${i} = :f${i}`);
      i++;
    }
    if (changes.events && changes.events.length > 0) {
      names['#outbox'] = 'outbox';
      values[':events'] = materialize(changes.events, now, this.db);
      values[':empty'] = [];
      values[':obpk'] = OUTBOX_PARTITION;
      sets.push('#outbox = list_append(if_not_exists(#outbox, :empty), :events)', 'outboxPk = :obpk', 'outboxAt = :now', ...claimOnQueue(this.delivery, now, values));
    }
    if (changes.due !== undefined) {
      if (changes.due === null) removes.push('duePk', 'dueAt');
      else {
        values[':duepk'] = DUE_PARTITION;
        values[':due'] = changes.due;
        sets.push('duePk = :duepk', 'dueAt = :due');
      }
    }
    if (changes.lease === null) removes.push('leaseOwner', 'leaseUntil');
    else if (changes.lease) {
      values[':leaseOwner'] = changes.lease.owner;
      values[':leaseUntil'] = changes.lease.until;
      sets.push('leaseOwner = :leaseOwner', 'leaseUntil = :leaseUntil');
    }
    let condition = 'attribute_exists(pk)';
    if (guard) {
      const statuses = typeof guard.status === 'string' ? [guard.status] : guard.status;
      names['#status'] = 'status';
      statuses.forEach((s, j) => (values[`:s${j}`] = s));
      values[':v'] = guard.version;
      condition += ` AND #status IN (${statuses.map((_, j) => `:s${j}`).join(', ')}) AND #version = :v`;
    }
    try {
      const out = await this.db.doc.send(
        new UpdateCommand({
          TableName: this.db.table,
          Key: requestKey(id),
          UpdateExpression: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toRequest(out.Attributes ?? {});
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) throw new ConflictError();
      throw err;
    }
  }

  /**
   * Claims the right to do slow work (talk to Identity Center) on a request
   * for a while. Replicas and the sweeper skip a request another holds; a
   * dead holder's claim runs out and is taken over.
   */
  async claim(id: string, owner: string, status: RequestStatus, now: string, until: string): Promise<AccessRequest | null> {
    const item = await updateIf(this.db, {
      Key: requestKey(id),
      UpdateExpression: 'SET leaseOwner = :me, leaseUntil = :until',
      ConditionExpression: '#status = :s AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now OR leaseOwner = :me)',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':me': owner, ':until': until, ':now': now, ':s': status },
    });
    return item ? toRequest(item) : null;
  }

  async release(id: string, owner: string): Promise<void> {
    await updateIf(this.db, {
      Key: requestKey(id),
      UpdateExpression: 'REMOVE leaseOwner, leaseUntil',
      ConditionExpression: 'leaseOwner = :me',
      ExpressionAttributeValues: { ':me': owner },
    });
  }

  /** A person's newest requests: the requester index says which (keys only), the items are read consistently. */
  async ofRequester(slackUserId: string, limit: number): Promise<AccessRequest[] | null> {
    let keys: Record<string, unknown>[];
    try {
      const out = await this.db.doc.send(
        new QueryCommand({
          TableName: this.db.table,
          IndexName: INDEX_REQUESTER,
          KeyConditionExpression: 'requesterPk = :p',
          ExpressionAttributeValues: { ':p': slackUserId },
          ScanIndexForward: false,
          Limit: limit,
        }),
      );
      keys = out.Items ?? [];
    } catch (err) {
      if (indexUnusable(err)) return null;
      throw err;
    }
    const found = await Promise.all(keys.map((k) => this.get(requestIdOf(k.pk))));
    return found.filter((r): r is AccessRequest => r !== null);
  }

  /** Requests whose next action is due by `until` (all live requests when until is null): the sparse index, never a Scan. */
  async due(until: string | null, limit = 100): Promise<DueItem[]> {
    return this.dueItems(until ? { key: ' AND dueAt <= :until', values: { ':until': until } } : {}, limit);
  }

  async dueOf(slackUserId: string): Promise<DueItem[]> {
    return this.dueItems({ filter: 'requester.slackUserId = :u', values: { ':u': slackUserId } }, Infinity);
  }

  /** The due index, oldest first, as id, status and due time (never a Scan). */
  private async dueItems(o: { key?: string; filter?: string; values?: Record<string, string> }, limit: number): Promise<DueItem[]> {
    const items: DueItem[] = [];
    for await (const page of queryPages(this.db, {
      IndexName: INDEX_DUE,
      KeyConditionExpression: `duePk = :p${o.key ?? ''}`,
      ...(o.filter ? { FilterExpression: o.filter } : {}),
      ExpressionAttributeValues: { ':p': DUE_PARTITION, ...o.values },
      ProjectionExpression: 'id, #status, dueAt',
      ExpressionAttributeNames: { '#status': 'status' },
    })) {
      items.push(...(page as unknown as DueItem[]));
      if (items.length >= limit) break;
    }
    return items;
  }
}
