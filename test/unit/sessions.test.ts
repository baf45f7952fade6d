/**
 * Ending the sessions a grant issued: the inline-policy merge (pure) and the service on the
 * in-memory ports and a virtual clock, crash and conflict branches included.
 */
import { describe, expect, it } from 'vitest';
import type { AccessRequest } from '../../src/domain/request.ts';
import { COMBINED_SID, denySid, fitsIdentityCenter, mergeDenies, parsePolicy } from '../../src/domain/session-policy.ts';
import { advance } from '../../src/services/advance.ts';
import { approve } from '../../src/services/approve.ts';
import { endAccess } from '../../src/services/end-access.ts';
import { grant } from '../../src/services/grant.ts';
import { continueRevoke } from '../../src/services/revoke.ts';
import { pruneSessionDenies } from '../../src/services/sessions.ts';
import { submitRequest } from '../../src/services/submit-request.ts';
import { ACCOUNT, awsError, dyingReplica, memoryContext, PEOPLE, PERMISSION_SET, type MemoryWorld } from '../support/memory.ts';

const { requester, second, approver1, approver2 } = PEOPLE;
const customer = { Sid: 'Guardrail', Effect: 'Deny', Action: ['organizations:LeaveOrganization'], Resource: '*', Condition: { Bool: { 'aws:ViaAWSService': 'false' } } };

describe('the inline policy merge', () => {
  it('keeps every statement it did not write exactly, and writes one Deny per user for sessions issued before their instant', () => {
    const current = JSON.stringify({ Version: '2012-10-17', Statement: customer });
    const merged = mergeDenies(current, { u1: { instant: '2026-12-01T10:00:00.000Z' }, u2: { instant: '2026-12-01T11:00:00.000Z' } });
    expect(merged.ok).toBe(true);
    const doc = parsePolicy(merged.ok ? (merged.document ?? '') : '');
    expect(doc.Statement[0]).toEqual(customer);
    expect(doc.Statement.slice(1)).toEqual([
      { Sid: denySid('u1'), Effect: 'Deny', Action: '*', Resource: '*', Condition: { StringEquals: { 'identitystore:userId': 'u1' }, DateLessThan: { 'aws:TokenIssueTime': '2026-12-01T10:00:00.000Z' } } },
      { Sid: denySid('u2'), Effect: 'Deny', Action: '*', Resource: '*', Condition: { StringEquals: { 'identitystore:userId': 'u2' }, DateLessThan: { 'aws:TokenIssueTime': '2026-12-01T11:00:00.000Z' } } },
    ]);
    expect(denySid('u1')).toMatch(/^BreakglassRevoked[0-9a-f]{16}$/);
  });

  it('removes its own statements and leaves nothing when they were all there was', () => {
    const withOurs = mergeDenies('', { u1: { instant: '2026-12-01T10:00:00.000Z' } });
    expect(mergeDenies(withOurs.ok ? (withOurs.document ?? '') : '', {})).toEqual({ ok: true, document: null, combined: false });
  });

  it('falls back to one statement for every listed user up to the newest instant when one per user would not fit', () => {
    const denies = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`user-${i}`, { instant: `2026-12-01T10:${String(i).padStart(2, '0')}:00.000Z` }]));
    const merged = mergeDenies(JSON.stringify({ Version: '2012-10-17', Statement: [customer] }), denies);
    expect(merged).toMatchObject({ ok: true, combined: true });
    const doc = parsePolicy(merged.ok ? (merged.document ?? '') : '');
    expect(doc.Statement).toHaveLength(2);
    expect(doc.Statement[0]).toEqual(customer);
    expect(doc.Statement[1]).toMatchObject({ Sid: COMBINED_SID, Condition: { DateLessThan: { 'aws:TokenIssueTime': '2026-12-01T10:59:00.000Z' } } });
    expect((doc.Statement[1]?.Condition as { StringEquals: { 'identitystore:userId': string[] } }).StringEquals['identitystore:userId']).toHaveLength(60);
    expect(fitsIdentityCenter(merged.ok ? (merged.document ?? '') : '')).toBe(true);
  });

  it('says so when the permission set\'s own policy leaves no room', () => {
    expect(mergeDenies(JSON.stringify({ Statement: [customer] }), { u1: { instant: '2026-12-01T10:00:00.000Z' } }, () => false)).toMatchObject({ ok: false });
  });
});

