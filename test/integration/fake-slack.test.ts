/**
 * Proves the Slack test doubles against the real thing on the other side:
 *   - the fake Web API against @slack/web-api's WebClient (and raw HTTP for wire details);
 *   - SlackDriver + FakeSlack against a real Bolt App, over HTTP (HTTPReceiver and
 *     ExpressReceiver, signed requests) and over Socket Mode (SocketModeReceiver connecting
 *     through apps.connections.open).
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { App, ExpressReceiver, LogLevel, SocketModeReceiver, webApi, type BlockAction } from '@slack/bolt';
import { FakeSlack, type FakeSlackOptions, type FakeView } from '../support/fake-slack.ts';
import { SlackDriver } from '../support/slack-driver.ts';

const { WebClient } = webApi;
type WebClientT = InstanceType<typeof WebClient>;

// The WebClient logs Slack's response_metadata messages at error level; keep test output quiet.
const quiet = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  setLevel: () => {},
  getLevel: () => LogLevel.ERROR,
  setName: () => {},
};
interface SlackErrorData {
  ok: false;
  error: string;
  response_metadata?: { messages?: string[] };
}
/** The `{ok:false,...}` body of a call that must fail. */
async function slackError(call: Promise<unknown>): Promise<SlackErrorData> {
  try {
    await call;
  } catch (e) {
    return (e as { data: SlackErrorData }).data;
  }
  throw new Error('expected the Slack call to fail');
}

const webClient = (token: string, slackApiUrl: string, extra: Partial<webApi.WebClientOptions> = {}): WebClientT =>
  new WebClient(token, { slackApiUrl, retryConfig: { retries: 0 }, logger: quiet, ...extra });

const SECRET = 'test-signing-secret';
const BOT_TOKEN = 'xoxb-test-token';
const APP_TOKEN = 'xapp-test-token';

const fixture = (): FakeSlackOptions => ({
  users: [
    { id: 'UALICE', name: 'alice', realName: 'Alice Example', email: 'alice@example.com', tz: 'Europe/Paris' },
    { id: 'UBOB', name: 'bob', realName: 'Bob Example', email: 'bob@example.com', tz: 'America/New_York' },
    { id: 'UCAROL', name: 'carol', email: 'carol@example.com', deleted: true },
  ],
  usergroups: [{ id: 'SAPPROVERS', handle: 'approvers', users: ['UBOB', 'UALICE'] }],
  channels: [
    { id: 'CAPPROVALS', name: 'breakglass-approvals', members: ['UBOT', 'UBOB'] },
    { id: 'CAUDIT', name: 'breakglass-audit', members: ['UBOT'] },
    { id: 'CRANDOM', name: 'random', members: ['UALICE'] },
    { id: 'GSECRET', name: 'secret', members: ['UALICE'], isPrivate: true },
  ],
});

const plain = (text: string) => ({ type: 'plain_text' as const, text });
const option = (text: string, value: string) => ({ text: plain(text), value });

function requestModal() {
  return {
    type: 'modal' as const,
    callback_id: 'breakglass_request',
    title: plain('Break glass'),
    submit: plain('Request'),
    close: plain('Cancel'),
    blocks: [
      {
        type: 'input' as const,
        block_id: 'profile',
        label: plain('Profile'),
        element: {
          type: 'static_select' as const,
          action_id: 'profile',
          options: [option('Organizations administrator', 'org-admin'), option('Read only', 'read-only')],
        },
      },
      {
        type: 'input' as const,
        block_id: 'duration',
        label: plain('Duration'),
        element: { type: 'static_select' as const, action_id: 'duration', options: [option('15 minutes', 'PT15M'), option('1 hour', 'PT1H')] },
      },
      {
        type: 'input' as const,
        block_id: 'justification',
        label: plain('Justification'),
        element: { type: 'plain_text_input' as const, action_id: 'justification', multiline: true, max_length: 500 },
      },
      {
        type: 'input' as const,
        block_id: 'ticket',
        optional: true,
        label: plain('Ticket'),
        element: { type: 'plain_text_input' as const, action_id: 'ticket' },
      },
    ],
  };
}

interface Seen {
  submissions: Array<{ profile?: string | null; duration?: string | null; justification?: string | null; ticket?: string | null }>;
  commands: string[];
  closed: number;
}
const newSeen = (): Seen => ({ submissions: [], commands: [], closed: 0 });

