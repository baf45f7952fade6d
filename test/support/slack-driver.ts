/**
 * Sends Slack's requests to the bot exactly as Slack does, filling the payloads from the
 * FakeSlack state (users, team, posted messages, opened views).
 *
 *   transport 'http':   signed POSTs to /slack/events
 *                       (slash commands: form body; interactivity: form field `payload=<json>`;
 *                        events: JSON), headers X-Slack-Request-Timestamp and
 *                       X-Slack-Signature = 'v0=' + hex(hmac_sha256(secret, `v0:${ts}:${rawBody}`)).
 *   transport 'socket': the same payloads as Socket Mode envelopes over FakeSlack.socketMode;
 *                       the result is the ack's `payload` and status 200.
 *
 * Payload shapes: Slack's slash command request fields, the block_actions and view_submission
 * interaction payloads, and the Socket Mode examples in "Socket Mode implementation".
 */
import { createHmac } from 'node:crypto';
import { optionsOf, randomId, type FakeSlack, type FakeSlackUser, type FakeView, type Json } from './fake-slack.ts';

export type Transport = 'http' | 'socket';

export interface SlackDriverOptions {
  slack: FakeSlack;
  signingSecret?: string;
  /** http://127.0.0.1:PORT/slack/events (required for transport 'http') */
  eventsUrl?: string;
  transport: Transport;
  /** The legacy verification token Slack puts in `token` (default 'fake-verification-token'). */
  verificationToken?: string;
}

export interface DriverResult {
  /** HTTP status of /slack/events (200 for an acked socket envelope). */
  status: number;
  /** Parsed ack body (JSON when it is JSON); undefined for an empty ack. */
  body: Json;
  triggerId: string;
  /** additions */
  elapsedMs: number;
  responseUrl?: string;
  rawBody?: string;
}

export interface ViewSubmissionResult {
  status: number;
  body: Json;
  triggerId: string;
  elapsedMs: number;
  /** Why Slack would refuse the ack (empty when accepted); the view then stays open. */
  ackProblems: string[];
}

export interface ViewClosedResult {
  status: number;
  body: Json;
  /** false when the view lacks notify_on_close, so Slack sends nothing. */
  sent: boolean;
  elapsedMs: number;
}

export interface BlockActionInput {
  actionId: string;
  /** For buttons: overrides the element's value (a forged click). Other elements: the value sent. */
  value?: string;
  blockId?: string;
  message?: { channel: string; ts: string };
  viewId?: string;
  /** For select menus: the option value chosen. */
  selectedOption?: string;
  /** Send even if no such element is on the message/view (forged request). */
  force?: boolean;
}

export interface ViewSubmissionOptions {
  /** Send a static_select value that is not one of the element's options (forged request). */
  allowUnknownOptions?: boolean;
  /** Skip what the Slack client enforces (required inputs, min/max length). */
  skipClientValidation?: boolean;
}

const USER_AGENT = 'Slackbot 1.0 (+https://api.slack.com/robots)';

export class SlackDriver {
  readonly slack: FakeSlack;
  readonly transport: Transport;
  readonly verificationToken: string;
  private readonly signingSecret?: string;
  private readonly eventsUrl?: string;

  constructor(o: SlackDriverOptions) {
    this.slack = o.slack;
    this.transport = o.transport;
    this.signingSecret = o.signingSecret;
    this.eventsUrl = o.eventsUrl;
    this.verificationToken = o.verificationToken ?? 'fake-verification-token';
    if (o.transport === 'http' && (!o.signingSecret || !o.eventsUrl)) {
      throw new Error('SlackDriver: transport http needs signingSecret and eventsUrl');
    }
  }

  // ----- wire ------------------------------------------------------------------------------

  /** Slack's v0 request signature headers for a raw body. */
  sign(rawBody: string, timestampSeconds: number, secret?: string): Record<string, string> {
    const key = secret ?? this.signingSecret;
    if (!key) throw new Error('SlackDriver.sign: no signing secret');
    const base = `v0:${timestampSeconds}:${rawBody}`;
    return {
      'X-Slack-Request-Timestamp': String(timestampSeconds),
      'X-Slack-Signature': `v0=${createHmac('sha256', key).update(base).digest('hex')}`,
    };
  }

