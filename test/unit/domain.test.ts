import { describe, expect, it } from 'vitest';
import { evaluateApproval, evaluateDenial } from '../../src/domain/approval.ts';
import { addDuration, humanDuration, humanInstant, parseDuration } from '../../src/domain/duration.ts';
import { quorumProblems, validateSubmission, type Policy } from '../../src/domain/policy.ts';
import { canTransition, isFinal, REQUEST_STATUSES, type AccessRequest } from '../../src/domain/request.ts';
import { NOW, pendingRequest } from '../support/fixtures.ts';

const policy = (over: Partial<Policy> = {}): Policy => ({
  identityCenter: { instanceArn: 'arn:aws:sso:::instance/ssoins-0123456789abcdef', identityStoreId: 'd-0123456789' },
  profiles: [
    {
      id: 'org-admin',
      name: 'Org admin',
      accountId: '111111111111',
      permissionSetArn: 'arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef',
      durations: ['PT15M', 'PT1H'],
      approvals: 2,
      requireTicket: true,
      endSessions: true,
    },
  ],
  requesters: { users: ['UREQ'], groups: [] },
  approvers: { users: ['UA1', 'UA2', 'UA3'], groups: [] },
  channels: { approvals: 'CAPPROVALS', audit: 'CAUDIT' },
  pendingTimeout: 'PT1H',
  standingAccess: [],
  drift: 'alert',
  ...over,
});

const request = (over: Partial<AccessRequest> = {}): AccessRequest => pendingRequest({ target: { instanceArn: 'i', accountId: '111111111111', permissionSetArn: 'ps', principalId: 'p' }, ...over });

describe('request lifecycle', () => {
  it('allows only the documented transitions', () => {
    expect(canTransition('PENDING', 'APPROVED')).toBe(true);
    expect(canTransition('PENDING', 'ACTIVE')).toBe(false);
    expect(canTransition('APPROVED', 'GRANTING')).toBe(true);
    expect(canTransition('GRANTING', 'FAILED')).toBe(true);
    expect(canTransition('ACTIVE', 'REVOKED')).toBe(false);
    expect(canTransition('REVOKING', 'REVOKED')).toBe(true);
    expect(REQUEST_STATUSES.filter(isFinal)).toEqual(['REVOKED', 'DENIED', 'CANCELLED', 'EXPIRED', 'FAILED']);
  });
});

describe('approvals', () => {
  const at = '2026-11-28T00:01:00.000Z';
  it('never counts the requester', () => {
    const out = evaluateApproval(request(), 'UREQ', true, at);
    expect(out).toMatchObject({ ok: false, rejection: { kind: 'self' } });
  });
  it('refuses ineligible approvers', () => {
    expect(evaluateApproval(request(), 'UX', false, at)).toMatchObject({ ok: false, rejection: { kind: 'ineligible' } });
  });
  it('counts each approver once and reaches quorum on distinct people', () => {
    const first = evaluateApproval(request(), 'UA1', true, at);
    expect(first).toMatchObject({ ok: true, quorumReached: false });
    if (!first.ok) throw new Error('unreachable');
    const again = evaluateApproval(request({ approvals: first.approvals }), 'UA1', true, at);
    expect(again).toMatchObject({ ok: false, rejection: { kind: 'duplicate' } });
    const second = evaluateApproval(request({ approvals: first.approvals }), 'UA2', true, at);
    expect(second).toMatchObject({ ok: true, quorumReached: true });
  });
  it('refuses decisions on requests that are no longer pending', () => {
    expect(evaluateApproval(request({ status: 'DENIED' }), 'UA1', true, at)).toMatchObject({ ok: false, rejection: { kind: 'not_pending' } });
    expect(evaluateDenial(request({ status: 'ACTIVE' }), 'UA1', true, NOW)).toMatchObject({ ok: false, rejection: { kind: 'not_pending' } });
    expect(evaluateDenial(request(), 'UREQ', true, NOW)).toMatchObject({ ok: false, rejection: { kind: 'self' } });
    expect(evaluateDenial(request(), 'UA1', true, NOW)).toEqual({ ok: true });
  });
});

describe('submission rules', () => {
  const ok = { profileId: 'org-admin', duration: 'PT1H', justification: 'database is on fire, need access', ticket: 'INC-1' };
  it('accepts a valid request', () => {
    expect(validateSubmission(policy(), ok)).toMatchObject({ ok: true, value: { duration: 'PT1H', ticket: 'INC-1' } });
  });
  it('names each problem by its field', () => {
    expect(validateSubmission(policy(), { ...ok, profileId: 'nope' })).toMatchObject({ ok: false, errors: { profile: expect.stringContaining('nope') } });
    expect(validateSubmission(policy(), { ...ok, duration: 'PT2H' })).toMatchObject({ ok: false, errors: { duration: expect.stringContaining('PT15M, PT1H') } });
    expect(validateSubmission(policy(), { ...ok, justification: 'too short' })).toMatchObject({ ok: false, errors: { justification: expect.any(String) } });
    expect(validateSubmission(policy(), { ...ok, justification: 'x'.repeat(3001) })).toMatchObject({ ok: false, errors: { justification: expect.stringContaining('3001') } });
    expect(validateSubmission(policy(), { ...ok, ticket: '  ' })).toMatchObject({ ok: false, errors: { ticket: expect.any(String) } });
  });
});

describe('quorum safety', () => {
  it('accepts a pool with one spare approver for every requester', () => {
    expect(quorumProblems(policy(), new Map())).toEqual([]);
  });
  it('rejects a pool where every approver would be required', () => {
    const p = policy({ approvers: { users: ['UA1', 'UA2'], groups: [] } });
    expect(quorumProblems(p, new Map())).toHaveLength(1);
  });
  it('does not count a requester who is also an approver', () => {
    const p = policy({ requesters: { users: ['UA1'], groups: [] } });
    expect(quorumProblems(p, new Map())).toMatchObject([{ requester: 'UA1' }]);
  });
  it('expands user groups', () => {
    const p = policy({ approvers: { users: ['UA1'], groups: ['SAPPROVERS'] }, requesters: { users: [], groups: ['SENG'] } });
    expect(quorumProblems(p, new Map([['SAPPROVERS', ['UA2', 'UA3']], ['SENG', ['UREQ']]]))).toEqual([]);
    expect(quorumProblems(p, new Map([['SAPPROVERS', ['UA2', 'UA3']], ['SENG', ['UA3']]]))).toMatchObject([{ requester: 'UA3' }]);
  });
});

describe('durations', () => {
  it('parses and renders ISO-8601 durations', () => {
    expect(parseDuration('PT20S')?.as('seconds')).toBe(20);
    expect(parseDuration('P1X')).toBeNull();
    expect(parseDuration('PT0S')).toBeNull();
    expect(humanDuration('PT1H30M')).toBe('1 hour 30 minutes');
    expect(addDuration('2026-11-28T00:00:00.000Z', 'PT20S')).toBe('2026-11-28T00:00:20.000Z');
  });
  it('shows instants in the person’s zone and UTC', () => {
    expect(humanInstant('2026-11-28T12:00:00.000Z', 'America/New_York')).toBe('Sat 28 Nov 2026, 07:00:00 EST (Sat 28 Nov 2026, 12:00:00 UTC)');
    expect(humanInstant('2026-11-28T12:00:00.000Z', 'UTC')).toBe('Sat 28 Nov 2026, 12:00:00 UTC');
  });
});
