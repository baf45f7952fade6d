import { describe, expect, it } from 'vitest';
import type { AccessRequest } from '../../src/domain/request.ts';
import { homeOf, showsOn, type Home } from '../../src/services/home.ts';
import { homeView, LISTED } from '../../src/slack/blocks/home.ts';
import { validateView } from '../support/fake-slack.ts';
import { NOW, pendingRequest } from '../support/fixtures.ts';
import { memoryContext, memoryProfile, PEOPLE } from '../support/memory.ts';

const { requester: rita, second: sam, approver1: ann, approver2: bob, outsider: olly } = PEOPLE;

type Element = { action_id?: string; value?: string; text?: { text: string } };
type Block = { type: string; block_id?: string; text?: { text: string }; elements?: Element[]; accessory?: Element };

const blocksOf = (h: Home, note: Parameters<typeof homeView>[1] = null): Block[] => homeView(h, note).blocks as Block[];
/** Every button: [action_id, value]. */
const buttons = (blocks: Block[]) =>
  blocks.flatMap((b) => [...(b.elements ?? []), ...(b.accessory ? [b.accessory] : [])]).filter((e) => e.action_id).map((e) => [e.action_id, e.value ?? null]);
const text = (blocks: Block[]) => JSON.stringify(blocks);

describe('what the home gathers for a person', () => {
  it('gives a requester their open request, their access and their history, and nothing to decide', async () => {
    const w = memoryContext();
    await w.plant('req_open', 'PENDING', { approvals: [{ slackUserId: ann.slack, at: NOW }] });
    await w.plant('req_active', 'ACTIVE', { grant: { ...pendingRequest().grant, grantedAt: NOW, expiresAt: w.clock.in(600_000) } });
    await w.plant('req_sams', 'PENDING', { approvals: [], requester: { ...pendingRequest().requester, slackUserId: sam.slack } });
    const h = await homeOf(w.ctx, rita.slack);
    expect(h.open.map((r) => r.id)).toEqual(['req_open']);
    expect(h.access.map((s) => [s.request.id, s.endsSessions])).toEqual([['req_active', true]]);
    expect(h.history?.map((r) => r.id).sort()).toEqual(['req_active', 'req_open']);
    expect(h.requestable.map((p) => p.id)).toEqual(['org-admin']);
    expect([h.approver, h.waiting, h.grants]).toEqual([false, [], []]);
  });

  it('gives an approver what waits for their decision (not their own, not twice) and the grants they may revoke', async () => {
    const w = memoryContext();
    await w.plant('req_fresh', 'PENDING', { approvals: [] });
    await w.plant('req_approved_by_bob', 'PENDING', { approvals: [{ slackUserId: bob.slack, at: NOW }] });
    await w.plant('req_denied_by_bob', 'PENDING', { approvals: [], denials: [{ slackUserId: bob.slack, at: NOW, reason: 'no' }], denialsRequired: 2 });
    await w.plant('req_late', 'PENDING', { approvals: [], pendingUntil: NOW });
    await w.plant('req_active', 'ACTIVE', { grant: { ...pendingRequest().grant, expiresAt: w.clock.in(600_000) } });
    w.clock.advance(1);
    const h = await homeOf(w.ctx, bob.slack);
    expect(h.approver).toBe(true);
    expect(h.waiting.map((r) => r.id)).toEqual(['req_fresh']);
    expect(h.grants.map((s) => s.request.id)).toEqual(['req_active']);
    expect([h.open, h.access, h.history, h.requestable]).toEqual([[], [], [], []]);
    // ann requests too: her own request is hers to wait on, never hers to decide.
    await w.plant('req_anns', 'PENDING', { approvals: [], requester: { ...pendingRequest().requester, slackUserId: ann.slack } });
    const anns = await homeOf(w.ctx, ann.slack);
    expect(anns.waiting.map((r) => r.id).sort()).toEqual(['req_approved_by_bob', 'req_denied_by_bob', 'req_fresh']);
    expect(anns.open.map((r) => r.id)).toEqual(['req_anns']);
  });

  it('gives someone who neither requests nor approves nothing to act on', async () => {
    const w = memoryContext();
    const r = await w.plant('req_open', 'PENDING', { approvals: [] });
    const h = await homeOf(w.ctx, olly.slack);
    expect([h.requestable, h.open, h.access, h.history, h.approver, h.waiting, h.grants]).toEqual([[], [], [], [], false, [], []]);
    expect(await showsOn(w.ctx, r, olly.slack)).toBe(false);
    expect(await showsOn(w.ctx, r, rita.slack)).toBe(true);
    expect(await showsOn(w.ctx, r, bob.slack)).toBe(true);
  });

  it('lists only the profiles the person may request', async () => {
    const w = memoryContext({ policy: { profiles: [memoryProfile(), memoryProfile({ id: 'ro', name: 'Read-only', requesters: { users: [sam.slack], groups: [] } })] } });
    expect((await homeOf(w.ctx, rita.slack)).requestable.map((p) => p.id)).toEqual(['org-admin']);
    expect((await homeOf(w.ctx, sam.slack)).requestable.map((p) => p.id)).toEqual(['org-admin', 'ro']);
  });
});