/** A small bot using the Slack surface the way breakglass does. */
function wire(app: App, seen: Seen): void {
  app.command('/breakglass', async ({ ack, body, client }) => {
    seen.commands.push(body.text);
    await ack();
    const view = body.text === 'notify' ? { ...requestModal(), notify_on_close: true } : requestModal();
    await client.views.open({ trigger_id: body.trigger_id, view });
  });
  app.view({ callback_id: 'breakglass_request', type: 'view_closed' }, async ({ ack }) => {
    seen.closed += 1;
    await ack();
  });
  app.event('app_home_opened', async ({ event, client }) => {
    await client.views.publish({ user_id: event.user, view: { type: 'home', blocks: [{ type: 'section', text: plain(`Hi <@${event.user}>`) }] } });
  });
  app.command('/ping', async ({ ack }) => {
    await ack({ text: 'pong' });
  });
  app.view('breakglass_request', async ({ ack, view, body, client }) => {
    const v = view.state.values;
    const sub = {
      profile: v.profile?.profile?.selected_option?.value,
      duration: v.duration?.duration?.selected_option?.value,
      justification: v.justification?.justification?.value,
      ticket: v.ticket?.ticket?.value,
    };
    seen.submissions.push(sub);
    if ((sub.justification ?? '').length < 10) {
      await ack({ response_action: 'errors', errors: { justification: 'Please say a bit more.' } });
      return;
    }
    await ack();
    await client.chat.postMessage({
      channel: 'CAPPROVALS',
      text: `<@${body.user.id}> requests ${sub.profile} for ${sub.duration}`,
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text: `<@${body.user.id}> requests *${sub.profile}*` } },
        {
          type: 'actions',
          block_id: 'decision',
          elements: [
            { type: 'button', action_id: 'approve', text: plain('Approve'), style: 'primary', value: 'req-1' },
            { type: 'button', action_id: 'deny', text: plain('Deny'), style: 'danger', value: 'req-1' },
          ],
        },
      ],
      metadata: { event_type: 'breakglass_request', event_payload: { id: 'req-1' } },
    });
  });
  app.action('approve', async ({ ack, body, client, respond }) => {
    await ack();
    const b = body as BlockAction;
    const value = b.actions[0]?.type === 'button' ? b.actions[0].value : undefined;
    await client.chat.update({
      channel: b.channel?.id ?? '',
      ts: b.message?.ts ?? '',
      text: `approved ${value} by ${b.user.id}`,
      blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `Approved by <@${b.user.id}>` } }],
    });
    await respond({ response_type: 'ephemeral', replace_original: false, text: 'Thanks for approving' });
  });
}

/** The whole request → modal → approval path; the same assertions hold for both transports. */
async function runRequestFlow(fake: FakeSlack, driver: SlackDriver, seen: Seen): Promise<void> {
  const cmd = await driver.slashCommand('UALICE', 'request');
  expect(cmd.status).toBe(200);
  expect(cmd.body).toBeUndefined();
  expect(seen.commands).toContain('request');

  const modal = await fake.waitFor(() =>
    fake.views().find((v) => !v.closed && v.userId === 'UALICE' && v.view.callback_id === 'breakglass_request'),
  );
  expect(modal.triggerId).toBe(cmd.triggerId);

  // A client-side impossible submission is refused by the driver, not sent.
  await expect(driver.viewSubmission('UALICE', modal.id, { profile: { profile: 'org-admin' } })).rejects.toThrow(/required/);
  await expect(
    driver.viewSubmission('UALICE', modal.id, { profile: { profile: 'root' }, duration: { duration: 'PT1H' }, justification: { justification: 'x' } }),
  ).rejects.toThrow(/not an option/);

  const short = await driver.viewSubmission('UALICE', modal.id, {
    profile: { profile: 'org-admin' },
    duration: { duration: 'PT15M' },
    justification: { justification: 'short' },
  });
  expect(short.status).toBe(200);
  expect(short.body).toEqual({ response_action: 'errors', errors: { justification: 'Please say a bit more.' } });
  expect(short.ackProblems).toEqual([]);
  expect(fake.views().find((v) => v.id === modal.id)?.closed).toBe(false);

  const good = await driver.viewSubmission('UALICE', modal.id, {
    profile: { profile: 'org-admin' },
    duration: { duration: 'PT1H' },
    justification: { justification: 'Prod incident INC-42 needs org access' },
  });
  expect(good.status).toBe(200);
  expect(good.body).toBeUndefined();
  expect(fake.views().find((v) => v.id === modal.id)?.closed).toBe(true);
  expect(seen.submissions.at(-1)).toEqual({ profile: 'org-admin', duration: 'PT1H', justification: 'Prod incident INC-42 needs org access', ticket: null });

  const posted = await fake.waitFor(() => fake.messages('CAPPROVALS').find((m) => m.text?.includes('requests org-admin')));
  expect(posted.metadata).toEqual({ event_type: 'breakglass_request', event_payload: { id: 'req-1' } });
  expect(posted.blocks?.[0]).toHaveProperty('block_id'); // Slack fills in missing block ids

  const click = await driver.blockAction('UBOB', { actionId: 'approve', message: { channel: 'CAPPROVALS', ts: posted.ts } });
  expect(click.status).toBe(200);
  const updated = await fake.waitFor(() => fake.messages('CAPPROVALS').find((m) => m.ts === posted.ts && m.updates.length > 0));
  expect(updated.text).toBe('approved req-1 by UBOB');
  await fake.waitFor(() => fake.ephemerals().find((e) => e.user === 'UBOB' && e.text === 'Thanks for approving'));
  expect(fake.responses().at(-1)?.status).toBe(200);

  // Buttons that are no longer on the message cannot be clicked (unless forged).
  await expect(driver.blockAction('UBOB', { actionId: 'deny', message: { channel: 'CAPPROVALS', ts: posted.ts } })).rejects.toThrow(/no element/);
}

