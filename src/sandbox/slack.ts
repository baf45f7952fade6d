/**
 * The sandbox's Slack: a small in-memory workspace that plays both of Slack's roles for the bot.
 *
 *  - The Web API the bot calls (`SLACK_API_URL` points at `/api/`): `POST /api/<method>`, form or
 *    JSON bodies (JSON-valued arguments such as `blocks` and `view` arrive as strings in form
 *    bodies), answers `{ok:true,…}` / `{ok:false,error}` with HTTP 200. Only the methods the bot
 *    uses: auth.test, chat.postMessage/update/postEphemeral, conversations.open/info, users.info,
 *    users.lookupByEmail, usergroups.users.list, views.open/push/update/publish; and the
 *    `response_url`s it hands out (`POST /response/<id>`).
 *  - The requests Slack sends the bot when someone acts: slash commands, block_actions,
 *    view_submission and app_home_opened, signed with the signing secret exactly as Slack signs
 *    them (`X-Slack-Signature: v0=hex(hmac_sha256(secret, "v0:<ts>:<body>"))`) and POSTed to the
 *    bot's HTTP receiver, the same one production uses. Acks are applied as Slack applies them
 *    (a view_submission's `response_action` errors/update/push/clear, a command's ephemeral text).
 *
 * The test suite's richer fake (validation of Block Kit, rate limits, failures, Socket Mode) is
 * test/support/fake-slack.ts.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';

export type Json = Record<string, unknown>;

export interface Person {
  id: string;
  name: string;
  realName: string;
  email: string;
  /** What the person is in the sandbox's story: requester, approver, outsider. */
  role: string;
  tz?: string;
}

export interface Channel {
  id: string;
  name: string;
  /** For a DM: the person the bot talks to. */
  dmWith?: string;
}

export interface Message {
  channel: string;
  ts: string;
  user: string;
  text: string;
  blocks?: unknown[];
  threadTs?: string;
  edited?: boolean;
}

export interface Ephemeral {
  channel: string;
  user: string;
  ts: string;
  text: string;
  blocks?: unknown[];
}

export interface View {
  id: string;
  userId: string;
  type: 'modal' | 'home';
  view: Json;
  closed: boolean;
  /** The last `response_action: errors`, by block_id. */
  errors: Record<string, string>;
}

export const BOT_USER = 'UBREAKGLASS';
const TEAM = { id: 'TSANDBOX', domain: 'sandbox' };
const APP_ID = 'ASANDBOX';

const isRec = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Emits 'change' whenever what a person would see changes. */
export class SandboxSlack extends EventEmitter {
  readonly botToken = `xoxb-sandbox-${randomBytes(8).toString('hex')}`;
  readonly signingSecret = randomBytes(24).toString('hex');
  readonly messages: Message[] = [];
  readonly ephemerals: Ephemeral[] = [];
  readonly views: View[] = [];
  private readonly channels = new Map<string, Channel>();
  private readonly triggers = new Map<string, string>();
  private readonly responseUrls = new Map<string, { channel: string; userId: string; messageTs?: string }>();
  private lastTs = 0;
  private seq = 0;
  /** Where the bot's receiver listens, once it does. */
  eventsUrl = '';
  /** This server's base URL (for response_urls). */
  baseUrl = '';

  constructor(
    readonly people: Person[],
    channels: Channel[],
    private readonly usergroups: Map<string, string[]>,
  ) {
    super();
    for (const c of channels) this.channels.set(c.id, c);
  }

  channelList(): Channel[] {
    return [...this.channels.values()];
  }

  dmOf(userId: string): string {
    const id = `D${userId}`;
    if (!this.channels.has(id)) this.channels.set(id, { id, name: `breakglass (DM with ${this.person(userId)?.name ?? userId})`, dmWith: userId });
    return id;
  }

  person(id: string): Person | undefined {
    return this.people.find((p) => p.id === id);
  }

  private nextTs(): string {
    const micros = Math.max(Date.now() * 1000, this.lastTs + 1);
    this.lastTs = micros;
    return `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, '0')}`;
  }

  private changed(): void {
    this.emit('change');
  }

  private userJson(p: Person | undefined, id: string): Json {
    if (id === BOT_USER) return { id, name: 'breakglass', real_name: 'breakglass', is_bot: true, deleted: false, tz: 'UTC', tz_offset: 0, profile: { real_name: 'breakglass', display_name: 'breakglass' } };
    if (!p) return {};
    return {
      id: p.id,
      team_id: TEAM.id,
      name: p.name,
      real_name: p.realName,
      deleted: false,
      is_bot: false,
      tz: p.tz ?? 'UTC',
      tz_offset: 0,
      profile: { real_name: p.realName, display_name: p.name, email: p.email },
    };
  }

