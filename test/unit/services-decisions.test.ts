/**
 * What people do to requests (submit, approve, deny, cancel, end access), on the in-memory
 * ports and a virtual clock.
 */
import { describe, expect, it } from 'vitest';
import { approve } from '../../src/services/approve.ts';
import { cancel } from '../../src/services/cancel.ts';
import { deny } from '../../src/services/deny.ts';
import { endAccess } from '../../src/services/end-access.ts';
import { grant } from '../../src/services/grant.ts';
import { advance } from '../../src/services/advance.ts';
import { submitRequest } from '../../src/services/submit-request.ts';
import { requestKey } from '../../src/store/keys.ts';
import { memoryContext, PEOPLE, type MemoryWorld } from '../support/memory.ts';

const input = { profileId: 'org-admin', duration: 'PT1H', justification: 'Production is down and the org SCP needs a fix', ticket: null };
const { requester, second, approver1, approver2, approver3, outsider, nobody } = PEOPLE;

async function submitted(w: MemoryWorld, user: string = requester.slack): Promise<string> {
  const r = await submitRequest(w.ctx, user, input);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.request.id;
}

async function active(w: MemoryWorld): Promise<string> {
  const id = await submitted(w);
  await approve(w.ctx, id, approver1.slack);
  await approve(w.ctx, id, approver2.slack);
  await grant(w.ctx, id);
  expect((await w.get(id)).status).toBe('ACTIVE');
  return id;
}

const freeze = (w: MemoryWorld) => w.ctx.freeze.set({ by: 'ops', reason: 'token leak', at: w.clock.now() }, { type: 'freeze.set', requestId: null, actor: null, details: { operator: 'ops', reason: 'token leak' } });

describe('submitRequest', () => {
  it('stores a pending request for the Identity Center user of the Slack email, due at its pending timeout', async () => {
    const w = memoryContext();
    const r = await submitRequest(w.ctx, requester.slack, input);
    if (!r.ok) throw new Error('refused');
    const stored = await w.get(r.request.id);
    expect(stored).toMatchObject({
      status: 'PENDING',
      version: 1,
      approvalsRequired: 2,
      pendingUntil: w.clock.in(3_600_000),
      target: w.target(requester.principal),
      requester: { slackUserId: requester.slack, principalId: requester.principal, identity: { userName: 'rita', email: requester.email } },
    });
    expect(w.eventTypes(r.request.id)).toEqual(['request.submitted']);
    expect(w.store.dueAt(r.request.id)).toBe(stored.pendingUntil);
    expect(w.signals.events).toBe(1);
  });

  it('refuses someone who is not a requester, and stores nothing', async () => {
    const w = memoryContext();
    const r = await submitRequest(w.ctx, outsider.slack, input);
    expect(r).toEqual({ ok: false, errors: { profile: expect.stringContaining('you are not among its requesters') } });
    expect(await w.ctx.requests.due(null)).toEqual([]);
  });

  it('refuses while frozen, saying who froze it and why', async () => {
    const w = memoryContext();
    await freeze(w);
    const r = await submitRequest(w.ctx, requester.slack, input);
    expect(r).toEqual({ ok: false, errors: { profile: expect.stringMatching(/frozen: ops ran revoke-all .*token leak/) } });
    expect(await w.ctx.requests.due(null)).toEqual([]);
  });

  it('refuses a requester with no Identity Center user', async () => {
    const w = memoryContext();
    const r = await submitRequest(w.ctx, nobody.slack, input);
    expect(r).toEqual({ ok: false, errors: { profile: expect.stringContaining(`No IAM Identity Center user has the email ${nobody.email}`) } });
    expect(await w.ctx.requests.due(null)).toEqual([]);
  });

  it('refuses a requester whose Identity Center user is disabled', async () => {
    const w = memoryContext();
    w.ic.addUser({ userId: requester.principal, userName: 'rita', email: requester.email, disabled: true });
    const r = await submitRequest(w.ctx, requester.slack, input);
    expect(r).toEqual({ ok: false, errors: { profile: expect.stringContaining('is disabled') } });
    expect(await w.ctx.requests.due(null)).toEqual([]);
  });

  it('matches the Slack email to Identity Center case-insensitively, and says so when Identity Center does not answer', async () => {
    const w = memoryContext();
    w.directory.setUser({ id: requester.slack, name: 'rita', email: 'Rita@Example.COM', tz: 'UTC', deleted: false, isBot: false });
    const ok = await submitRequest(w.ctx, requester.slack, input);
    expect(ok.ok && ok.request.target.principalId).toBe(requester.principal);
    w.ic.throttleNext('findUserByEmail');
    const down = await submitRequest(w.ctx, requester.slack, input);
    expect(down).toEqual({ ok: false, errors: { profile: expect.stringContaining('did not answer') } });
    expect(await w.ctx.requests.due(null)).toHaveLength(1);
  });

  it('checks the submission against the policy server-side', async () => {
    const w = memoryContext();
    const r = await submitRequest(w.ctx, requester.slack, { ...input, duration: 'P365D' });
    expect(r).toEqual({ ok: false, errors: { duration: expect.stringContaining('P365D is not offered') } });
    expect(await w.ctx.requests.due(null)).toEqual([]);
  });
});