  /** POSTs exactly `body` with exactly `headers` to the events URL (for forged/stale requests). */
  async raw(body: string, headers: Record<string, string>): Promise<{ status: number; body: Json; rawBody: string }> {
    if (!this.eventsUrl) throw new Error('SlackDriver.raw: no eventsUrl');
    const res = await fetch(this.eventsUrl, { method: 'POST', headers, body });
    const text = await res.text();
    return { status: res.status, body: parseBody(text), rawBody: text };
  }

  private async deliver(
    kind: 'slash_commands' | 'interactive' | 'events_api',
    payload: Record<string, unknown>,
    acceptsResponsePayload: boolean,
  ): Promise<{ status: number; body: Json; elapsedMs: number; rawBody?: string }> {
    const started = Date.now();
    if (this.transport === 'socket') {
      const ack = await this.slack.socketMode.send({ type: kind, payload, acceptsResponsePayload });
      return { status: 200, body: normalizeAck(ack.payload), elapsedMs: Date.now() - started };
    }
    let body: string;
    let contentType: string;
    if (kind === 'slash_commands') {
      body = new URLSearchParams(payload as Record<string, string>).toString();
      contentType = 'application/x-www-form-urlencoded';
    } else if (kind === 'interactive') {
      body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
      contentType = 'application/x-www-form-urlencoded';
    } else {
      body = JSON.stringify(payload);
      contentType = 'application/json';
    }
    const headers = {
      'Content-Type': contentType,
      'User-Agent': USER_AGENT,
      ...this.sign(body, Math.floor(Date.now() / 1000)),
    };
    const r = await this.raw(body, headers);
    return { status: r.status, body: normalizeAck(r.body), rawBody: r.rawBody, elapsedMs: Date.now() - started };
  }

  // ----- payload parts ---------------------------------------------------------------------

  private requireUser(userId: string): FakeSlackUser {
    const u = this.slack.user(userId);
    if (!u) throw new Error(`SlackDriver: unknown user ${userId}`);
    return u;
  }

  private userObj(u: FakeSlackUser): Record<string, string> {
    return { id: u.id, username: u.name, name: u.name, team_id: this.slack.teamId };
  }

  private teamObj(): Record<string, string> {
    return { id: this.slack.teamId, domain: this.slack.teamDomain };
  }

  private ownView(userId: string, viewId: string): FakeView {
    const v = this.slack.views().find((x) => x.id === viewId);
    if (!v) throw new Error(`SlackDriver: no view ${viewId}`);
    if (v.closed) throw new Error(`SlackDriver: view ${viewId} is closed`);
    if (v.userId !== undefined && v.userId !== userId) {
      throw new Error(`SlackDriver: view ${viewId} belongs to ${v.userId}, not ${userId}`);
    }
    return v;
  }

  // ----- requests --------------------------------------------------------------------------

  /** A user types `/breakglass text` (by default in their DM with the app). */
  async slashCommand(
    userId: string,
    text = '',
    command = '/breakglass',
    opts: { channelId?: string } = {},
  ): Promise<DriverResult> {
    const u = this.requireUser(userId);
    const channelId = opts.channelId ?? this.slack.dmChannelId(userId);
    const ch = this.slack.channel(channelId);
    const channelName = !ch || ch.isIm ? 'directmessage' : ch.isPrivate ? 'privategroup' : ch.name;
    const triggerId = this.slack.issueTriggerId(userId);
    const responseUrl = this.slack.issueResponseUrl({ channel: channelId, userId });
    // Field order as Slack sends it.
    const payload: Record<string, string> = {
      token: this.verificationToken,
      team_id: this.slack.teamId,
      team_domain: this.slack.teamDomain,
      channel_id: channelId,
      channel_name: channelName,
      user_id: u.id,
      user_name: u.name,
      command,
      text,
      api_app_id: this.slack.appId,
      is_enterprise_install: 'false',
      response_url: responseUrl,
      trigger_id: triggerId,
    };
    const r = await this.deliver('slash_commands', payload, true);
    if (r.status === 200) this.slack.applyCommandAck(channelId, userId, r.body);
    return { ...r, triggerId, responseUrl };
  }

