/**
 * The embedded store: dynalite on loopback, persisted in the data folder, so
 * the bot runs the same DynamoDB code with no AWS table. It is for one machine
 * and its owner:
 *
 * - the data folder is 0700 and every file in it 0600;
 * - every request must carry this run's secret (32 random bytes, new at each
 *   start), which only running.json (0600) holds; anything else gets 403;
 * - no response carries CORS headers, so a web page cannot read one;
 * - `POST /.breakglass/identify` answers, without the secret, the pid and
 *   HMAC-SHA256(secret, nonce), so the CLI can check that whatever listens on
 *   the port is the bot that wrote running.json before it sends the secret.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DescribeTableCommand, DynamoDBClient, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import { alive, readRunning, removeRunning, runningFile, UntrustedRunningFile, writeRunning, type Running } from './running.ts';

/** The header that carries the run's secret. */
export const SECRET_HEADER = 'x-breakglass-secret';
/** The challenge the CLI sends before it trusts the endpoint. */
export const IDENTIFY_PATH = '/.breakglass/identify';

/**
 * A DynamoDB client for an embedded store: sends the run's secret on every
 * request. The bot and the CLI build theirs here, and nowhere else.
 */
export function embeddedClient(endpoint: string, secret: string): DynamoDBClient {
  const client = new DynamoDBClient({
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'embedded', secretAccessKey: 'embedded' },
    maxAttempts: 3,
  });
  // In the build step, before signing and retries; the SDK logs no headers, and nor does this.
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string> } | undefined;
      if (request?.headers) request.headers[SECRET_HEADER] = secret;
      return next(args);
    },
    { step: 'build', name: 'breakglassEmbeddedSecret', override: true },
  );
  return client;
}

export interface EmbeddedStore {
  endpoint: string;
  /** A client that carries this run's secret. */
  client(): DynamoDBClient;
  close(): Promise<void>;
}

/** The data folder and everything in it: only the owner may enter or read. */
function tighten(dir: string): void {
  chmodSync(dir, 0o700);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    // Symlinks are left alone: chmod would follow them out of the folder.
    if (entry.isDirectory()) tighten(path);
    else if (entry.isFile()) chmodSync(path, 0o600);
  }
}

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** Whether the request carries the secret; constant time (both sides hashed to one length first). */
function carriesSecret(req: IncomingMessage, expected: Buffer): boolean {
  const given = req.headers[SECRET_HEADER];
  if (typeof given !== 'string') return false;
  return timingSafeEqual(digest(given), expected);
}

const isCors = (name: string) => name.toLowerCase().startsWith('access-control-');

/** No CORS header ever leaves this server, whoever sets it (dynalite sets `Access-Control-Allow-Origin: *`). */
function withoutCors(res: ServerResponse): void {
  const setHeader = res.setHeader.bind(res);
  res.setHeader = ((name: string, value: number | string | readonly string[]) => (isCors(name) ? res : setHeader(name, value)));
  const writeHead = res.writeHead.bind(res) as (status: number, ...rest: unknown[]) => ServerResponse;
  // Every response passes here (also implicit ones: res.end() calls res.writeHead), so this catches appendHeader/setHeaders too.
  res.writeHead = ((status: number, ...rest: unknown[]) => {
    for (const name of res.getHeaderNames()) if (isCors(name)) res.removeHeader(name);
    const filtered = rest.map((arg) => {
      if (Array.isArray(arg)) {
        if (arg.length > 0 && Array.isArray(arg[0])) return (arg as [string, unknown][]).filter(([k]) => !isCors(String(k)));
        const flat: unknown[] = [];
        for (let i = 0; i + 1 < arg.length; i += 2) if (!isCors(String(arg[i]))) flat.push(arg[i], arg[i + 1]);
        return flat;
      }
      if (arg && typeof arg === 'object') return Object.fromEntries(Object.entries(arg as OutgoingHttpHeaders).filter(([k]) => !isCors(k)));
      return arg;
    });
    return writeHead(status, ...filtered);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, close = false): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(text);
}

function refuse(res: ServerResponse): void {
  sendJson(res, 403, { __type: 'com.amazon.coral.service#AccessDeniedException', message: 'breakglass embedded store: this request does not carry the secret of this run' }, true);
}

const MAX_IDENTIFY_BYTES = 1024;

/** Answers the CLI's challenge: this process's pid and HMAC-SHA256(secret, nonce). */
function identify(req: IncomingMessage, res: ServerResponse, secret: Buffer): void {
  if (req.method !== 'POST') {
    sendJson(res, 405, { message: `${IDENTIFY_PATH} takes POST {"nonce": "<64 hex digits>"}` }, true);
    return;
  }
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk: string) => {
    body += chunk;
    if (body.length > MAX_IDENTIFY_BYTES) {
      req.removeAllListeners('data');
      req.removeAllListeners('end');
      sendJson(res, 413, { message: 'too large' }, true);
    }
  });
  req.on('end', () => {
    let nonce: unknown;
    try {
      nonce = (JSON.parse(body) as { nonce?: unknown }).nonce;
    } catch {
      nonce = null;
    }
    if (typeof nonce !== 'string' || !/^[0-9a-f]{64}$/.test(nonce)) {
      sendJson(res, 400, { message: 'nonce must be 64 hex digits' }, true);
      return;
    }
    sendJson(res, 200, { pid: process.pid, mac: identifyMac(secret, Buffer.from(nonce, 'hex')) });
  });
}

function identifyMac(secret: Buffer, nonce: Buffer): string {
  return createHmac('sha256', secret).update(nonce).digest('hex');
}