describe('approve', () => {
  it('counts approvals and, on quorum, approves the request and queues its grant', async () => {
    const w = memoryContext();
    const id = await submitted(w);
    expect(await approve(w.ctx, id, approver1.slack)).toEqual({ ok: true, message: 'Approved: 1 of 2 approvals so far.' });
    expect(await w.get(id)).toMatchObject({ status: 'PENDING', approvals: [{ slackUserId: approver1.slack }] });
    expect(w.signals.work).toEqual([]);
    w.clock.advance(5_000);
    expect((await approve(w.ctx, id, approver2.slack)).ok).toBe(true);
    const r = await w.get(id);
    expect(r).toMatchObject({ status: 'APPROVED', decision: { by: approver2.slack, at: w.clock.now(), reason: null } });
    expect(r.approvals.map((a) => a.slackUserId)).toEqual([approver1.slack, approver2.slack]);
    expect(w.store.dueAt(id)).toBe(w.clock.now());
    expect(w.signals.work).toEqual([id]);
    expect(w.eventTypes(id)).toEqual(['request.submitted', 'approval.given', 'approval.given', 'request.approved']);
  });

  it('refuses the requester approving their own request, and audits the attempt', async () => {
    const w = memoryContext();
    const id = await submitted(w, approver1.slack);
    expect(await approve(w.ctx, id, approver1.slack)).toEqual({ ok: false, message: 'You cannot approve your own request.' });
    expect((await w.get(id)).approvals).toEqual([]);
    expect(w.store.events(id).at(-1)).toMatchObject({ type: 'attempt.rejected', actor: { slackUserId: approver1.slack }, details: { action: 'approve', count: 1 } });
  });

  it('refuses someone who is not an approver now, and audits the attempt', async () => {
    const w = memoryContext();
    const id = await submitted(w);
    expect((await approve(w.ctx, id, outsider.slack)).ok).toBe(false);
    // Eligibility is read at click time: someone removed from the approvers no longer counts.
    w.directory.removed.add(approver3.slack);
    expect((await approve(w.ctx, id, approver3.slack)).message).toContain('not an approver');
    expect((await w.get(id)).approvals).toEqual([]);
    expect(w.eventTypes(id)).toEqual(['request.submitted', 'attempt.rejected', 'attempt.rejected']);
  });

  it('counts an approver once however often they click, without auditing the repeat', async () => {
    const w = memoryContext();
    const id = await submitted(w);
    await approve(w.ctx, id, approver1.slack);
    expect(await approve(w.ctx, id, approver1.slack)).toEqual({ ok: false, message: 'You have already approved this request; it counts once.' });
    expect(await w.get(id)).toMatchObject({ status: 'PENDING', approvals: [{ slackUserId: approver1.slack }] });
    expect(w.eventTypes(id)).toEqual(['request.submitted', 'approval.given']);
  });

  it('expires the request when an approval comes after the pending timeout, however late the sweeper is', async () => {
    const w = memoryContext();
    const id = await submitted(w);
    await approve(w.ctx, id, approver1.slack);
    w.clock.advance(3_600_000);
    const r = await approve(w.ctx, id, approver2.slack);
    expect(r.ok).toBe(false);
    expect(r.message).toContain('expired');
    const after = await w.get(id);
    expect(after.status).toBe('EXPIRED');
    expect(after.approvals).toHaveLength(1);
    expect(w.store.dueAt(id)).toBeNull();
    expect(w.eventTypes(id)).toContain('request.expired');
  });

  it('counts no approval while frozen', async () => {
    const w = memoryContext();
    const id = await submitted(w);
    await freeze(w);
    const r = await approve(w.ctx, id, approver1.slack);
    expect(r.ok).toBe(false);
    expect(r.message).toContain('frozen');
    expect((await w.get(id)).approvals).toEqual([]);
  });

  it('applies one of two concurrent approvals of the same approver, and both of two approvers', async () => {
    const w = memoryContext({ interleaveSeed: 7 });
    const id = await submitted(w);
    const results = await Promise.all([approve(w.ctx, id, approver1.slack), approve(w.ctx, id, approver1.slack), approve(w.ctx, id, approver2.slack)]);
    expect(results.filter((r) => r.ok)).toHaveLength(2);
    const r = await w.get(id);
    expect(r.status).toBe('APPROVED');
    expect(r.approvals.map((a) => a.slackUserId).sort()).toEqual([approver1.slack, approver2.slack]);
  });
});

