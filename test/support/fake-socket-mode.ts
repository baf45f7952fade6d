/**
 * A fake of Slack's Socket Mode WebSocket endpoint ("applink").
 *
 * Wire format (Slack docs, "Socket Mode implementation",
 * https://api.slack.com/apis/connections/socket-implement, and the fixtures of
 * slackapi/python-slack-sdk tests/slack_sdk/socket_mode/mock_socket_mode_server.py):
 *   - the app calls apps.connections.open with its app-level token and gets a one-time
 *     `wss://…/link/?ticket=…&app_id=…` URL;
 *   - on connect the server sends
 *     `{type:'hello', num_connections, debug_info:{host, build_number, approximate_connection_time}, connection_info:{app_id}}`;
 *   - every payload arrives as `{envelope_id, type, payload, accepts_response_payload}`
 *     (`events_api` envelopes also carry `retry_attempt` and `retry_reason`);
 *   - the app acknowledges with `{envelope_id, payload?}`;
 *   - the server may send `{type:'disconnect', reason:'warning'|'refresh_requested'|'link_disabled', debug_info:{host}}`;
 *   - with several connections open, each payload goes to any one of them.
 *
 * The real Bolt SocketModeReceiver (via @slack/socket-mode's undici WebSocket) connects here.
 * ws answers pings with pongs on its own (autoPong), which the client's keep-alive needs.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';

export type SocketEnvelopeType = 'slash_commands' | 'interactive' | 'events_api';

export interface SocketEnvelopeInput {
  type: SocketEnvelopeType | (string & {});
  payload: unknown;
  /** Slack sets this true for slash commands and interactivity that may answer in the ack. */
  acceptsResponsePayload?: boolean;
}

/** One envelope as written on the wire (kept for assertions). */
export interface SentEnvelope {
  envelopeId: string;
  type: string;
  payload: unknown;
  connectionId: number;
  attempt: number; // 0 = first delivery
  at: number;
  frame: Record<string, unknown>;
}

export interface RecordedAck {
  envelopeId: string;
  /** Envelope type the ack answers; undefined for an ack of an unknown envelope. */
  type?: string;
  /** The `payload` member of the ack frame, as sent by the app (often `{}`). */
  payload?: unknown;
  connectionId: number;
  attempt: number;
  at: number;
  /** false when the app acked an envelope id the server never sent or already settled. */
  matched: boolean;
}

export interface SocketAck {
  envelopeId: string;
  payload: unknown;
  connectionId: number;
  attempt: number;
}

export interface FakeSocketModeOptions {
  appId: string;
  /** How long to wait for an ack before giving up or retrying (Slack: 3 seconds). */
  ackTimeoutMs?: number;
  /** How many times an unacknowledged envelope is re-sent (default 0: no retry). */
  retryUnackedAttempts?: number;
}

interface Connection {
  id: number;
  ws: WebSocket;
  /** Set after a `disconnect` message: Slack sends nothing more on that link. */
  draining: boolean;
  openedAt: number;
}

interface Pending {
  type: string;
  attempt: number;
  connectionId: number;
  resolve: (ack: SocketAck) => void;
}

const HOST_NAME = 'applink-fake-0';

export class FakeSocketMode {
  readonly appId: string;
  readonly acks: RecordedAck[] = [];
  readonly envelopes: SentEnvelope[] = [];
  /** Every connection ever accepted, in order (for assertions on reconnects). */
  readonly connectionLog: Array<{ id: number; at: number; closedAt?: number }> = [];

  private ackTimeoutMs: number;
  private retryUnackedAttempts: number;
  private readonly wss = new WebSocketServer({ noServer: true, autoPong: true });
  private readonly tickets = new Set<string>();
  private readonly connections: Connection[] = [];
  private readonly pending = new Map<string, Pending>();
  private readonly connectWaiters = new Set<() => void>();
  private nextConnectionId = 1;
  private roundRobin = 0;
  private baseWsUrl = '';
  private closed = false;

  constructor(opts: FakeSocketModeOptions) {
    this.appId = opts.appId;
    this.ackTimeoutMs = opts.ackTimeoutMs ?? 3000;
    this.retryUnackedAttempts = opts.retryUnackedAttempts ?? 0;
  }

  /** Called by FakeSlack once its HTTP server listens: ws://127.0.0.1:PORT */
  bind(baseWsUrl: string): void {
    this.baseWsUrl = baseWsUrl.replace(/\/$/, '');
  }

  setOptions(o: { ackTimeoutMs?: number; retryUnackedAttempts?: number }): void {
    if (o.ackTimeoutMs !== undefined) this.ackTimeoutMs = o.ackTimeoutMs;
    if (o.retryUnackedAttempts !== undefined) this.retryUnackedAttempts = o.retryUnackedAttempts;
  }

  /** A fresh one-time URL, as returned by apps.connections.open. */
  issueUrl(): string {
    if (!this.baseWsUrl) throw new Error('FakeSocketMode is not bound to a server yet');
    const ticket = randomUUID();
    this.tickets.add(ticket);
    return `${this.baseWsUrl}/link/?ticket=${ticket}&app_id=${this.appId}`;
  }

  /** Open connections that may receive envelopes (hello sent, not draining). */
  get connectionCount(): number {
    return this.liveConnections().length;
  }

  connectionIds(): number[] {
    return this.liveConnections().map((c) => c.id);
  }

