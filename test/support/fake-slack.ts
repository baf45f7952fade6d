/**
 * A fake Slack Web API on 127.0.0.1 that speaks Slack's wire format, so the bot runs
 * unmodified against it with SLACK_API_URL=fake.apiUrl.
 *
 * Formats followed (see the report for citations):
 *   - Web API: POST https://slack.com/api/<method>, form-encoded or JSON body (JSON needs the
 *     token in `Authorization: Bearer`), answers `{ok:true,...}` / `{ok:false,error}` with HTTP 200,
 *     HTTP 429 + `Retry-After` when rate limited, and `x-oauth-scopes` on responses.
 *   - Block Kit validation errors: `invalid_blocks` (messages) / `invalid_arguments` (views) with
 *     `response_metadata.messages` like `[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]`.
 *   - @slack/web-api joins `slackApiUrl` + method with no separator (it appends a trailing
 *     slash to slackApiUrl if missing), so `apiUrl` ends in `/api/`.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeSocketMode } from './fake-socket-mode.ts';

export { FakeSocketMode } from './fake-socket-mode.ts';

// Tests read arbitrary Slack JSON (views, ack bodies); `any` keeps those reads terse.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export interface FakeSlackUser {
  id: string;
  name: string;
  realName?: string;
  email?: string;
  /** IANA zone, default 'UTC' */
  tz?: string;
  /** seconds east of UTC; computed from `tz` when absent */
  tzOffset?: number;
  isBot?: boolean;
  deleted?: boolean;
}

export interface FakeUsergroup {
  id: string;
  handle: string;
  users: string[];
  name?: string;
}

export interface FakeChannel {
  id: string;
  name: string;
  members: string[];
  isPrivate?: boolean;
}

export interface FakeSlackOptions {
  users: FakeSlackUser[];
  usergroups?: FakeUsergroup[];
  /** The bot is a member only if botUserId is in `members`. */
  channels?: FakeChannel[];
  botUserId?: string; // default 'UBOT'
  botToken?: string; // default 'xoxb-test-token'
  appToken?: string; // default 'xapp-test-token'
  teamId?: string; // default 'T0001'
  scopes?: string[];
  triggerTtlMs?: number; // default 3000
  // additions
  appId?: string; // default 'A0FAKEAPP1'
  botId?: string; // default 'B0FAKEBOT1'
  teamDomain?: string; // default 'fake-team'
  teamName?: string;
  socketAckTimeoutMs?: number;
  /**
   * Per-method limits in calls a minute, as Slack's rate-limit tiers set them; past the limit
   * the method answers HTTP 429 with Retry-After. Default: usergroups.users.list at Tier 2
   * (20 a minute), the method every approver check uses. Pass {} to turn limits off.
   */
  rateLimits?: Record<string, number>;
  socketRetryUnackedAttempts?: number;
}

export interface RecordedSlackCall {
  method: string;
  args: Record<string, unknown>;
  at: number;
  ok: boolean;
  error?: string;
  status: number;
  /** which token authenticated the call (addition) */
  token?: string;
}

export interface PostedMessage {
  channel: string;
  ts: string;
  threadTs?: string;
  text?: string;
  blocks?: unknown[];
  metadata?: unknown;
  updates: Array<{ at: number; text?: string; blocks?: unknown[] }>;
  /** poster: the bot user, or a user for an in_channel slash-command reply (addition) */
  user: string;
}

export interface EphemeralMessage {
  channel: string;
  user: string;
  text?: string;
  blocks?: unknown[];
  ts: string;
  source: 'chat.postEphemeral' | 'response_url' | 'ack';
}

export interface FakeView {
  id: string;
  triggerId?: string;
  view: Json;
  userId?: string;
  /** additions */
  closed: boolean;
  type: 'modal' | 'home';
}

export interface MethodFailure {
  error?: string;
  rateLimited?: boolean;
  retryAfterSeconds?: number;
  forMs?: number;
  count?: number;
}

export interface ResponseUrlPost {
  id: string;
  body: unknown;
  at: number;
  status: number;
}

/** Slack's default scopes for this fake: everything breakglass needs. */
export const DEFAULT_SCOPES = [
  'commands',
  'chat:write',
  'im:write',
  'im:read',
  'im:history',
  'channels:read',
  'channels:history',
  'groups:read',
  'groups:history',
  'mpim:read',
  'users:read',
  'users:read.email',
  'usergroups:read',
];

// Any one of these grants the method (Slack checks per conversation type; close enough).
const METHOD_SCOPES: Record<string, string[]> = {
  'chat.postMessage': ['chat:write'],
  'chat.update': ['chat:write'],
  'chat.postEphemeral': ['chat:write'],
  'chat.delete': ['chat:write'],
  'conversations.open': ['im:write', 'mpim:write'],
  'conversations.info': ['channels:read', 'groups:read', 'im:read', 'mpim:read'],
  'conversations.members': ['channels:read', 'groups:read', 'im:read', 'mpim:read'],
  'conversations.history': ['channels:history', 'groups:history', 'im:history', 'mpim:history'],
  'conversations.replies': ['channels:history', 'groups:history', 'im:history', 'mpim:history'],
  'users.info': ['users:read'],
  'users.lookupByEmail': ['users:read.email'],
  'usergroups.list': ['usergroups:read'],
  'usergroups.users.list': ['usergroups:read'],
};

type Args = Record<string, unknown>;
type ApiResult = ({ ok: true } | { ok: false; error: string }) & Record<string, unknown>;
interface Ctx {
  args: Args;
  token: string;
}

interface ChannelState {
  id: string;
  name: string;
  members: Set<string>;
  isPrivate: boolean;
  isIm: boolean;
  isMpim: boolean;
  imUser?: string;
  created: number;
}

interface StoredMessage extends PostedMessage {
  deleted: boolean;
}

interface TriggerState {
  issuedAt: number;
  used: boolean;
  userId?: string;
}

interface ResponseUrlState {
  channel?: string;
  userId?: string;
  messageTs?: string;
  createdAt: number;
  uses: number;
}

const ok = (extra: Record<string, unknown> = {}): ApiResult => ({ ok: true, ...extra });
const fail = (error: string, extra: Record<string, unknown> = {}): ApiResult => ({ ok: false, error, ...extra });

// ---------------------------------------------------------------------------------------------
// Block Kit validation
// Limits: docs.slack.dev/reference/block-kit (blocks ≤50 per message, ≤100 per modal/home;
// section text ≤3000, fields ≤10 × ≤2000; header ≤150; button text ≤75, value ≤2000, url ≤3000;
// action_id/block_id ≤255; option text ≤75, value ≤150; select ≤100 options; plain_text_input
// max_length 1..3000; context ≤10 elements; actions ≤25 elements; modal title/submit/close ≤24,
// private_metadata ≤3000, callback_id ≤255) and @slack/types' doc comments.
// ---------------------------------------------------------------------------------------------

export type BlockSurface = 'message' | 'modal' | 'home';

class Problems {
  readonly list: string[] = [];
  add(message: string, pointer: string): void {
    this.list.push(`${message} [json-pointer:${pointer}]`);
  }
  get any(): boolean {
    return this.list.length > 0;
  }
}

const BLOCK_TYPES = new Set([
  'section', 'header', 'divider', 'context', 'actions', 'input', 'image', 'rich_text',
  'markdown', 'file', 'video', 'table', 'context_actions',
]);
const INTERACTIVE_ELEMENTS = new Set([
  'button', 'static_select', 'multi_static_select', 'external_select', 'multi_external_select',
  'users_select', 'multi_users_select', 'conversations_select', 'multi_conversations_select',
  'channels_select', 'multi_channels_select', 'overflow', 'datepicker', 'timepicker',
  'datetimepicker', 'checkboxes', 'radio_buttons', 'plain_text_input', 'number_input',
  'email_text_input', 'url_text_input', 'rich_text_input', 'file_input', 'workflow_button',
]);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
}
function bool(v: unknown): boolean {
  return v === true || v === 'true' || v === '1' || v === 1;
}