describe('deny', () => {
  it('lets an approver deny a pending request with a reason', async () => {
    const w = memoryContext();
    const id = await submitted(w);
    expect((await deny(w.ctx, id, approver1.slack, 'not during the freeze window')).ok).toBe(true);
    expect(await w.get(id)).toMatchObject({ status: 'DENIED', decision: { by: approver1.slack, reason: 'not during the freeze window' } });
    expect(w.store.dueAt(id)).toBeNull();
    expect(w.store.events(id).at(-1)).toMatchObject({ type: 'request.denied', details: { reason: 'not during the freeze window' } });
    // Decided: a later approval does not count.
    expect((await approve(w.ctx, id, approver2.slack)).ok).toBe(false);
    expect((await w.get(id)).status).toBe('DENIED');
  });

  it('refuses the requester and non-approvers, auditing both', async () => {
    const w = memoryContext();
    const id = await submitted(w, approver1.slack);
    expect((await deny(w.ctx, id, approver1.slack, 'x')).message).toContain('cannot decide your own request');
    expect((await deny(w.ctx, id, outsider.slack, 'x')).message).toBe('Only approvers of this request can deny it.');
    expect((await w.get(id)).status).toBe('PENDING');
    expect(w.eventTypes(id).filter((t) => t === 'attempt.rejected')).toHaveLength(2);
  });
});

describe('cancel', () => {
  it('lets the requester withdraw an undecided request, and nobody else', async () => {
    const w = memoryContext();
    const id = await submitted(w);
    expect((await cancel(w.ctx, id, second.slack)).message).toBe(`You have no breakglass request ${id}.`);
    expect((await w.get(id)).status).toBe('PENDING');
    expect((await cancel(w.ctx, id, requester.slack)).ok).toBe(true);
    expect(await w.get(id)).toMatchObject({ status: 'CANCELLED', decision: { by: requester.slack } });
    expect(w.store.dueAt(id)).toBeNull();
    expect((await cancel(w.ctx, id, requester.slack)).message).toContain('is cancelled, so it can no longer be cancelled');
  });

  it('cannot cancel an approved request', async () => {
    const w = memoryContext();
    const id = await submitted(w);
    await approve(w.ctx, id, approver1.slack);
    await approve(w.ctx, id, approver2.slack);
    expect((await cancel(w.ctx, id, requester.slack)).ok).toBe(false);
    expect((await w.get(id)).status).toBe('APPROVED');
  });
});

describe('endAccess', () => {
  it('lets the requester end active access: the revoke starts and is queued', async () => {
    const w = memoryContext();
    const id = await active(w);
    expect((await endAccess(w.ctx, id, requester.slack)).ok).toBe(true);
    expect(await w.get(id)).toMatchObject({ status: 'REVOKING', revoke: { reason: 'ended', by: requester.slack } });
    expect(w.signals.work.at(-1)).toBe(id);
    expect(w.eventTypes(id).slice(-2)).toEqual(['access.ended', 'revoke.started']);
    expect((await endAccess(w.ctx, id, requester.slack)).message).toContain('is not active (it is revoking)');
  });

  it('lets an approver end it, refuses anyone else, and answers a grant in progress', async () => {
    const w = memoryContext();
    const id = await submitted(w);
    await approve(w.ctx, id, approver1.slack);
    await approve(w.ctx, id, approver2.slack);
    expect((await endAccess(w.ctx, id, requester.slack)).message).toContain('still being granted');
    await grant(w.ctx, id);
    expect((await endAccess(w.ctx, id, outsider.slack)).message).toBe('Only the requester or an approver can end this access.');
    expect((await w.get(id)).status).toBe('ACTIVE');
    expect((await endAccess(w.ctx, id, approver3.slack)).ok).toBe(true);
    expect((await w.get(id)).revoke?.by).toBe(approver3.slack);
  });
});

describe('refusals cannot grow a request', () => {
  it('the expiry revoke succeeds after 5,000 refused attempts on its request', async () => {
    const w = memoryContext();
    const id = await active(w);
    const sizeBefore = w.store.table.size(requestKey(id));
    const versionBefore = (await w.get(id)).version;
    for (let i = 0; i < 5_000; i++) {
      const r = await endAccess(w.ctx, id, outsider.slack);
      expect(r.ok).toBe(false);
    }
    const refusals = w.store.events(id).filter((e) => e.type === 'attempt.rejected');
    expect(refusals.map((e) => e.type === 'attempt.rejected' && e.details.count)).toEqual([1, 10, 100, 1000]);
    const size = w.store.table.size(requestKey(id));
    expect(size - sizeBefore).toBeLessThan(4 * 1024);
    expect(size).toBeLessThan(40_000);
    const r = await w.get(id);
    // Refusals are counted beside the request and queued without a version bump: no transition races them.
    expect(r.version).toBe(versionBefore);
    // Time runs out: the sweeper's revoke goes through.
    w.clock.advanceTo(r.grant.expiresAt ?? '');
    await advance(w.ctx, id);
    expect(await w.get(id)).toMatchObject({ status: 'REVOKED', revoke: { reason: 'expired', kept: null } });
    expect(w.ic.holds(w.target())).toBe(false);
  });
});
