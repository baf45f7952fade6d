/**
 * The CLI and running.json: before it sends the run's secret anywhere, the CLI
 * checks the file is its user's own and private, and that whatever answers on
 * the endpoint proves it holds the secret and is the pid the file names. Fake
 * "bots" here are plain HTTP servers on loopback that answer the challenge
 * wrongly.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cli } from '../support/cli.ts';
import { policyYaml } from '../support/harness.ts';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

const servers: Server[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise<void>((resolve) => s.close(() => resolve()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** An impostor on loopback: answers the identity challenge as `answer` says, and records every request. */
async function impostor(answer: (nonce: Buffer) => { pid: number; mac: string }): Promise<{ endpoint: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      if (req.method === 'POST' && req.url === '/.breakglass/identify') {
        const { nonce } = JSON.parse(body) as { nonce: string };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer(Buffer.from(nonce, 'hex'))));
        return;
      }
      // Anything else (a DynamoDB call) gets a quick, non-retryable error.
      res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify({ __type: 'com.amazon.coral.validate#ValidationException', message: 'impostor' }));
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const mac = (secret: string, nonce: Buffer) => createHmac('sha256', Buffer.from(secret, 'hex')).update(nonce).digest('hex');

function dataDirWith(marker: { endpoint: string; pid: number; secret: string }, mode = 0o600): { dataDir: string; file: string } {
  const root = mkdtempSync(join(tmpdir(), 'bg-cli-'));
  dirs.push(root);
  const dataDir = join(root, 'data');
  mkdirSync(dataDir, { mode: 0o700 });
  const file = join(dataDir, 'running.json');
  writeFileSync(file, JSON.stringify(marker), { mode });
  chmodSync(file, mode);
  return { dataDir, file };
}

/** Nothing but the challenge reached the endpoint, and the secret never did. */
function onlyChallenged(seen: Seen[], secret: string): void {
  expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual(['POST /.breakglass/identify']);
  for (const s of seen) expect(JSON.stringify(s)).not.toContain(secret);
}

describe('the CLI trusts running.json only when the bot proves it wrote it', () => {
  it('refuses an endpoint that answers the challenge with a wrong MAC, naming the file and what to do', async () => {
    const secret = randomBytes(32).toString('hex');
    const fake = await impostor((nonce) => ({ pid: process.pid, mac: mac(randomBytes(32).toString('hex'), nonce) }));
    const { dataDir, file } = dataDirWith({ endpoint: fake.endpoint, pid: process.pid, secret });
    const run = await cli({ BREAKGLASS_DATA_DIR: dataDir }, ['audit', 'export']);
    expect(run.code).not.toBe(0);
    expect(run.out).toBe('');
    expect(run.err).toContain(file);
    expect(run.err).toMatch(/does not hold the secret/);
    expect(run.err).toMatch(/stop .*delete/);
    onlyChallenged(fake.seen, secret);
  });

  it('refuses an endpoint that proves the secret but is another pid', async () => {
    const secret = randomBytes(32).toString('hex');
    const fake = await impostor((nonce) => ({ pid: process.pid + 1, mac: mac(secret, nonce) }));
    const { dataDir, file } = dataDirWith({ endpoint: fake.endpoint, pid: process.pid, secret });
    const policy = join(dataDir, '..', 'breakglass.yml');
    writeFileSync(policy, policyYaml({}));
    const run = await cli({ BREAKGLASS_DATA_DIR: dataDir, BREAKGLASS_POLICY: policy }, ['revoke-all', '--reason', 'test']);
    expect(run.code).not.toBe(0);
    expect(run.err).toContain(file);
    expect(run.err).toContain(`pid ${process.pid + 1}`);
    expect(run.err).toMatch(/stop .*delete/);
    onlyChallenged(fake.seen, secret);
  });

  it('sends the secret only after the challenge, when the MAC and the pid are right', async () => {
    const secret = randomBytes(32).toString('hex');
    const fake = await impostor((nonce) => ({ pid: process.pid, mac: mac(secret, nonce) }));
    const { dataDir } = dataDirWith({ endpoint: fake.endpoint, pid: process.pid, secret });
    const run = await cli({ BREAKGLASS_DATA_DIR: dataDir }, ['audit', 'verify']);
    // The impostor holds the secret here, so it is trusted; it then answers DynamoDB calls with an error.
    expect(run.code).not.toBe(0);
    expect(fake.seen[0]?.url).toBe('/.breakglass/identify');
    expect(JSON.stringify(fake.seen[0])).not.toContain(secret);
    const challenge = (JSON.parse(fake.seen[0]?.body ?? '{}') as { nonce?: string }).nonce ?? '';
    expect(challenge).toMatch(/^[0-9a-f]{64}$/);
    expect(fake.seen.slice(1).length).toBeGreaterThan(0);
    for (const s of fake.seen.slice(1)) expect(s.headers['x-breakglass-secret']).toBe(secret);
  });

  it('refuses a running.json that group or others may read, without contacting the endpoint', async () => {
    for (const mode of [0o640, 0o604, 0o644]) {
      const secret = randomBytes(32).toString('hex');
      const fake = await impostor((nonce) => ({ pid: process.pid, mac: mac(secret, nonce) }));
      const { dataDir, file } = dataDirWith({ endpoint: fake.endpoint, pid: process.pid, secret }, mode);
      const run = await cli({ BREAKGLASS_DATA_DIR: dataDir }, ['audit', 'export']);
      expect(run.code).not.toBe(0);
      expect(run.err).toContain(file);
      expect(run.err).toContain(`mode ${mode.toString(8).padStart(4, '0')}`);
      expect(run.err).toMatch(/restart the bot|delete/);
      expect(fake.seen).toEqual([]);
    }
  });

  it.runIf(process.getuid?.() === 0)('refuses a running.json owned by another user (run as root)', async () => {
    const secret = randomBytes(32).toString('hex');
    const fake = await impostor((nonce) => ({ pid: process.pid, mac: mac(secret, nonce) }));
    const { dataDir, file } = dataDirWith({ endpoint: fake.endpoint, pid: process.pid, secret });
    chownSync(file, 65534, 65534);
    const run = await cli({ BREAKGLASS_DATA_DIR: dataDir }, ['audit', 'export']);
    expect(run.code).not.toBe(0);
    expect(run.err).toContain(file);
    expect(run.err).toContain('uid 65534');
    expect(fake.seen).toEqual([]);
  });
});
