import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { DateTime } from 'luxon';
import { checkAgainstCheckpoint, checkpointSignatureProblem, verifyChain, type ChainKey, type ChainRecord, type Checkpoint } from '../audit/chain.ts';
import { OutboxStore } from '../store/outbox.ts';
import { CheckpointArchiveError, S3CheckpointArchive } from '../audit/checkpoint-archive.ts';
import type { Database } from '../store/dynamo.ts';

export const EXPORT_FIELDS = ['seq', 'at', 'type', 'requestId', 'actor', 'details', 'eventId', 'prevHash', 'keyId', 'hash'] as const;

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
    keyId: r.keyId ?? null,
    hash: r.hash,
  };
}

function csvCell(v: unknown): string {
  const text = v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
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

/** The chain as the store holds it, in order. */
export async function storeRecords(db: Database): Promise<Array<{ record: ChainRecord }>> {
  const records: Array<{ record: ChainRecord }> = [];
  for await (const record of new OutboxStore(db).chain()) records.push({ record });
  return records;
}

/** A checkpoint to hold the chain against, and where it came from; or why that place could not be read. */
export type Anchor = { source: string; checkpoint: Checkpoint } | { source: string; unreadable: string };

export interface VerifyReport {
  ok: boolean;
  /** What a person reads on stderr, in order. */
  lines: string[];
}

/**
 * Verifies the chain (hashes, order, the audit key's signatures) and holds it against every
 * checkpoint at hand: the newest in the table, in the S3 archive, and any the operator gives.
 * Says plainly what could not be checked (no key, an archive that cannot be read, no checkpoint).
 */
export function verifyReport(records: Array<{ record: ChainRecord; line?: number }>, source: string, key: ChainKey | null, anchors: Anchor[]): VerifyReport {
  const lines: string[] = [];
  const found = anchors.filter((a): a is { source: string; checkpoint: Checkpoint } => 'checkpoint' in a);
  const result = verifyChain(records, key, new Set(found.map((a) => a.checkpoint.seq)));
  if (!result.ok) {
    const where = [result.seq !== null ? `record seq ${result.seq}` : null, result.line !== null ? `line ${result.line}` : null].filter(Boolean).join(', ');
    return { ok: false, lines: [`audit chain does NOT verify: ${where || 'first record'} ${result.problem} (${result.count} records verified before it)`] };
  }
  let ok = true;
  lines.push(`audit chain verified: ${result.count} records from ${source}, head ${result.head}`);
  if (result.keyed === 0) {
    lines.push(
      key
        ? 'warning: no record is signed with the audit key; anyone who could write the table could have recomputed the chain'
        : 'warning: the chain is not signed (BREAKGLASS_AUDIT_KEY is not set for the bot): anyone who can write the table could recompute it; only checkpoints outside the table can show a rewrite',
    );
  } else {
    const unsigned = result.firstKeyed === null ? 0 : result.firstKeyed - 1;
    lines.push(`signed with audit key ${key?.id ?? '?'}: records ${result.firstKeyed}–${result.count}${unsigned > 0 ? ` (records 1–${unsigned} were written before the key was set: hashed only)` : ''}`);
  }
  for (const a of anchors) {
    if ('unreadable' in a) {
      lines.push(`warning: ${a.source}: ${a.unreadable}`);
      continue;
    }
    const bad = checkpointSignatureProblem(a.checkpoint, key) ?? checkAgainstCheckpoint(result, a.checkpoint);
    if (bad) {
      ok = false;
      lines.push(`audit chain does NOT verify against ${a.source}: ${bad}`);
    } else {
      lines.push(`holds against ${a.source}: record ${a.checkpoint.seq} of ${a.checkpoint.at}${a.checkpoint.mac ? ' (signature checked)' : ' (unsigned)'}`);
    }
  }
  if (found.length === 0) lines.push('warning: no checkpoint was found, so records deleted from the end of the chain would not show');
  return { ok, lines };
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
    keyId: get('keyId') || null,
    hash: get('hash'),
  };
}

/**
 * Reads an export (JSONL, or CSV with its header) independently of how lines are formatted: each
 * line is parsed and re-serialised canonically. The whole file must be the chain from its first record.
 */
export async function fileRecords(path: string): Promise<{ records: Array<{ record: ChainRecord; line: number }> } | { badLine: number }> {
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
      return { badLine: n };
    }
  }
  return { records };
}

/** `--anchor SEQ:HASH`: a checkpoint a person copied from the audit channel or elsewhere. */
export function parseAnchor(value: string): Checkpoint {
  const m = /^(\d+):([0-9a-f]{64})$/.exec(value.trim());
  if (!m) throw new Error(`--anchor must be SEQ:HASH as the audit channel's checkpoint note shows it, e.g. 120:${'0'.repeat(64)} (got "${value}")`);
  return { seq: Number(m[1]), hash: m[2] ?? '', at: 'the anchor given', keyId: null, mac: null };
}

/** The newest checkpoint in the Object Lock bucket, read with the operator's own credentials (the bot's may only write). */
export async function archiveAnchor(bucket: string, region: string): Promise<Anchor> {
  const archive = new S3CheckpointArchive({ bucket, region });
  const source = `the checkpoint bucket s3://${bucket}`;
  try {
    const newest = await archive.newest();
    if (!newest) return { source, unreadable: 'it holds no checkpoint yet' };
    // A delete marker hides nothing from verify (the locked version is read), but someone tried: say so.
    return { source: newest.hiddenByDeleteMarker ? `${source} (the newest checkpoint was hidden by a delete marker)` : source, checkpoint: newest.checkpoint };
  } catch (err) {
    return { source, unreadable: err instanceof CheckpointArchiveError ? err.message : `it could not be read (${(err as Error).message})` };
  } finally {
    archive.destroy();
  }
}