  /** Handles an HTTP upgrade; returns false when the path is not ours. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/link/' && url.pathname !== '/link') return false;
    const ticket = url.searchParams.get('ticket') ?? '';
    // Tickets are single use, like Slack's: a reconnect must call apps.connections.open again.
    if (this.closed || !this.tickets.delete(ticket)) {
      socket.write('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      socket.destroy();
      return true;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws));
    return true;
  }

  private accept(ws: WebSocket): void {
    const conn: Connection = { id: this.nextConnectionId++, ws, draining: false, openedAt: Date.now() };
    this.connections.push(conn);
    this.connectionLog.push({ id: conn.id, at: conn.openedAt });
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(conn, data, isBinary));
    ws.on('close', () => this.onClose(conn));
    ws.on('error', () => this.onClose(conn));
    ws.send(
      JSON.stringify({
        type: 'hello',
        num_connections: this.liveConnections().length + 1,
        debug_info: { host: HOST_NAME, build_number: 1, approximate_connection_time: 18060 },
        connection_info: { app_id: this.appId },
      }),
    );
    for (const w of [...this.connectWaiters]) w();
  }

  private onClose(conn: Connection): void {
    const i = this.connections.indexOf(conn);
    if (i >= 0) this.connections.splice(i, 1);
    const log = this.connectionLog.find((l) => l.id === conn.id);
    if (log && log.closedAt === undefined) log.closedAt = Date.now();
  }

  private onMessage(conn: Connection, data: RawData, isBinary: boolean): void {
    if (isBinary) return;
    let frame: unknown;
    try {
      frame = JSON.parse(rawToString(data));
    } catch {
      return; // Slack ignores garbage; so do we.
    }
    if (!isRecord(frame) || typeof frame.envelope_id !== 'string') return;
    const envelopeId = frame.envelope_id;
    const p = this.pending.get(envelopeId);
    this.acks.push({
      envelopeId,
      type: p?.type,
      payload: frame.payload,
      connectionId: conn.id,
      attempt: p?.attempt ?? 0,
      at: Date.now(),
      matched: p !== undefined,
    });
    if (p) {
      this.pending.delete(envelopeId);
      p.resolve({ envelopeId, payload: frame.payload, connectionId: conn.id, attempt: p.attempt });
    }
  }

  private liveConnections(): Connection[] {
    return this.connections.filter((c) => !c.draining && c.ws.readyState === WebSocket.OPEN);
  }

  /** Resolves once at least `n` connections can take envelopes. */
  async waitForConnections(n = 1, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.liveConnections().length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`FakeSocketMode: ${n} connection(s) expected, ${this.liveConnections().length} open`);
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(t);
          this.connectWaiters.delete(done);
          resolve();
        };
        const t = setTimeout(done, Math.min(left, 50));
        this.connectWaiters.add(done);
      });
    }
  }

  /**
   * Delivers one envelope to one connection (round-robin) and resolves with the app's ack.
   * Rejects if no ack arrives within the ack timeout after the configured retries.
   */
  async send(input: SocketEnvelopeInput, opts: { timeoutMs?: number } = {}): Promise<SocketAck> {
    const timeoutMs = opts.timeoutMs ?? this.ackTimeoutMs;
    const attempts = 1 + this.retryUnackedAttempts;
    for (let attempt = 0; attempt < attempts; attempt++) {
      // A retry may land on another connection, as with Slack.
      await this.waitForConnections(1, Math.max(timeoutMs, 1000));
      const ack = await this.deliverOnce(input, attempt, timeoutMs);
      if (ack) return ack;
    }
    throw new Error(
      `FakeSocketMode: no ack for ${input.type} envelope within ${timeoutMs}ms` +
        (attempts > 1 ? ` after ${attempts} attempts` : ''),
    );
  }

  private deliverOnce(input: SocketEnvelopeInput, attempt: number, timeoutMs: number): Promise<SocketAck | undefined> {
    const live = this.liveConnections();
    const conn = live[this.roundRobin++ % live.length];
    if (!conn) return Promise.resolve(undefined);
    const envelopeId = randomUUID();
    const frame: Record<string, unknown> = {
      envelope_id: envelopeId,
      payload: input.payload,
      type: input.type,
      accepts_response_payload: input.acceptsResponsePayload ?? false,
    };
    if (input.type === 'events_api') {
      frame.retry_attempt = attempt;
      frame.retry_reason = attempt > 0 ? 'timeout' : '';
    }
    return new Promise<SocketAck | undefined>((resolve) => {
      const timer = setTimeout(() => {
        // Late acks are still recorded (matched: false) but no longer settle anything.
        this.pending.delete(envelopeId);
        resolve(undefined);
      }, timeoutMs);
      this.pending.set(envelopeId, {
        type: input.type,
        attempt,
        connectionId: conn.id,
        resolve: (ack) => {
          clearTimeout(timer);
          resolve(ack);
        },
      });
      this.envelopes.push({ envelopeId, type: input.type, payload: input.payload, connectionId: conn.id, attempt, at: Date.now(), frame });
      conn.ws.send(JSON.stringify(frame));
    });
  }

  /**
   * Asks clients to reconnect, as Slack does every few hours. The link stops receiving
   * envelopes at once; the client is expected to close it and open a new one.
   */
  disconnect(reason: 'refresh_requested' | 'warning' | 'link_disabled' = 'refresh_requested', connectionId?: number): void {
    for (const c of this.connections) {
      if (connectionId !== undefined && c.id !== connectionId) continue;
      // A `warning` precedes the disconnect by ~10s; the link still works meanwhile.
      if (reason !== 'warning') c.draining = true;
      if (c.ws.readyState === WebSocket.OPEN) {
        c.ws.send(JSON.stringify({ type: 'disconnect', reason, debug_info: { host: HOST_NAME } }));
      }
    }
  }

  /** Drops connections without a close handshake (network failure). */
  dropConnections(connectionId?: number): void {
    for (const c of [...this.connections]) {
      if (connectionId === undefined || c.id === connectionId) c.ws.terminate();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of [...this.connections]) c.ws.terminate();
    this.connections.length = 0;
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

function rawToString(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