function maxLen(value: unknown, max: number, pointer: string, p: Problems): void {
  if (typeof value === 'string' && value.length > max) p.add(`must be less than ${max + 1} characters`, pointer);
}

function checkText(
  t: unknown,
  pointer: string,
  p: Problems,
  o: { max?: number; plainOnly?: boolean } = {},
): void {
  if (!isRecord(t)) {
    p.add('must be an object', pointer);
    return;
  }
  const type = t.type;
  const allowed = o.plainOnly ? ['plain_text'] : ['plain_text', 'mrkdwn'];
  if (typeof type !== 'string' || !allowed.includes(type)) {
    p.add(`must be one of [${allowed.join(', ')}]`, `${pointer}/type`);
  }
  if (typeof t.text !== 'string') {
    p.add('missing required field: text', pointer);
    return;
  }
  if (t.text.length === 0) p.add('must be more than 0 characters', `${pointer}/text`);
  maxLen(t.text, o.max ?? 3000, `${pointer}/text`, p);
}

function checkActionId(el: Record<string, unknown>, pointer: string, p: Problems, seen: Set<string>): void {
  const id = el.action_id;
  if (id === undefined) return;
  if (typeof id !== 'string') {
    p.add('must be a string', `${pointer}/action_id`);
    return;
  }
  maxLen(id, 255, `${pointer}/action_id`, p);
  // Slack: action_id "should be unique among all other action_ids in the containing block".
  if (seen.has(id)) p.add(`duplicate action_id: ${id}`, `${pointer}/action_id`);
  seen.add(id);
}

function checkOption(o: unknown, pointer: string, p: Problems, plainOnly: boolean): void {
  if (!isRecord(o)) {
    p.add('must be an object', pointer);
    return;
  }
  checkText(o.text, `${pointer}/text`, p, { max: 75, plainOnly });
  if (typeof o.value !== 'string') p.add('missing required field: value', pointer);
  maxLen(o.value, 150, `${pointer}/value`, p);
  if (o.description !== undefined) checkText(o.description, `${pointer}/description`, p, { max: 75, plainOnly: true });
}

/** All options of a static select (flat or grouped). */
export function optionsOf(el: Record<string, unknown>): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  if (Array.isArray(el.options)) for (const o of el.options) if (isRecord(o)) out.push(o);
  if (Array.isArray(el.option_groups)) {
    for (const g of el.option_groups) {
      if (isRecord(g) && Array.isArray(g.options)) for (const o of g.options) if (isRecord(o)) out.push(o);
    }
  }
  return out;
}

function checkSelectOptions(el: Record<string, unknown>, pointer: string, p: Problems, max: number): void {
  const hasOptions = el.options !== undefined;
  const hasGroups = el.option_groups !== undefined;
  if (hasOptions && hasGroups) p.add('must provide either `options` or `option_groups`, not both', pointer);
  if (!hasOptions && !hasGroups) {
    p.add('must provide either `options` or `option_groups`', pointer);
    return;
  }
  if (hasOptions) {
    if (!Array.isArray(el.options)) p.add('must be an array', `${pointer}/options`);
    else {
      if (el.options.length < 1) p.add('must provide at least 1 items', `${pointer}/options`);
      if (el.options.length > max) p.add(`no more than ${max} items allowed`, `${pointer}/options`);
      el.options.forEach((o, i) => checkOption(o, `${pointer}/options/${i}`, p, true));
    }
  }
  if (hasGroups) {
    if (!Array.isArray(el.option_groups)) p.add('must be an array', `${pointer}/option_groups`);
    else {
      if (el.option_groups.length > 100) p.add('no more than 100 items allowed', `${pointer}/option_groups`);
      el.option_groups.forEach((g, gi) => {
        const gp = `${pointer}/option_groups/${gi}`;
        if (!isRecord(g)) return p.add('must be an object', gp);
        checkText(g.label, `${gp}/label`, p, { max: 75, plainOnly: true });
        if (!Array.isArray(g.options)) return p.add('missing required field: options', gp);
        if (g.options.length > 100) p.add('no more than 100 items allowed', `${gp}/options`);
        g.options.forEach((o, i) => checkOption(o, `${gp}/options/${i}`, p, true));
      });
    }
  }
  const values = new Set(optionsOf(el).map((o) => o.value));
  const initial = el.initial_option;
  if (isRecord(initial) && !values.has(initial.value)) {
    p.add('must match one of the provided options', `${pointer}/initial_option`);
  }
}

function checkElement(el: unknown, pointer: string, p: Problems, actionIds: Set<string>, allowed?: Set<string>): void {
  if (!isRecord(el)) {
    p.add('must be an object', pointer);
    return;
  }
  const type = el.type;
  if (typeof type !== 'string' || !(INTERACTIVE_ELEMENTS.has(type) || type === 'image') || (allowed && !allowed.has(type))) {
    p.add(`unsupported type: ${String(type)}`, `${pointer}/type`);
    return;
  }
  checkActionId(el, pointer, p, actionIds);
  if (el.placeholder !== undefined) checkText(el.placeholder, `${pointer}/placeholder`, p, { max: 150, plainOnly: true });
  switch (type) {
    case 'button':
      checkText(el.text, `${pointer}/text`, p, { max: 75, plainOnly: true });
      maxLen(el.value, 2000, `${pointer}/value`, p);
      maxLen(el.url, 3000, `${pointer}/url`, p);
      if (el.style !== undefined && el.style !== 'primary' && el.style !== 'danger') {
        p.add('must be one of [primary, danger]', `${pointer}/style`);
      }
      break;
    case 'static_select':
    case 'multi_static_select':
      checkSelectOptions(el, pointer, p, 100);
      break;
    case 'overflow':
      if (!Array.isArray(el.options) || el.options.length < 1) p.add('must provide at least 1 items', `${pointer}/options`);
      else {
        if (el.options.length > 5) p.add('no more than 5 items allowed', `${pointer}/options`);
        el.options.forEach((o, i) => checkOption(o, `${pointer}/options/${i}`, p, true));
      }
      break;
    case 'checkboxes':
    case 'radio_buttons':
      if (!Array.isArray(el.options) || el.options.length < 1) p.add('must provide at least 1 items', `${pointer}/options`);
      else {
        if (el.options.length > 10) p.add('no more than 10 items allowed', `${pointer}/options`);
        el.options.forEach((o, i) => checkOption(o, `${pointer}/options/${i}`, p, false));
      }
      break;
    case 'plain_text_input': {
      const { max_length: max, min_length: min } = el;
      if (max !== undefined && (typeof max !== 'number' || max < 1 || max > 3000)) {
        p.add('must be between 1 and 3000', `${pointer}/max_length`);
      }
      if (min !== undefined && (typeof min !== 'number' || min < 0 || min > 3000)) {
        p.add('must be between 0 and 3000', `${pointer}/min_length`);
      }
      if (typeof min === 'number' && typeof max === 'number' && min > max) {
        p.add('must be less than or equal to max_length', `${pointer}/min_length`);
      }
      break;
    }
    case 'image':
      if (el.image_url === undefined && el.slack_file === undefined) p.add('missing required field: image_url', pointer);
      if (typeof el.alt_text !== 'string') p.add('missing required field: alt_text', pointer);
      break;
    default:
      break;
  }
}

