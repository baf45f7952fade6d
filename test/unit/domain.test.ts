import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { evaluateApproval, evaluateDenial, tally } from '../../src/domain/approval.ts';
import { addDuration, humanDuration, humanInstant, parseDuration } from '../../src/domain/duration.ts';
import { quorumProblems, validateSubmission, type Policy } from '../../src/domain/policy.ts';
import { canTransition, isFinal, REQUEST_STATUSES, type AccessRequest } from '../../src/domain/request.ts';
import { extensionDurations, warningAt } from '../../src/domain/grant-time.ts';
import { NOW, pendingRequest } from '../support/fixtures.ts';
import { memoryProfile } from '../support/memory.ts';

const policy = (over: Partial<Policy> = {}): Policy => ({
  identityCenter: { instanceArn: 'arn:aws:sso:::instance/ssoins-0123456789abcdef', identityStoreId: 'd-0123456789' },
  profiles: [memoryProfile({ name: 'Org admin', durations: ['PT15M', 'PT1H'], requireTicket: true })],
  requesters: { users: ['UREQ'], groups: [] },
  approvers: { users: ['UA1', 'UA2', 'UA3'], groups: [] },
  channels: { approvals: 'CAPPROVALS', audit: 'CAUDIT' },
  pendingTimeout: 'PT1H',
  standingAccess: [],
  drift: 'alert',
  expiryWarning: 'PT10M',
  reminders: null,
  escalation: null,
  activityReport: { enabled: true, delay: 'PT20M', regions: ['us-east-1'] },
  review: null,
  custodians: [],
  ...over,
});

/** Two rules: 1 from security (SSEC) and 1 from platform (SPLAT). */
const twoRules = (over: Partial<Policy> = {}) =>
  policy({
    profiles: [
      memoryProfile({
        approvals: 2,
        rules: [
          { count: 1, from: { users: [], groups: ['SSEC'] }, name: 'security' },
          { count: 1, from: { users: [], groups: ['SPLAT'] }, name: 'platform' },
        ],
      }),
    ],
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
    expect(canTransition('APPROVED', 'EXTENDED')).toBe(true);
    expect(REQUEST_STATUSES.filter(isFinal)).toEqual(['REVOKED', 'DENIED', 'CANCELLED', 'EXPIRED', 'FAILED', 'EXTENDED']);
  });
});

describe('approvals', () => {
  const at = '2026-11-28T00:01:00.000Z';
  it('never counts the requester', () => {
    const out = evaluateApproval(request(), 'UREQ', [0], at);
    expect(out).toMatchObject({ ok: false, rejection: { kind: 'self' } });
  });
  it('refuses ineligible approvers', () => {
    expect(evaluateApproval(request(), 'UX', [], at)).toMatchObject({ ok: false, rejection: { kind: 'ineligible' } });
  });
  it('counts each approver once and reaches quorum on distinct people', () => {
    const first = evaluateApproval(request(), 'UA1', [0], at);
    expect(first).toMatchObject({ ok: true, quorumReached: false });
    if (!first.ok) throw new Error('unreachable');
    const again = evaluateApproval(request({ approvals: first.approvals }), 'UA1', [0], at);
    expect(again).toMatchObject({ ok: false, rejection: { kind: 'duplicate' } });
    const second = evaluateApproval(request({ approvals: first.approvals }), 'UA2', [0], at);
    expect(second).toMatchObject({ ok: true, quorumReached: true });
  });
  it('refuses decisions on requests that are no longer pending', () => {
    expect(evaluateApproval(request({ status: 'DENIED' }), 'UA1', [0], at)).toMatchObject({ ok: false, rejection: { kind: 'not_pending' } });
    expect(evaluateDenial(request({ status: 'ACTIVE' }), 'UA1', true, NOW, 'no')).toMatchObject({ ok: false, rejection: { kind: 'not_pending' } });
    expect(evaluateDenial(request(), 'UREQ', true, NOW, 'no')).toMatchObject({ ok: false, rejection: { kind: 'self' } });
    expect(evaluateDenial(request(), 'UA1', true, NOW, 'no')).toMatchObject({ ok: true, final: true });
  });
  it('ends a request only at its number of distinct denials, withdrawing a denier\'s approval', () => {
    const r = request({ denialsRequired: 2, approvals: [{ slackUserId: 'UA1', at, rules: [0] }] });
    const first = evaluateDenial(r, 'UA1', true, at, 'not now');
    expect(first).toMatchObject({ ok: true, final: false, approvals: [] });
    if (!first.ok) throw new Error('unreachable');
    const again = evaluateDenial({ ...r, denials: first.denials, approvals: first.approvals }, 'UA1', true, at, 'still no');
    expect(again).toMatchObject({ ok: false, rejection: { kind: 'duplicate' } });
    expect(evaluateApproval({ ...r, denials: first.denials, approvals: first.approvals }, 'UA1', [0], at)).toMatchObject({ ok: false, rejection: { kind: 'duplicate' } });
    expect(evaluateDenial({ ...r, denials: first.denials, approvals: first.approvals }, 'UA2', true, at, 'no')).toMatchObject({ ok: true, final: true });
  });
});

