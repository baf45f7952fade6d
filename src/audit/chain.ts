import { createHash, createHmac } from 'node:crypto';
import type { Actor, DomainEvent } from '../domain/events.ts';

/**
 * One link of the tamper-evident record. `hash` covers every other field, `prevHash` included:
 * SHA-256 when the chain is not keyed, HMAC-SHA256 with the audit key when `keyId` names one.
 */
export interface ChainRecord {
  seq: number;
  at: string;
  /** An EventType (read back from storage or an export, so only a string to the compiler). */
  type: string;
  requestId: string | null;
  actor: Actor | null;
  details: Record<string, unknown>;
  eventId: string;
  prevHash: string;
  /** Which audit key signed this record; absent (or null) on records written without one. */
  keyId?: string | null;
  hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);

/** The event a record holds (records are only ever written from events, so their type and details agree). */
export function eventOf(r: ChainRecord): DomainEvent {
  return { type: r.type, requestId: r.requestId, actor: r.actor, details: r.details, at: r.at } as DomainEvent;
}

/** The shortest audit key accepted: 32 characters (the CDK stack generates 64). */
export const AUDIT_KEY_MIN = 32;

/**
 * The audit key (BREAKGLASS_AUDIT_KEY): with it, each record's hash is an HMAC, so someone who
 * can write the table but does not hold the key cannot recompute the chain after changing it.
 * Its id (a hash of the key, not the key) is stored on every record it signed.
 */
export class ChainKey {
  readonly id: string;

  constructor(private readonly secret: string) {
    if (secret.length < AUDIT_KEY_MIN) throw new Error(`the audit key must be at least ${AUDIT_KEY_MIN} characters`);
    this.id = createHash('sha256').update(`breakglass audit key id\n${secret}`).digest('hex').slice(0, 16);
  }

  mac(text: string): string {
    return createHmac('sha256', this.secret).update(text).digest('hex');
  }

  /** Keeps the secret out of logs and JSON. */
  toJSON(): string {
    return `ChainKey(${this.id})`;
  }
}

/** JSON with object keys sorted at every level, so the hash does not depend on formatting. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new Error('non-finite number in audit record');
    return JSON.stringify(value ?? null);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The hash of a record: keyed records need their key (null when it is not at hand). */
export function recordHash(r: Omit<ChainRecord, 'hash'>, key: ChainKey | null): string {
  const { seq, at, type, requestId, actor, details, eventId, prevHash } = r;
  const keyId = r.keyId ?? undefined;
  // keyId is part of what is hashed only when present, so records written before keys existed keep their hashes.
  const text = canonicalJson({ seq, at, type, requestId, actor, details, eventId, prevHash, keyId });
  if (keyId === undefined) return createHash('sha256').update(text).digest('hex');
  if (!key || key.id !== keyId) throw new Error(`record ${seq} is signed with audit key ${keyId}, which is not at hand`);
  return key.mac(text);
}

export type VerifyResult =
  | { ok: true; count: number; head: string; keyed: number; firstKeyed: number | null; hashes: Map<number, string> }
  | { ok: false; count: number; seq: number | null; line: number | null; problem: string };

/**
 * Walks records in the order given; the first one that does not follow from its predecessor fails
 * the whole chain. Keyed records are checked with `key`; once one is keyed, every later one must be
 * (a chain cannot be downgraded to plain hashes from some point on). The hashes of the records in
 * `keep` are returned, to be held against checkpoints.
 */
export function verifyChain(records: Iterable<{ record: ChainRecord; line?: number }>, key: ChainKey | null = null, keep: ReadonlySet<number> = new Set()): VerifyResult {
  let prev = GENESIS_HASH;
  let expected = 1;
  let count = 0;
  let keyed = 0;
  let firstKeyed: number | null = null;
  const hashes = new Map<number, string>();
  for (const { record, line } of records) {
    const where = { seq: typeof record.seq === 'number' ? record.seq : null, line: line ?? null };
    const fail = (problem: string): VerifyResult => ({ ok: false, count, ...where, problem });
    if (record.seq !== expected) {
      return fail(
        typeof record.seq !== 'number'
          ? 'has no sequence number'
          : record.seq > expected
            ? `record ${expected}${record.seq - expected > 1 ? `–${record.seq - 1}` : ''} is missing (found ${record.seq})`
            : `is out of order (expected ${expected})`,
      );
    }
    if (record.prevHash !== prev) return fail('prevHash does not match the previous record (reordered, removed or altered)');
    const keyId = record.keyId ?? null;
    if (keyId === null && firstKeyed !== null) return fail(`is not signed with the audit key although record ${firstKeyed} before it was (rewritten without the key)`);
    if (keyId !== null) {
      if (!key) return fail(`is signed with audit key ${keyId}: set BREAKGLASS_AUDIT_KEY to verify it`);
      if (key.id !== keyId) return fail(`is signed with audit key ${keyId}, not with the key given (${key.id})`);
      firstKeyed ??= record.seq;
      keyed++;
    }
    if (recordHash(record, key) !== record.hash) return fail('contents do not match its hash (altered)');
    if (keep.has(record.seq)) hashes.set(record.seq, record.hash);
    prev = record.hash;
    expected++;
    count++;
  }
  return { ok: true, count, head: prev, keyed, firstKeyed, hashes };
}

/** Where the chain stood at some moment, anchored outside the chain (the table's checkpoint items, S3, a person's note). */
export interface Checkpoint {
  seq: number;
  hash: string;
  at: string;
  keyId: string | null;
  mac: string | null;
}

export function signCheckpoint(seq: number, hash: string, at: string, key: ChainKey | null): Checkpoint {
  return { seq, hash, at, keyId: key?.id ?? null, mac: key ? key.mac(canonicalJson({ seq, hash, at, keyId: key.id })) : null };
}

/** Null when the checkpoint is sound (or unsigned); otherwise what is wrong with its signature. */
export function checkpointSignatureProblem(cp: Checkpoint, key: ChainKey | null): string | null {
  if (cp.keyId === null || cp.mac === null) return null;
  if (!key) return `is signed with audit key ${cp.keyId}: set BREAKGLASS_AUDIT_KEY to check it`;
  if (key.id !== cp.keyId) return `is signed with audit key ${cp.keyId}, not with the key given (${key.id})`;
  return key.mac(canonicalJson({ seq: cp.seq, hash: cp.hash, at: cp.at, keyId: cp.keyId })) === cp.mac ? null : 'has a signature that does not match (forged or altered)';
}

/**
 * Holds a verified chain against a checkpoint: the chain must reach the checkpoint's record and
 * hold the same hash there. Deleting the chain's last records, which the chain alone cannot show,
 * fails here. Null when it holds.
 */
export function checkAgainstCheckpoint(verified: Extract<VerifyResult, { ok: true }>, cp: Checkpoint): string | null {
  if (cp.seq > verified.count) {
    return `records ${verified.count + 1}–${cp.seq} are missing: the checkpoint of ${cp.at} says the chain reached record ${cp.seq} (hash ${cp.hash})`;
  }
  const hash = verified.hashes.get(cp.seq);
  return hash === cp.hash ? null : `record ${cp.seq} has hash ${hash ?? 'none'}, but the checkpoint of ${cp.at} says ${cp.hash} (the chain was rewritten)`;
}