  /** A user clicks a button / picks an option on a message or in a view. */
  async blockAction(userId: string, a: BlockActionInput): Promise<DriverResult> {
    const u = this.requireUser(userId);
    const triggerId = this.slack.issueTriggerId(userId);
    let blocks: unknown[];
    let responseUrl: string | undefined;
    const where: Record<string, unknown> = {};
    if (a.message) {
      const m = this.slack.findMessage(a.message.channel, a.message.ts);
      if (!m) throw new Error(`SlackDriver: no message ${a.message.channel}/${a.message.ts}`);
      const ch = this.slack.channel(m.channel);
      responseUrl = this.slack.issueResponseUrl({ channel: m.channel, userId, messageTs: m.ts });
      blocks = m.blocks ?? [];
      where.container = { type: 'message', message_ts: m.ts, channel_id: m.channel, is_ephemeral: false };
      where.channel = { id: m.channel, name: !ch || ch.isIm ? 'directmessage' : ch.isPrivate ? 'privategroup' : ch.name };
      where.message = this.slack.messageJson(m);
      where.state = { values: {} };
      where.response_url = responseUrl;
    } else if (a.viewId) {
      const v = this.ownView(userId, a.viewId);
      blocks = Array.isArray(v.view.blocks) ? (v.view.blocks as unknown[]) : [];
      where.container = { type: 'view', view_id: v.id };
      where.view = { ...v.view, state: { values: {} } };
    } else {
      throw new Error('SlackDriver.blockAction: give `message` or `viewId`');
    }
    const found = findElement(blocks, a.actionId, a.blockId);
    if (!found && !a.force) {
      throw new Error(`SlackDriver: no element with action_id ${a.actionId}${a.blockId ? ` in block ${a.blockId}` : ''}`);
    }
    const payload: Record<string, unknown> = {
      type: 'block_actions',
      user: this.userObj(u),
      api_app_id: this.slack.appId,
      token: this.verificationToken,
      container: where.container,
      trigger_id: triggerId,
      team: this.teamObj(),
      enterprise: null,
      is_enterprise_install: false,
      ...where,
      actions: [buildAction(found, a)],
    };
    const r = await this.deliver('interactive', payload, true);
    return { ...r, triggerId, responseUrl };
  }

  /**
   * A user submits a modal. `values` maps block_id → action_id → the entered text or the chosen
   * option value (null = left empty). Input blocks not mentioned are sent empty, as Slack does.
   */
  async viewSubmission(
    userId: string,
    viewId: string,
    values: Record<string, Record<string, string | null>>,
    opts: ViewSubmissionOptions = {},
  ): Promise<ViewSubmissionResult> {
    const u = this.requireUser(userId);
    const v = this.ownView(userId, viewId);
    const state = buildState(v.view, values, opts);
    const triggerId = this.slack.issueTriggerId(userId);
    const payload: Record<string, unknown> = {
      type: 'view_submission',
      team: this.teamObj(),
      user: this.userObj(u),
      api_app_id: this.slack.appId,
      token: this.verificationToken,
      trigger_id: triggerId,
      view: { ...v.view, state: { values: state } },
      response_urls: [],
      is_enterprise_install: false,
      enterprise: null,
    };
    const r = await this.deliver('interactive', payload, true);
    const ackProblems = r.status === 200 ? this.slack.applyViewSubmissionAck(viewId, r.body) : [`HTTP ${r.status}`];
    return { status: r.status, body: r.body, triggerId, elapsedMs: r.elapsedMs, ackProblems };
  }

  /** A user closes a modal; Slack only tells the app when the view has notify_on_close. */
  async viewClosed(userId: string, viewId: string): Promise<ViewClosedResult> {
    const u = this.requireUser(userId);
    const v = this.ownView(userId, viewId);
    const cleared = Boolean(v.view.clear_on_close);
    for (const m of cleared ? this.slack.openModals(userId) : [v]) this.slack.closeView(m.id);
    if (!v.view.notify_on_close) return { status: 0, body: undefined, sent: false, elapsedMs: 0 };
    const payload: Record<string, unknown> = {
      type: 'view_closed',
      team: this.teamObj(),
      user: this.userObj(u),
      api_app_id: this.slack.appId,
      token: this.verificationToken,
      view: v.view,
      is_cleared: cleared,
      is_enterprise_install: false,
      enterprise: null,
    };
    const r = await this.deliver('interactive', payload, false);
    return { status: r.status, body: r.body, sent: true, elapsedMs: r.elapsedMs };
  }

