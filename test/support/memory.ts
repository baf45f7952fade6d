/**
 * In-memory implementations of every port in src/services/ports.ts, and a virtual clock, so the
 * services, the sweeper's steps and the audit publisher can be unit-tested in milliseconds.
 *
 * The stores keep DynamoDB's items, not objects of their own: one table of items keyed by
 * pk/sk, laid out exactly as src/store/*.ts lays them out (the request item carries its
 * outbox, lease and delivery claim; refusals, slots, the open-drift set, the freeze, chain
 * records and checkpoints are items of their own). Each method is the same single conditional
 * write as its DynamoDB twin, with the same condition, so it succeeds and fails in the same
 * cases; test/integration/store-contract.test.ts runs one set of tests against both to keep it
 * so. Like DynamoDB they:
 * - copy values in and out (nothing hands out a live reference; undefined map values are
 *   dropped, as the document client's removeUndefinedValues does);
 * - refuse a write that would leave an item over 400 KB, with the SDK's error
 *   (ValidationException, "Item size has exceeded the maximum allowed size" for a put,
 *   "Item size to update has exceeded the maximum allowed size" for an update);
 * - throw ValidationException for an update path whose parent does not exist.
 *
 * Item size is computed the way DynamoDB documents it (and dynalite implements it): the UTF-8
 * length of every attribute name plus its value; strings by UTF-8 length, numbers by about one
 * byte per two significant digits plus one, booleans and null one byte, lists and maps three
 * bytes plus one per element plus their contents (map keys counted like attribute names).
 *
 * Where DynamoDB is eventually consistent (the indexes) the memory table is consistent.
 * Where a DynamoDB query would page (1 MB) the memory table answers in one page.
 */
import { randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException, DynamoDBServiceException } from '@aws-sdk/client-dynamodb';
import { ConflictException, ResourceNotFoundException, ThrottlingException } from '@aws-sdk/client-sso-admin';
import { pino, type Logger } from 'pino';
import type { ChainRecord, Checkpoint } from '../../src/audit/chain.ts';
import type { CheckpointArchive, NewestCheckpoint } from '../../src/audit/checkpoint-archive.ts';
import type { TrailEvent } from '../../src/domain/activity.ts';
import type { DomainEvent } from '../../src/domain/events.ts';
import type { Policy, Principals, Profile } from '../../src/domain/policy.ts';
import type { AccessRequest, AssignmentTarget, RequestStatus } from '../../src/domain/request.ts';
import { backoffMs } from '../../src/aws/pacing.ts';
import { DEFAULT_TIMING, type ServiceContext, type Timing } from '../../src/services/context.ts';
import {
  ConflictError,
  SlackDeliveryError,
  type AssignmentRecord,
  type AssignmentStorePort,
  type AuditSlack,
  type Changes,
  type CheckpointStorePort,
  type CloudTrailPort,
  type Clock,
  type CreationSlotsPort,
  type Directory,
  type EmergencyUsePort,
  type DriftAlert,
  type DriftStatus,
  type DriftStorePort,
  type DueItem,
  type Freeze,
  type FreezePort,
  type Guard,
  type HomeVisitor,
  type HomeVisitorsPort,
  type IdentityCenterPort,
  type IdentityUser,
  type ItemKey,
  type ListedAssignment,
  type OperationStatus,
  DELIVERY_LEASE_MS,
  type ChainedEvent,
  type DeliveredAt,
  type DeliveryProgress,
  type OutboxItem,
  type OutboxPort,
  type PreviousClaim,
  type QueuedEvent,
  type RequestStorePort,
  type SlackText,
  type SlackUser,
  type SessionDenyRecord,
  type SessionDenyStorePort,
} from '../../src/services/ports.ts';
import { assignmentKey } from '../../src/store/assignments.ts';
import { sawChainAt } from '../../src/store/chain-floor.ts';
import { driftKey } from '../../src/store/drift.ts';
import { emergencyUsesKey } from '../../src/store/emergency-uses.ts';
import { AUDIT_PARTITION, auditKey, DUE_PARTITION, HOME_PARTITION, homeVisitorKey, OUTBOX_PARTITION, refusalKey, requestKey, seqKey, systemOutboxKey } from '../../src/store/keys.ts';
import { toHomeVisitor } from '../../src/store/home-visitors.ts';
import { materialize, REQUEST_FIELDS, type DeliveryClaim, requesterKeys, requestIdOf, toRequest } from '../../src/store/requests.ts';
import { chainRecordOf } from '../../src/store/outbox.ts';
import { mulberry32 } from './pacing.ts';

// ================================================================ the virtual clock

interface Timer {
  id: number;
  due: number;
  every: number;
  fn: () => void;
}

/**
 * A Clock on which time moves only when told: `sleep(ms)` resolves at once, having moved time
 * forward by `ms`, and `advance(ms)` does the same. Callbacks registered with `every` fire, in
 * order of their due times, as time passes them (with the clock reading their due time while
 * they run); a sleep of ten intervals fires ten times.
 */
export class VirtualClock implements Clock {
  private t: number;
  private timers: Timer[] = [];
  private nextId = 1;
  /** Every sleep asked of this clock, in order (ms). */
  readonly sleeps: number[] = [];

  constructor(start: string | number = NOW) {
    this.t = typeof start === 'number' ? start : Date.parse(start);
  }

  now(): string {
    return new Date(this.t).toISOString();
  }

  ms(): number {
    return this.t;
  }

  sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.advance(ms);
    return Promise.resolve();
  }

  /** Moves time forward by `ms`, firing every timer whose due time it passes. */
  advance(ms: number): void {
    const target = this.t + Math.max(0, ms);
    for (;;) {
      const next = this.timers.filter((x) => x.due <= target).sort((a, b) => a.due - b.due || a.id - b.id)[0];
      if (!next) break;
      this.t = Math.max(this.t, next.due);
      if (next.every > 0) next.due += next.every;
      else this.timers = this.timers.filter((x) => x !== next);
      next.fn();
    }
    this.t = target;
  }

  /** Moves time to `iso` (never backwards). */
  advanceTo(iso: string): void {
    this.advance(Date.parse(iso) - this.t);
  }

  every(ms: number, fn: () => void): () => void {
    const timer: Timer = { id: this.nextId++, due: this.t + Math.max(1, ms), every: Math.max(1, ms), fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((x) => x !== timer);
    };
  }

  after(ms: number, fn: () => void): () => void {
    const timer: Timer = { id: this.nextId++, due: this.t + Math.max(0, ms), every: 0, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((x) => x !== timer);
    };
  }

  /** Timers still registered (a service that forgot to stop its renewal leaves one behind). */
  pendingTimers(): number {
    return this.timers.length;
  }

  /** An ISO instant `ms` from now. */
  in(ms: number): string {
    return new Date(this.t + ms).toISOString();
  }
}

// ================================================================ DynamoDB's behaviour

export const NOW = '2026-11-28T00:00:00.000Z';

/** DynamoDB's item size limit. */
export const MAX_ITEM_BYTES = 400 * 1024;

type Item = Record<string, unknown>;

/** The error the SDK throws when a condition does not hold. */
export function conditionalCheckFailed(): ConditionalCheckFailedException {
  return new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: { httpStatusCode: 400 } });
}

/** The error the SDK throws for a ValidationException (item too large, invalid update path...). */
export function validationException(message: string): DynamoDBServiceException {
  return new DynamoDBServiceException({ name: 'ValidationException', message, $fault: 'client', $metadata: { httpStatusCode: 400 } });
}

const INVALID_PATH = 'The document path provided in the update expression is invalid for update';

/** A copy of a value as DynamoDB would store and return it: undefined dropped, sets and maps copied. */
export function dynamoCopy<T>(value: T): T {
  return copyValue(value) as T;
}

function copyValue(v: unknown): unknown {
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'number' && !Number.isFinite(v)) throw validationException('The parameter cannot be converted to a numeric value');
    if (typeof v === 'function' || typeof v === 'symbol' || typeof v === 'bigint') throw new Error(`Unsupported type passed: ${String(v)}`);
    return v;
  }
  if (Array.isArray(v)) return v.filter((x) => x !== undefined).map(copyValue);
  if (v instanceof Set) {
    if (v.size === 0) throw validationException('One or more parameter values were invalid: An number set  may not be empty');
    return new Set([...v].map(copyValue));
  }
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    // The document client is configured with convertClassInstanceToMap: false.
    throw new Error(`Unsupported type passed: ${Object.prototype.toString.call(v)}. Pass options.convertClassInstanceToMap=true to marshall typeof object as map attribute.`);
  }
  const out: Item = {};
  for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = copyValue(x);
  return out;
}

const utf8 = (s: string) => Buffer.byteLength(s, 'utf8');

function numberSize(n: number): number {
  if (n === 0) return 1;
  // Significant digits, without sign, point, exponent, leading or trailing zeros.
  const digits = Math.abs(n).toExponential().split('e')[0]?.replace('.', '').replace(/0+$/, '') ?? '';
  return 1 + Math.ceil(Math.max(1, digits.length) / 2) + (n < 0 ? 1 : 0);
}

function valueSize(v: unknown): number {
  if (v === null || typeof v === 'boolean') return 1;
  if (typeof v === 'string') return utf8(v);
  if (typeof v === 'number') return numberSize(v);
  if (v instanceof Set) return [...v].reduce((sum: number, x) => sum + valueSize(x), 0);
  if (Array.isArray(v)) return 3 + v.reduce((sum: number, x) => sum + 1 + valueSize(x), 0);
  if (typeof v === 'object') {
    const entries = Object.entries(v as Item);
    return 3 + entries.length + entries.reduce((sum, [k, x]) => sum + utf8(k) + valueSize(x), 0);
  }
  return 0;
}

/** The size DynamoDB counts for an item against its 400 KB limit. */
export function itemSize(item: Item): number {
  return Object.entries(item).reduce((sum, [k, v]) => sum + utf8(k) + valueSize(v), 0);
}

type PathPart = string | number;