/** Events API delivery and view_closed (sent only for notify_on_close views). */
async function runHomeAndCloseFlow(fake: FakeSlack, driver: SlackDriver, seen: Seen): Promise<void> {
  expect((await driver.appHomeOpened('UBOB')).status).toBe(200);
  const home = await fake.waitFor(() => fake.homeView('UBOB'));
  expect(home.view.blocks[0].text.text).toBe('Hi <@UBOB>');

  await driver.slashCommand('UBOB', 'plain');
  const quiet = await fake.waitFor(() => fake.openModals('UBOB').at(-1));
  expect(await driver.viewClosed('UBOB', quiet.id)).toMatchObject({ sent: false });
  expect(fake.openModals('UBOB')).toHaveLength(0);

  await driver.slashCommand('UBOB', 'notify');
  const noisy = await fake.waitFor(() => fake.openModals('UBOB').at(-1));
  const closed = await driver.viewClosed('UBOB', noisy.id);
  expect(closed).toMatchObject({ sent: true, status: 200 });
  expect(seen.closed).toBe(1);
  expect(fake.openModals('UBOB')).toHaveLength(0);
  await expect(driver.viewSubmission('UBOB', noisy.id, {})).rejects.toThrow(/closed/);
}

async function stopSocketApp(fake: FakeSlack, app: App): Promise<void> {
  await app.stop();
  await fake.waitFor(() => fake.socketMode.connectionCount === 0 || undefined, 5000);
}

// -------------------------------------------------------------------------------------------