  // ----- the Web API --------------------------------------------------------------------------

  /** Serves `/api/<method>` and `/response/<id>`; false when the path is neither. */
  async serve(path: string, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    if (!path.startsWith('/api/') && !path.startsWith('/response/')) return false;
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const args: Json = {};
    if ((req.headers['content-type'] ?? '').startsWith('application/json')) Object.assign(args, raw ? (JSON.parse(raw) as Json) : {});
    else for (const [k, v] of new URLSearchParams(raw)) args[k] = v;
    for (const k of ['blocks', 'view', 'metadata']) if (typeof args[k] === 'string') args[k] = JSON.parse(args[k]);
    let result: Json;
    if (path.startsWith('/response/')) {
      result = this.responseUrl(decodeURIComponent(path.slice('/response/'.length)), args);
    } else {
      const method = path.slice('/api/'.length);
      const token = (req.headers.authorization ?? '').replace(/^Bearer /, '') || str(args.token);
      const handler = this.methods[method];
      if (token !== this.botToken) result = { ok: false, error: 'invalid_auth' };
      else if (!handler) result = { ok: false, error: 'unknown_method' };
      else result = handler(args);
    }
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(result));
    return true;
  }

  private channelFor(id: string): string | null {
    if (this.channels.has(id)) return id;
    if (this.person(id)) return this.dmOf(id);
    return null;
  }

  private readonly methods: Record<string, (a: Json) => Json> = {
    'auth.test': () => ({ ok: true, url: `${this.baseUrl}/`, team: 'breakglass sandbox', user: 'breakglass', team_id: TEAM.id, user_id: BOT_USER, bot_id: 'BSANDBOX', is_enterprise_install: false }),
    'chat.postMessage': (a) => {
      const channel = this.channelFor(str(a.channel));
      if (!channel) return { ok: false, error: 'channel_not_found' };
      const m: Message = { channel, ts: this.nextTs(), user: BOT_USER, text: str(a.text), ...(Array.isArray(a.blocks) ? { blocks: a.blocks } : {}), ...(a.thread_ts ? { threadTs: str(a.thread_ts) } : {}) };
      this.messages.push(m);
      this.changed();
      return { ok: true, channel, ts: m.ts, message: this.messageJson(m) };
    },
    'chat.update': (a) => {
      const m = this.messages.find((x) => x.channel === a.channel && x.ts === a.ts);
      if (!m) return { ok: false, error: 'message_not_found' };
      this.update(m, a);
      return { ok: true, channel: m.channel, ts: m.ts, text: m.text, message: this.messageJson(m) };
    },
    'chat.postEphemeral': (a) => {
      const channel = this.channelFor(str(a.channel));
      if (!channel) return { ok: false, error: 'channel_not_found' };
      const e: Ephemeral = { channel, user: str(a.user), ts: this.nextTs(), text: str(a.text), ...(Array.isArray(a.blocks) ? { blocks: a.blocks } : {}) };
      this.ephemerals.push(e);
      this.changed();
      return { ok: true, message_ts: e.ts };
    },
    'conversations.open': (a) => {
      const user = str(a.users).split(',')[0] ?? '';
      if (!this.person(user)) return { ok: false, error: 'user_not_found' };
      return { ok: true, channel: { id: this.dmOf(user) } };
    },
    'conversations.info': (a) => {
      const c = this.channels.get(str(a.channel));
      if (!c) return { ok: false, error: 'channel_not_found' };
      return { ok: true, channel: { id: c.id, name: c.name, is_channel: !c.dmWith, is_im: Boolean(c.dmWith), is_private: false, is_member: true, ...(c.dmWith ? { user: c.dmWith } : {}) } };
    },
    'users.info': (a) => {
      const id = str(a.user);
      const p = this.person(id);
      if (!p && id !== BOT_USER) return { ok: false, error: 'user_not_found' };
      return { ok: true, user: this.userJson(p, id) };
    },
    'users.lookupByEmail': (a) => {
      const p = this.people.find((x) => x.email.toLowerCase() === str(a.email).toLowerCase());
      return p ? { ok: true, user: this.userJson(p, p.id) } : { ok: false, error: 'users_not_found' };
    },
    'usergroups.users.list': (a) => {
      const users = this.usergroups.get(str(a.usergroup));
      return users ? { ok: true, users } : { ok: false, error: 'no_such_subteam' };
    },
    'views.open': (a) => this.openView(a, false),
    'views.push': (a) => this.openView(a, true),
    'views.update': (a) => {
      const v = this.views.find((x) => x.id === a.view_id);
      if (!v || !isRec(a.view)) return { ok: false, error: 'not_found' };
      v.view = a.view;
      v.errors = {};
      this.changed();
      return { ok: true, view: this.viewJson(v) };
    },
    'views.publish': (a) => {
      const userId = str(a.user_id);
      if (!this.person(userId) || !isRec(a.view)) return { ok: false, error: 'user_not_found' };
      let v = this.views.find((x) => x.type === 'home' && x.userId === userId);
      if (!v) {
        v = { id: this.viewId(), userId, type: 'home', view: a.view, closed: false, errors: {} };
        this.views.push(v);
      }
      v.view = a.view;
      this.changed();
      return { ok: true, view: this.viewJson(v) };
    },
  };

  private viewId(): string {
    return `V${String(++this.seq).padStart(10, '0')}`;
  }

  private openView(a: Json, _push: boolean): Json {
    const userId = this.triggers.get(str(a.trigger_id));
    if (!userId) return { ok: false, error: 'expired_trigger_id' };
    this.triggers.delete(str(a.trigger_id));
    if (!isRec(a.view)) return { ok: false, error: 'invalid_arguments' };
    const v: View = { id: this.viewId(), userId, type: 'modal', view: a.view, closed: false, errors: {} };
    this.views.push(v);
    this.changed();
    return { ok: true, view: this.viewJson(v) };
  }

  private viewJson(v: View): Json {
    return { id: v.id, team_id: TEAM.id, type: v.type, ...v.view, state: { values: {} }, hash: `${v.id}.${this.seq}`, app_id: APP_ID, bot_id: 'BSANDBOX' };
  }

  private update(m: Message, a: Json): void {
    if (a.text !== undefined) m.text = str(a.text);
    if (Array.isArray(a.blocks)) m.blocks = a.blocks;
    m.edited = true;
    this.changed();
  }

  private responseUrl(id: string, body: Json): Json {
    const r = this.responseUrls.get(id);
    if (!r) return { ok: false, error: 'expired_url' };
    const target = r.messageTs ? this.messages.find((m) => m.channel === r.channel && m.ts === r.messageTs) : undefined;
    if (body.delete_original === true && target) this.messages.splice(this.messages.indexOf(target), 1);
    else if (body.replace_original === true && target) this.update(target, body);
    else if (body.response_type === 'in_channel') this.messages.push({ channel: r.channel, ts: this.nextTs(), user: BOT_USER, text: str(body.text), ...(Array.isArray(body.blocks) ? { blocks: body.blocks } : {}) });
    else this.ephemerals.push({ channel: r.channel, user: r.userId, ts: this.nextTs(), text: str(body.text), ...(Array.isArray(body.blocks) ? { blocks: body.blocks } : {}) });
    this.changed();
    return { ok: true };
  }

  private messageJson(m: Message): Json {
    return { type: 'message', user: m.user, ts: m.ts, text: m.text, team: TEAM.id, ...(m.blocks ? { blocks: m.blocks } : {}), ...(m.threadTs ? { thread_ts: m.threadTs } : {}), ...(m.user === BOT_USER ? { bot_id: 'BSANDBOX', app_id: APP_ID } : {}) };
  }

  // ----- what Slack sends the bot -------------------------------------------------------------

  private trigger(userId: string): string {
    const id = `${Date.now()}.${++this.seq}.${randomBytes(8).toString('hex')}`;
    this.triggers.set(id, userId);
    return id;
  }

  private issueResponseUrl(channel: string, userId: string, messageTs?: string): string {
    const id = randomBytes(12).toString('hex');
    this.responseUrls.set(id, { channel, userId, ...(messageTs ? { messageTs } : {}) });
    return `${this.baseUrl}/response/${id}`;
  }

  private async deliver(body: string, contentType: string): Promise<{ status: number; body: unknown }> {
    const ts = Math.floor(Date.now() / 1000);
    const signature = `v0=${createHmac('sha256', this.signingSecret).update(`v0:${ts}:${body}`).digest('hex')}`;
    const res = await fetch(this.eventsUrl, {
      method: 'POST',
      headers: { 'content-type': contentType, 'x-slack-request-timestamp': String(ts), 'x-slack-signature': signature, 'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)' },
      body,
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    return { status: res.status, body: parsed };
  }

  private interactive(payload: Json): Promise<{ status: number; body: unknown }> {
    return this.deliver(new URLSearchParams({ payload: JSON.stringify(payload) }).toString(), 'application/x-www-form-urlencoded');
  }

  private userRef(userId: string): Json {
    const p = this.person(userId);
    return { id: userId, username: p?.name ?? userId, name: p?.name ?? userId, team_id: TEAM.id };
  }

  /** Someone types a slash command in a channel (default: their DM with the bot). */
  async command(userId: string, line: string, channelId?: string): Promise<void> {
    const [command = '/breakglass', ...rest] = line.trim().split(/\s+/);
    const channel = channelId ?? this.dmOf(userId);
    const c = this.channels.get(channel);
    const form = {
      token: 'sandbox-verification-token',
      team_id: TEAM.id,
      team_domain: TEAM.domain,
      channel_id: channel,
      channel_name: c?.dmWith ? 'directmessage' : (c?.name ?? channel),
      user_id: userId,
      user_name: this.person(userId)?.name ?? userId,
      command,
      text: rest.join(' '),
      api_app_id: APP_ID,
      is_enterprise_install: 'false',
      response_url: this.issueResponseUrl(channel, userId),
      trigger_id: this.trigger(userId),
    };
    const r = await this.deliver(new URLSearchParams(form).toString(), 'application/x-www-form-urlencoded');
    if (r.status !== 200) throw new Error(`the bot answered the command with HTTP ${r.status}`);
    if (isRec(r.body) && (r.body.text !== undefined || r.body.blocks !== undefined)) {
      this.ephemerals.push({ channel, user: userId, ts: this.nextTs(), text: str(r.body.text), ...(Array.isArray(r.body.blocks) ? { blocks: r.body.blocks } : {}) });
      this.changed();
    }
  }

  /** Someone clicks a button or picks an option, on a message or in a view. */
  async action(userId: string, a: { channel?: string; ts?: string; viewId?: string; blockId: string; actionId: string; values?: Record<string, Record<string, string | null>> }): Promise<void> {
    let blocks: unknown[];
    const where: Json = {};
    if (a.viewId) {
      const v = this.views.find((x) => x.id === a.viewId && x.userId === userId);
      if (!v) throw new Error('no such view');
      blocks = Array.isArray(v.view.blocks) ? v.view.blocks : [];
      where.container = { type: 'view', view_id: v.id };
      where.view = { ...this.viewJson(v), state: { values: stateOf(blocks, a.values ?? {}) } };
    } else {
      const posted = this.messages.find((x) => x.channel === a.channel && x.ts === a.ts);
      const m = posted ?? this.ephemerals.find((x) => x.channel === a.channel && x.ts === a.ts);
      if (!m) throw new Error('no such message');
      blocks = m.blocks ?? [];
      const c = this.channels.get(m.channel);
      where.container = { type: 'message', message_ts: m.ts, channel_id: m.channel, is_ephemeral: !posted };
      where.channel = { id: m.channel, name: c?.dmWith ? 'directmessage' : (c?.name ?? m.channel) };
      if (posted) where.message = this.messageJson(posted);
      where.state = { values: {} };
      where.response_url = this.issueResponseUrl(m.channel, userId, m.ts);
    }
    const found = findElement(blocks, a.blockId, a.actionId);
    if (!found) throw new Error(`no element ${a.actionId}`);
    const action: Json = { type: found.type, action_id: a.actionId, block_id: a.blockId, action_ts: `${Date.now() / 1000}` };
    if (found.type === 'button') Object.assign(action, { text: found.text, ...(found.value !== undefined ? { value: found.value } : {}), ...(found.style ? { style: found.style } : {}) });
    const r = await this.interactive({ type: 'block_actions', user: this.userRef(userId), api_app_id: APP_ID, token: 'sandbox-verification-token', trigger_id: this.trigger(userId), team: TEAM, enterprise: null, is_enterprise_install: false, ...where, actions: [action] });
    if (r.status !== 200) throw new Error(`the bot answered the click with HTTP ${r.status}`);
  }

  /** Someone submits a modal; `values` is block_id → action_id → the text typed or the option chosen. */
  async submit(userId: string, viewId: string, values: Record<string, Record<string, string | null>>): Promise<void> {
    const v = this.views.find((x) => x.id === viewId && x.userId === userId && !x.closed);
    if (!v) throw new Error('no such open view');
    const blocks = Array.isArray(v.view.blocks) ? v.view.blocks : [];
    const r = await this.interactive({
      type: 'view_submission',
      team: TEAM,
      user: this.userRef(userId),
      api_app_id: APP_ID,
      token: 'sandbox-verification-token',
      trigger_id: this.trigger(userId),
      view: { ...this.viewJson(v), state: { values: stateOf(blocks, values) } },
      response_urls: [],
      is_enterprise_install: false,
      enterprise: null,
    });
    if (r.status !== 200) throw new Error(`the bot answered the submission with HTTP ${r.status}`);
    const ack = r.body;
    if (!isRec(ack) || Object.keys(ack).length === 0) v.closed = true;
    else if (ack.response_action === 'errors' && isRec(ack.errors)) v.errors = Object.fromEntries(Object.entries(ack.errors).map(([k, e]) => [k, str(e)]));
    else if (ack.response_action === 'update' && isRec(ack.view)) {
      v.view = ack.view;
      v.errors = {};
    } else if (ack.response_action === 'push' && isRec(ack.view)) this.views.push({ id: this.viewId(), userId, type: 'modal', view: ack.view, closed: false, errors: {} });
    else if (ack.response_action === 'clear') for (const x of this.views) if (x.userId === userId && x.type === 'modal') x.closed = true;
    this.changed();
  }

  /** Someone closes a modal (the bot hears of it only when the view asks, with notify_on_close). */
  async closeView(userId: string, viewId: string): Promise<void> {
    const v = this.views.find((x) => x.id === viewId && x.userId === userId);
    if (!v) return;
    v.closed = true;
    this.changed();
    if (v.view.notify_on_close === true) {
      await this.interactive({ type: 'view_closed', team: TEAM, user: this.userRef(userId), api_app_id: APP_ID, token: 'sandbox-verification-token', view: this.viewJson(v), is_cleared: false, is_enterprise_install: false, enterprise: null });
    }
  }

  /** Someone opens the bot's App Home tab. */
  async homeOpened(userId: string): Promise<void> {
    const home = this.views.find((x) => x.type === 'home' && x.userId === userId);
    const event = { type: 'app_home_opened', user: userId, channel: this.dmOf(userId), tab: 'home', event_ts: `${Date.now() / 1000}`, ...(home ? { view: this.viewJson(home) } : {}) };
    const body = {
      token: 'sandbox-verification-token',
      team_id: TEAM.id,
      api_app_id: APP_ID,
      event,
      type: 'event_callback',
      event_id: `Ev${randomBytes(5).toString('hex').toUpperCase()}`,
      event_time: Math.floor(Date.now() / 1000),
      authorizations: [{ enterprise_id: null, team_id: TEAM.id, user_id: BOT_USER, is_bot: true, is_enterprise_install: false }],
    };
    await this.deliver(JSON.stringify(body), 'application/json');
  }
}

function findElement(blocks: unknown[], blockId: string, actionId: string): Json | undefined {
  for (const b of blocks) {
    if (!isRec(b) || b.block_id !== blockId) continue;
    for (const el of [...(Array.isArray(b.elements) ? (b.elements as unknown[]) : []), b.accessory, b.element]) if (isRec(el) && el.action_id === actionId) return el;
  }
  return undefined;
}

/** A view's `state.values` as Slack sends it, from what was typed and chosen. */
function stateOf(blocks: unknown[], values: Record<string, Record<string, string | null>>): Json {
  const state: Record<string, Json> = {};
  for (const b of blocks) {
    if (!isRec(b) || b.type !== 'input' || !isRec(b.element)) continue;
    const el = b.element;
    const blockId = str(b.block_id);
    const actionId = str(el.action_id);
    const given = values[blockId]?.[actionId] ?? null;
    if (el.type === 'static_select') {
      const options = Array.isArray(el.options) ? el.options.filter(isRec) : [];
      const chosen = options.find((o) => o.value === given);
      state[blockId] = { [actionId]: { type: 'static_select', selected_option: chosen ? { text: chosen.text, value: chosen.value } : null } };
    } else {
      state[blockId] = { [actionId]: { type: str(el.type) || 'plain_text_input', value: given === '' ? null : given } };
    }
  }
  return state;
}
