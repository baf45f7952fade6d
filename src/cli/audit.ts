import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { DateTime } from 'luxon';
import { verifyChain, type ChainRecord, type VerifyResult } from '../audit/chain.ts';
import { OutboxStore } from '../store/outbox.ts';
import type { Database } from '../store/dynamo.ts';

export const EXPORT_FIELDS = ['seq', 'at', 'type', 'requestId', 'actor', 'details', 'eventId', 'prevHash', 'hash'] as const;

/** Every field on every line, null where empty, so a line is self-describing. */
export function exportLine(r: ChainRecord): Record<string, unknown> {
  return {
    seq: r.seq,
    at: r.at,
    type: r.type,
    requestId: r.requestId ?? null,
    actor: r.actor ?? null,
    details: r.details ?? null,
    eventId: r.eventId ?? null,
    prevHash: r.prevHash,
    hash: r.hash,
  };
}

function csvCell(v: unknown): string {
  const text = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function parseInstant(name: string, value: string | undefined): string | null {
  if (value === undefined) return null;
  const dt = DateTime.fromISO(value, { zone: 'utc' });
  if (!dt.isValid) throw new Error(`${name} must be an ISO-8601 instant such as 2026-11-01T00:00:00Z (got "${value}")`);
  return dt.toUTC().toISO() ?? value;
}

export async function exportAudit(
  db: Database,
  out: NodeJS.WritableStream,
  o: { since: string | null; until: string | null; format: 'jsonl' | 'csv' },
): Promise<number> {
  let n = 0;
  if (o.format === 'csv') out.write(`${EXPORT_FIELDS.join(',')}\n`);
  for await (const r of new OutboxStore(db).chain()) {
    if (o.since && r.at < o.since) continue;
    if (o.until && r.at >= o.until) continue;
    const line = exportLine(r);
    out.write(o.format === 'csv' ? `${EXPORT_FIELDS.map((f) => csvCell(line[f])).join(',')}\n` : `${JSON.stringify(line)}\n`);
    n++;
  }
  return n;
}

export async function verifyStore(db: Database): Promise<VerifyResult> {
  const records: Array<{ record: ChainRecord }> = [];
  for await (const record of new OutboxStore(db).chain()) records.push({ record });
  return verifyChain(records);
}

/** Splits one CSV line into cells (RFC 4180 quoting; exports have no newlines inside cells because JSON escapes them). */
function csvCells(line: string): string[] {
  const cells: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      cells.push(cur);
      cur = '';
    } else cur += c;
  }
  cells.push(cur);
  return cells;
}

function fromCsv(header: string[], cells: string[]): ChainRecord {
  const get = (f: string) => cells[header.indexOf(f)] ?? '';
  const json = (f: string) => (get(f) === '' ? null : (JSON.parse(get(f)) as unknown));
  return {
    seq: Number(get('seq')),
    at: get('at'),
    type: get('type'),
    requestId: get('requestId') || null,
    actor: json('actor') as ChainRecord['actor'],
    details: (json('details') as Record<string, unknown> | null) ?? {},
    eventId: get('eventId'),
    prevHash: get('prevHash'),
    hash: get('hash'),
  };
}

/**
 * Verifies an export (JSONL, or CSV with its header) independently of how
 * lines are formatted: each line is parsed and re-serialised canonically.
 * The whole file must be the chain from its first record.
 */
export async function verifyFile(path: string): Promise<VerifyResult> {
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  const records: Array<{ record: ChainRecord; line: number }> = [];
  let header: string[] | null = null;
  let n = 0;
  for await (const raw of lines) {
    n++;
    const text = raw.trim();
    if (text === '') continue;
    if (n === 1 && text.startsWith('seq,')) {
      header = csvCells(text);
      continue;
    }
    try {
      const parsed = header ? fromCsv(header, csvCells(text)) : (JSON.parse(text) as ChainRecord);
      records.push({ record: { ...parsed, details: parsed.details ?? {} }, line: n });
    } catch {
      return { ok: false, count: records.length, seq: null, line: n, problem: 'is not a valid export line' };
    }
  }
  return verifyChain(records);
}