function checkBlock(b: unknown, pointer: string, p: Problems, blockIds: Set<string>): void {
  if (!isRecord(b)) {
    p.add('must be an object', pointer);
    return;
  }
  const type = b.type;
  if (typeof type !== 'string' || !BLOCK_TYPES.has(type)) {
    p.add(`unsupported type: ${String(type)}`, `${pointer}/type`);
    return;
  }
  if (b.block_id !== undefined) {
    if (typeof b.block_id !== 'string' || b.block_id.length === 0) p.add('must be a non-empty string', `${pointer}/block_id`);
    else {
      maxLen(b.block_id, 255, `${pointer}/block_id`, p);
      if (blockIds.has(b.block_id)) p.add(`duplicate block_id: ${b.block_id}`, `${pointer}/block_id`);
      blockIds.add(b.block_id);
    }
  }
  const actionIds = new Set<string>();
  switch (type) {
    case 'section':
      if (b.text === undefined && b.fields === undefined) p.add('must define either `text` or `fields`', `${pointer}/type`);
      if (b.text !== undefined) checkText(b.text, `${pointer}/text`, p, { max: 3000 });
      if (b.fields !== undefined) {
        if (!Array.isArray(b.fields)) p.add('must be an array', `${pointer}/fields`);
        else {
          if (b.fields.length > 10) p.add('no more than 10 items allowed', `${pointer}/fields`);
          b.fields.forEach((f, i) => checkText(f, `${pointer}/fields/${i}`, p, { max: 2000 }));
        }
      }
      if (b.accessory !== undefined) checkElement(b.accessory, `${pointer}/accessory`, p, actionIds);
      break;
    case 'header':
      checkText(b.text, `${pointer}/text`, p, { max: 150, plainOnly: true });
      break;
    case 'context':
      if (!Array.isArray(b.elements) || b.elements.length < 1) p.add('must provide at least 1 items', `${pointer}/elements`);
      else {
        if (b.elements.length > 10) p.add('no more than 10 items allowed', `${pointer}/elements`);
        b.elements.forEach((e, i) => {
          const ep = `${pointer}/elements/${i}`;
          if (isRecord(e) && e.type === 'image') checkElement(e, ep, p, actionIds, new Set(['image']));
          else checkText(e, ep, p);
        });
      }
      break;
    case 'actions':
      if (!Array.isArray(b.elements) || b.elements.length < 1) p.add('must provide at least 1 items', `${pointer}/elements`);
      else {
        if (b.elements.length > 25) p.add('no more than 25 items allowed', `${pointer}/elements`);
        b.elements.forEach((e, i) => checkElement(e, `${pointer}/elements/${i}`, p, actionIds));
      }
      break;
    case 'input':
      checkText(b.label, `${pointer}/label`, p, { max: 2000, plainOnly: true });
      if (b.hint !== undefined) checkText(b.hint, `${pointer}/hint`, p, { max: 2000, plainOnly: true });
      if (b.element === undefined) p.add('missing required field: element', pointer);
      else checkElement(b.element, `${pointer}/element`, p, actionIds);
      break;
    case 'image':
      if (b.image_url === undefined && b.slack_file === undefined) p.add('missing required field: image_url', pointer);
      if (typeof b.alt_text !== 'string') p.add('missing required field: alt_text', pointer);
      maxLen(b.alt_text, 2000, `${pointer}/alt_text`, p);
      if (b.title !== undefined) checkText(b.title, `${pointer}/title`, p, { max: 2000, plainOnly: true });
      break;
    case 'markdown':
      if (typeof b.text !== 'string') p.add('missing required field: text', pointer);
      maxLen(b.text, 12000, `${pointer}/text`, p);
      break;
    default:
      break;
  }
}

/** Validates a `blocks` array; returns Slack-style problem messages (without the [ERROR] prefix). */
export function validateBlocks(blocks: unknown, pointer: string, surface: BlockSurface): string[] {
  const p = new Problems();
  if (!Array.isArray(blocks)) {
    p.add('must be an array', pointer);
    return p.list;
  }
  const max = surface === 'message' ? 50 : 100;
  if (blocks.length > max) p.add(`no more than ${max} items allowed`, pointer);
  const blockIds = new Set<string>();
  blocks.forEach((b, i) => checkBlock(b, `${pointer}/${i}`, p, blockIds));
  return p.list;
}

/** Validates a modal or home view object as views.open/push/update/publish would. */
export function validateView(view: unknown, expect?: 'modal' | 'home'): string[] {
  const p = new Problems();
  if (!isRecord(view)) {
    p.add('must be an object', '/view');
    return p.list;
  }
  const type = view.type;
  if (type !== 'modal' && type !== 'home') {
    p.add('must be one of [modal, home]', '/view/type');
    return p.list;
  }
  if (expect && type !== expect) p.add(`must be ${expect}`, '/view/type');
  if (type === 'modal') {
    if (view.title === undefined) p.add('missing required field: title', '/view');
    else checkText(view.title, '/view/title', p, { max: 24, plainOnly: true });
    if (view.submit !== undefined) checkText(view.submit, '/view/submit', p, { max: 24, plainOnly: true });
    if (view.close !== undefined) checkText(view.close, '/view/close', p, { max: 24, plainOnly: true });
  }
  maxLen(view.private_metadata, 3000, '/view/private_metadata', p);
  maxLen(view.callback_id, 255, '/view/callback_id', p);
  maxLen(view.external_id, 255, '/view/external_id', p);
  if (view.blocks === undefined) p.add('missing required field: blocks', '/view');
  else p.list.push(...validateBlocks(view.blocks, '/view/blocks', type));
  if (type === 'modal' && view.submit === undefined && Array.isArray(view.blocks)) {
    view.blocks.forEach((b, i) => {
      if (isRecord(b) && b.type === 'input') {
        p.add('must define `submit` to use an `input` block in modals', `/view/blocks/${i}/input`);
      }
    });
  }
  return p.list;
}

const errorMessages = (list: string[]): string[] => list.map((m) => `[ERROR] ${m}`);

/** Slack fills in ids the app left out; the app then receives them in payloads. */
function withGeneratedIds(blocks: unknown[]): unknown[] {
  return blocks.map((b) => {
    if (!isRecord(b)) return b;
    const copy: Record<string, unknown> = structuredClone(b);
    if (copy.block_id === undefined) copy.block_id = randomId(5);
    const fill = (el: unknown): void => {
      if (isRecord(el) && el.type !== 'image' && INTERACTIVE_ELEMENTS.has(String(el.type)) && el.action_id === undefined) {
        el.action_id = randomId(5);
      }
    };
    if (Array.isArray(copy.elements)) copy.elements.forEach(fill);
    fill(copy.accessory);
    fill(copy.element);
    return copy;
  });
}

export function randomId(n: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(n), (x) => alphabet[x % alphabet.length]).join('');
}

function tzInfo(tz: string, at = new Date()): { offset: number; label: string } {
  // Throws RangeError on an unknown zone, which is what we want for a bad fixture.
  const part = (style: 'longOffset' | 'long'): string =>
    new Intl.DateTimeFormat('en-US', { timeZone: tz, timeZoneName: style })
      .formatToParts(at)
      .find((x) => x.type === 'timeZoneName')?.value ?? '';
  const m = /GMT([+-])(\d{2}):(\d{2})/.exec(part('longOffset'));
  const offset = m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 3600 + Number(m[3]) * 60) : 0;
  return { offset, label: part('long') };
}

function paginate<T>(items: T[], args: Args): { page: T[]; next: string } | { error: string } {
  const limit = Math.min(Math.max(Number(str(args.limit) ?? 100) || 100, 1), 1000);
  let offset = 0;
  const cursor = str(args.cursor);
  if (cursor) {
    const m = /^offset:(\d+)$/.exec(Buffer.from(cursor, 'base64').toString('utf8'));
    if (!m) return { error: 'invalid_cursor' };
    offset = Number(m[1]);
  }
  const page = items.slice(offset, offset + limit);
  const next = offset + limit < items.length ? Buffer.from(`offset:${offset + limit}`).toString('base64') : '';
  return { page, next };
}

// ---------------------------------------------------------------------------------------------
// The fake
// ---------------------------------------------------------------------------------------------

export class FakeSlack {
  readonly calls: RecordedSlackCall[] = [];
  readonly socketMode: FakeSocketMode;
  readonly botUserId: string;
  readonly botToken: string;
  readonly appToken: string;
  readonly teamId: string;
  readonly teamDomain: string;
  readonly teamName: string;
  readonly appId: string;
  readonly botId: string;
  readonly scopes: string[];
  readonly triggerTtlMs: number;