  /** Delivers an Events API event (wrapped in event_callback). */
  async event(event: Record<string, unknown>): Promise<{ status: number; body: Json; elapsedMs: number }> {
    const now = Date.now();
    const eventTs = tsOf(now);
    const payload: Record<string, unknown> = {
      token: this.verificationToken,
      team_id: this.slack.teamId,
      api_app_id: this.slack.appId,
      event: { event_ts: eventTs, ...event },
      type: 'event_callback',
      event_id: `Ev${randomId(10).toUpperCase()}`,
      event_time: Math.floor(now / 1000),
      authorizations: [
        { enterprise_id: null, team_id: this.slack.teamId, user_id: this.slack.botUserId, is_bot: true, is_enterprise_install: false },
      ],
      is_ext_shared_channel: false,
      event_context: `4-${randomId(20)}`,
    };
    return this.deliver('events_api', payload, false);
  }

  /** The user opens the app's Home tab. */
  async appHomeOpened(userId: string): Promise<{ status: number; body: Json; elapsedMs: number }> {
    this.requireUser(userId);
    const home = this.slack.homeView(userId);
    return this.event({
      type: 'app_home_opened',
      user: userId,
      channel: this.slack.dmChannelId(userId),
      tab: 'home',
      ...(home ? { view: home.view } : {}),
    });
  }
}

// ----- helpers -----------------------------------------------------------------------------

function parseBody(text: string): Json {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** An empty ack reads the same over HTTP ('') and Socket Mode (`payload: {}`). */
function normalizeAck(body: unknown): Json {
  if (body === undefined || body === null || body === '') return undefined;
  if (typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0) return undefined;
  return body;
}

function tsOf(ms: number): string {
  return `${Math.floor(ms / 1000)}.${String((ms % 1000) * 1000).padStart(6, '0')}`;
}

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);

function findElement(blocks: unknown[], actionId: string, blockId?: string): { blockId: string; element: Rec } | undefined {
  for (const b of blocks) {
    if (!isRec(b)) continue;
    if (blockId !== undefined && b.block_id !== blockId) continue;
    const candidates: unknown[] = [...(Array.isArray(b.elements) ? b.elements : []), b.accessory, b.element];
    for (const el of candidates) {
      if (isRec(el) && el.action_id === actionId) return { blockId: String(b.block_id), element: el };
    }
  }
  return undefined;
}

function optionFor(el: Rec, value: string): Rec | undefined {
  const o = optionsOf(el).find((x) => x.value === value);
  if (!o) return undefined;
  const text: Rec = isRec(o.text) ? { ...o.text } : { type: 'plain_text', text: value };
  if (text.type === 'plain_text' && text.emoji === undefined) text.emoji = true;
  return { text, value };
}

function buildAction(found: { blockId: string; element: Rec } | undefined, a: BlockActionInput): Rec {
  const actionTs = tsOf(Date.now());
  if (!found) {
    return {
      type: 'button',
      action_id: a.actionId,
      block_id: a.blockId ?? randomId(5),
      text: { type: 'plain_text', text: a.actionId, emoji: true },
      ...(a.value !== undefined ? { value: a.value } : {}),
      action_ts: actionTs,
    };
  }
  const el = found.element;
  const base: Rec = { type: el.type, action_id: el.action_id, block_id: found.blockId, action_ts: actionTs };
  switch (el.type) {
    case 'button': {
      const value = a.value ?? el.value;
      return {
        ...base,
        text: el.text,
        ...(value !== undefined ? { value } : {}),
        ...(el.style !== undefined ? { style: el.style } : {}),
      };
    }
    case 'static_select':
    case 'overflow':
    case 'radio_buttons': {
      const chosen = a.selectedOption ?? a.value;
      if (chosen === undefined) throw new Error(`SlackDriver: ${String(el.type)} ${String(el.action_id)} needs selectedOption`);
      const option = optionFor(el, chosen);
      if (!option && !a.force) throw new Error(`SlackDriver: "${chosen}" is not an option of ${String(el.action_id)}`);
      return {
        ...base,
        selected_option: option ?? { text: { type: 'plain_text', text: chosen, emoji: true }, value: chosen },
        ...(el.placeholder !== undefined ? { placeholder: el.placeholder } : {}),
      };
    }
    case 'users_select':
      return { ...base, selected_user: a.value ?? null };
    case 'conversations_select':
      return { ...base, selected_conversation: a.value ?? null };
    case 'channels_select':
      return { ...base, selected_channel: a.value ?? null };
    case 'datepicker':
      return { ...base, selected_date: a.value ?? null };
    default:
      return { ...base, value: a.value ?? null };
  }
}