/**
 * Starts the embedded store in dataDir and writes running.json once it has
 * answered (so a second process that finds the store locked never overwrites
 * the running bot's file). One process owns the files.
 */
export async function startEmbeddedStore(dataDir: string): Promise<EmbeddedStore> {
  // LevelDB (native code under dynalite) creates its files with mode 0644 and
  // has no option to change that: its log, tables, manifest and LOCK, at open
  // and for as long as it runs (compactions add new ones). The process umask
  // is the only thing that reaches those calls, so it is set before the store
  // opens and kept for the life of the process (which writes nothing that
  // others should read); chmod after the fact would leave each new file
  // readable for a moment.
  process.umask(0o077);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  tighten(dataDir);

  const secret = randomBytes(32);
  const secretHex = secret.toString('hex');
  const expected = digest(secretHex);
  const { default: dynalite } = await import('dynalite');
  const server: Server = dynalite({ path: dataDir, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  // dynalite's own request handler runs only behind the guard. Its server object
  // is kept (and never listens unguarded) because dynalite closes LevelDB only
  // from that server's close(); its request listener is swapped for the guard
  // before it listens.
  const handlers = server.listeners('request') as RequestListener[];
  const dynaliteHandler = handlers[0];
  if (handlers.length !== 1 || !dynaliteHandler) throw new Error(`dynalite's server has ${handlers.length} request listeners, expected 1`);
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    withoutCors(res);
    if (req.url === IDENTIFY_PATH) return identify(req, res, secret);
    if (req.method === 'OPTIONS' || !carriesSecret(req, expected)) return refuse(res);
    dynaliteHandler(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  // The store answers only once LevelDB has opened (and locked) the folder; running.json is
  // written after that, so a second process that finds the folder locked never replaces the
  // running bot's file.
  const probe = embeddedClient(endpoint, secretHex);
  try {
    await probe.send(new DescribeTableCommand({ TableName: 'breakglass-open-probe' }));
  } catch (err) {
    if (!(err instanceof ResourceNotFoundException)) {
      await close();
      throw err;
    }
  } finally {
    probe.destroy();
  }
  writeRunning(dataDir, { endpoint, pid: process.pid, secret: secretHex });
  return {
    endpoint,
    client: () => embeddedClient(endpoint, secretHex),
    close: async () => {
      removeRunning(dataDir, secretHex);
      await close();
    },
  };
}

const IDENTIFY_TIMEOUT_MS = 5_000;

/** One POST over node:http (as the SDK talks to the store; fetch refuses some ports). */
function post(url: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, timeout: IDENTIFY_TIMEOUT_MS }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
        if (text.length > MAX_IDENTIFY_BYTES) req.destroy(new Error('answer too large'));
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer in ${IDENTIFY_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Checks that whatever answers on running.json's endpoint is the bot that wrote
 * it: sends a random nonce (and no secret), and expects that bot's pid and
 * HMAC-SHA256(secret, nonce). Throws UntrustedRunningFile otherwise.
 */
export async function proveRunningBot(file: string, running: Running): Promise<void> {
  const { endpoint, pid } = running;
  const stopOrDelete = `if the bot (pid ${pid}) is running, stop the other process listening on ${endpoint} and restart the bot; if it is not, delete the stale ${file}`;
  const nonce = randomBytes(32);
  let reply;
  try {
    reply = await post(`${endpoint}${IDENTIFY_PATH}`, JSON.stringify({ nonce: nonce.toString('hex') }));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new UntrustedRunningFile(file, `pid ${pid} is running but the bot does not answer on ${endpoint} (${e.code ?? e.message})`, `restart it; if pid ${pid} is not the bot, delete the stale ${file}`);
  }
  let answer: { pid?: unknown; mac?: unknown } = {};
  try {
    if (reply.status === 200) answer = JSON.parse(reply.text) as { pid?: unknown; mac?: unknown };
  } catch {
    answer = {};
  }
  if (reply.status !== 200 || typeof answer !== 'object' || answer === null) {
    throw new UntrustedRunningFile(file, `${endpoint} does not answer as a breakglass embedded store (HTTP ${reply.status} to the identity challenge)`, stopOrDelete);
  }
  const expected = Buffer.from(identifyMac(Buffer.from(running.secret, 'hex'), nonce), 'hex');
  const mac = typeof answer.mac === 'string' && /^[0-9a-f]{64}$/.test(answer.mac) ? Buffer.from(answer.mac, 'hex') : Buffer.alloc(0);
  if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) {
    throw new UntrustedRunningFile(file, `the process answering on ${endpoint} does not hold the secret the bot wrote there`, stopOrDelete);
  }
  if (answer.pid !== pid) {
    throw new UntrustedRunningFile(file, `${endpoint} is answered by pid ${String(answer.pid)}, but the file names pid ${pid}`, stopOrDelete);
  }
}

/**
 * The running bot's embedded store, for the CLI: null when there is no
 * running.json or its pid is gone (then the CLI opens the files itself);
 * a client carrying the secret only once the file and the endpoint passed
 * every check; UntrustedRunningFile otherwise.
 */
export async function reachRunningStore(dataDir: string): Promise<{ raw: DynamoDBClient; pid: number; endpoint: string } | null> {
  const running = readRunning(dataDir);
  if (!running || !alive(running.pid)) return null;
  await proveRunningBot(runningFile(dataDir), running);
  return { raw: embeddedClient(running.endpoint, running.secret), pid: running.pid, endpoint: running.endpoint };
}