/** The value at a document path, or undefined. */
function readPath(item: Item, path: readonly PathPart[]): unknown {
  let at: unknown = item;
  for (const p of path) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<PathPart, unknown>)[p];
  }
  return at;
}

/** The map or list that holds the last part of `path`; a ValidationException when there is none (as DynamoDB). */
function parentOf(item: Item, path: readonly PathPart[]): { parent: Record<PathPart, unknown> | unknown[]; last: PathPart } {
  const last = path[path.length - 1];
  if (last === undefined) throw new Error('empty path');
  const parent = readPath(item, path.slice(0, -1));
  if (parent === null || typeof parent !== 'object' || parent instanceof Set) throw validationException(INVALID_PATH);
  if (Array.isArray(parent) !== (typeof last === 'number')) throw validationException(INVALID_PATH);
  return { parent: parent as Record<PathPart, unknown>, last };
}

/** SET path = value. */
function setPath(item: Item, path: readonly PathPart[], value: unknown): void {
  const { parent, last } = parentOf(item, path);
  if (Array.isArray(parent)) {
    const i = last as number;
    if (i >= parent.length) parent.push(dynamoCopy(value));
    else parent[i] = dynamoCopy(value);
  } else parent[last] = dynamoCopy(value);
}

/** REMOVE path (a list element's removal shifts the ones after it, as in DynamoDB). */
function removePath(item: Item, path: readonly PathPart[]): void {
  if (path.length === 1) {
    delete item[path[0] as string];
    return;
  }
  const { parent, last } = parentOf(item, path);
  if (Array.isArray(parent)) {
    if ((last as number) < parent.length) parent.splice(last as number, 1);
  } else delete parent[last];
}

const appendList = (item: Item, field: string, values: unknown[]) => {
  const existing = item[field];
  if (existing !== undefined && !Array.isArray(existing)) throw validationException('An operand in the update expression has an incorrect data type');
  item[field] = [...((existing as unknown[] | undefined) ?? []), ...dynamoCopy(values)];
};

const tableKey = (k: ItemKey) => `${k.pk}\u0000${k.sk}`;

export interface MemoryTableOptions {
  maxItemBytes?: number;
  /**
   * Interleave concurrent callers: before each operation, wait a pseudo-random number (0–3) of
   * microtask turns drawn from this seed, as network latency would. Off (0) by default: every
   * operation then happens synchronously when called, as if it were instantaneous.
   */
  interleaveSeed?: number;
}

/**
 * One DynamoDB table in memory: items by pk/sk, each written by a single conditional
 * operation; the "due" and "outbox" sparse indexes are read off the items.
 */
export class MemoryTable {
  private readonly items = new Map<string, Item>();
  readonly maxItemBytes: number;
  private rng: (() => number) | null;
  /** Writes refused for their size, for tests to look at. */
  refusedForSize = 0;
  /** The key of every write asked for, in order, including those whose condition failed (DynamoDB charges for those too). */
  readonly writes: ItemKey[] = [];

  constructor(o: MemoryTableOptions = {}) {
    this.maxItemBytes = o.maxItemBytes ?? MAX_ITEM_BYTES;
    this.rng = o.interleaveSeed ? mulberry32(o.interleaveSeed) : null;
  }

  /** Lets other callers run first, when interleaving (see MemoryTableOptions). */
  async turn(): Promise<void> {
    if (!this.rng) return;
    const n = Math.floor(this.rng() * 4);
    for (let i = 0; i < n; i++) await Promise.resolve();
  }

  /** A copy of the item (consistent read). */
  get(key: ItemKey): Item | undefined {
    const it = this.items.get(tableKey(key));
    return it ? dynamoCopy(it) : undefined;
  }

  /** PutItem, conditional on the item as it is; throws ConditionalCheckFailedException. */
  put(item: Item, condition: (existing: Item | undefined) => boolean = () => true): void {
    const key = { pk: item.pk as string, sk: item.sk as string };
    this.writes.push(key);
    if (!condition(this.items.get(tableKey(key)))) throw conditionalCheckFailed();
    const copy = dynamoCopy(item);
    this.checkSize(copy, 'Item size has exceeded the maximum allowed size');
    this.items.set(tableKey(key), copy);
  }

  /**
   * UpdateItem: the condition is judged on the item as it is (undefined when there is none, and
   * then the update creates it), `apply` changes a copy, and the copy is stored only if it is
   * within the size limit. Returns the item as written (ALL_NEW); throws ConditionalCheckFailedException.
   */
  update(key: ItemKey, condition: (existing: Item | undefined) => boolean, apply: (draft: Item) => void): Item {
    this.writes.push({ pk: key.pk, sk: key.sk });
    const existing = this.items.get(tableKey(key));
    if (!condition(existing)) throw conditionalCheckFailed();
    const draft = existing ? dynamoCopy(existing) : { pk: key.pk, sk: key.sk };
    apply(draft);
    const copy = dynamoCopy(draft);
    this.checkSize(copy, 'Item size to update has exceeded the maximum allowed size');
    this.items.set(tableKey(key), copy);
    return dynamoCopy(copy);
  }

  /** update(), or null when the condition did not hold (src/store/dynamo.ts updateIf). */
  updateIf(key: ItemKey, condition: (existing: Item | undefined) => boolean, apply: (draft: Item) => void): Item | null {
    try {
      return this.update(key, condition, apply);
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return null;
      throw err;
    }
  }

  /** The items of a partition, by sort key (copies). */
  partition(pk: string, descending = false): Item[] {
    const out = [...this.items.values()].filter((it) => it.pk === pk).sort((a, b) => cmp(a.sk as string, b.sk as string));
    return (descending ? out.reverse() : out).map((it) => dynamoCopy(it));
  }

  /** A sparse index: items with `hashField = hash`, ordered by `rangeField` (ties by table key). */
  index(hashField: string, hash: string, rangeField: string, upTo: string | null): Item[] {
    return [...this.items.values()]
      .filter((it) => it[hashField] === hash && typeof it[rangeField] === 'string' && (upTo === null || it[rangeField] <= upTo))
      .sort((a, b) => cmp(a[rangeField] as string, b[rangeField] as string) || cmp(tableKey(a as unknown as ItemKey), tableKey(b as unknown as ItemKey)))
      .map((it) => dynamoCopy(it));
  }

  /** The size DynamoDB would count for the item now; 0 when there is none. */
  size(key: ItemKey): number {
    const it = this.items.get(tableKey(key));
    return it ? itemSize(it) : 0;
  }

  /** Every item (copies), for tests that look at the whole table. */
  all(): Item[] {
    return [...this.items.values()].map((it) => dynamoCopy(it));
  }

  private checkSize(item: Item, message: string): void {
    if (itemSize(item) > this.maxItemBytes) {
      this.refusedForSize++;
      throw validationException(message);
    }
  }
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

// ================================================================ the stores


const exists = (it: Item | undefined): it is Item => it !== undefined;

export class MemoryRequests implements RequestStorePort {
  constructor(
    private readonly table: MemoryTable,
    private readonly delivery: DeliveryClaim | null = null,
  ) {}

  /** As the DynamoDB store: the writer claims the delivery of what it queues, unless a claim is held. */
  private claimOnQueue(d: Item, now: string): void {
    if (!this.delivery || d.deliveryOwner !== undefined) return;
    d.deliveryOwner = this.delivery.owner;
    d.deliveryUntil = new Date(Date.parse(now) + this.delivery.leaseMs).toISOString();
  }

  async create(request: AccessRequest, events: DomainEvent[], due: string): Promise<void> {
    await this.table.turn();
    const now = request.updatedAt;
    const item: Item = { ...requestKey(request.id), ...request, ...requesterKeys(request), duePk: DUE_PARTITION, dueAt: due, outbox: materialize(events, now, this.table), outboxPk: OUTBOX_PARTITION, outboxAt: now };
    this.claimOnQueue(item, now);
    this.table.put(item, (existing) => !existing);
  }

  async get(id: string): Promise<AccessRequest | null> {
    await this.table.turn();
    const it = this.table.get(requestKey(id));
    return it ? toRequest(it) : null;
  }

  async ofRequester(slackUserId: string, limit: number): Promise<AccessRequest[] | null> {
    await this.table.turn();
    const keys = this.table.index('requesterPk', slackUserId, 'requesterAt', null).reverse().slice(0, limit);
    return keys.flatMap((k) => {
      const it = this.table.get(requestKey(requestIdOf(k.pk)));
      return it ? [toRequest(it)] : [];
    });
  }

  async countRefusal(id: string, slackUserId: string, action: string, at: string): Promise<number> {
    await this.table.turn();
    const it = this.table.update(refusalKey(id, slackUserId), () => true, (d) => {
      d.count = ((d.count as number | undefined) ?? 0) + 1;
      d.lastAction = action;
      d.lastAt = at;
    });
    return Number(it.count ?? 1);
  }

  async appendEvents(id: string, events: DomainEvent[], now: string): Promise<boolean> {
    await this.table.turn();
    const it = this.table.updateIf(requestKey(id), exists, (d) => {
      appendList(d, 'outbox', materialize(events, now, this.table));
      d.outboxPk = OUTBOX_PARTITION;
      d.outboxAt = now;
      this.claimOnQueue(d, now);
    });
    return it !== null;
  }