const emptyHome = (over: Partial<Home> = {}): Home => ({
  viewer: rita.slack,
  tz: 'America/New_York',
  now: NOW,
  requestable: [],
  open: [],
  access: [],
  history: [],
  approver: false,
  waiting: [],
  grants: [],
  ...over,
});
const active = (id: string, over: Partial<AccessRequest> = {}): AccessRequest =>
  pendingRequest({ id, status: 'ACTIVE', grant: { ...pendingRequest().grant, grantedAt: NOW, expiresAt: '2026-11-28T00:09:00.000Z' }, ...over });

describe('the home view', () => {
  it('offers someone who may do nothing no button at all', () => {
    const blocks = blocksOf(emptyHome());
    expect(buttons(blocks)).toEqual([]);
    expect(text(blocks)).toContain('You may not request access');
    expect(text(blocks)).not.toContain('Waiting for your decision');
  });

  it('shows a requester their access with Extend and End access now, the time left in their zone and UTC, and their history', () => {
    const open = pendingRequest({ id: 'req_open', approvals: [{ slackUserId: ann.slack, at: NOW }] });
    const blocks = blocksOf(emptyHome({ requestable: [memoryProfile()], open: [open], access: [{ request: active('req_on'), endsSessions: true }], history: [open, active('req_on')] }));
    expect(buttons(blocks)).toEqual([
      ['request_access', null],
      ['extend', 'req_on'],
      ['end_access', 'req_on'],
    ]);
    expect(blocks.find((b) => b.block_id === 'own:req_on')?.elements?.map((e) => e.text?.text)).toEqual(['Extend', 'End access now']);
    const all = text(blocks);
    expect(all).toContain('until Fri 27 Nov 2026, 19:09:00 EST (Sat 28 Nov 2026, 00:09:00 UTC), in 9 minutes');
    expect(all).toContain(`1 of 2 approvals: <@${ann.slack}>`);
    expect(all).toContain('Expires Fri 27 Nov 2026, 20:00:00 EST (Sat 28 Nov 2026, 01:00:00 UTC), in 1 hour unless approved');
    expect(all).toContain('2 approvals (never your own); up to 1 hour');
    expect(blocks.filter((b) => b.type === 'context' && b.text === undefined && JSON.stringify(b).includes('asked '))).toHaveLength(2);
  });

  it('says when history is not available rather than showing none', () => {
    const all = text(blocksOf(emptyHome({ requestable: [memoryProfile()], history: null })));
    expect(all).toContain('history is not available yet');
  });

  it('gives an approver Approve and Deny with the approval message\'s ids and values, and Revoke on active grants', () => {
    const blocks = blocksOf(emptyHome({ viewer: bob.slack, approver: true, waiting: [pendingRequest({ id: 'req_w' })], grants: [{ request: active('req_g'), endsSessions: false }] }));
    expect(buttons(blocks)).toEqual([
      ['approve', 'req_w'],
      ['deny', 'req_w'],
      ['end_access', 'req_g'],
    ]);
    expect(blocks.find((b) => b.block_id === 'revoke:req_g')?.accessory?.text?.text).toBe('Revoke');
    expect(text(blocksOf(emptyHome({ approver: true })))).toContain('Nothing is waiting for you.');
  });

  it('escapes what people typed and what a click came to', () => {
    const sneaky = pendingRequest({ id: 'req_x', justification: 'need it <!channel> <https://evil.example|click>', profileName: 'Admin <@U1>' });
    // Slack renders mentions and links in mrkdwn only (the confirm dialog's plain text shows them as typed).
    const mrkdwnOf = (v: unknown): string[] =>
      Array.isArray(v) ? v.flatMap(mrkdwnOf) : v && typeof v === 'object' ? ((v as { type?: string }).type === 'mrkdwn' ? [String((v as { text: string }).text)] : Object.values(v).flatMap(mrkdwnOf)) : [];
    const all = mrkdwnOf(blocksOf(emptyHome({ approver: true, waiting: [sneaky] }), { text: 'There is no breakglass request <!here>.', at: NOW })).join('\n');
    expect(all).not.toContain('<!channel>');
    expect(all).not.toContain('<!here>');
    expect(all).not.toContain('<https://evil');
    expect(all).not.toContain('<@U1>');
    expect(all).toContain('&lt;!channel&gt;');
  });

  it('stays within Block Kit\'s limits however much there is, and says how much more', () => {
    const many = <T>(prefix: string, make: (id: string) => T): T[] => Array.from({ length: 3 * LISTED }, (_x, i) => make(`${prefix}${i}`));
    const long = 'x'.repeat(3000);
    const h = emptyHome({
      requestable: Array.from({ length: 40 }, (_x, i) => memoryProfile({ id: `p${i}`, name: `Profile ${i} ${'n'.repeat(60)}` })),
      open: many('req_o', (id) => pendingRequest({ id, justification: long })),
      access: many('req_a', (id) => ({ request: active(id), endsSessions: true })),
      history: many('req_h', (id) => pendingRequest({ id })).slice(0, LISTED),
      approver: true,
      waiting: many('req_w', (id) => pendingRequest({ id, justification: long, ticket: long.slice(0, 200) })),
      grants: many('req_g', (id) => ({ request: active(id), endsSessions: true })),
    });
    const view = homeView(h, { text: long, at: NOW });
    expect(validateView(view, 'home')).toEqual([]);
    expect(view.blocks.length).toBeLessThanOrEqual(100);
    expect(text(view.blocks as Block[])).toContain(`…and ${2 * LISTED} more`);
  });
});