describe('approval rules', () => {
  const at = '2026-11-28T00:01:00.000Z';
  const rules = [{ count: 1 }, { count: 1 }];
  it('counts a person toward one rule at most', () => {
    const t = tally(rules, [{ id: 'both', rules: [0, 1] }]);
    expect(t).toMatchObject({ counted: 1, required: 2, met: false });
  });
  it('moves a person in both pools to the rule nobody else can fill', () => {
    // "both" first fills security; "sec" can only fill security, so "both" moves to platform.
    const t = tally(rules, [
      { id: 'both', rules: [0, 1] },
      { id: 'sec', rules: [0] },
    ]);
    expect(t).toMatchObject({ counted: 2, met: true, perRule: [['sec'], ['both']] });
  });
  it('does not let two people of one rule meet another', () => {
    expect(tally(rules, [{ id: 'a', rules: [0] }, { id: 'b', rules: [0] }])).toMatchObject({ counted: 1, met: false });
  });
  it('records an approval that fills no open rule without counting it', () => {
    const r = request({ approvalsRequired: 2, rules: [{ count: 1, label: 'security' }, { count: 1, label: 'platform' }], approvals: [{ slackUserId: 'US1', at, rules: [0] }] });
    const out = evaluateApproval(r, 'US2', [0], at);
    expect(out).toMatchObject({ ok: true, counts: false, quorumReached: false, tally: { counted: 1 } });
    if (!out.ok) throw new Error('unreachable');
    expect(evaluateApproval({ ...r, approvals: out.approvals }, 'UP1', [1], at)).toMatchObject({ ok: true, counts: true, quorumReached: true });
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
  it('checks every rule without any one person, a person in both pools counting once', () => {
    // security: S1, S2; platform: P1, P2: safe.
    const groups = new Map([['SSEC', ['US1', 'US2']], ['SPLAT', ['UP1', 'UP2']]]);
    expect(quorumProblems(twoRules(), groups)).toEqual([]);
    // security: BOTH, S1, S2; platform: BOTH: without BOTH, platform has nobody.
    const thin = new Map([['SSEC', ['UBOTH', 'US1', 'US2']], ['SPLAT', ['UBOTH']]]);
    expect(quorumProblems(twoRules({ approvers: { users: ['UA1'], groups: [] } }), thin)).toEqual([expect.objectContaining({ message: expect.stringContaining('only with UBOTH') })]);
    // security: BOTH, S1; platform: BOTH, P1: each person counts once, and without any one of them both rules still hold.
    const enough = new Map([['SSEC', ['UBOTH', 'US1']], ['SPLAT', ['UBOTH', 'UP1']]]);
    expect(quorumProblems(twoRules(), enough)).toEqual([]);
    // A requester in the security group leaves one security approver: that one is required.
    const requesterInPool = twoRules({ requesters: { users: ['US1'], groups: [] } });
    expect(quorumProblems(requesterInPool, groups)).toEqual([expect.objectContaining({ requester: 'US1', message: expect.stringContaining('only with US2') })]);
  });
  it('checks a profile against its own requesters', () => {
    const p = policy({ profiles: [memoryProfile({ requesters: { users: ['UA1'], groups: [] } })], approvers: { users: ['UA1', 'UA2', 'UA3'], groups: [] } });
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
  it('writes instants in English whatever the server’s locale', () => {
    // Intl takes its default locale from the process's environment, so another process shows it.
    const printed = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', "import { humanInstant } from './src/domain/duration.ts'; process.stdout.write(humanInstant('2026-12-01T10:00:00.000Z', 'Europe/Berlin'));"],
      { cwd: new URL('../../', import.meta.url).pathname, env: { ...process.env, LC_ALL: 'de_DE.UTF-8' }, encoding: 'utf8' },
    );
    expect(printed.stdout, printed.stderr).toBe('Tue 1 Dec 2026, 11:00:00 GMT+1 (Tue 1 Dec 2026, 10:00:00 UTC)');
  });
});

describe('the time box with extensions', () => {
  const grant = (grantedAt: string, expiresAt: string, warnedFor: string | null = null) => ({
    grant: { ...pendingRequest().grant, grantedAt, expiresAt, warnedFor },
  });
  it('offers only durations that keep the grant within maxTotal', () => {
    const profile = memoryProfile({ durations: ['PT20M', 'PT1H'], maxTotal: 'PT1H30M' });
    expect(extensionDurations(profile, grant('2026-12-01T10:00:00.000Z', '2026-12-01T11:00:00.000Z'))).toEqual(['PT20M']);
    expect(extensionDurations(profile, grant('2026-12-01T10:00:00.000Z', '2026-12-01T11:20:00.000Z'))).toEqual([]);
  });
  it('warns once per end, and not for grants shorter than the warning', () => {
    expect(warningAt(grant('2026-12-01T10:00:00.000Z', '2026-12-01T10:20:00.000Z'), 'PT10M')).toBe('2026-12-01T10:10:00.000Z');
    expect(warningAt(grant('2026-12-01T10:00:00.000Z', '2026-12-01T10:05:00.000Z'), 'PT10M')).toBeNull();
    expect(warningAt(grant('2026-12-01T10:00:00.000Z', '2026-12-01T10:20:00.000Z', '2026-12-01T10:20:00.000Z'), 'PT10M')).toBeNull();
    expect(warningAt(grant('2026-12-01T10:00:00.000Z', '2026-12-01T11:20:00.000Z', '2026-12-01T10:20:00.000Z'), 'PT10M')).toBe('2026-12-01T11:10:00.000Z');
  });
});

describe('doctor quorum check with rules', () => {
  it('passes a safe rule profile and names the one person another would need', async () => {
    const { checkQuorum, Report } = await import('../../src/cli/doctor.ts');
    const { Writable } = await import('node:stream');
    const sink = () => new Writable({ write: (_c, _e, done) => done() });
    const rules = [
      { count: 1, from: { users: [], groups: ['SSEC'] }, name: 'security' },
      { count: 1, from: { users: [], groups: ['SPLAT'] }, name: 'platform' },
    ];
    const p = policy({ profiles: [memoryProfile({ approvals: 2, rules })] });
    const safe = new Report(sink());
    checkQuorum(p, new Map([['SSEC', ['US1', 'US2']], ['SPLAT', ['UP1', 'UP2']]]), safe);
    expect(safe.text).toBe('✓ profile org-admin: every requester reaches 1 from security and 1 from platform without any one approver');
    const thin = new Report(sink());
    checkQuorum(p, new Map([['SSEC', ['US1', 'US2']], ['SPLAT', ['UP1']]]), thin);
    expect(thin.passed).toBe(false);
    expect(thin.text).toContain('only with UP1, so one person would be required');
    expect(thin.text).toContain('fix: add people (users or a user group) to the pool of the rule that cannot be met');
  });
});