  async update(id: string, guard: Guard | null, changes: Changes, now: string): Promise<AccessRequest> {
    for (const [field, value] of Object.entries(changes.set ?? {})) {
      if (!REQUEST_FIELDS.has(field)) throw new Error(`not a request field: ${field}`);
      if (value === undefined && field !== 'updatedAt') throw validationException('An expression attribute value used in expression is not defined');
    }
    await this.table.turn();
    const statuses = guard ? (typeof guard.status === 'string' ? [guard.status] : guard.status) : null;
    try {
      const it = this.table.update(
        requestKey(id),
        (existing) => exists(existing) && (!guard || (statuses?.includes(existing.status as RequestStatus) === true && existing.version === guard.version)),
        (d) => {
          d.version = (d.version as number) + 1;
          d.updatedAt = now;
          for (const [field, value] of Object.entries(changes.set ?? {})) if (field !== 'updatedAt') d[field] = dynamoCopy(value);
          if (changes.events && changes.events.length > 0) {
            appendList(d, 'outbox', materialize(changes.events, now, this.table));
            d.outboxPk = OUTBOX_PARTITION;
            d.outboxAt = now;
            this.claimOnQueue(d, now);
          }
          if (changes.due === null) {
            delete d.duePk;
            delete d.dueAt;
          } else if (changes.due !== undefined) {
            d.duePk = DUE_PARTITION;
            d.dueAt = changes.due;
          }
          if (changes.lease === null) {
            delete d.leaseOwner;
            delete d.leaseUntil;
          } else if (changes.lease) {
            d.leaseOwner = changes.lease.owner;
            d.leaseUntil = changes.lease.until;
          }
        },
      );
      return toRequest(it);
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) throw new ConflictError();
      throw err;
    }
  }

  async claim(id: string, owner: string, status: RequestStatus, now: string, until: string): Promise<AccessRequest | null> {
    await this.table.turn();
    const it = this.table.updateIf(
      requestKey(id),
      (e) => e?.status === status && (e.leaseUntil === undefined || (e.leaseUntil as string) < now || e.leaseOwner === owner),
      (d) => {
        d.leaseOwner = owner;
        d.leaseUntil = until;
      },
    );
    return it ? toRequest(it) : null;
  }

  async release(id: string, owner: string): Promise<void> {
    await this.table.turn();
    this.table.updateIf(requestKey(id), (e) => e?.leaseOwner === owner, (d) => {
      delete d.leaseOwner;
      delete d.leaseUntil;
    });
  }

  async due(until: string | null, _limit = 100): Promise<DueItem[]> {
    await this.table.turn();
    // One page holds them all (DynamoDB's pages are 1 MB); the projection is id, status, dueAt.
    return this.table.index('duePk', DUE_PARTITION, 'dueAt', until).map(dueProjection);
  }

  async dueOf(slackUserId: string): Promise<DueItem[]> {
    await this.table.turn();
    return this.table
      .index('duePk', DUE_PARTITION, 'dueAt', null)
      .filter((it) => (it.requester as { slackUserId?: string } | undefined)?.slackUserId === slackUserId)
      .map(dueProjection);
  }
}

/** The due index's answer: id, status, dueAt. */
function dueProjection(it: Item): DueItem {
  const out: Record<string, unknown> = {};
  for (const f of ['id', 'status', 'dueAt']) if (it[f] !== undefined) out[f] = it[f];
  return out as unknown as DueItem;
}

function toAssignmentRecord(item: Item | undefined): AssignmentRecord {
  return {
    holders: (item?.holders as string[] | undefined) ?? [],
    heldBefore: (item?.heldBefore as string | undefined) ?? null,
    creating: (item?.creating as string | undefined) ?? null,
  };
}

export class MemoryAssignments implements AssignmentStorePort {
  constructor(private readonly table: MemoryTable) {}

  async get(t: AssignmentTarget): Promise<AssignmentRecord> {
    await this.table.turn();
    return toAssignmentRecord(this.table.get(assignmentKey(t)));
  }

  async lock(t: AssignmentTarget, owner: string, now: string, until: string): Promise<AssignmentRecord | null> {
    await this.table.turn();
    const it = this.table.updateIf(
      assignmentKey(t),
      (e) => e?.lockUntil === undefined || (e.lockUntil as string) < now || e.lockOwner === owner,
      (d) => {
        d.lockOwner = owner;
        d.lockUntil = until;
        d.target = dynamoCopy(t);
      },
    );
    return it ? toAssignmentRecord(it) : null;
  }

  async renew(t: AssignmentTarget, owner: string, until: string): Promise<boolean> {
    await this.table.turn();
    return this.table.updateIf(assignmentKey(t), (e) => e?.lockOwner === owner, (d) => (d.lockUntil = until)) !== null;
  }

  async markCreating(t: AssignmentTarget, owner: string, requestId: string): Promise<boolean> {
    await this.table.turn();
    return this.table.updateIf(assignmentKey(t), (e) => e?.lockOwner === owner, (d) => (d.creating = requestId)) !== null;
  }

  async saveAndUnlock(t: AssignmentTarget, owner: string, record: AssignmentRecord): Promise<boolean> {
    await this.table.turn();
    const it = this.table.updateIf(
      assignmentKey(t),
      (e) => e?.lockOwner === owner,
      (d) => {
        d.holders = dynamoCopy(record.holders);
        for (const field of ['heldBefore', 'creating'] as const) {
          if (record[field] === null) delete d[field];
          else d[field] = record[field];
        }
        delete d.lockOwner;
        delete d.lockUntil;
      },
    );
    return it !== null;
  }

  async unlock(t: AssignmentTarget, owner: string): Promise<boolean> {
    await this.table.turn();
    const it = this.table.updateIf(assignmentKey(t), (e) => e?.lockOwner === owner, (d) => {
      delete d.lockOwner;
      delete d.lockUntil;
    });
    return it !== null;
  }
}

const sessionsKey = (permissionSetArn: string) => ({ pk: `SESSIONS#${permissionSetArn.split(':::').pop() ?? permissionSetArn}`, sk: 'SESSIONS' });

/** src/store/session-denies.ts on the memory table. */
export class MemorySessionDenies implements SessionDenyStorePort {
  constructor(private readonly table: MemoryTable) {}

  async want(permissionSetArn: string, userId: string, instant: string, accountId: string): Promise<void> {
    await this.table.turn();
    const k = { pk: sessionsKey(permissionSetArn).pk, sk: `WANT#${userId}` };
    const add = (d: Item) => {
      d.userId = userId;
      d.accounts = [...new Set([...((d.accounts as string[] | undefined) ?? []), accountId])].sort();
    };
    const newest = this.table.updateIf(k, (e) => e?.instant === undefined || (e.instant as string) < instant, (d) => {
      add(d);
      d.instant = instant;
    });
    if (newest) return;
    await this.table.turn();
    this.table.update(k, () => true, add);
  }

  async wanted(permissionSetArn: string): Promise<Record<string, { instant: string; accounts: string[] }>> {
    await this.table.turn();
    const out: Record<string, { instant: string; accounts: string[] }> = {};
    for (const it of this.table.partition(sessionsKey(permissionSetArn).pk)) {
      if (String(it.sk).startsWith('WANT#') && typeof it.instant === 'string') out[String(it.userId)] = { instant: it.instant, accounts: dynamoCopy(it.accounts as string[]) };
    }
    return out;
  }

  async get(permissionSetArn: string): Promise<SessionDenyRecord> {
    await this.table.turn();
    return { denies: dynamoCopy((this.table.get(sessionsKey(permissionSetArn))?.denies as SessionDenyRecord['denies'] | undefined) ?? {}) };
  }

  async lock(permissionSetArn: string, owner: string, now: string, until: string): Promise<SessionDenyRecord | null> {
    await this.table.turn();
    const it = this.table.updateIf(
      sessionsKey(permissionSetArn),
      (e) => e?.lockUntil === undefined || (e.lockUntil as string) < now || e.lockOwner === owner,
      (d) => {
        d.lockOwner = owner;
        d.lockUntil = until;
        d.permissionSetArn = permissionSetArn;
      },
    );
    return it ? { denies: dynamoCopy((it.denies as SessionDenyRecord['denies'] | undefined) ?? {}) } : null;
  }

  async renew(permissionSetArn: string, owner: string, until: string): Promise<boolean> {
    await this.table.turn();
    return this.table.updateIf(sessionsKey(permissionSetArn), (e) => e?.lockOwner === owner, (d) => (d.lockUntil = until)) !== null;
  }

  async saveAndUnlock(permissionSetArn: string, owner: string, record: SessionDenyRecord, pruneAt: string | null): Promise<boolean> {
    await this.table.turn();
    const it = this.table.updateIf(
      sessionsKey(permissionSetArn),
      (e) => e?.lockOwner === owner,
      (d) => {
        d.denies = dynamoCopy(record.denies);
        if (pruneAt) {
          d.duePk = 'SESSIONS';
          d.dueAt = pruneAt;
          d.id = permissionSetArn;
        } else {
          delete d.duePk;
          delete d.dueAt;
        }
        delete d.lockOwner;
        delete d.lockUntil;
      },
    );
    return it !== null;
  }

  async unlock(permissionSetArn: string, owner: string): Promise<boolean> {
    await this.table.turn();
    const it = this.table.updateIf(sessionsKey(permissionSetArn), (e) => e?.lockOwner === owner, (d) => {
      delete d.lockOwner;
      delete d.lockUntil;
    });
    return it !== null;
  }

  async due(now: string): Promise<string[]> {
    await this.table.turn();
    return this.table.index('duePk', 'SESSIONS', 'dueAt', now).map((it) => String(it.id));
  }
}

const slotKey = (n: number) => ({ pk: 'CREATION_SLOT', sk: n.toString().padStart(2, '0') });

export class MemorySlots implements CreationSlotsPort {
  constructor(
    private readonly table: MemoryTable,
    private readonly size: number,
    /** Where the search for a free slot starts (DynamoDB's starts at random, to spread replicas). */
    private readonly random: () => number = Math.random,
  ) {}

  /** Holders turned away here; one is woken through onFree when a slot is freed here (as the DynamoDB store). */
  private readonly waiting = new Set<string>();
  onFree: (holder: string) => void = () => undefined;

  async acquire(holder: string, now: string, until: string): Promise<number | null> {
    const start = Math.floor(this.random() * this.size);
    for (let i = 0; i < this.size; i++) {
      const n = (start + i) % this.size;
      await this.table.turn();
      const taken = this.table.updateIf(
        slotKey(n),
        (e) => e?.holder === undefined || e.holder === holder || (e.holdUntil as string) < now,
        (d) => {
          d.holder = holder;
          d.holdUntil = until;
        },
      );
      if (taken) {
        this.waiting.delete(holder);
        return n;
      }
    }
    this.waiting.add(holder);
    return null;
  }

