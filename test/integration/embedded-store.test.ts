/**
 * The embedded store as other local users and web pages see it: real HTTP on
 * loopback, real files. Only a holder of this run's secret (in running.json,
 * 0600) may talk to dynalite, no response carries CORS headers, and nothing
 * in the data folder is readable by anyone but its owner.
 */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { readEnv } from '../../src/config/env.ts';
import { systemOutboxKey } from '../../src/store/keys.ts';
import { openDatabase, type Database } from '../../src/store/open.ts';
import { OutboxStore } from '../../src/store/outbox.ts';
import { NOW } from '../support/fixtures.ts';

const open: Database[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const db of open.splice(0)) await db.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'bg-embedded-'));
  dirs.push(d);
  return d;
}

async function openStore(dataDir: string): Promise<Database> {
  const db = await openDatabase(readEnv({ BREAKGLASS_DATA_DIR: dataDir }, { requireSlack: false }), pino({ level: 'silent' }));
  open.push(db);
  return db;
}

/** running.json as a raw file: the test reads the protocol, not the bot's own parser. */
function running(dataDir: string): { endpoint: string; pid: number; secret?: string } {
  return JSON.parse(readFileSync(join(dataDir, 'running.json'), 'utf8')) as { endpoint: string; pid: number; secret?: string };
}

/** A DynamoDB call as a browser page or another local user could send it: well-formed, signed with made-up keys. */
function dynamoRequest(extra: Record<string, string> = {}): RequestInit {
  return {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': 'DynamoDB_20120810.ListTables',
      'x-amz-date': '20260101T000000Z',
      authorization: 'AWS4-HMAC-SHA256 Credential=embedded/20260101/local/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=00',
      origin: 'https://attacker.example',
      ...extra,
    },
    body: '{}',
  };
}

function corsHeaders(res: Response): string[] {
  return [...res.headers.keys()].filter((k) => k.toLowerCase().startsWith('access-control-'));
}

function modes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      out[r] = (statSync(p).mode & 0o777).toString(8);
      if (e.isDirectory()) walk(p, r);
    }
  };
  walk(dir, '');
  return out;
}

async function writeSome(db: Database, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await db.doc.send(new PutCommand({ TableName: db.table, Item: { pk: `test#${i}`, sk: 'x', payload: 'y'.repeat(2000) } }));
}