async function active(w: MemoryWorld, who: { slack: string } = requester): Promise<string> {
  const r = await submitRequest(w.ctx, who.slack, { profileId: 'org-admin', duration: 'PT1H', justification: 'Production is down and the org SCP needs a fix', ticket: null });
  if (!r.ok) throw new Error('refused');
  await approve(w.ctx, r.request.id, approver1.slack);
  await approve(w.ctx, r.request.id, approver2.slack);
  await grant(w.ctx, r.request.id);
  expect((await w.get(r.request.id)).status).toBe('ACTIVE');
  return r.request.id;
}

async function sweepUntilSettled(w: MemoryWorld, id: string): Promise<AccessRequest> {
  for (let i = 0; i < 100; i++) {
    const r = await w.get(id);
    if (r.status === 'REVOKED') return r;
    const due = w.store.dueAt(id);
    if (due && due > w.clock.now()) w.clock.advanceTo(due);
    await advance(w.ctx, id);
  }
  throw new Error(`${id} never settled`);
}

const ours = (w: MemoryWorld) => parsePolicy(w.ic.inline.get(PERMISSION_SET) ?? '').Statement.filter((s) => s.Sid?.startsWith('BreakglassRevoked'));
const inForce = (w: MemoryWorld) => parsePolicy(w.ic.effectivePolicy(PERMISSION_SET, ACCOUNT)).Statement;