  async release(holder: string, slot: number | null): Promise<void> {
    let freed = false;
    for (const n of slot === null ? [...Array(this.size).keys()] : [slot]) {
      await this.table.turn();
      freed ||=
        this.table.updateIf(slotKey(n), (e) => e?.holder === holder, (d) => {
          delete d.holder;
          delete d.holdUntil;
        }) !== null;
    }
    const next = this.waiting.values().next();
    if (freed && !next.done) {
      this.waiting.delete(next.value);
      this.onFree(next.value);
    }
  }

  /** Who holds each slot now (tests). */
  holders(): Array<string | null> {
    return [...Array(this.size).keys()].map((n) => (this.table.get(slotKey(n))?.holder as string | undefined) ?? null);
  }
}

const openKey = (profileId: string) => ({ pk: `DRIFT_OPEN#${profileId}`, sk: 'DRIFT_OPEN' });

export class MemoryDrift implements DriftStorePort {
  constructor(private readonly table: MemoryTable) {}

  async raise(alert: Omit<DriftAlert, 'status' | 'alertMessage'>, event: DomainEvent, now: string): Promise<boolean> {
    await this.table.turn();
    const raised = this.table.updateIf(
      driftKey(alert.id),
      (e) => e?.status === undefined || e.status !== 'open',
      (d) => {
        Object.assign(d, {
          status: 'open',
          profileId: alert.profileId,
          accountId: alert.accountId,
          permissionSetArn: alert.permissionSetArn,
          instanceArn: alert.instanceArn,
          principalType: alert.principalType,
          principalId: alert.principalId,
          detectedAt: now,
          id: alert.id,
          alertMessage: null,
        });
        appendList(d, 'outbox', materialize([event], now, this.table));
        d.outboxPk = OUTBOX_PARTITION;
        d.outboxAt = now;
      },
    );
    if (!raised) return false;
    await this.table.turn();
    this.table.update(openKey(alert.profileId), () => true, (d) => (d.ids = new Set([...((d.ids as Set<string> | undefined) ?? []), alert.id])));
    return true;
  }

  async close(id: string, status: Exclude<DriftStatus, 'open'>, event: DomainEvent, now: string): Promise<boolean> {
    await this.table.turn();
    const closed = this.table.updateIf(driftKey(id), (e) => e?.status === 'open', (d) => {
      d.status = status;
      appendList(d, 'outbox', materialize([event], now, this.table));
      d.outboxPk = OUTBOX_PARTITION;
      d.outboxAt = now;
    });
    if (!closed) return false;
    await this.table.turn();
    this.table.update(openKey(typeof closed.profileId === 'string' ? closed.profileId : ''), () => true, (d) => {
      const ids = new Set((d.ids as Set<string> | undefined) ?? []);
      ids.delete(id);
      // DynamoDB removes a set attribute that DELETE leaves empty.
      if (ids.size === 0) delete d.ids;
      else d.ids = ids;
    });
    return true;
  }

  async get(id: string): Promise<DriftAlert | null> {
    await this.table.turn();
    const it = this.table.get(driftKey(id));
    return it ? (it as unknown as DriftAlert) : null;
  }

  async openIds(profileId: string): Promise<string[]> {
    await this.table.turn();
    const ids = this.table.get(openKey(profileId))?.ids as Set<string> | undefined;
    return ids ? [...ids] : [];
  }
}

const freezeKey = () => ({ pk: 'SYSTEM', sk: 'FREEZE' });

export class MemoryFreeze implements FreezePort {
  constructor(private readonly table: MemoryTable) {}

  async get(): Promise<Freeze | null> {
    await this.table.turn();
    const it = this.table.get(freezeKey());
    return it?.frozen === true ? { by: String(it.by), reason: String(it.reason), at: String(it.at) } : null;
  }

  async set(freeze: Freeze, event: DomainEvent): Promise<void> {
    await this.table.turn();
    this.table.update(freezeKey(), () => true, (d) => {
      Object.assign(d, { frozen: true, by: freeze.by, reason: freeze.reason, at: freeze.at });
      appendList(d, 'outbox', materialize([event], freeze.at, this.table));
      d.outboxPk = OUTBOX_PARTITION;
      d.outboxAt = freeze.at;
    });
  }

  async lift(at: string, event: DomainEvent): Promise<boolean> {
    await this.table.turn();
    const it = this.table.updateIf(freezeKey(), (e) => e?.frozen === true, (d) => {
      d.frozen = false;
      appendList(d, 'outbox', materialize([event], at, this.table));
      d.outboxPk = OUTBOX_PARTITION;
      d.outboxAt = at;
    });
    return it !== null;
  }
}

export class MemoryHomeVisitors implements HomeVisitorsPort {
  constructor(private readonly table: MemoryTable) {}

  async opened(slackUserId: string, at: string): Promise<void> {
    await this.table.turn();
    this.table.update(homeVisitorKey(slackUserId), () => true, (d) => {
      d.slackUserId = slackUserId;
      d.openedAt = at;
      delete d.note;
    });
  }

  async note(slackUserId: string, text: string, at: string): Promise<void> {
    await this.table.turn();
    this.table.update(homeVisitorKey(slackUserId), () => true, (d) => {
      d.slackUserId = slackUserId;
      d.openedAt ??= at;
      d.note = { text, at };
    });
  }

  async get(slackUserId: string): Promise<HomeVisitor | null> {
    await this.table.turn();
    const it = this.table.get(homeVisitorKey(slackUserId));
    return it ? toHomeVisitor(it) : null;
  }

  async since(since: string): Promise<string[]> {
    await this.table.turn();
    return this.table
      .partition(HOME_PARTITION)
      .filter((it) => typeof it.openedAt === 'string' && it.openedAt >= since)
      .map((it) => String(it.slackUserId));
  }
}

const outboxOf = (it: Item | undefined): QueuedEvent[] => (it?.outbox as QueuedEvent[] | undefined) ?? [];
/** `outbox[index].id = :id`, the condition every per-event outbox write is made under. */
const eventAt = (it: Item | undefined, index: number, eventId: string): boolean => outboxOf(it)[index]?.id === eventId;

function markChainedIn(d: Item, chained: ChainedEvent[]): void {
  for (const c of chained) {
    setPath(d, ['outbox', c.index, 'done', 'chain'], true);
    setPath(d, ['outbox', c.index, 'chainSeq'], c.seq);
  }
}

export class MemoryOutbox implements OutboxPort {
  constructor(private readonly table: MemoryTable) {}

  async pending(now: string | null, _limit = 500): Promise<OutboxItem[]> {
    await this.table.turn();
    return this.table.index('outboxPk', OUTBOX_PARTITION, 'outboxAt', now).map((it) => ({ key: { pk: it.pk as string, sk: it.sk as string }, outbox: outboxOf(it), item: it }));
  }

  async read(key: ItemKey): Promise<OutboxItem | null> {
    await this.table.turn();
    const it = this.table.get(key);
    return it ? { key, outbox: outboxOf(it), item: it } : null;
  }

  async appendSystem(events: DomainEvent[], now: string): Promise<void> {
    await this.table.turn();
    this.table.update(systemOutboxKey(), () => true, (d) => {
      appendList(d, 'outbox', materialize(events, now, this.table));
      d.outboxPk = OUTBOX_PARTITION;
      d.outboxAt = now;
    });
  }

  async claim(key: ItemKey, owner: string, now: string, until: string): Promise<PreviousClaim | null> {
    await this.table.turn();
    let previous: PreviousClaim | null = null;
    const it = this.table.updateIf(
      key,
      (e) => e?.outboxPk !== undefined && (e.deliveryUntil === undefined || (e.deliveryUntil as string) < now || e.deliveryOwner === owner),
      (d) => {
        previous = { owner: (d.deliveryOwner as string | undefined) ?? null, until: (d.deliveryUntil as string | undefined) ?? null };
        d.deliveryOwner = owner;
        d.deliveryUntil = until;
      },
    );
    return it === null ? null : previous;
  }

  async release(key: ItemKey, owner: string): Promise<void> {
    await this.table.turn();
    this.table.updateIf(key, (e) => e?.deliveryOwner === owner, (d) => {
      delete d.deliveryOwner;
      delete d.deliveryUntil;
    });
  }

  async delivered(key: ItemKey, eventId: string, stored: DeliveredAt[], last: boolean): Promise<boolean> {
    return this.conditional(
      key,
      (e) => eventAt(e, 0, eventId) && (!last || outboxOf(e).length === 1),
      (d) => {
        for (const s of stored) setPath(d, s.path, s.value);
        removePath(d, ['outbox', 0]);
        if (last) for (const a of ['outboxPk', 'outboxAt', 'deliveryOwner', 'deliveryUntil']) delete d[a];
      },
    );
  }

  async stopped(key: ItemKey, owner: string, progress: DeliveryProgress | null, chained: ChainedEvent[], retryAt: string): Promise<boolean> {
    return this.conditional(
      key,
      (e) =>
        e?.outboxPk !== undefined &&
        (e.deliveryOwner === owner || e.deliveryOwner === undefined) &&
        chained.every((c) => eventAt(e, c.index, c.eventId)) &&
        (!progress || eventAt(e, 0, progress.eventId)),
      (d) => {
        markChainedIn(d, chained);
        if (progress) {
          for (const step of progress.done) setPath(d, ['outbox', 0, 'done', step], true);
          for (const step of progress.tried) setPath(d, ['outbox', 0, 'tried', step], true);
          for (const s of progress.stored) setPath(d, s.path, s.value);
        }
        d.outboxAt = retryAt;
        delete d.deliveryOwner;
        delete d.deliveryUntil;
      },
    );
  }

  async markChained(key: ItemKey, chained: ChainedEvent[]): Promise<boolean> {
    if (chained.length === 0) return true;
    return this.conditional(key, (e) => chained.every((c) => eventAt(e, c.index, c.eventId)), (d) => markChainedIn(d, chained));
  }