describe('the embedded store on loopback', () => {
  it('refuses a request without the run\'s secret (or with a wrong one) with 403 and no CORS headers', async () => {
    const dataDir = join(tempDir(), 'data');
    await openStore(dataDir);
    const { endpoint, secret } = running(dataDir);
    const variants: Record<string, string>[] = [{}, { 'x-breakglass-secret': 'a'.repeat(secret?.length ?? 64) }, { 'x-breakglass-secret': '' }];
    for (const extra of variants) {
      const res = await fetch(endpoint, dynamoRequest(extra));
      expect(res.status).toBe(403);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(corsHeaders(res)).toEqual([]);
      const body = (await res.json()) as { message?: string };
      expect(body.message).toMatch(/secret/);
      expect(JSON.stringify(body)).not.toContain(secret ?? '-');
    }
    // dynalite's health check answers anyone too, unless the guard stops it.
    const health = await fetch(endpoint, { headers: { origin: 'https://attacker.example' } });
    expect(health.status).toBe(403);
    expect(corsHeaders(health)).toEqual([]);
  });

  it('answers a CORS preflight with 403 and no CORS headers, even from a holder of the secret', async () => {
    const dataDir = join(tempDir(), 'data');
    await openStore(dataDir);
    const { endpoint, secret } = running(dataDir);
    const variants: Record<string, string>[] = [{}, { 'x-breakglass-secret': secret ?? '' }];
    for (const extra of variants) {
      const res = await fetch(endpoint, {
        method: 'OPTIONS',
        headers: { origin: 'https://attacker.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-amz-target,authorization', ...extra },
      });
      expect(res.status).toBe(403);
      expect(corsHeaders(res)).toEqual([]);
    }
  });

  it('serves the bot\'s own client, and strips dynalite\'s CORS headers even from requests that carry the secret', async () => {
    const dataDir = join(tempDir(), 'data');
    const db = await openStore(dataDir);
    await db.doc.send(new PutCommand({ TableName: db.table, Item: { pk: 'p', sk: 's', v: 1 } }));
    expect((await db.doc.send(new GetCommand({ TableName: db.table, Key: { pk: 'p', sk: 's' } }))).Item).toMatchObject({ v: 1 });
    const { endpoint, secret, pid } = running(dataDir);
    expect(pid).toBe(process.pid);
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    const res = await fetch(endpoint, dynamoRequest({ 'x-breakglass-secret': secret ?? '' }));
    expect(res.status).toBe(200);
    expect(corsHeaders(res)).toEqual([]);
    expect(((await res.json()) as { TableNames: string[] }).TableNames).toContain(db.table);
  });

  it('makes a new secret at every start', async () => {
    const dataDir = join(tempDir(), 'data');
    const first = await openStore(dataDir);
    const before = running(dataDir).secret;
    await first.close();
    open.splice(open.indexOf(first), 1);
    await openStore(dataDir);
    expect(running(dataDir).secret).not.toBe(before);
    const res = await fetch(running(dataDir).endpoint, dynamoRequest({ 'x-breakglass-secret': before ?? '' }));
    expect(res.status).toBe(403);
  });

  it('keeps the data folder 0700 and every file in it 0600, running.json included', async () => {
    const dataDir = join(tempDir(), 'nested', 'data');
    const db = await openStore(dataDir);
    await writeSome(db, 50);
    expect((statSync(dataDir).mode & 0o777).toString(8)).toBe('700');
    const found = modes(dataDir);
    expect(Object.keys(found)).toEqual(expect.arrayContaining(['running.json', 'CURRENT', 'LOCK']));
    expect(Object.keys(found).some((f) => f.endsWith('.log'))).toBe(true);
    for (const [file, mode] of Object.entries(found)) expect({ file, mode }).toEqual({ file, mode: '600' });
  });

  it('tightens a data folder an older version left readable, and the files LevelDB adds later', async () => {
    const dataDir = join(tempDir(), 'data');
    const first = await openStore(dataDir);
    await writeSome(first, 20);
    await first.close();
    open.splice(open.indexOf(first), 1);
    chmodSync(dataDir, 0o755);
    for (const f of readdirSync(dataDir)) chmodSync(join(dataDir, f), 0o644);
    const previousUmask = process.umask(0o022);
    try {
      const db = await openStore(dataDir);
      await writeSome(db, 20);
      expect((statSync(dataDir).mode & 0o777).toString(8)).toBe('700');
      // Reopening made a new manifest and log: LevelDB's own files after the store was opened.
      for (const [file, mode] of Object.entries(modes(dataDir))) expect({ file, mode }).toEqual({ file, mode: '600' });
    } finally {
      process.umask(previousUmask);
    }
  });
});

describe('a store opened anew', () => {
  it('queues events above the audit chain\'s head, so appending them reads only what came after', async () => {
    const dir = tempDir();
    const first = await openStore(dir);
    const chain = new OutboxStore(first);
    for (const seq of [1, 2, 3]) {
      const record = { seq, at: NOW, type: 'config.loaded', requestId: null, actor: null, details: {}, eventId: `e${seq}`, prevHash: 'h', hash: `h${seq}` };
      expect(await chain.putChainRecord(record)).toBe(true);
    }
    await first.close();
    open.splice(open.indexOf(first), 1);
    // Another process (this handle has seen nothing of the chain yet) queues an event.
    const second = await openStore(dir);
    await new OutboxStore(second).appendSystem([{ type: 'config.loaded', requestId: null, actor: null, details: { policyPath: 'breakglass.yml', policySha256: 'x', profiles: [], store: 'embedded' } }], NOW);
    const queued = await new OutboxStore(second).read(systemOutboxKey());
    expect(queued?.outbox.map((e) => e.chainFloor)).toEqual([3]);
  });
});