describe('ending sessions when access ends', () => {
  it('writes the denial at the removal instant, provisions only the profile\'s account, and waits for Identity Center', async () => {
    const w = memoryContext();
    const id = await active(w);
    expect((await endAccess(w.ctx, id, requester.slack)).ok).toBe(true);
    const r = await sweepUntilSettled(w, id);
    expect(r.revoke?.sessions).toMatchObject({ state: 'ended', instant: r.revoke?.removedAt });
    expect(inForce(w)).toEqual(ours(w));
    expect(ours(w)).toEqual([expect.objectContaining({ Sid: denySid(requester.principal), Condition: { StringEquals: { 'identitystore:userId': requester.principal }, DateLessThan: { 'aws:TokenIssueTime': r.revoke?.removedAt } } })]);
    expect(w.ic.provisionings.map((p) => p.accountId)).toEqual([ACCOUNT]);
    expect(w.store.events(id).slice(-2).map((e) => e.type)).toEqual(['revoke.succeeded', 'sessions.ended']);
  });

  it('moves a user\'s instant forward when a later grant of theirs ends, keeping one statement', async () => {
    const w = memoryContext();
    const first = await active(w);
    await endAccess(w.ctx, first, requester.slack);
    const one = await sweepUntilSettled(w, first);
    w.clock.advance(60_000);
    const again = await active(w);
    await endAccess(w.ctx, again, requester.slack);
    const two = await sweepUntilSettled(w, again);
    expect(two.revoke?.removedAt).not.toBe(one.revoke?.removedAt);
    expect(ours(w)).toHaveLength(1);
    expect(ours(w)[0]?.Condition).toMatchObject({ DateLessThan: { 'aws:TokenIssueTime': two.revoke?.removedAt } });
  });

  it('resumes after a crash between writing the policy and provisioning it', async () => {
    const w = memoryContext();
    const id = await active(w);
    await endAccess(w.ctx, id, requester.slack);
    const dying = dyingReplica(w, 'ic', 'putInlinePolicy');
    await expect(continueRevoke(dying, id)).rejects.toThrow('killed');
    expect(ours(w)).toHaveLength(1);
    expect(inForce(w)).toEqual([]);
    // The dead replica's lease and lock run out; this one takes over.
    w.clock.advance(w.ctx.timing.leaseMs + 1000);
    const r = await sweepUntilSettled(w, id);
    expect(r.revoke?.sessions?.state).toBe('ended');
    expect(inForce(w)).toEqual(ours(w));
  });

  it('retries when Identity Center refuses the edit because a provisioning is in progress, and lands it', async () => {
    const w = memoryContext();
    const id = await active(w);
    // Someone else's change of the same permission set is running when the edit comes (ConflictException, after the adapter's own retries).
    w.ic.failNextCalls('putInlinePolicy', () => awsError('ConflictException', 'There is a conflicting operation in process.'));
    await endAccess(w.ctx, id, requester.slack);
    await continueRevoke(w.ctx, id);
    expect((await w.get(id)).revoke?.sessions).toMatchObject({ state: 'ending', attempts: 1 });
    expect(w.store.events(id).at(-1)).toMatchObject({ type: 'sessions.retrying' });
    const r = await sweepUntilSettled(w, id);
    expect(r.revoke?.sessions?.state).toBe('ended');
    expect(inForce(w)).toEqual(ours(w));
  });

  it('gives up once every session it was about has expired by itself, and says so', async () => {
    const w = memoryContext();
    const id = await active(w);
    w.ic.failNextProvisionings(1000);
    await endAccess(w.ctx, id, requester.slack);
    const r = await sweepUntilSettled(w, id);
    expect(r.revoke?.sessions?.state).toBe('lapsed');
    expect(w.clock.now() >= new Date(Date.parse(r.revoke?.removedAt ?? '') + 3_600_000).toISOString()).toBe(true);
    expect(w.store.events(id).at(-1)).toMatchObject({ type: 'sessions.lapsed' });
  });

  it('never takes back a user\'s denial that is still to be provisioned when another user\'s revoke rewrites the policy', async () => {
    const w = memoryContext();
    const a = await active(w, requester);
    const b = await active(w, second);
    // The first revoke writes its denial into the policy, but Identity Center fails the provisioning: it will retry.
    w.ic.failNextProvisionings(1);
    await endAccess(w.ctx, a, requester.slack);
    await continueRevoke(w.ctx, a);
    expect((await w.get(a)).revoke?.sessions?.state).toBe('ending');
    expect(ours(w).map((s) => s.Sid)).toEqual([denySid(requester.principal)]);
    // Before that retry, the second user's revoke writes the permission set's policy.
    await endAccess(w.ctx, b, second.slack);
    await continueRevoke({ ...w.ctx, owner: 'replica-2' }, b);
    expect(ours(w).map((s) => s.Sid).sort()).toEqual([denySid(requester.principal), denySid(second.principal)].sort());
    expect(inForce(w).map((s) => s.Sid).sort()).toEqual([denySid(requester.principal), denySid(second.principal)].sort());
  });

  it('lets two replicas end two users\' sessions on one permission set at once, both statements landing', async () => {
    const w = memoryContext();
    const a = await active(w, requester);
    const b = await active(w, second);
    await endAccess(w.ctx, a, requester.slack);
    await endAccess(w.ctx, b, second.slack);
    const other = { ...w.ctx, owner: 'replica-2' };
    await Promise.all([continueRevoke(w.ctx, a), continueRevoke(other, b)]);
    await sweepUntilSettled(w, a);
    await sweepUntilSettled(w, b);
    expect(ours(w).map((s) => s.Sid).sort()).toEqual([denySid(requester.principal), denySid(second.principal)].sort());
    expect(inForce(w)).toEqual(ours(w));
  });

  it('keeps the sessions of a user who holds the permission set on the account through a group', async () => {
    const w = memoryContext();
    w.ic.groups.set('group-admins', [requester.principal]);
    w.ic.addAssignment({ ...w.target(), principalId: 'group-admins' }, 'GROUP');
    const id = await active(w);
    await endAccess(w.ctx, id, requester.slack);
    const r = await sweepUntilSettled(w, id);
    expect(r.revoke?.sessions).toMatchObject({ state: 'kept', why: expect.stringContaining('through a group') });
    expect(ours(w)).toEqual([]);
    expect(w.ic.provisionings).toEqual([]);
  });

  it('removes a denial once the session duration has passed since its instant, never earlier, and provisions again', async () => {
    const w = memoryContext();
    const id = await active(w);
    await endAccess(w.ctx, id, requester.slack);
    const r = await sweepUntilSettled(w, id);
    const provisioned = w.ic.provisionings.length;
    w.clock.advanceTo(new Date(Date.parse(r.revoke?.removedAt ?? '') + 3_600_000 - 1000).toISOString());
    expect(await w.ctx.sessionDenies.due(w.clock.now())).toEqual([]);
    await pruneSessionDenies(w.ctx, PERMISSION_SET);
    expect(ours(w)).toHaveLength(1);
    w.clock.advance(2000);
    expect(await w.ctx.sessionDenies.due(w.clock.now())).toEqual([PERMISSION_SET]);
    await pruneSessionDenies(w.ctx, PERMISSION_SET);
    expect(w.ic.inline.has(PERMISSION_SET)).toBe(false);
    expect(w.ic.provisionings.length).toBe(provisioned + 1);
    expect(inForce(w)).toEqual([]);
    expect(await w.ctx.sessionDenies.due(w.clock.in(10 * 3_600_000))).toEqual([]);
  });
});