  async defer(key: ItemKey, until: string): Promise<void> {
    await this.table.turn();
    this.table.updateIf(key, (e) => e?.outboxPk !== undefined, (d) => (d.outboxAt = until));
  }

  async chainHead(): Promise<ChainRecord | null> {
    await this.table.turn();
    const it = this.table.partition(AUDIT_PARTITION, true)[0];
    if (it) sawChainAt(this.table, it.seq as number);
    return it ? chainRecordOf(it) : null;
  }

  async chainFrom(seq: number): Promise<ChainRecord[]> {
    await this.table.turn();
    const records = this.table.partition(AUDIT_PARTITION).filter((it) => (it.seq as number) >= seq).map(chainRecordOf);
    const head = records.at(-1);
    if (head) sawChainAt(this.table, head.seq);
    return records;
  }

  async putChainRecord(record: ChainRecord): Promise<boolean> {
    await this.table.turn();
    try {
      this.table.put({ ...auditKey(record.seq), ...record }, (existing) => !existing);
      sawChainAt(this.table, record.seq);
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  async *chain(): AsyncGenerator<ChainRecord> {
    await this.table.turn();
    for (const it of this.table.partition(AUDIT_PARTITION)) yield chainRecordOf(it);
  }

  private async conditional(key: ItemKey, condition: (e: Item | undefined) => boolean, apply: (d: Item) => void): Promise<boolean> {
    await this.table.turn();
    return this.table.updateIf(key, condition, apply) !== null;
  }
}

const CHECKPOINT_PARTITION = 'CHECKPOINT';

export class MemoryCheckpoints implements CheckpointStorePort {
  constructor(private readonly table: MemoryTable) {}

  async put(cp: Checkpoint): Promise<void> {
    await this.table.turn();
    try {
      this.table.put({ pk: CHECKPOINT_PARTITION, sk: seqKey(cp.seq), ...cp }, (existing) => !existing);
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
  }

  async newest(): Promise<Checkpoint | null> {
    await this.table.turn();
    const it = this.table.partition(CHECKPOINT_PARTITION, true)[0];
    if (!it) return null;
    return { seq: Number(it.seq), hash: String(it.hash), at: String(it.at), keyId: (it.keyId as string | null) ?? null, mac: (it.mac as string | null) ?? null };
  }
}

export interface MemoryStoreOptions extends MemoryTableOptions {
  /** Creation slots (AWS: 15). */
  slots?: number;
  slotRandom?: () => number;
  /** The writer that queues a request's events claims their delivery (as the bot's store does). */
  deliveryClaim?: DeliveryClaim;
}

/** Every store port on one memory table, as the bot has them on one DynamoDB table. */
/** EmergencyUses in memory: one list per person and profile, replaced whole under a version check. */
export class MemoryEmergencyUses implements EmergencyUsePort {
  constructor(private readonly table: MemoryTable) {}

  async take(slackUserId: string, profileId: string, now: string, windowMs: number, limit: number): Promise<string[] | null> {
    const key = emergencyUsesKey(slackUserId, profileId);
    await this.table.turn();
    const it = this.table.get(key);
    const version = typeof it?.version === 'number' ? it.version : 0;
    const since = Date.parse(now) - windowMs;
    const recent = ((it?.uses as string[] | undefined) ?? []).filter((u) => Date.parse(u) > since);
    if (recent.length >= limit) return recent;
    await this.table.turn();
    const written = this.table.updateIf(key, (e) => (e?.version ?? 0) === version, (d) => Object.assign(d, { uses: [...recent, now], version: version + 1 }));
    if (!written) return this.take(slackUserId, profileId, now, windowMs, limit);
    return null;
  }
}

export class MemoryStore {
  readonly table: MemoryTable;
  readonly requests: MemoryRequests;
  readonly assignments: MemoryAssignments;
  readonly slots: MemorySlots;
  readonly drift: MemoryDrift;
  readonly freeze: MemoryFreeze;
  readonly outbox: MemoryOutbox;
  readonly checkpoints: MemoryCheckpoints;
  readonly sessionDenies: MemorySessionDenies;
  readonly emergencyUses: MemoryEmergencyUses;
  readonly homeVisitors: MemoryHomeVisitors;

  constructor(o: MemoryStoreOptions = {}) {
    this.table = new MemoryTable(o);
    this.requests = new MemoryRequests(this.table, o.deliveryClaim ?? null);
    this.assignments = new MemoryAssignments(this.table);
    this.slots = new MemorySlots(this.table, o.slots ?? 15, o.slotRandom);
    this.drift = new MemoryDrift(this.table);
    this.freeze = new MemoryFreeze(this.table);
    this.outbox = new MemoryOutbox(this.table);
    this.checkpoints = new MemoryCheckpoints(this.table);
    this.sessionDenies = new MemorySessionDenies(this.table);
    this.emergencyUses = new MemoryEmergencyUses(this.table);
    this.homeVisitors = new MemoryHomeVisitors(this.table);
  }

  /** How many writes each kind of item took (its key's first part: REQ, ASN, CREATION_SLOT, SESSIONS…), from the `from`th write on. */
  writesByKind(from = 0): Record<string, number> {
    const out: Record<string, number> = {};
    for (const k of this.table.writes.slice(from)) {
      const kind = k.pk.split('#')[0] ?? k.pk;
      out[kind] = (out[kind] ?? 0) + 1;
    }
    return out;
  }

  /** The request item as stored (with its outbox, lease and claim). */
  requestItem(id: string): Item | undefined {
    return this.table.get(requestKey(id));
  }

  /** The events waiting in a request's outbox (all of them, when no publisher ran). */
  events(id: string): QueuedEvent[] {
    return outboxOf(this.table.get(requestKey(id)));
  }

  systemEvents(): QueuedEvent[] {
    return outboxOf(this.table.get(systemOutboxKey()));
  }

  /** Where the sweeper will next look at the request; null when never. */
  dueAt(id: string): string | null {
    return (this.table.get(requestKey(id))?.dueAt as string | undefined) ?? null;
  }

  /** The assignment item with its lock (tests). */
  assignmentItem(t: AssignmentTarget): Item | undefined {
    return this.table.get(assignmentKey(t));
  }
}

// ================================================================ Identity Center

/** An error as the AWS SDK throws it: `name` is the exception, `$metadata.httpStatusCode` 400. */
export function awsError(name: string, message: string, httpStatusCode = 400): Error {
  const opts = { message, $metadata: { httpStatusCode } };
  if (name === 'ThrottlingException') return new ThrottlingException(opts);
  if (name === 'ConflictException') return new ConflictException(opts);
  if (name === 'ResourceNotFoundException') return new ResourceNotFoundException(opts);
  return Object.assign(new Error(message), { name, $fault: 'client', $metadata: { httpStatusCode } });
}

export type IcOperation = keyof IdentityCenterPort;

export interface MemoryIdentityUser {
  userId: string;
  userName: string;
  email: string;
  displayName?: string | null;
  disabled?: boolean;
}

interface Operation {
  kind: 'create' | 'delete';
  requestId: string;
  target: AssignmentTarget;
  principalType: 'USER' | 'GROUP';
  state: OperationStatus['state'];
  failureReason: string | null;
  startedAt: number;
  dueAt: number;
  forcedFailure: string | null;
}

interface Assignment {
  instanceArn: string;
  accountId: string;
  permissionSetArn: string;
  principalType: 'USER' | 'GROUP';
  principalId: string;
}

export interface MemoryIdentityCenterOptions {
  clock: VirtualClock;
  users?: MemoryIdentityUser[];
  /** How long (virtual) a creation or deletion stays IN_PROGRESS. */
  statusDelayMs?: number;
  /** AWS allows 15 creations in progress per instance. */
  maxOutstandingCreations?: number;
}

const assignmentId = (a: Omit<Assignment, 'principalType'> & { principalType?: string }) =>
  [a.instanceArn, a.accountId, a.permissionSetArn, a.principalType ?? 'USER', a.principalId].join('|');

/**
 * IAM Identity Center behind IdentityCenterPort, as the real adapter (src/aws/identity-center.ts)
 * presents it: creations and deletions answer a request id at once and settle (SUCCEEDED, or
 * FAILED when injected) `statusDelayMs` of virtual time later, when the assignment appears or
 * goes; re-creating an existing assignment and deleting a missing one succeed; an operation on
 * an assignment with another in progress meets ConflictException, retried on the virtual clock
 * as the adapter retries it; a 16th outstanding creation is throttled. Errors have the SDK's
 * shape. Latency and errors can be injected per operation.
 */
export class MemoryIdentityCenter implements IdentityCenterPort {
  private readonly clock: VirtualClock;
  private readonly users = new Map<string, MemoryIdentityUser>();
  private readonly live = new Map<string, Assignment>();
  private readonly ops: Operation[] = [];
  private creationFailures: string[] = [];
  private deletionFailures: string[] = [];
  private injected: Array<{ operation: IcOperation; error: () => Error }> = [];
  private latency: { ms: number; operations: IcOperation[] | null; during: (() => Promise<void>) | null } | null = null;
  statusDelayMs: number;
  readonly maxOutstandingCreations: number;
  /** Every call, in order, with the virtual time it was made. */
  readonly calls: Array<{ operation: IcOperation; at: string }> = [];

  constructor(o: MemoryIdentityCenterOptions) {
    this.clock = o.clock;
    this.statusDelayMs = o.statusDelayMs ?? 1000;
    this.maxOutstandingCreations = o.maxOutstandingCreations ?? 15;
    for (const u of o.users ?? []) this.addUser(u);
  }

  // ---------------------------------------------------------------- test controls

  addUser(u: MemoryIdentityUser): void {
    this.users.set(u.userId, { ...u });
  }

  removeUser(userId: string): void {
    this.users.delete(userId);
  }

  /** An assignment made outside breakglass (by hand, or standing access). */
  addAssignment(t: AssignmentTarget, principalType: 'USER' | 'GROUP' = 'USER'): void {
    const a = { instanceArn: t.instanceArn, accountId: t.accountId, permissionSetArn: t.permissionSetArn, principalType, principalId: t.principalId };
    this.live.set(assignmentId(a), a);
  }

  removeAssignment(t: AssignmentTarget, principalType: 'USER' | 'GROUP' = 'USER'): void {
    this.live.delete(assignmentId({ ...t, principalType }));
  }

  /** Whether the assignment exists now (settling what is due first). */
  holds(t: AssignmentTarget, principalType: 'USER' | 'GROUP' = 'USER'): boolean {
    this.settle();
    return this.live.has(assignmentId({ ...t, principalType }));
  }

  assignments(): Assignment[] {
    this.settle();
    return [...this.live.values()].map((a) => ({ ...a }));
  }

  operations(kind?: 'create' | 'delete'): Array<Omit<Operation, 'forcedFailure'>> {
    this.settle();
    return this.ops.filter((o) => !kind || o.kind === kind).map(({ forcedFailure: _f, ...o }) => ({ ...o, target: { ...o.target } }));
  }

  /** The next `count` creations accepted end FAILED with `reason`. */
  failNextCreations(count: number, reason = 'Received a 500 status error: internal failure'): void {
    for (let i = 0; i < count; i++) this.creationFailures.push(reason);
  }

  /** The next `count` deletions accepted end FAILED with `reason`. */
  failNextDeletions(count: number, reason = 'Received a 500 status error: internal failure'): void {
    for (let i = 0; i < count; i++) this.deletionFailures.push(reason);
  }

  /** The next `count` calls of `operation` throw `error` (as the adapter does once the SDK's retries are spent). */
  failNextCalls(operation: IcOperation, error: () => Error, count = 1): void {
    for (let i = 0; i < count; i++) this.injected.push({ operation, error });
  }

  throttleNext(operation: IcOperation, count = 1): void {
    this.failNextCalls(operation, () => awsError('ThrottlingException', 'Rate exceeded'), count);
  }

  conflictNext(operation: IcOperation, count = 1): void {
    this.failNextCalls(
      operation,
      () => awsError('ConflictException', 'An account assignment operation for this principal, permission set and account is already in progress. Retry after it completes.'),
      count,
    );
  }

  /**
   * Every call of `operations` (all when null) takes `ms` of virtual time; `during`, if given,
   * runs once that time has passed and before the call takes effect (another actor's move while
   * the call is in flight). Null clears it.
   */
  setLatency(ms: number | null, o: { operations?: IcOperation[]; during?: () => Promise<void> } = {}): void {
    this.latency = ms === null ? null : { ms, operations: o.operations ?? null, during: o.during ?? null };
  }

  // ---------------------------------------------------------------- the port

  async findUserIdByEmail(email: string): Promise<string | null> {
    await this.enter('findUserIdByEmail');
    return this.userByEmail(email)?.userId ?? null;
  }

  async findUserByEmail(email: string): Promise<IdentityUser | null> {
    await this.enter('findUserByEmail');
    const u = this.userByEmail(email);
    return u ? { userId: u.userId, userName: u.userName, displayName: u.displayName ?? null, email: u.email, disabled: u.disabled === true } : null;
  }

  async hasAssignment(t: AssignmentTarget): Promise<boolean> {
    await this.enter('hasAssignment');
    return this.live.has(assignmentId({ ...t, principalType: 'USER' }));
  }

  async listAssignments(instanceArn: string, accountId: string, permissionSetArn: string): Promise<ListedAssignment[]> {
    await this.enter('listAssignments');
    return [...this.live.values()]
      .filter((a) => a.instanceArn === instanceArn && a.accountId === accountId && a.permissionSetArn === permissionSetArn)
      .map((a) => ({ principalType: a.principalType, principalId: a.principalId }));
  }

  async startCreation(t: AssignmentTarget): Promise<string> {
    await this.enter('startCreation');
    await this.withConflictRetry(t, 'USER');
    if (this.ops.filter((o) => o.kind === 'create' && o.state === 'IN_PROGRESS').length >= this.maxOutstandingCreations) {
      throw awsError('ThrottlingException', 'There are too many requests processing. Please try again later.');
    }
    return this.start('create', t, 'USER', this.creationFailures.shift() ?? null);
  }

  async creationStatus(_instanceArn: string, requestId: string): Promise<OperationStatus> {
    await this.enter('creationStatus');
    return this.status('create', requestId);
  }

  async startDeletion(t: AssignmentTarget, principalType: 'USER' | 'GROUP' = 'USER'): Promise<string> {
    await this.enter('startDeletion');
    await this.withConflictRetry(t, principalType);
    return this.start('delete', t, principalType, this.deletionFailures.shift() ?? null);
  }

  async deletionStatus(_instanceArn: string, requestId: string): Promise<OperationStatus> {
    await this.enter('deletionStatus');
    return this.status('delete', requestId);
  }

  // ---------------------------------------------------------------- inline policy, provisioning, sessions

  /** The permission set's inline policy as last put ('' when none). */
  inline = new Map<string, string>();
  /** What each account has in force: the inline policy as it was when its last provisioning started. */
  readonly provisioned = new Map<string, string>();
  readonly provisionings: Array<{ requestId: string; permissionSetArn: string; accountId: string; state: OperationStatus['state']; policy: string; dueAt: number; failure: string | null }> = [];
  private provisioningFailures: string[] = [];
  sessionDurations = new Map<string, string>();
  /** Group memberships: group id → user ids. */
  readonly groups = new Map<string, string[]>();

  failNextProvisionings(count: number, reason = 'Received a 500 status error: internal failure'): void {
    this.provisioningFailures.push(...Array<string>(count).fill(reason));
  }

  /** The inline policy in force in an account for the permission set. */
  effectivePolicy(permissionSetArn: string, accountId: string): string {
    this.settle();
    return this.provisioned.get(`${permissionSetArn}|${accountId}`) ?? '';
  }

  async inlinePolicy(_instanceArn: string, permissionSetArn: string): Promise<string> {
    await this.enter('inlinePolicy');
    return this.inline.get(permissionSetArn) ?? '';
  }

  async putInlinePolicy(_instanceArn: string, permissionSetArn: string, document: string | null): Promise<void> {
    await this.enter('putInlinePolicy');
    if (this.provisionings.some((p) => p.permissionSetArn === permissionSetArn && p.state === 'IN_PROGRESS')) {
      throw awsError('ConflictException', 'Operation failed because another operation is in progress for this permission set.');
    }
    if (document === null) this.inline.delete(permissionSetArn);
    else this.inline.set(permissionSetArn, document);
  }

  async provision(_instanceArn: string, permissionSetArn: string, accountId: string): Promise<string> {
    await this.enter('provision');
    if (this.provisionings.some((p) => p.permissionSetArn === permissionSetArn && p.state === 'IN_PROGRESS')) {
      throw awsError('ConflictException', 'Operation failed because another operation is in progress for this permission set.');
    }
    const requestId = randomUUID();
    this.provisionings.push({ requestId, permissionSetArn, accountId, state: 'IN_PROGRESS', policy: this.inline.get(permissionSetArn) ?? '', dueAt: this.clock.ms() + this.statusDelayMs, failure: this.provisioningFailures.shift() ?? null });
    return requestId;
  }

  async provisioningStatus(_instanceArn: string, requestId: string): Promise<OperationStatus> {
    await this.enter('provisioningStatus');
    const p = this.provisionings.find((x) => x.requestId === requestId);
    if (!p) throw awsError('ResourceNotFoundException', `Provisioning request ${requestId} does not exist.`);
    return { state: p.state, failureReason: p.state === 'FAILED' ? p.failure : null };
  }

  async sessionDuration(_instanceArn: string, permissionSetArn: string): Promise<string> {
    await this.enter('sessionDuration');
    return this.sessionDurations.get(permissionSetArn) ?? 'PT1H';
  }

  /** Permission set names (default OrgAdmin), as DescribePermissionSet gives them. */
  permissionSetNames = new Map<string, string>();

  async permissionSetName(_instanceArn: string, permissionSetArn: string): Promise<string> {
    await this.enter('permissionSetName');
    return this.permissionSetNames.get(permissionSetArn) ?? 'OrgAdmin';
  }

  async memberOfAny(userId: string, groupIds: string[]): Promise<boolean> {
    await this.enter('memberOfAny');
    return groupIds.some((g) => this.groups.get(g)?.includes(userId) ?? false);
  }

  // ---------------------------------------------------------------- inside

  /** Records the call, waits out its latency, throws an injected error, and settles what is due. */
  private async enter(operation: IcOperation): Promise<void> {
    this.calls.push({ operation, at: this.clock.now() });
    const l = this.latency;
    if (l && (l.operations === null || l.operations.includes(operation))) {
      await this.clock.sleep(l.ms);
      if (l.during) {
        const during = l.during;
        l.during = null;
        await during();
      }
    }
    const i = this.injected.findIndex((x) => x.operation === operation);
    if (i >= 0) {
      const [x] = this.injected.splice(i, 1);
      if (x) throw x.error();
    }
    this.settle();
  }

  private userByEmail(email: string): MemoryIdentityUser | undefined {
    return [...this.users.values()].find((u) => u.email.toLowerCase() === email.toLowerCase());
  }

  /** Another operation on the same assignment is in progress: the adapter retries (here on the virtual clock), then gives up. */
  private async withConflictRetry(t: AssignmentTarget, principalType: 'USER' | 'GROUP'): Promise<void> {
    const id = assignmentId({ ...t, principalType });
    for (let attempt = 0; ; attempt++) {
      this.settle();
      if (!this.ops.some((o) => o.state === 'IN_PROGRESS' && assignmentId({ ...o.target, principalType: o.principalType }) === id)) return;
      if (attempt >= 6) throw awsError('ConflictException', 'An account assignment operation for this principal, permission set and account is already in progress. Retry after it completes.');
      await this.clock.sleep(backoffMs(attempt, 250, 5000));
    }
  }

  private start(kind: Operation['kind'], t: AssignmentTarget, principalType: 'USER' | 'GROUP', forcedFailure: string | null): string {
    const now = this.clock.ms();
    const op: Operation = {
      kind,
      requestId: randomUUID(),
      target: { instanceArn: t.instanceArn, accountId: t.accountId, permissionSetArn: t.permissionSetArn, principalId: t.principalId },
      principalType,
      state: 'IN_PROGRESS',
      failureReason: null,
      startedAt: now,
      dueAt: now + this.statusDelayMs,
      forcedFailure,
    };
    this.ops.push(op);
    this.settle();
    return op.requestId;
  }

  private status(kind: Operation['kind'], requestId: string): OperationStatus {
    const op = this.ops.find((o) => o.requestId === requestId && o.kind === kind);
    if (!op) throw awsError('ResourceNotFoundException', `Account assignment ${kind === 'create' ? 'creation' : 'deletion'} request ${requestId} does not exist.`);
    return { state: op.state, failureReason: op.failureReason };
  }

  /** Completes, in order, every operation whose time has come. */
  private settle(): void {
    const now = this.clock.ms();
    for (const p of this.provisionings.filter((x) => x.state === 'IN_PROGRESS' && x.dueAt <= now)) {
      p.state = p.failure ? 'FAILED' : 'SUCCEEDED';
      if (!p.failure) this.provisioned.set(`${p.permissionSetArn}|${p.accountId}`, p.policy);
    }
    for (const op of this.ops.filter((o) => o.state === 'IN_PROGRESS' && o.dueAt <= now).sort((a, b) => a.dueAt - b.dueAt)) {
      if (op.forcedFailure) {
        op.state = 'FAILED';
        op.failureReason = op.forcedFailure;
        continue;
      }
      const a: Assignment = { ...op.target, principalType: op.principalType };
      if (op.kind === 'create') this.live.set(assignmentId(a), a);
      else this.live.delete(assignmentId(a));
      op.state = 'SUCCEEDED';
    }
  }
}

// ================================================================ Slack

export interface MemoryPost {
  channel: string;
  ts: string;
  text: string;
  blocks: SlackText['blocks'];
  threadTs?: string;
}

type SlackMethod = 'post' | 'update' | 'dmChannel';

/**
 * What the audit publisher needs of Slack, recording every post, update and DM. Failures are
 * injected per method; `landed: true` makes a failing post land anyway (a timeout after Slack
 * took it), as a real timeout may.
 */
/** CloudTrail's event history in memory: events per Region, looked up by Username and time, and failures to inject. */
export class MemoryCloudTrail implements CloudTrailPort {
  readonly events: Array<TrailEvent & { username: string }> = [];
  readonly calls: Array<{ region: string; userName: string; start: string; end: string }> = [];
  /** Errors the next lookups of a Region throw, in order (any Region: '*'). */
  private readonly failures: Array<{ region: string; error: () => Error }> = [];

  add(e: TrailEvent & { username: string }): void {
    this.events.push(e);
  }

  failNext(region: string, count: number, error: () => Error): void {
    for (let i = 0; i < count; i++) this.failures.push({ region, error });
  }

  async lookupByUsername(region: string, userName: string, start: string, end: string, signal?: AbortSignal): Promise<TrailEvent[]> {
    this.calls.push({ region, userName, start, end });
    await Promise.resolve();
    signal?.throwIfAborted();
    const i = this.failures.findIndex((f) => f.region === region || f.region === '*');
    if (i >= 0) {
      const [f] = this.failures.splice(i, 1);
      if (f) throw f.error();
    }
    return this.events
      .filter((e) => e.region === region && e.username === userName && e.time >= start && e.time <= end)
      .map(({ username: _u, ...e }) => e);
  }
}

export class MemorySlack implements AuditSlack {
  readonly posts: MemoryPost[] = [];
  readonly updates: Array<{ channel: string; ts: string; text: string; blocks: SlackText['blocks'] }> = [];
  private failures: Array<{ method: SlackMethod; error: () => Error; landed: boolean }> = [];
  private ts = 0;

  /** The next `count` calls of `method` fail with `error`. */
  failNext(method: SlackMethod, error: () => Error, o: { count?: number; landed?: boolean } = {}): void {
    for (let i = 0; i < (o.count ?? 1); i++) this.failures.push({ method, error, landed: o.landed ?? false });
  }

  async post(channel: string, message: SlackText & { threadTs?: string }): Promise<string> {
    const failure = this.failure('post');
    const ts = this.nextTs();
    if (!failure || failure.landed) this.posts.push({ channel, ts, text: message.text, blocks: structuredClone(message.blocks), ...(message.threadTs ? { threadTs: message.threadTs } : {}) });
    if (failure) throw failure.error();
    return ts;
  }

  async update(channel: string, ts: string, message: SlackText): Promise<void> {
    const failure = this.failure('update');
    if (failure && !failure.landed) throw failure.error();
    this.updates.push({ channel, ts, text: message.text, blocks: structuredClone(message.blocks) });
    if (failure) throw failure.error();
  }

  async dmChannel(userId: string): Promise<string> {
    const failure = this.failure('dmChannel');
    if (failure) throw failure.error();
    return `D-${userId}`;
  }

  /** Top-level posts in a channel. */
  messages(channel: string): MemoryPost[] {
    return this.posts.filter((p) => p.channel === channel && !p.threadTs);
  }

  replies(channel: string, threadTs: string): MemoryPost[] {
    return this.posts.filter((p) => p.channel === channel && p.threadTs === threadTs);
  }

  dmsTo(userId: string): MemoryPost[] {
    return this.posts.filter((p) => p.channel === `D-${userId}`);
  }

  private failure(method: SlackMethod) {
    const i = this.failures.findIndex((f) => f.method === method);
    if (i < 0) return null;
    return this.failures.splice(i, 1)[0] ?? null;
  }

  private nextTs(): string {
    this.ts++;
    return `1700000000.${String(this.ts).padStart(6, '0')}`;
  }
}

/** Slack said no (e.g. channel_not_found): nothing was posted. */
export const slackRefused = (message = 'slack refused: internal_error') => () => new SlackDeliveryError(message, null, false, true);
/** The call timed out: the post may have landed. */
export const slackTimedOut = (message = 'slack timed out') => () => new SlackDeliveryError(message, null, false, false);
/** HTTP 429 with Retry-After. */
export const slackRateLimited = (seconds: number) => () => new SlackDeliveryError(`slack rate limited: retry after ${seconds}s`, seconds, false, true);
/** Slack will never take it (e.g. cannot_dm_bot). */
export const slackPermanent = (message = 'slack refused: cannot_dm_bot') => () => new SlackDeliveryError(message, null, true, true);

// ================================================================ the directory

export class MemoryDirectory implements Directory {
  private readonly users = new Map<string, SlackUser>();
  /** User-group members by group id. */
  readonly groups = new Map<string, Set<string>>();
  /** People taken out of every list and group (left the company, removed from the policy). */
  readonly removed = new Set<string>();

  constructor(o: { users?: SlackUser[]; groups?: Record<string, string[]> } = {}) {
    for (const u of o.users ?? []) this.users.set(u.id, { ...u });
    for (const [g, members] of Object.entries(o.groups ?? {})) this.groups.set(g, new Set(members));
  }

  setUser(u: SlackUser): void {
    this.users.set(u.id, { ...u });
  }

  async user(id: string): Promise<SlackUser | null> {
    const u = this.users.get(id);
    return u ? { ...u } : null;
  }

  async isIn(id: string, who: Principals): Promise<boolean> {
    if (this.removed.has(id)) return false;
    return who.users.includes(id) || who.groups.some((g) => this.groups.get(g)?.has(id));
  }

  async members(who: Principals): Promise<string[]> {
    const all = new Set(who.users);
    for (const g of who.groups) for (const u of this.groups.get(g) ?? []) all.add(u);
    return [...all].filter((id) => !this.removed.has(id));
  }
}

// ================================================================ the checkpoint archive

/** The S3 Object Lock archive in memory: keeps every checkpoint, never overwrites one, can be made to fail. */
export class MemoryArchive implements CheckpointArchive {
  readonly stored: Checkpoint[] = [];
  private failing = 0;

  /** The next `count` puts fail (S3 down). */
  failNext(count = 1): void {
    this.failing += count;
  }

  async put(cp: Checkpoint): Promise<void> {
    if (this.failing > 0) {
      this.failing--;
      throw awsError('ServiceUnavailable', 'S3 is unavailable', 503);
    }
    const same = this.stored.find((x) => x.seq === cp.seq);
    if (same) {
      if (JSON.stringify(same) !== JSON.stringify(cp)) throw awsError('AccessDenied', 'object is locked', 403);
      return;
    }
    this.stored.push({ ...cp });
  }

  async newest(): Promise<NewestCheckpoint | null> {
    const cp = [...this.stored].sort((a, b) => b.seq - a.seq)[0];
    return cp ? { checkpoint: { ...cp }, hiddenByDeleteMarker: false } : null;
  }
}

// ================================================================ a whole world

export const INSTANCE_ARN = 'arn:aws:sso:::instance/ssoins-0123456789abcdef';
export const IDENTITY_STORE = 'd-0123456789';
export const ACCOUNT = '111111111111';
export const PERMISSION_SET = 'arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef';
export const APPROVALS = 'CAPPROVALS';
export const AUDIT = 'CAUDIT';

/** The people of test/support/harness.ts, in short. */
export const PEOPLE = {
  requester: { slack: 'UREQUESTER', email: 'rita@example.com', principal: 'p-rita', name: 'rita' },
  second: { slack: 'USECOND', email: 'sam@example.com', principal: 'p-sam', name: 'sam' },
  approver1: { slack: 'UAPPROVER1', email: 'ann@example.com', principal: 'p-ann', name: 'ann' },
  approver2: { slack: 'UAPPROVER2', email: 'bob@example.com', principal: 'p-bob', name: 'bob' },
  approver3: { slack: 'UAPPROVER3', email: 'cat@example.com', principal: 'p-cat', name: 'cat' },
  outsider: { slack: 'UOUTSIDER', email: 'olly@example.com', principal: 'p-olly', name: 'olly' },
  /** A requester with no Identity Center user. */
  nobody: { slack: 'UNOIDC', email: 'ghost@example.com', principal: 'p-none', name: 'ghost' },
} as const;

/** The profile of test/support/harness.ts: 2 approvals from the policy's approvers; `approvals` here sets that one rule's count. */
export function memoryProfile(over: Partial<Profile> = {}): Profile {
  const approvals = over.approvals ?? 2;
  return {
    id: 'org-admin',
    name: 'Organizations administrator',
    accountId: ACCOUNT,
    permissionSetArn: PERMISSION_SET,
    durations: ['PT20S', 'PT1H'],
    approvals,
    rules: [{ count: approvals, from: null }],
    requesters: null,
    denials: 1,
    maxTotal: 'PT2H',
    requireTicket: false,
    endSessions: true,
    emergency: null,
    reasons: null,
    ...over,
  };
}

/** The policy of test/support/harness.ts: one profile needing 2 approvals. */
export function memoryPolicy(over: Partial<Policy> = {}): Policy {
  return {
    identityCenter: { instanceArn: INSTANCE_ARN, identityStoreId: IDENTITY_STORE, accessPortalUrl: 'https://d-0123456789.awsapps.com/start' },
    profiles: [memoryProfile()],
    requesters: { users: [PEOPLE.requester.slack, PEOPLE.second.slack, PEOPLE.nobody.slack, PEOPLE.approver1.slack], groups: [] },
    approvers: { users: [PEOPLE.approver1.slack, PEOPLE.approver2.slack, PEOPLE.approver3.slack], groups: [] },
    channels: { approvals: APPROVALS, audit: AUDIT },
    pendingTimeout: 'PT1H',
    standingAccess: [],
    drift: 'alert',
    expiryWarning: 'PT10M',
    reminders: null,
    escalation: null,
    activityReport: { enabled: true, delay: 'PT20M', regions: ['us-east-1'] },
    review: null,
    custodians: [],
    ...over,
  };
}

export interface MemoryWorldOptions {
  policy?: Partial<Policy>;
  timing?: Partial<Timing>;
  /** Virtual time a creation or deletion stays in progress (default 1 s). */
  statusDelayMs?: number;
  slots?: number;
  interleaveSeed?: number;
  start?: string;
  owner?: string;
  /** Requests' events are claimed for delivery by `owner` as they are queued (as in the bot). */
  claimsDelivery?: boolean;
  /** Anything else of the context to replace. */
  ctx?: Partial<ServiceContext>;
}

export interface MemoryWorld {
  ctx: ServiceContext;
  store: MemoryStore;
  clock: VirtualClock;
  ic: MemoryIdentityCenter;
  trail: MemoryCloudTrail;
  directory: MemoryDirectory;
  slack: MemorySlack;
  policy: Policy;
  /** What the services signalled: how many times events were queued, which requests were queued for work. */
  signals: { events: number; work: string[]; due: { id: string; at: string }[] };
  log: Logger;
  /** The assignment a request by this principal targets. */
  target(principalId?: string): AssignmentTarget;
  /** The request as stored; throws when there is none. */
  get(id: string): Promise<AccessRequest>;
  /** The types of the events queued on a request (none is delivered without a publisher). */
  eventTypes(id: string): string[];
  /** A request item as a crash or an earlier version could have left it, stored directly. */
  plant(id: string, status: RequestStatus, over?: Partial<AccessRequest>, due?: string): Promise<AccessRequest>;
  /** Writes an assignment record through its lock, as a crash or a lost lock could have left it. */
  plantRecord(record: AssignmentRecord, principalId?: string): Promise<void>;
}

type PortName = 'requests' | 'assignments' | 'outbox' | 'slots' | 'drift' | 'freeze' | 'sessionDenies' | 'emergencyUses' | 'ic';

/**
 * The world's context, with a note of who held the request's lease each time `operation` was
 * called on Identity Center: the work a lease protects must run under it.
 */
export function leaseHolderAt(w: MemoryWorld, id: string, operation: IcOperation): { ctx: ServiceContext; holders: unknown[] } {
  const holders: unknown[] = [];
  const ic = new Proxy(w.ctx.ic, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (prop !== operation || typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        holders.push(w.store.requestItem(id)?.leaseOwner);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { ctx: { ...w.ctx, ic }, holders };
}

/**
 * Another replica on the same world, killed right after one call returns: from then on every
 * call it makes to any port fails and nothing it would do next happens. Its leases, locks and
 * claims stay until they run out, as a killed process leaves them.
 */
export function dyingReplica(w: MemoryWorld, port: PortName, method: string, o: { when?: (...args: unknown[]) => boolean; owner?: string } = {}): ServiceContext & { killed(): boolean } {
  let dead = false;
  const wrap = <T extends object>(name: PortName, target: T): T =>
    new Proxy(target, {
      get(t, prop, receiver) {
        const value: unknown = Reflect.get(t, prop, receiver);
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          if (dead) throw new Error('the replica was killed');
          const result: unknown = await (value as (...a: unknown[]) => unknown).apply(t, args);
          if (name === port && prop === method && (o.when?.(...args) ?? true)) dead = true;
          return result;
        };
      },
    });
  const c = w.ctx;
  return {
    ...c,
    owner: o.owner ?? 'replica-dying',
    requests: wrap('requests', c.requests),
    assignments: wrap('assignments', c.assignments),
    outbox: wrap('outbox', c.outbox),
    slots: wrap('slots', c.slots),
    drift: wrap('drift', c.drift),
    freeze: wrap('freeze', c.freeze),
    sessionDenies: wrap('sessionDenies', c.sessionDenies),
    emergencyUses: wrap('emergencyUses', c.emergencyUses),
    ic: wrap('ic', c.ic),
    killed: () => dead,
  };
}

/** A full ServiceContext on the in-memory ports and a virtual clock: a unit test is a few lines. */
export function memoryContext(o: MemoryWorldOptions = {}): MemoryWorld {
  const clock = new VirtualClock(o.start ?? NOW);
  const store = new MemoryStore({
    slots: o.slots ?? 15,
    ...(o.interleaveSeed ? { interleaveSeed: o.interleaveSeed } : {}),
    slotRandom: () => 0,
    ...(o.claimsDelivery ? { deliveryClaim: { owner: o.owner ?? 'replica-1', leaseMs: DELIVERY_LEASE_MS } } : {}),
  });
  const policy = memoryPolicy(o.policy);
  const people = Object.values(PEOPLE);
  const ic = new MemoryIdentityCenter({
    clock,
    statusDelayMs: o.statusDelayMs ?? 1000,
    users: people.filter((p) => p !== PEOPLE.nobody).map((p) => ({ userId: p.principal, userName: p.name, email: p.email, displayName: p.name })),
  });
  const directory = new MemoryDirectory({
    users: people.map((p) => ({ id: p.slack, name: p.name, email: p.email, tz: 'UTC', deleted: false, isBot: false })),
  });
  const signals = { events: 0, work: [] as string[], due: [] as { id: string; at: string }[] };
  const log = pino({ level: 'silent' });
  const trail = new MemoryCloudTrail();
  const ctx: ServiceContext = {
    policy,
    requests: store.requests,
    assignments: store.assignments,
    outbox: store.outbox,
    slots: store.slots,
    drift: store.drift,
    freeze: store.freeze,
    sessionDenies: store.sessionDenies,
    emergencyUses: store.emergencyUses,
    ic,
    trail,
    directory,
    clock,
    log,
    owner: o.owner ?? 'replica-1',
    timing: { ...DEFAULT_TIMING, ...o.timing },
    eventsQueued: () => void signals.events++,
    workQueued: (id) => void signals.work.push(id),
    workDue: (id, at) => void signals.due.push({ id, at }),
    ...o.ctx,
  };
  store.slots.onFree = (holder) => ctx.workQueued(holder);
  const target = (principalId: string = PEOPLE.requester.principal): AssignmentTarget => ({ instanceArn: INSTANCE_ARN, accountId: ACCOUNT, permissionSetArn: PERMISSION_SET, principalId });
  const world: MemoryWorld = {
    ctx,
    store,
    clock,
    ic,
    trail,
    directory,
    slack: new MemorySlack(),
    policy,
    signals,
    log,
    target,
    async get(id) {
      const r = await store.requests.get(id);
      if (!r) throw new Error(`no request ${id}`);
      return r;
    },
    eventTypes: (id) => store.events(id).map((e) => e.type),
    async plant(id, status, over = {}, due) {
      const now = clock.now();
      const r: AccessRequest = {
        id,
        status,
        version: 1,
        createdAt: now,
        updatedAt: now,
        requester: {
          slackUserId: PEOPLE.requester.slack,
          principalId: PEOPLE.requester.principal,
          email: PEOPLE.requester.email,
          name: 'rita',
          tz: 'UTC',
        },
        profileId: 'org-admin',
        profileName: 'Organizations administrator',
        target: target(),
        duration: 'PT1H',
        justification: 'Production is down and the org SCP needs a fix',
        ticket: null,
        approvalsRequired: 2,
        approvals: [
          { slackUserId: PEOPLE.approver1.slack, at: now },
          { slackUserId: PEOPLE.approver2.slack, at: now },
        ],
        pendingUntil: clock.in(3_600_000),
        decision: null,
        grant: { startedAt: null, creationAttemptedAt: null, creationSlot: null, creationRequestId: null, grantedAt: null, expiresAt: null, alreadyHeld: null, failure: null, cleanupPending: false, attempts: 0 },
        revoke: null,
        slack: { approvalMessage: null, auditThread: null },
        ...over,
      };
      await store.requests.create(r, [], due ?? now);
      return r;
    },
    async plantRecord(record, principalId) {
      const t = target(principalId);
      const now = clock.now();
      if (!(await store.assignments.lock(t, 'test', now, clock.in(60_000)))) throw new Error('the assignment is locked');
      if (!(await store.assignments.saveAndUnlock(t, 'test', record))) throw new Error('lost the lock');
    },
  };
  return world;
}