  private server!: Server;
  private base = '';
  private readonly users = new Map<string, FakeSlackUser>();
  private readonly usergroups = new Map<string, FakeUsergroup>();
  private readonly channels = new Map<string, ChannelState>();
  private readonly dmByUser = new Map<string, string>();
  private readonly store: StoredMessage[] = [];
  private readonly ephemeralList: EphemeralMessage[] = [];
  private readonly viewList: FakeView[] = [];
  private readonly homeByUser = new Map<string, string>();
  private readonly triggers = new Map<string, TriggerState>();
  private readonly responseUrls = new Map<string, ResponseUrlState>();
  private readonly responsePosts: ResponseUrlPost[] = [];
  private readonly failures = new Map<string, MethodFailure & { until?: number; remaining?: number }>();
  private readonly rateLimits: Record<string, number>;
  private readonly recentCalls = new Map<string, number[]>();
  private lastTsMicros = 0;
  private seq = 0;

  private constructor(opts: FakeSlackOptions) {
    this.botUserId = opts.botUserId ?? 'UBOT';
    this.botToken = opts.botToken ?? 'xoxb-test-token';
    this.appToken = opts.appToken ?? 'xapp-test-token';
    this.teamId = opts.teamId ?? 'T0001';
    this.teamDomain = opts.teamDomain ?? 'fake-team';
    this.teamName = opts.teamName ?? 'Fake Team';
    this.appId = opts.appId ?? 'A0FAKEAPP1';
    this.botId = opts.botId ?? 'B0FAKEBOT1';
    this.scopes = [...(opts.scopes ?? DEFAULT_SCOPES)];
    this.rateLimits = opts.rateLimits ?? { 'usergroups.users.list': 20 };
    this.triggerTtlMs = opts.triggerTtlMs ?? 3000;
    this.socketMode = new FakeSocketMode({
      appId: this.appId,
      ackTimeoutMs: opts.socketAckTimeoutMs,
      retryUnackedAttempts: opts.socketRetryUnackedAttempts,
    });
    this.setUser({ id: this.botUserId, name: 'breakglass', realName: 'breakglass', isBot: true });
    for (const u of opts.users) this.setUser(u);
    for (const g of opts.usergroups ?? []) this.setUsergroup(g);
    for (const c of opts.channels ?? []) this.addChannel(c);
  }

  static async start(opts: FakeSlackOptions): Promise<FakeSlack> {
    const fake = new FakeSlack(opts);
    await fake.listen();
    return fake;
  }

