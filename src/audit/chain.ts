import { createHash } from 'node:crypto';
import type { Actor, EventType } from './events.ts';

/** One link of the tamper-evident record. `hash` covers every other field, `prevHash` included. */
export interface ChainRecord {
  seq: number;
  at: string;
  type: EventType | string;
  requestId: string | null;
  actor: Actor | null;
  details: Record<string, unknown>;
  eventId: string;
  prevHash: string;
  hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);

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

export function recordHash(r: Omit<ChainRecord, 'hash'>): string {
  const { seq, at, type, requestId, actor, details, eventId, prevHash } = r;
  return createHash('sha256')
    .update(canonicalJson({ seq, at, type, requestId, actor, details, eventId, prevHash }))
    .digest('hex');
}

export type VerifyResult = { ok: true; count: number; head: string } | { ok: false; count: number; seq: number | null; line: number | null; problem: string };

/** Walks records in the order given; the first one that does not follow from its predecessor fails the whole chain. */
export function verifyChain(records: Iterable<{ record: ChainRecord; line?: number }>): VerifyResult {
  let prev = GENESIS_HASH;
  let expected = 1;
  let count = 0;
  for (const { record, line } of records) {
    const where = { seq: typeof record.seq === 'number' ? record.seq : null, line: line ?? null };
    if (record.seq !== expected) {
      const problem =
        typeof record.seq !== 'number'
          ? 'has no sequence number'
          : record.seq > expected
            ? `record ${expected}${record.seq - expected > 1 ? `–${record.seq - 1}` : ''} is missing (found ${record.seq})`
            : `is out of order (expected ${expected})`;
      return { ok: false, count, ...where, problem };
    }
    if (record.prevHash !== prev) return { ok: false, count, ...where, problem: 'prevHash does not match the previous record (reordered, removed or altered)' };
    if (recordHash(record) !== record.hash) return { ok: false, count, ...where, problem: 'contents do not match its hash (altered)' };
    prev = record.hash;
    expected++;
    count++;
  }
  return { ok: true, count, head: prev };
}