/** view.state.values for a submission, typed by each input element, as the Slack client builds it. */
function buildState(
  view: Json,
  values: Record<string, Record<string, string | null>>,
  opts: ViewSubmissionOptions,
): Record<string, Record<string, Rec>> {
  const out: Record<string, Record<string, Rec>> = {};
  const used = new Set<string>();
  const blocks: unknown[] = Array.isArray(view?.blocks) ? view.blocks : [];
  for (const b of blocks) {
    if (!isRec(b) || b.type !== 'input' || !isRec(b.element)) continue;
    const blockId = String(b.block_id);
    const el = b.element;
    const actionId = String(el.action_id);
    const given = values[blockId]?.[actionId];
    if (values[blockId] && actionId in values[blockId]) used.add(`${blockId}/${actionId}`);
    const v = given === undefined || given === '' ? null : given;
    if (!opts.skipClientValidation) clientValidate(b, el, v, blockId);
    out[blockId] = { [actionId]: elementState(el, v, opts, blockId) };
  }
  for (const [blockId, byAction] of Object.entries(values)) {
    for (const actionId of Object.keys(byAction)) {
      if (!used.has(`${blockId}/${actionId}`)) {
        throw new Error(`SlackDriver: the view has no input ${blockId}/${actionId}`);
      }
    }
  }
  return out;
}

/** What the Slack client refuses to submit. */
function clientValidate(block: Rec, el: Rec, v: string | null, blockId: string): void {
  if (v === null) {
    if (block.optional !== true) throw new Error(`SlackDriver: input ${blockId} is required (the Slack client would not submit)`);
    return;
  }
  if (typeof el.max_length === 'number' && v.length > el.max_length) {
    throw new Error(`SlackDriver: input ${blockId} is longer than max_length ${el.max_length}`);
  }
  if (typeof el.min_length === 'number' && v.length < el.min_length) {
    throw new Error(`SlackDriver: input ${blockId} is shorter than min_length ${el.min_length}`);
  }
}

function elementState(el: Rec, v: string | null, opts: ViewSubmissionOptions, blockId: string): Rec {
  const type = String(el.type);
  switch (type) {
    case 'static_select':
    case 'radio_buttons': {
      if (v === null) return { type, selected_option: null };
      const option = optionFor(el, v);
      if (!option && !opts.allowUnknownOptions) {
        throw new Error(`SlackDriver: "${v}" is not an option of ${blockId}/${String(el.action_id)}`);
      }
      return { type, selected_option: option ?? { text: { type: 'plain_text', text: v, emoji: true }, value: v } };
    }
    case 'multi_static_select':
    case 'checkboxes': {
      const chosen = v === null ? [] : v.split(',');
      const selected = chosen.map((x) => {
        const o = optionFor(el, x);
        if (!o && !opts.allowUnknownOptions) throw new Error(`SlackDriver: "${x}" is not an option of ${blockId}`);
        return o ?? { text: { type: 'plain_text', text: x, emoji: true }, value: x };
      });
      return { type, selected_options: selected };
    }
    case 'users_select':
      return { type, selected_user: v };
    case 'multi_users_select':
      return { type, selected_users: v === null ? [] : v.split(',') };
    case 'conversations_select':
      return { type, selected_conversation: v };
    case 'channels_select':
      return { type, selected_channel: v };
    case 'datepicker':
      return { type, selected_date: v };
    case 'timepicker':
      return { type, selected_time: v };
    default:
      // plain_text_input, number_input, email_text_input, url_text_input
      return { type, value: v };
  }
}