  private async listen(): Promise<void> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      });
    });
    this.server.on('upgrade', (req, socket, head) => {
      if (!this.socketMode.handleUpgrade(req, socket, head)) socket.destroy();
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.base = `http://127.0.0.1:${port}`;
    this.socketMode.bind(`ws://127.0.0.1:${port}`);
  }

  /** http://127.0.0.1:PORT (no trailing slash) */
  get baseUrl(): string {
    return this.base;
  }

  /** The value for SLACK_API_URL / WebClient `slackApiUrl`. */
  get apiUrl(): string {
    return `${this.base}/api/`;
  }

  async close(): Promise<void> {
    await this.socketMode.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ----- state setup -----------------------------------------------------------------------

  setUser(u: FakeSlackUser): void {
    tzInfo(u.tz ?? 'UTC'); // validate the zone early
    this.users.set(u.id, { ...u });
  }

  setUsergroup(g: FakeUsergroup): void {
    this.usergroups.set(g.id, { ...g, users: [...g.users] });
  }

  addChannel(c: FakeChannel): void {
    this.channels.set(c.id, {
      id: c.id,
      name: c.name,
      members: new Set(c.members),
      isPrivate: c.isPrivate ?? false,
      isIm: false,
      isMpim: false,
      created: Math.floor(Date.now() / 1000),
    });
  }

  setChannelMembers(channelId: string, members: string[]): void {
    const c = this.channels.get(channelId);
    if (!c) throw new Error(`FakeSlack: unknown channel ${channelId}`);
    c.members = new Set(members);
  }

  user(id: string): FakeSlackUser | undefined {
    const u = this.users.get(id);
    return u ? { ...u } : undefined;
  }

  channel(id: string): { id: string; name: string; isPrivate: boolean; isIm: boolean; members: string[] } | undefined {
    const c = this.channels.get(id);
    return c ? { id: c.id, name: c.name, isPrivate: c.isPrivate, isIm: c.isIm, members: [...c.members] } : undefined;
  }

  // ----- failure injection -----------------------------------------------------------------

  /** Makes `method` ('*' for all) fail: for `count` calls and/or `forMs`, or until cleared with null. */
  failMethod(method: string, f: MethodFailure | null): void {
    if (f === null) {
      this.failures.delete(method);
      return;
    }
    this.failures.set(method, {
      ...f,
      until: f.forMs !== undefined ? Date.now() + f.forMs : undefined,
      remaining: f.count,
    });
  }

  /** Seconds to wait when `method` is over its per-minute limit (a sliding minute), else null and the call counts. */
  private rateLimitWait(method: string): number | null {
    const limit = this.rateLimits[method];
    if (limit === undefined) return null;
    const now = Date.now();
    const recent = (this.recentCalls.get(method) ?? []).filter((t) => now - t < 60_000);
    this.recentCalls.set(method, recent);
    if (recent.length >= limit) return Math.max(1, Math.ceil(((recent[0] ?? now) + 60_000 - now) / 1000));
    recent.push(now);
    return null;
  }

  private activeFailure(method: string): MethodFailure | undefined {
    for (const key of [method, '*']) {
      const f = this.failures.get(key);
      if (!f) continue;
      if (f.until !== undefined && Date.now() > f.until) {
        this.failures.delete(key);
        continue;
      }
      if (f.remaining !== undefined) {
        if (f.remaining <= 0) {
          this.failures.delete(key);
          continue;
        }
        f.remaining -= 1;
      }
      return f;
    }
    return undefined;
  }

  // ----- inspection ------------------------------------------------------------------------

  callsTo(method: string): RecordedSlackCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  messages(channel?: string): PostedMessage[] {
    return this.store
      .filter((m) => !m.deleted && (channel === undefined || m.channel === channel))
      .map((m) => this.publicMessage(m));
  }

  thread(channel: string, threadTs: string): PostedMessage[] {
    return this.messages(channel).filter((m) => m.threadTs === threadTs && m.ts !== threadTs);
  }

  dmsTo(userId: string): PostedMessage[] {
    const dm = this.dmByUser.get(userId);
    return dm ? this.messages(dm) : [];
  }

  ephemerals(): EphemeralMessage[] {
    return this.ephemeralList.map((e) => structuredClone(e));
  }

  views(): FakeView[] {
    return this.viewList.map((v) => structuredClone(v));
  }

  /** Open modal views of a user, root first (addition). */
  openModals(userId: string): FakeView[] {
    return this.views().filter((v) => v.type === 'modal' && !v.closed && v.userId === userId);
  }

  homeView(userId: string): FakeView | undefined {
    const id = this.homeByUser.get(userId);
    return id ? this.views().find((v) => v.id === id) : undefined;
  }

  responses(): ResponseUrlPost[] {
    return this.responsePosts.map((r) => structuredClone(r));
  }

  async waitFor<T>(probe: () => T | undefined | false | null, timeoutMs = 3000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = probe();
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`FakeSlack.waitFor: condition not met within ${timeoutMs}ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  private publicMessage(m: StoredMessage): PostedMessage {
    const { deleted: _deleted, ...rest } = m;
    return structuredClone(rest);
  }

  // ----- helpers used by SlackDriver -------------------------------------------------------

  /** A trigger_id valid for triggerTtlMs and exchangeable once. */
  issueTriggerId(userId?: string): string {
    const id = `${Date.now()}.${this.teamId.replace(/\D/g, '') || '1'}${++this.seq}.${randomBytes(16).toString('hex')}`;
    this.triggers.set(id, { issuedAt: Date.now(), used: false, userId });
    return id;
  }

  /** A response_url pointing at this fake; posts to it are recorded and applied. */
  issueResponseUrl(ctx: { channel?: string; userId?: string; messageTs?: string }): string {
    const id = `${this.teamId}/${++this.seq}/${randomBytes(12).toString('hex')}`;
    this.responseUrls.set(id, { ...ctx, createdAt: Date.now(), uses: 0 });
    return `${this.base}/response/${id}`;
  }

  /** The stable DM channel id between the bot and a user (does not open it). */
  dmChannelId(userId: string): string {
    let id = this.dmByUser.get(userId);
    if (!id) {
      id = `D${String(++this.seq).padStart(8, '0')}`;
      this.dmByUser.set(userId, id);
    }
    return id;
  }

  /** Current (stored) message, for building block_actions payloads. */
  findMessage(channel: string, ts: string): PostedMessage | undefined {
    const m = this.store.find((x) => !x.deleted && x.channel === channel && x.ts === ts);
    return m ? this.publicMessage(m) : undefined;
  }

  /** Message JSON as Slack sends it in payloads and API responses. */
  messageJson(m: PostedMessage): Record<string, unknown> {
    const fromBot = m.user === this.botUserId;
    const out: Record<string, unknown> = {
      user: m.user,
      type: 'message',
      ts: m.ts,
      text: m.text ?? '',
      team: this.teamId,
    };
    if (fromBot) {
      out.bot_id = this.botId;
      out.app_id = this.appId;
      out.bot_profile = { id: this.botId, app_id: this.appId, name: 'breakglass', deleted: false, team_id: this.teamId };
    }
    if (m.blocks) out.blocks = m.blocks;
    if (m.threadTs) {
      out.thread_ts = m.threadTs;
      const parent = this.store.find((x) => x.channel === m.channel && x.ts === m.threadTs);
      if (parent && parent.ts !== m.ts) out.parent_user_id = parent.user;
    }
    if (m.metadata !== undefined) out.metadata = m.metadata;
    if (m.updates.length > 0) out.edited = { user: m.user, ts: m.ts };
    return out;
  }

  /** Slack's handling of a view_submission ack; returns problems (empty when Slack accepts it). */
  applyViewSubmissionAck(viewId: string, body: unknown): string[] {
    const entry = this.viewList.find((v) => v.id === viewId);
    if (!entry) return [`unknown view ${viewId}`];
    if (body === undefined || (isRecord(body) && Object.keys(body).length === 0)) {
      this.closeView(viewId);
      return [];
    }
    if (!isRecord(body)) return ['ack body must be a JSON object'];
    const action = body.response_action;
    switch (action) {
      case 'errors': {
        if (!isRecord(body.errors)) return ['response_action errors needs an `errors` object'];
        const inputIds = new Set(
          (Array.isArray(entry.view.blocks) ? (entry.view.blocks as unknown[]) : [])
            .filter((b): b is Record<string, unknown> => isRecord(b) && b.type === 'input')
            .map((b) => b.block_id),
        );
        const problems = Object.keys(body.errors)
          .filter((k) => !inputIds.has(k))
          .map((k) => `errors refers to "${k}", which is not the block_id of an input block in the view`);
        for (const [k, v] of Object.entries(body.errors)) {
          if (typeof v !== 'string') problems.push(`errors.${k} must be a string`);
        }
        return problems;
      }
      case 'update': {
        const problems = validateView(body.view, 'modal');
        if (problems.length) return errorMessages(problems);
        this.replaceViewContent(entry, body.view as Record<string, unknown>);
        return [];
      }
      case 'push': {
        const problems = validateView(body.view, 'modal');
        if (problems.length) return errorMessages(problems);
        if (entry.userId && this.openModals(entry.userId).length >= 3) return ['push_limit_reached'];
        this.createView(body.view as Record<string, unknown>, { userId: entry.userId, previous: entry });
        return [];
      }
      case 'clear':
        for (const v of this.viewList) if (v.userId === entry.userId && v.type === 'modal') v.closed = true;
        return [];
      default:
        return [`unknown response_action ${String(action)}`];
    }
  }

  /** Marks a modal view closed (submission accepted or the user closed it). */
  closeView(viewId: string): void {
    const v = this.viewList.find((x) => x.id === viewId);
    if (v) v.closed = true;
  }

  /** Slack's handling of a slash command ack carrying a message. */
  applyCommandAck(channel: string, userId: string, body: unknown): void {
    if (!isRecord(body) || (body.text === undefined && body.blocks === undefined)) return;
    const blocks = Array.isArray(body.blocks) ? withGeneratedIds(body.blocks) : undefined;
    if (body.response_type === 'in_channel') {
      this.storeMessage({ channel, text: str(body.text), blocks, user: userId });
    } else {
      this.ephemeralList.push({ channel, user: userId, text: str(body.text), blocks, ts: this.nextTs(), source: 'ack' });
    }
  }

  // ----- HTTP ------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.base);
    const raw = await readBody(req);
    if (url.pathname.startsWith('/api/')) return this.handleApi(decodeURIComponent(url.pathname.slice(5)), url, raw, req, res);
    if (url.pathname.startsWith('/response/') && req.method === 'POST') {
      return this.handleResponseUrl(decodeURIComponent(url.pathname.slice('/response/'.length)), raw, res);
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
  }

  private send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'x-oauth-scopes': this.scopes.join(','),
      ...headers,
    });
    res.end(JSON.stringify(body));
  }

  private handleApi(method: string, url: URL, raw: string, req: IncomingMessage, res: ServerResponse): void {
    const record = (args: Args, status: number, result: ApiResult, token?: string): void => {
      this.calls.push({
        method,
        args,
        at: Date.now(),
        ok: result.ok,
        error: result.ok ? undefined : result.error,
        status,
        token,
      });
    };
    const respond = (args: Args, result: ApiResult, token?: string, status = 200, headers: Record<string, string> = {}): void => {
      record(args, status, result, token);
      const accepted = METHOD_SCOPES[method];
      this.send(res, status, result, accepted ? { 'x-accepted-oauth-scopes': accepted.join(','), ...headers } : headers);
    };

    // Body: form or JSON (JSON requires the Authorization header, per Slack's docs).
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    const args: Args = Object.fromEntries(url.searchParams);
    let isJson = false;
    if (raw.length > 0) {
      if (contentType === 'application/json') {
        isJson = true;
        let parsed: unknown;
        try {
          parsed = JSON.parse(raw);
        } catch {
          return respond(args, fail('invalid_json'));
        }
        if (!isRecord(parsed)) return respond(args, fail('invalid_json'));
        Object.assign(args, parsed);
      } else if (contentType === 'application/x-www-form-urlencoded' || contentType === '') {
        for (const [k, v] of new URLSearchParams(raw)) args[k] = v;
      } else {
        return respond(args, fail('invalid_post_type'));
      }
    }
    const header = req.headers.authorization;
    const bearer = header?.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : undefined;
    const token = bearer || (isJson ? undefined : str(args.token)) || undefined;
    delete args.token;

    // JSON-encoded arguments arrive as strings in form bodies.
    for (const key of ['blocks', 'attachments', 'view', 'metadata']) {
      const v = args[key];
      if (typeof v !== 'string') continue;
      try {
        args[key] = JSON.parse(v);
      } catch {
        const error = key === 'blocks' ? 'invalid_blocks_format' : key === 'metadata' ? 'invalid_metadata_format' : 'invalid_arguments';
        return respond(args, fail(error, { response_metadata: { messages: [`[ERROR] invalid json [json-pointer:/${key}]`] } }), token);
      }
    }

    const handler = this.handlers[method];
    if (!handler) return respond(args, fail('unknown_method', { req_method: method }), token);

    const wait = this.rateLimitWait(method);
    if (wait !== null) return respond(args, fail('ratelimited'), token, 429, { 'retry-after': String(wait) });

    const failure = this.activeFailure(method);
    if (failure) {
      if (failure.rateLimited) {
        const retryAfter = String(failure.retryAfterSeconds ?? 1);
        return respond(args, fail('ratelimited'), token, 429, { 'retry-after': retryAfter });
      }
      return respond(args, fail(failure.error ?? 'internal_error'), token);
    }

    const needsApp = method === 'apps.connections.open';
    if (!token) return respond(args, fail('not_authed'), token);
    const expected = needsApp ? this.appToken : this.botToken;
    if (token !== expected) {
      const otherKind = token === this.appToken || token === this.botToken;
      return respond(args, fail(otherKind ? 'not_allowed_token_type' : 'invalid_auth'), token);
    }
    const needed = METHOD_SCOPES[method];
    if (needed && !needed.some((s) => this.scopes.includes(s))) {
      return respond(args, fail('missing_scope', { needed: needed[0], provided: this.scopes.join(',') }), token);
    }
    respond(args, handler({ args, token }), token);
  }

  private handleResponseUrl(id: string, raw: string, res: ServerResponse): void {
    const state = this.responseUrls.get(id);
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      body = Object.fromEntries(new URLSearchParams(raw));
    }
    const finish = (status: number, result: ApiResult): void => {
      this.responsePosts.push({ id, body, at: Date.now(), status });
      this.calls.push({
        method: 'response_url',
        args: isRecord(body) ? { ...body, response_url_id: id } : { body, response_url_id: id },
        at: Date.now(),
        ok: result.ok,
        error: result.ok ? undefined : result.error,
        status,
      });
      this.send(res, status, result);
    };
    // Slack: a response_url takes up to 5 posts within 30 minutes.
    if (!state) return finish(404, fail('no_service'));
    if (state.uses >= 5 || Date.now() - state.createdAt > 30 * 60_000) return finish(404, fail('expired_url'));
    if (!isRecord(body)) return finish(400, fail('invalid_payload'));
    state.uses += 1;
    if (body.blocks !== undefined) {
      const problems = validateBlocks(body.blocks, '/blocks', 'message');
      if (problems.length) return finish(400, fail('invalid_blocks', { response_metadata: { messages: errorMessages(problems) } }));
    }
    const blocks = Array.isArray(body.blocks) ? withGeneratedIds(body.blocks) : undefined;
    const target = state.messageTs && state.channel
      ? this.store.find((m) => !m.deleted && m.channel === state.channel && m.ts === state.messageTs)
      : undefined;
    if (bool(body.delete_original)) {
      if (target) target.deleted = true;
    } else if (bool(body.replace_original) && target) {
      this.applyUpdate(target, str(body.text), blocks);
    } else if (body.response_type === 'in_channel' && state.channel) {
      const threadTs = str(body.thread_ts);
      this.storeMessage({ channel: state.channel, text: str(body.text), blocks, user: this.botUserId, threadTs });
    } else if (state.channel && state.userId) {
      this.ephemeralList.push({
        channel: state.channel,
        user: state.userId,
        text: str(body.text),
        blocks,
        ts: this.nextTs(),
        source: 'response_url',
      });
    }
    finish(200, ok());
  }

  // ----- Web API methods -------------------------------------------------------------------

  private readonly handlers: Record<string, (c: Ctx) => ApiResult> = {
    'api.test': ({ args }) => ok({ args }),
    'auth.test': () =>
      ok({
        url: `https://${this.teamDomain}.slack.com/`,
        team: this.teamName,
        user: this.users.get(this.botUserId)?.name ?? 'breakglass',
        team_id: this.teamId,
        user_id: this.botUserId,
        bot_id: this.botId,
        is_enterprise_install: false,
      }),
    'apps.connections.open': () => ok({ url: this.socketMode.issueUrl() }),
    'chat.postMessage': ({ args }) => this.chatPostMessage(args),
    'chat.update': ({ args }) => this.chatUpdate(args),
    'chat.delete': ({ args }) => this.chatDelete(args),
    'chat.postEphemeral': ({ args }) => this.chatPostEphemeral(args),
    'conversations.open': ({ args }) => this.conversationsOpen(args),
    'conversations.info': ({ args }) => this.conversationsInfo(args),
    'conversations.members': ({ args }) => this.conversationsMembers(args),
    'conversations.history': ({ args }) => this.conversationsHistory(args),
    'conversations.replies': ({ args }) => this.conversationsReplies(args),
    'users.info': ({ args }) => {
      const u = this.users.get(str(args.user) ?? '');
      return u ? ok({ user: this.userJson(u) }) : fail('user_not_found');
    },
    'users.lookupByEmail': ({ args }) => {
      const email = (str(args.email) ?? '').toLowerCase();
      const u = [...this.users.values()].find((x) => x.email?.toLowerCase() === email);
      return u ? ok({ user: this.userJson(u) }) : fail('users_not_found');
    },
    'usergroups.list': ({ args }) =>
      ok({
        usergroups: [...this.usergroups.values()].map((g) => ({
          id: g.id,
          team_id: this.teamId,
          is_usergroup: true,
          is_subteam: true,
          name: g.name ?? g.handle,
          description: '',
          handle: g.handle,
          is_external: false,
          date_create: 1_600_000_000,
          date_update: 1_600_000_000,
          date_delete: 0,
          auto_type: null,
          created_by: this.botUserId,
          updated_by: this.botUserId,
          deleted_by: null,
          prefs: { channels: [], groups: [] },
          user_count: g.users.length,
          ...(bool(args.include_users) ? { users: [...g.users] } : {}),
        })),
      }),
    'usergroups.users.list': ({ args }) => {
      const g = this.usergroups.get(str(args.usergroup) ?? '');
      return g ? ok({ users: [...g.users] }) : fail('no_such_subteam');
    },
    'views.open': ({ args }) => this.viewsOpenOrPush(args, false),
    'views.push': ({ args }) => this.viewsOpenOrPush(args, true),
    'views.update': ({ args }) => this.viewsUpdate(args),
    'views.publish': ({ args }) => this.viewsPublish(args),
  };

  private userJson(u: FakeSlackUser): Record<string, unknown> {
    const tz = u.tz ?? 'UTC';
    const info = tzInfo(tz);
    const realName = u.realName ?? u.name;
    const profile: Record<string, unknown> = {
      real_name: realName,
      real_name_normalized: realName,
      display_name: u.name,
      display_name_normalized: u.name,
      first_name: realName.split(' ')[0] ?? realName,
      last_name: realName.split(' ').slice(1).join(' '),
      status_text: '',
      status_emoji: '',
      team: this.teamId,
    };
    // Slack only returns email to tokens holding users:read.email.
    if (u.email && this.scopes.includes('users:read.email')) profile.email = u.email;
    if (u.isBot) {
      profile.bot_id = this.botId;
      profile.api_app_id = this.appId;
      profile.always_active = true;
    }
    return {
      id: u.id,
      team_id: this.teamId,
      name: u.name,
      deleted: u.deleted ?? false,
      color: '9f69e7',
      real_name: realName,
      tz,
      tz_label: info.label,
      tz_offset: u.tzOffset ?? info.offset,
      profile,
      is_admin: false,
      is_owner: false,
      is_primary_owner: false,
      is_restricted: false,
      is_ultra_restricted: false,
      is_bot: u.isBot ?? false,
      is_app_user: false,
      updated: 1_600_000_000,
      is_email_confirmed: true,
    };
  }

  // --- conversations

  private openDm(userId: string): { id: string; alreadyOpen: boolean } {
    const existing = this.dmByUser.get(userId);
    if (existing && this.channels.has(existing)) return { id: existing, alreadyOpen: true };
    const id = this.dmChannelId(userId);
    this.channels.set(id, {
      id,
      name: id,
      members: new Set([userId, this.botUserId]),
      isPrivate: true,
      isIm: true,
      isMpim: false,
      imUser: userId,
      created: Math.floor(Date.now() / 1000),
    });
    return { id, alreadyOpen: false };
  }

  private imJson(c: ChannelState): Record<string, unknown> {
    return {
      id: c.id,
      created: c.created,
      is_im: true,
      is_org_shared: false,
      user: c.imUser,
      is_user_deleted: this.users.get(c.imUser ?? '')?.deleted ?? false,
      priority: 0,
    };
  }

  private channelJson(c: ChannelState): Record<string, unknown> {
    if (c.isIm) return this.imJson(c);
    return {
      id: c.id,
      name: c.name,
      is_channel: !c.isPrivate && !c.isMpim,
      is_group: c.isPrivate && !c.isMpim,
      is_im: false,
      is_mpim: c.isMpim,
      is_private: c.isPrivate,
      created: c.created,
      is_archived: false,
      is_general: false,
      is_shared: false,
      is_org_shared: false,
      is_member: c.members.has(this.botUserId),
      name_normalized: c.name,
      topic: { value: '', creator: '', last_set: 0 },
      purpose: { value: '', creator: '', last_set: 0 },
      num_members: c.members.size,
    };
  }

  private conversationsOpen(args: Args): ApiResult {
    const channelArg = str(args.channel);
    if (channelArg) {
      const c = this.channels.get(channelArg);
      if (!c || !(c.isIm || c.isMpim)) return fail('channel_not_found');
      return ok({ no_op: true, already_open: true, channel: bool(args.return_im) ? this.channelJson(c) : { id: c.id } });
    }
    const ids = (str(args.users) ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    if (ids.length === 0) return fail('users_list_not_supplied');
    if (ids.length > 8) return fail('too_many_users');
    for (const id of ids) {
      const u = this.users.get(id);
      if (!u) return fail('user_not_found');
      if (u.deleted) return fail('user_disabled');
    }
    if (ids.length === 1) {
      const { id, alreadyOpen } = this.openDm(ids[0] as string);
      const c = this.channels.get(id) as ChannelState;
      return ok({
        ...(alreadyOpen ? { no_op: true, already_open: true } : {}),
        channel: bool(args.return_im) ? this.imJson(c) : { id },
      });
    }
    // Multi-person DM: stable per member set.
    const members = [...new Set([...ids, this.botUserId])].sort();
    const existing = [...this.channels.values()].find((c) => c.isMpim && [...c.members].sort().join() === members.join());
    if (existing) return ok({ no_op: true, already_open: true, channel: { id: existing.id } });
    const id = `G${String(++this.seq).padStart(8, '0')}`;
    this.channels.set(id, {
      id,
      name: `mpdm-${members.join('--')}-1`,
      members: new Set(members),
      isPrivate: true,
      isIm: false,
      isMpim: true,
      created: Math.floor(Date.now() / 1000),
    });
    return ok({ channel: { id } });
  }

  /** A conversation the bot can see (private ones only when it is a member). */
  private visibleChannel(idOrName: string | undefined): ChannelState | undefined {
    if (!idOrName) return undefined;
    const byId = this.channels.get(idOrName);
    const name = idOrName.replace(/^#/, '');
    const c = byId ?? [...this.channels.values()].find((x) => !x.isIm && x.name === name);
    if (!c) return undefined;
    if (c.isPrivate && !c.members.has(this.botUserId)) return undefined;
    return c;
  }

  private conversationsInfo(args: Args): ApiResult {
    const c = this.visibleChannel(str(args.channel));
    if (!c) return fail('channel_not_found');
    return ok({ channel: this.channelJson(c) });
  }

  private conversationsMembers(args: Args): ApiResult {
    const c = this.visibleChannel(str(args.channel));
    if (!c) return fail('channel_not_found');
    const r = paginate([...c.members], args);
    if ('error' in r) return fail(r.error);
    return ok({ members: r.page, response_metadata: { next_cursor: r.next } });
  }

  private historyJson(m: StoredMessage, includeMetadata: boolean): Record<string, unknown> {
    const j = this.messageJson(m);
    if (!includeMetadata) delete j.metadata;
    const replies = this.store.filter((x) => !x.deleted && x.channel === m.channel && x.threadTs === m.ts && x.ts !== m.ts);
    if (replies.length > 0) {
      j.thread_ts = m.ts;
      j.reply_count = replies.length;
      j.latest_reply = replies[replies.length - 1]?.ts;
    }
    return j;
  }

  private conversationsHistory(args: Args): ApiResult {
    const c = this.visibleChannel(str(args.channel));
    if (!c) return fail('channel_not_found');
    if (!c.members.has(this.botUserId)) return fail('not_in_channel');
    const top = this.store
      .filter((m) => !m.deleted && m.channel === c.id && (m.threadTs === undefined || m.threadTs === m.ts))
      .reverse();
    const r = paginate(top, args);
    if ('error' in r) return fail(r.error);
    return ok({
      messages: r.page.map((m) => this.historyJson(m, bool(args.include_all_metadata))),
      has_more: r.next !== '',
      response_metadata: { next_cursor: r.next },
    });
  }

  private conversationsReplies(args: Args): ApiResult {
    const c = this.visibleChannel(str(args.channel));
    if (!c) return fail('channel_not_found');
    const ts = str(args.ts);
    const parent = this.store.find((m) => !m.deleted && m.channel === c.id && m.ts === ts);
    if (!parent) return fail('thread_not_found');
    const all = [parent, ...this.store.filter((m) => !m.deleted && m.channel === c.id && m.threadTs === ts && m.ts !== ts)];
    const r = paginate(all, args);
    if ('error' in r) return fail(r.error);
    return ok({
      messages: r.page.map((m) => this.historyJson(m, bool(args.include_all_metadata))),
      has_more: r.next !== '',
      response_metadata: { next_cursor: r.next },
    });
  }

  // --- chat

  private nextTs(): string {
    const micros = Math.max(Date.now() * 1000, this.lastTsMicros + 1);
    this.lastTsMicros = micros;
    return `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, '0')}`;
  }

  private storeMessage(m: { channel: string; text?: string; blocks?: unknown[]; user: string; threadTs?: string; metadata?: unknown }): StoredMessage {
    const stored: StoredMessage = {
      channel: m.channel,
      ts: this.nextTs(),
      text: m.text,
      blocks: m.blocks,
      user: m.user,
      updates: [],
      deleted: false,
    };
    if (m.threadTs) stored.threadTs = m.threadTs;
    if (m.metadata !== undefined) stored.metadata = m.metadata;
    this.store.push(stored);
    return stored;
  }

  private applyUpdate(m: StoredMessage, text: string | undefined, blocks: unknown[] | undefined): void {
    // chat.update keeps what is not sent: text, or blocks unless an array (possibly empty) is given.
    if (text !== undefined) m.text = text;
    if (blocks !== undefined) m.blocks = blocks.length ? blocks : undefined;
    m.updates.push({ at: Date.now(), text: m.text, blocks: m.blocks });
  }

  /** Resolves `channel` for posting: ids, names, or a user id (the app's DM with that user). */
  private postTarget(channelArg: string | undefined): ChannelState | { error: string } {
    if (!channelArg) return { error: 'channel_not_found' };
    if (/^[UW]/.test(channelArg) && this.users.has(channelArg)) {
      const u = this.users.get(channelArg) as FakeSlackUser;
      if (u.deleted) return { error: 'user_disabled' };
      return this.channels.get(this.openDm(channelArg).id) as ChannelState;
    }
    const c = this.visibleChannel(channelArg);
    if (!c) return { error: 'channel_not_found' };
    if (!c.members.has(this.botUserId)) {
      // chat:write.public lets a bot post in public channels it has not joined.
      if (c.isPrivate || !this.scopes.includes('chat:write.public')) return { error: 'not_in_channel' };
    }
    if (c.isIm && this.users.get(c.imUser ?? '')?.deleted) return { error: 'user_disabled' };
    return c;
  }

  private checkMessageContent(args: Args): ApiResult | undefined {
    const text = str(args.text);
    if (!text && args.blocks === undefined && args.attachments === undefined) return fail('no_text');
    if (text && text.length > 40_000) return fail('msg_too_long');
    if (args.blocks !== undefined) {
      const problems = validateBlocks(args.blocks, '/blocks', 'message');
      if (problems.length) {
        return fail('invalid_blocks', { errors: problems, response_metadata: { messages: errorMessages(problems) } });
      }
    }
    if (args.metadata !== undefined) {
      const md = args.metadata;
      if (!isRecord(md) || typeof md.event_type !== 'string' || !isRecord(md.event_payload)) {
        return fail('invalid_metadata_format');
      }
    }
    return undefined;
  }

  private chatPostMessage(args: Args): ApiResult {
    const target = this.postTarget(str(args.channel));
    if ('error' in target) return fail(target.error);
    const bad = this.checkMessageContent(args);
    if (bad) return bad;
    let threadTs = str(args.thread_ts);
    if (threadTs) {
      // A reply to a reply lands in the parent's thread.
      const parent = this.store.find((m) => m.channel === target.id && m.ts === threadTs);
      if (parent?.threadTs) threadTs = parent.threadTs;
    }
    const m = this.storeMessage({
      channel: target.id,
      text: str(args.text),
      blocks: Array.isArray(args.blocks) ? withGeneratedIds(args.blocks) : undefined,
      user: this.botUserId,
      threadTs,
      metadata: args.metadata,
    });
    const extra: Record<string, unknown> = {};
    if (!str(args.text) && args.blocks !== undefined) {
      // Real Slack accepts blocks without `text` but warns (notifications have no fallback).
      extra.warning = 'missing_text_or_fallback_or_attachments';
      extra.response_metadata = { warnings: ['missing_text_or_fallback_or_attachments'] };
    }
    return ok({ channel: m.channel, ts: m.ts, message: this.messageJson(m), ...extra });
  }

  private findStored(args: Args): StoredMessage | { error: string } {
    const c = this.visibleChannel(str(args.channel));
    if (!c) return { error: 'channel_not_found' };
    const ts = str(args.ts);
    const m = this.store.find((x) => !x.deleted && x.channel === c.id && x.ts === ts);
    if (!m) return { error: 'message_not_found' };
    return m;
  }

  private chatUpdate(args: Args): ApiResult {
    const m = this.findStored(args);
    if ('error' in m) return fail(m.error);
    if (m.user !== this.botUserId) return fail('cant_update_message');
    const bad = this.checkMessageContent(args);
    if (bad) return bad;
    const blocks = Array.isArray(args.blocks) ? withGeneratedIds(args.blocks) : undefined;
    this.applyUpdate(m, str(args.text), blocks);
    if (args.metadata !== undefined) m.metadata = args.metadata;
    return ok({ channel: m.channel, ts: m.ts, text: m.text ?? '', message: this.messageJson(m) });
  }

  private chatDelete(args: Args): ApiResult {
    const m = this.findStored(args);
    if ('error' in m) return fail(m.error);
    if (m.user !== this.botUserId) return fail('cant_delete_message');
    m.deleted = true;
    return ok({ channel: m.channel, ts: m.ts });
  }

  private chatPostEphemeral(args: Args): ApiResult {
    const target = this.postTarget(str(args.channel));
    if ('error' in target) return fail(target.error);
    const userId = str(args.user) ?? '';
    const u = this.users.get(userId);
    if (!u) return fail('user_not_found');
    if (!target.members.has(userId)) return fail('user_not_in_channel');
    const bad = this.checkMessageContent(args);
    if (bad) return bad;
    const blocks = Array.isArray(args.blocks) ? withGeneratedIds(args.blocks) : undefined;
    const ts = this.nextTs();
    this.ephemeralList.push({ channel: target.id, user: userId, text: str(args.text), blocks, ts, source: 'chat.postEphemeral' });
    return ok({ message_ts: ts });
  }

  // --- views

  private viewJson(v: Record<string, unknown>, id: string, extra: { rootViewId: string; previousViewId: string | null }): Record<string, unknown> {
    const type = v.type as 'modal' | 'home';
    const out: Record<string, unknown> = {
      id,
      team_id: this.teamId,
      type,
      blocks: withGeneratedIds(v.blocks as unknown[]),
      private_metadata: str(v.private_metadata) ?? '',
      callback_id: str(v.callback_id) ?? '',
      state: { values: {} },
      hash: `${Math.floor(Date.now() / 1000)}.${randomBytes(4).toString('hex')}`,
      clear_on_close: bool(v.clear_on_close),
      notify_on_close: bool(v.notify_on_close),
      previous_view_id: extra.previousViewId,
      root_view_id: extra.rootViewId,
      app_id: this.appId,
      external_id: str(v.external_id) ?? '',
      app_installed_team_id: this.teamId,
      bot_id: this.botId,
    };
    if (type === 'modal') {
      out.title = v.title;
      out.close = v.close ?? null;
      out.submit = v.submit ?? null;
      out.submit_disabled = false;
    }
    return out;
  }

  private createView(
    v: Record<string, unknown>,
    o: { userId?: string; triggerId?: string; previous?: FakeView },
  ): FakeView {
    const id = `V${String(++this.seq).padStart(10, '0')}`;
    const rootViewId = (o.previous?.view.root_view_id as string | undefined) ?? id;
    const entry: FakeView = {
      id,
      triggerId: o.triggerId,
      userId: o.userId,
      view: this.viewJson(v, id, { rootViewId, previousViewId: o.previous?.id ?? null }),
      closed: false,
      type: v.type as 'modal' | 'home',
    };
    this.viewList.push(entry);
    return entry;
  }

  private replaceViewContent(entry: FakeView, v: Record<string, unknown>): void {
    const prev = entry.view as Record<string, unknown>;
    entry.view = this.viewJson(v, entry.id, {
      rootViewId: prev.root_view_id as string,
      previousViewId: (prev.previous_view_id as string | null) ?? null,
    });
  }

  private viewProblems(view: unknown, expect: 'modal' | 'home'): ApiResult | undefined {
    if (view === undefined) return fail('invalid_arguments', { response_metadata: { messages: ['[ERROR] missing required field: view'] } });
    if (JSON.stringify(view).length > 250 * 1024) return fail('view_too_large');
    const problems = validateView(view, expect);
    if (problems.length) return fail('invalid_arguments', { response_metadata: { messages: errorMessages(problems) } });
    return undefined;
  }

  private viewsOpenOrPush(args: Args, push: boolean): ApiResult {
    const triggerId = str(args.trigger_id) ?? str(args.interactivity_pointer);
    if (!triggerId) return fail('invalid_arguments', { response_metadata: { messages: ['[ERROR] missing required field: trigger_id'] } });
    const t = this.triggers.get(triggerId);
    if (!t) return fail('invalid_trigger_id');
    if (t.used) return fail('exchanged_trigger_id');
    if (Date.now() - t.issuedAt > this.triggerTtlMs) return fail('expired_trigger_id');
    const bad = this.viewProblems(args.view, 'modal');
    if (bad) return bad;
    const external = str((args.view as Record<string, unknown>).external_id);
    if (external && this.viewList.some((v) => !v.closed && v.view.external_id === external)) return fail('duplicate_external_id');
    let previous: FakeView | undefined;
    if (push && t.userId) {
      const stack = this.openModals(t.userId);
      if (stack.length >= 3) return fail('push_limit_reached');
      previous = stack[stack.length - 1];
    }
    t.used = true;
    const entry = this.createView(args.view as Record<string, unknown>, { userId: t.userId, triggerId, previous });
    return ok({ view: entry.view });
  }

  private viewsUpdate(args: Args): ApiResult {
    const viewId = str(args.view_id);
    const external = str(args.external_id);
    const entry = this.viewList.find((v) => (viewId ? v.id === viewId : external !== undefined && v.view.external_id === external));
    if (!entry || entry.closed) return fail('not_found');
    const bad = this.viewProblems(args.view, entry.type);
    if (bad) return bad;
    const hash = str(args.hash);
    if (hash && hash !== entry.view.hash) return fail('hash_conflict');
    this.replaceViewContent(entry, args.view as Record<string, unknown>);
    return ok({ view: entry.view });
  }

  private viewsPublish(args: Args): ApiResult {
    const userId = str(args.user_id) ?? '';
    if (!this.users.has(userId)) return fail('user_not_found');
    const bad = this.viewProblems(args.view, 'home');
    if (bad) return bad;
    const existingId = this.homeByUser.get(userId);
    const existing = existingId ? this.viewList.find((v) => v.id === existingId) : undefined;
    if (existing) {
      const hash = str(args.hash);
      if (hash && hash !== existing.view.hash) return fail('hash_conflict');
      this.replaceViewContent(existing, args.view as Record<string, unknown>);
      return ok({ view: existing.view });
    }
    const entry = this.createView(args.view as Record<string, unknown>, { userId });
    this.homeByUser.set(userId, entry.id);
    return ok({ view: entry.view });
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