describe('fake Slack Web API, called by @slack/web-api', () => {
  let fake: FakeSlack;
  let client: WebClientT;

  beforeAll(async () => {
    fake = await FakeSlack.start(fixture());
    client = webClient(BOT_TOKEN, fake.apiUrl);
  });
  afterAll(async () => fake.close());
  afterEach(() => fake.failMethod('*', null));

  it('apiUrl ends in /api/ and auth.test answers with the bot and the granted scopes', async () => {
    expect(fake.apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/$/);
    const r = await client.auth.test();
    expect(r).toMatchObject({ ok: true, user_id: 'UBOT', team_id: 'T0001', bot_id: expect.any(String) });
    expect(r.response_metadata?.scopes).toContain('users:read.email');
    expect(fake.callsTo('auth.test').at(-1)).toMatchObject({ ok: true, status: 200, token: BOT_TOKEN });
  });

  it('rejects bad tokens, the wrong token type and unknown methods like Slack', async () => {
    const bad = webClient('xoxb-wrong', fake.apiUrl);
    await expect(bad.auth.test()).rejects.toMatchObject({ data: { ok: false, error: 'invalid_auth' } });
    const app = webClient(APP_TOKEN, fake.apiUrl);
    await expect(app.chat.postMessage({ channel: 'CAUDIT', text: 'x' })).rejects.toMatchObject({ data: { error: 'not_allowed_token_type' } });
    await expect(client.apiCall('nope.nothing')).rejects.toMatchObject({ data: { error: 'unknown_method' } });
    const conn = await app.apps.connections.open({});
    expect(conn.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/link\/\?ticket=/);
  });

  it('takes form bodies with a token argument, and JSON bodies only with a bearer header', async () => {
    const form = await fetch(`${fake.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: BOT_TOKEN, channel: 'CAUDIT', text: 'form', blocks: JSON.stringify([{ type: 'divider' }]) }).toString(),
    });
    expect(await form.json()).toMatchObject({ ok: true, channel: 'CAUDIT' });
    expect(form.headers.get('x-oauth-scopes')).toContain('chat:write');
    const jsonNoHeader = await fetch(`${fake.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: BOT_TOKEN, channel: 'CAUDIT', text: 'json' }),
    });
    expect(await jsonNoHeader.json()).toEqual({ ok: false, error: 'not_authed' });
    const json = await fetch(`${fake.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', authorization: `Bearer ${BOT_TOKEN}` },
      body: JSON.stringify({ channel: 'CAUDIT', text: 'json', metadata: { event_type: 'x', event_payload: { a: 1 } } }),
    });
    expect(await json.json()).toMatchObject({ ok: true, message: { metadata: { event_type: 'x' } } });
    expect(fake.messages('CAUDIT').map((m) => m.text)).toEqual(expect.arrayContaining(['form', 'json']));
  });

  it('enforces channel membership and visibility, threads replies, applies chat.update', async () => {
    await expect(client.chat.postMessage({ channel: 'CRANDOM', text: 'x' })).rejects.toMatchObject({ data: { error: 'not_in_channel' } });
    await expect(client.chat.postMessage({ channel: 'CNOPE', text: 'x' })).rejects.toMatchObject({ data: { error: 'channel_not_found' } });
    await expect(client.chat.postMessage({ channel: 'GSECRET', text: 'x' })).rejects.toMatchObject({ data: { error: 'channel_not_found' } });
    await expect(client.chat.postMessage({ channel: 'CAUDIT' } as never)).rejects.toMatchObject({ data: { error: 'no_text' } });

    const parent = await client.chat.postMessage({ channel: 'CAUDIT', text: 'request req-9 by <@UALICE>' });
    const r1 = await client.chat.postMessage({ channel: 'CAUDIT', text: 'approved', thread_ts: parent.ts });
    await client.chat.postMessage({ channel: 'CAUDIT', text: 'granted', thread_ts: r1.ts }); // reply to a reply
    expect(fake.thread('CAUDIT', parent.ts as string).map((m) => m.text)).toEqual(['approved', 'granted']);

    const upd = await client.chat.update({ channel: 'CAUDIT', ts: parent.ts as string, text: 'request req-9 (active)' });
    expect(upd).toMatchObject({ ok: true, text: 'request req-9 (active)' });
    const m = fake.messages('CAUDIT').find((x) => x.ts === parent.ts);
    expect(m?.text).toBe('request req-9 (active)');
    expect(m?.updates).toHaveLength(1);
    await expect(client.chat.update({ channel: 'CAUDIT', ts: '1.000001', text: 'x' })).rejects.toMatchObject({
      data: { error: 'message_not_found' },
    });
    const replies = await client.conversations.replies({ channel: 'CAUDIT', ts: parent.ts as string });
    expect(replies.messages?.map((x) => x.text)).toEqual(['request req-9 (active)', 'approved', 'granted']);
  });

  it('validates Block Kit limits with Slack-style errors', async () => {
    const section = (text: string) => ({ type: 'section', text: { type: 'mrkdwn', text } });
    await expect(client.chat.postMessage({ channel: 'CAUDIT', text: 't', blocks: [section('a'.repeat(3000))] })).resolves.toMatchObject({ ok: true });
    const tooLong = await slackError(client.chat.postMessage({ channel: 'CAUDIT', text: 't', blocks: [section('a'.repeat(3001))] }));
    expect(tooLong).toMatchObject({
      ok: false,
      error: 'invalid_blocks',
      response_metadata: { messages: ['[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]'] },
    });
    const cases: Array<[unknown[], RegExp]> = [
      [Array.from({ length: 51 }, () => ({ type: 'divider' })), /no more than 50 items allowed \[json-pointer:\/blocks\]/],
      [[{ type: 'header', text: plain('h'.repeat(151)) }], /less than 151 characters/],
      [[{ type: 'section', fields: Array.from({ length: 11 }, () => plain('f')) }], /no more than 10 items/],
      [[{ type: 'actions', elements: [{ type: 'button', action_id: 'a', text: plain('b'.repeat(76)) }] }], /less than 76 characters/],
      [[{ type: 'actions', elements: [{ type: 'button', action_id: 'a', text: plain('b'), value: 'v'.repeat(2001) }] }], /less than 2001/],
      [[{ type: 'actions', elements: [{ type: 'button', action_id: 'a', text: plain('b') }, { type: 'button', action_id: 'a', text: plain('c') }] }], /duplicate action_id/],
      [[{ type: 'divider', block_id: 'x' }, { type: 'divider', block_id: 'x' }], /duplicate block_id/],
      [[{ type: 'section', text: { type: 'markdown', text: 'x' } }], /must be one of/],
      [[{ type: 'context', elements: Array.from({ length: 11 }, () => plain('c')) }], /no more than 10 items/],
      [[{ type: 'section', text: plain('x'), accessory: { type: 'static_select', action_id: 's', options: Array.from({ length: 101 }, (_, i) => option(`o${i}`, `v${i}`)) } }], /no more than 100 items/],
      [[{ type: 'section', text: plain('x'), accessory: { type: 'static_select', action_id: 's', options: [option('o', 'v'.repeat(151))] } }], /less than 151/],
    ];
    for (const [blocks, message] of cases) {
      const err = await slackError(client.chat.postMessage({ channel: 'CAUDIT', text: 't', blocks: blocks as never }));
      expect(err.error).toBe('invalid_blocks');
      expect(err.response_metadata?.messages?.join('\n')).toMatch(message);
    }
    await expect(client.chat.postMessage({ channel: 'CAUDIT', text: 'x'.repeat(40_001) })).rejects.toMatchObject({ data: { error: 'msg_too_long' } });
  });

  it('exchanges trigger ids once, validates modals, and answers views.update with hash checks', async () => {
    const trigger = fake.issueTriggerId('UALICE');
    const badTitle = { ...requestModal(), title: plain('t'.repeat(25)) };
    const bad = await slackError(client.views.open({ trigger_id: trigger, view: badTitle }));
    expect(bad).toMatchObject({
      error: 'invalid_arguments',
      response_metadata: { messages: ['[ERROR] must be less than 25 characters [json-pointer:/view/title/text]'] },
    });
    const noSubmit = { ...requestModal(), submit: undefined };
    await expect(client.views.open({ trigger_id: trigger, view: noSubmit })).rejects.toMatchObject({ data: { error: 'invalid_arguments' } });
    const long = { ...requestModal(), private_metadata: 'p'.repeat(3001) };
    await expect(client.views.open({ trigger_id: trigger, view: long })).rejects.toMatchObject({ data: { error: 'invalid_arguments' } });

    const opened = await client.views.open({ trigger_id: trigger, view: requestModal() });
    expect(opened.view).toMatchObject({ type: 'modal', callback_id: 'breakglass_request', state: { values: {} } });
    const entry = fake.views().find((v) => v.id === opened.view?.id) as FakeView;
    expect(entry).toMatchObject({ userId: 'UALICE', triggerId: trigger, closed: false });

    await expect(client.views.open({ trigger_id: trigger, view: requestModal() })).rejects.toMatchObject({ data: { error: 'exchanged_trigger_id' } });
    await expect(client.views.open({ trigger_id: '123.456.abc', view: requestModal() })).rejects.toMatchObject({ data: { error: 'invalid_trigger_id' } });

    await expect(client.views.update({ view_id: entry.id, hash: 'stale', view: requestModal() })).rejects.toMatchObject({ data: { error: 'hash_conflict' } });
    const upd = await client.views.update({ view_id: entry.id, hash: entry.view.hash, view: { ...requestModal(), title: plain('Updated') } });
    expect(upd.view?.title?.text).toBe('Updated');
    await expect(client.views.update({ view_id: 'VNOPE', view: requestModal() })).rejects.toMatchObject({ data: { error: 'not_found' } });

    const home = await client.views.publish({ user_id: 'UBOB', view: { type: 'home', blocks: [{ type: 'section', text: plain('hi') }] } });
    expect(fake.homeView('UBOB')?.id).toBe(home.view?.id);
  });

  it('expires trigger ids after triggerTtlMs', async () => {
    const quick = await FakeSlack.start({ ...fixture(), triggerTtlMs: 50 });
    try {
      const c = webClient(BOT_TOKEN, quick.apiUrl);
      const t = quick.issueTriggerId('UALICE');
      await new Promise((r) => setTimeout(r, 80));
      await expect(c.views.open({ trigger_id: t, view: requestModal() })).rejects.toMatchObject({ data: { error: 'expired_trigger_id' } });
    } finally {
      await quick.close();
    }
  });

  it('serves users, DMs and user groups with Slack shapes', async () => {
    const alice = await client.users.info({ user: 'UALICE' });
    expect(alice.user).toMatchObject({
      id: 'UALICE',
      name: 'alice',
      real_name: 'Alice Example',
      tz: 'Europe/Paris',
      profile: { email: 'alice@example.com', real_name: 'Alice Example', display_name: 'alice' },
    });
    expect([3600, 7200]).toContain(alice.user?.tz_offset);
    expect((await client.users.info({ user: 'UCAROL' })).user?.deleted).toBe(true);
    await expect(client.users.info({ user: 'UNOPE' })).rejects.toMatchObject({ data: { error: 'user_not_found' } });
    expect((await client.users.lookupByEmail({ email: 'BOB@example.com' })).user?.id).toBe('UBOB');
    await expect(client.users.lookupByEmail({ email: 'x@example.com' })).rejects.toMatchObject({ data: { error: 'users_not_found' } });

    const dm1 = await client.conversations.open({ users: 'UBOB' });
    const dm2 = await client.conversations.open({ users: 'UBOB' });
    expect(dm1.channel?.id).toMatch(/^D/);
    expect(dm2).toMatchObject({ already_open: true, channel: { id: dm1.channel?.id } });
    await client.chat.postMessage({ channel: dm1.channel?.id as string, text: 'your access is active' });
    await client.chat.postMessage({ channel: 'UBOB', text: 'posted by user id' });
    expect(fake.dmsTo('UBOB').map((m) => m.text)).toEqual(['your access is active', 'posted by user id']);
    await expect(client.conversations.open({ users: 'UCAROL' })).rejects.toMatchObject({ data: { error: 'user_disabled' } });

    expect((await client.usergroups.users.list({ usergroup: 'SAPPROVERS' })).users).toEqual(['UBOB', 'UALICE']);
    const groups = await client.usergroups.list({ include_users: true });
    expect(groups.usergroups?.[0]).toMatchObject({ id: 'SAPPROVERS', handle: 'approvers', users: ['UBOB', 'UALICE'] });
    await expect(client.usergroups.users.list({ usergroup: 'SNOPE' })).rejects.toMatchObject({ data: { error: 'no_such_subteam' } });
    fake.setUsergroup({ id: 'SAPPROVERS', handle: 'approvers', users: ['UBOB'] });
    expect((await client.usergroups.users.list({ usergroup: 'SAPPROVERS' })).users).toEqual(['UBOB']);

    const members = await client.conversations.members({ channel: 'CAPPROVALS', limit: 1 });
    expect(members.members).toEqual(['UBOT']);
    const next = await client.conversations.members({ channel: 'CAPPROVALS', limit: 1, cursor: members.response_metadata?.next_cursor });
    expect(next.members).toEqual(['UBOB']);
    expect((await client.conversations.info({ channel: 'CAPPROVALS' })).channel).toMatchObject({ name: 'breakglass-approvals', is_member: true });
  });

  it('hides email without users:read.email and reports missing scopes', async () => {
    const narrow = await FakeSlack.start({ ...fixture(), scopes: ['chat:write', 'users:read'] });
    try {
      const c = webClient(BOT_TOKEN, narrow.apiUrl);
      const u = await c.users.info({ user: 'UALICE' });
      expect(u.user?.profile?.email).toBeUndefined();
      await expect(c.users.lookupByEmail({ email: 'alice@example.com' })).rejects.toMatchObject({
        data: { error: 'missing_scope', needed: 'users:read.email' },
      });
    } finally {
      await narrow.close();
    }
  });

  it('injects failures: platform errors for a number of calls, and 429 with Retry-After', async () => {
    fake.failMethod('chat.postMessage', { error: 'internal_error', count: 1 });
    await expect(client.chat.postMessage({ channel: 'CAUDIT', text: 'x' })).rejects.toMatchObject({ data: { error: 'internal_error' } });
    await expect(client.chat.postMessage({ channel: 'CAUDIT', text: 'x' })).resolves.toMatchObject({ ok: true });

    fake.failMethod('users.info', { rateLimited: true, retryAfterSeconds: 7 });
    const raw = await fetch(`${fake.apiUrl}users.info`, { method: 'POST', headers: { authorization: `Bearer ${BOT_TOKEN}` } });
    expect(raw.status).toBe(429);
    expect(raw.headers.get('retry-after')).toBe('7');
    const strict = webClient(BOT_TOKEN, fake.apiUrl, { rejectRateLimitedCalls: true });
    await expect(strict.users.info({ user: 'UALICE' })).rejects.toMatchObject({ code: 'slack_webapi_rate_limited_error', retryAfter: 7 });
    expect(fake.callsTo('users.info').at(-1)).toMatchObject({ ok: false, error: 'ratelimited', status: 429 });

    fake.failMethod('users.info', null);
    await expect(client.users.info({ user: 'UALICE' })).resolves.toMatchObject({ ok: true });
  });

  it('records and applies posts to a response_url', async () => {
    const url = fake.issueResponseUrl({ channel: 'CAUDIT', userId: 'UALICE' });
    expect(url.startsWith(`${fake.baseUrl}/response/`)).toBe(true);
    const eph = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'only you' }) });
    expect(eph.status).toBe(200);
    await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'everyone', response_type: 'in_channel' }) });
    expect(fake.ephemerals().at(-1)).toMatchObject({ channel: 'CAUDIT', user: 'UALICE', text: 'only you', source: 'response_url' });
    expect(fake.messages('CAUDIT').at(-1)?.text).toBe('everyone');
    expect(fake.callsTo('response_url')).toHaveLength(2);
  });
});

// -------------------------------------------------------------------------------------------

describe('real Bolt App over HTTP (HTTPReceiver, signed requests)', () => {
  let fake: FakeSlack;
  let app: App;
  let driver: SlackDriver;
  let eventsUrl: string;
  const seen = newSeen();

  beforeAll(async () => {
    fake = await FakeSlack.start(fixture());
    app = new App({ token: BOT_TOKEN, signingSecret: SECRET, logLevel: LogLevel.ERROR, clientOptions: { slackApiUrl: fake.apiUrl } });
    wire(app, seen);
    const server = (await app.start(0)) as Server;
    eventsUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`;
    driver = new SlackDriver({ slack: fake, signingSecret: SECRET, eventsUrl, transport: 'http' });
  });
  afterAll(async () => {
    await app.stop();
    await fake.close();
  });

  it('runs the request → modal → approval flow', async () => {
    await runRequestFlow(fake, driver, seen);
  });

  it('delivers events and view_closed', async () => {
    await runHomeAndCloseFlow(fake, driver, seen);
  });

  it('answers a slash command with the ack body, which Slack shows to the user', async () => {
    const r = await driver.slashCommand('UBOB', '', '/ping', { channelId: 'CAPPROVALS' });
    expect(r).toMatchObject({ status: 200, body: { text: 'pong' } });
    expect(fake.ephemerals().at(-1)).toMatchObject({ channel: 'CAPPROVALS', user: 'UBOB', text: 'pong', source: 'ack' });
  });

  it('is refused by Bolt when the signature is forged or stale, and accepted when right', async () => {
    const body = new URLSearchParams({ command: '/ping', text: '', user_id: 'UBOB', team_id: 'T0001', trigger_id: fake.issueTriggerId() }).toString();
    const now = Math.floor(Date.now() / 1000);
    const form = { 'Content-Type': 'application/x-www-form-urlencoded' };
    expect((await driver.raw(body, { ...form, ...driver.sign(body, now) })).status).toBe(200);
    expect((await driver.raw(body, { ...form, ...driver.sign(body, now, 'not-the-secret') })).status).toBe(401);
    expect((await driver.raw(`${body}&x=1`, { ...form, ...driver.sign(body, now) })).status).toBe(401);
    expect((await driver.raw(body, { ...form, ...driver.sign(body, now - 6 * 60) })).status).toBe(401);
    expect((await driver.raw(body, form)).status).toBe(401);
  });

  it('can forge an option value the modal never offered', async () => {
    await driver.slashCommand('UALICE', 'forge');
    const modal = await fake.waitFor(() => fake.openModals('UALICE').at(-1));
    const r = await driver.viewSubmission(
      'UALICE',
      modal.id,
      { profile: { profile: 'root' }, duration: { duration: 'P30D' }, justification: { justification: 'forged request here' } },
      { allowUnknownOptions: true },
    );
    expect(r.status).toBe(200);
    expect(seen.submissions.at(-1)).toMatchObject({ profile: 'root', duration: 'P30D' });
  });

  it('works through ExpressReceiver too', async () => {
    const receiver = new ExpressReceiver({ signingSecret: SECRET, logLevel: LogLevel.ERROR });
    const expressApp = new App({ token: BOT_TOKEN, receiver, logLevel: LogLevel.ERROR, clientOptions: { slackApiUrl: fake.apiUrl } });
    wire(expressApp, newSeen());
    const server = await receiver.start(0);
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`;
      const d = new SlackDriver({ slack: fake, signingSecret: SECRET, eventsUrl: url, transport: 'http' });
      expect(await d.slashCommand('UBOB', '', '/ping')).toMatchObject({ status: 200, body: { text: 'pong' } });
    } finally {
      await receiver.stop();
    }
  });
});

// -------------------------------------------------------------------------------------------

describe('real Bolt App over Socket Mode', () => {
  let fake: FakeSlack;
  let app: App;
  let driver: SlackDriver;
  const seen = newSeen();

  beforeAll(async () => {
    fake = await FakeSlack.start(fixture());
    // Bolt copies clientOptions into the SocketModeClient's WebClient, so apps.connections.open
    // goes to the fake too.
    app = new App({
      token: BOT_TOKEN,
      appToken: APP_TOKEN,
      socketMode: true,
      logLevel: LogLevel.ERROR,
      clientOptions: { slackApiUrl: fake.apiUrl },
    });
    wire(app, seen);
    await app.start();
    driver = new SlackDriver({ slack: fake, transport: 'socket' });
  });
  afterAll(async () => {
    await stopSocketApp(fake, app);
    await fake.close();
  });
  afterEach(() => fake.socketMode.setOptions({ ackTimeoutMs: 3000, retryUnackedAttempts: 0 }));

  it('connects through apps.connections.open with the app token', () => {
    expect(fake.callsTo('apps.connections.open')).toHaveLength(1);
    expect(fake.callsTo('apps.connections.open')[0]).toMatchObject({ ok: true, token: APP_TOKEN });
    expect(fake.socketMode.connectionCount).toBe(1);
  });

  it('runs the request → modal → approval flow', async () => {
    await runRequestFlow(fake, driver, seen);
    const acks = fake.socketMode.acks;
    expect(acks).toHaveLength(4); // command, two submissions, one click
    expect(acks.every((a) => a.matched)).toBe(true);
    const types = fake.socketMode.envelopes.map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['slash_commands', 'interactive']));
  });

  it('delivers events and view_closed', async () => {
    await runHomeAndCloseFlow(fake, driver, seen);
    expect(fake.socketMode.envelopes.some((e) => e.type === 'events_api' && e.frame.retry_attempt === 0)).toBe(true);
  });

  it('returns the ack payload', async () => {
    const r = await driver.slashCommand('UBOB', '', '/ping');
    expect(r).toMatchObject({ status: 200, body: { text: 'pong' } });
    expect(fake.socketMode.acks.at(-1)).toMatchObject({ type: 'slash_commands', payload: { text: 'pong' } });
    expect(fake.socketMode.envelopes.at(-1)?.frame).toMatchObject({ type: 'slash_commands', accepts_response_payload: true });
  });

  it('times out an unacknowledged envelope, and retries it when configured', async () => {
    let calls = 0;
    app.command('/slow', async ({ ack }) => {
      calls += 1;
      if (calls > 1) await ack(); // the first delivery is never acked
    });
    fake.socketMode.setOptions({ ackTimeoutMs: 200 });
    await expect(driver.slashCommand('UBOB', '', '/slow')).rejects.toThrow(/no ack/);
    fake.socketMode.setOptions({ retryUnackedAttempts: 1 });
    calls = 0;
    const r = await driver.slashCommand('UBOB', '', '/slow');
    expect(r.status).toBe(200);
    expect(calls).toBe(2);
    expect(fake.socketMode.acks.at(-1)?.attempt).toBe(1);
  });
});

describe('Socket Mode with several connections and refreshes', () => {
  let fake: FakeSlack;
  const apps: App[] = [];

  beforeAll(async () => {
    fake = await FakeSlack.start(fixture());
  });
  afterAll(async () => {
    for (const a of apps) await a.stop();
    await fake.waitFor(() => fake.socketMode.connectionCount === 0 || undefined, 5000);
    await fake.close();
  });

  function socketApp(counter: { n: number }): App {
    // A receiver of our own, to shorten the client's reconnect delay (clientPingTimeout × failures).
    const receiver = new SocketModeReceiver({
      appToken: APP_TOKEN,
      clientPingTimeout: 500,
      logLevel: LogLevel.ERROR,
      installerOptions: { clientOptions: { slackApiUrl: fake.apiUrl } },
    });
    const a = new App({ token: BOT_TOKEN, receiver, logLevel: LogLevel.ERROR, clientOptions: { slackApiUrl: fake.apiUrl } });
    a.command('/count', async ({ ack }) => {
      counter.n += 1;
      await ack();
    });
    apps.push(a);
    return a;
  }

  it('spreads envelopes over the open connections and survives refresh_requested', async () => {
    const one = { n: 0 };
    const two = { n: 0 };
    await socketApp(one).start();
    await socketApp(two).start();
    expect(fake.socketMode.connectionCount).toBe(2);
    const driver = new SlackDriver({ slack: fake, transport: 'socket' });
    for (let i = 0; i < 4; i++) await driver.slashCommand('UALICE', '', '/count');
    expect([one.n, two.n]).toEqual([2, 2]);

    const opens = fake.callsTo('apps.connections.open').length;
    fake.socketMode.disconnect('refresh_requested');
    expect(fake.socketMode.connectionCount).toBe(0);
    await fake.waitFor(() => fake.callsTo('apps.connections.open').length === opens + 2 || undefined, 5000);
    await fake.socketMode.waitForConnections(2);
    const before = one.n + two.n;
    expect((await driver.slashCommand('UALICE', '', '/count')).status).toBe(200);
    expect(one.n + two.n).toBe(before + 1);
    expect(fake.socketMode.connectionLog.filter((c) => c.closedAt !== undefined)).toHaveLength(2);
  });
});
