import { describe, expect, it } from 'vitest';
import type { Policy } from '../../src/domain/policy.ts';
import { buildReview, csvField, periodBounds, renderReport, reviewPeriod, reviewProblem, type ReviewInputs } from '../../src/domain/review.ts';

const PS = 'arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef';
const RO = 'arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-fedcba9876543210';

const inputs = (over: Partial<ReviewInputs> = {}): ReviewInputs => ({
  id: 'rv-2026-12',
  period: reviewPeriod('P1M', '2026-12-01T00:00:00.000Z'),
  startedAt: '2026-12-01T00:00:00.000Z',
  startedBy: null,
  policy: { every: 'P1M', approvals: 2, reviewers: ['UA1', 'UA2'] },
  assignments: [
    { accountId: '111111111111', permissionSetArn: PS, permissionSetName: 'OrgAdmin', principalType: 'USER', principalId: 'u-standing', principalName: 'sam', members: [] },
    { accountId: '111111111111', permissionSetArn: PS, permissionSetName: 'OrgAdmin', principalType: 'USER', principalId: 'u-granted', principalName: 'rita', members: [] },
    {
      accountId: '111111111111',
      permissionSetArn: RO,
      permissionSetName: 'ReadOnly',
      principalType: 'GROUP',
      principalId: 'g-ops',
      principalName: 'ops',
      members: [{ userId: 'u-ann', name: 'ann' }],
    },
  ],
  standing: [{ profileId: 'org-admin', accountId: '111111111111', permissionSetArn: PS, principalId: 'u-standing' }],
  grants: [{ requestId: 'req_1', accountId: '111111111111', permissionSetArn: PS, principalId: 'u-granted', requester: 'UREQ', expiresAt: '2026-12-01T01:00:00.000Z' }],
  profiles: [{ profileId: 'org-admin', profileName: 'Org admin', requesters: ['UREQ', 'UGONE'], approvers: ['UA1', 'UA2'] }],
  people: [
    { slackUserId: 'UREQ', name: 'rita', deactivated: false },
    { slackUserId: 'UGONE', name: 'gone', deactivated: true },
    { slackUserId: 'UA1', name: 'ann', deactivated: false },
    { slackUserId: 'UA2', name: 'bob', deactivated: false },
  ],
  deciders: ['UA1'],
  uses: [
    {
      requestId: 'req_1',
      profileId: 'org-admin',
      kind: 'access',
      requester: 'UREQ',
      approvers: ['UA1', 'UA2'],
      justification: 'Fix the SCP, "urgent", now',
      duration: 'PT1H',
      grantedAt: '2026-11-30T23:00:00.000Z',
      endedAt: null,
      activity: null,
    },
  ],
  custodians: [
    { item: 'Root email inbox', holders: ['UA1', 'UA2'] },
    { item: 'MFA device', holders: ['UA1'] },
    { item: 'Vault entry', holders: ['UA2', 'UGONE'] },
  ],
  ...over,
});

describe('access review periods', () => {
  it('labels months and quarters and covers the period before the start', () => {
    expect(reviewPeriod('P1M', '2026-12-03T10:00:00Z')).toEqual({ label: '2026-12', since: '2026-11-03T10:00:00.000Z', until: '2026-12-03T10:00:00.000Z' });
    expect(reviewPeriod('P3M', '2026-11-03T10:00:00Z').label).toBe('2026-Q4');
    expect(periodBounds('P3M', '2026-11-03T10:00:00Z')).toEqual({ start: '2026-10-01T00:00:00.000Z', next: '2027-01-01T00:00:00.000Z' });
    expect(periodBounds('P1M', '2026-12-31T23:59:59Z').next).toBe('2027-01-01T00:00:00.000Z');
  });
});

describe('access review reviewers', () => {
  it('refuses a policy whose reviewers, groups expanded, are fewer than the attestations it needs', () => {
    const policy = (users: string[], groups: string[]) => ({ review: { every: 'P1M', reviewers: { users, groups }, approvals: 2 } }) as unknown as Policy;
    const groups = new Map([['SREV', ['UA2', 'UA1']]]);
    expect(reviewProblem(policy(['UA1'], []), groups)).toMatch(/needs 2 distinct reviewers .* name 1/);
    expect(reviewProblem(policy(['UA1'], ['SREV']), groups)).toBeNull();
    expect(reviewProblem(policy(['UA3'], ['SREV']), groups)).toBeNull();
    expect(reviewProblem({ review: null } as unknown as Policy, groups)).toBeNull();
  });
});

describe('access review findings', () => {
  it('tells standing access, a grant and unexplained access apart, and expands groups', () => {
    const r = buildReview(inputs());
    const assignments = r.findings.filter((f) => f.kind === 'assignment').map((f) => [f.subject.replace(/ \(.*?\)/g, ''), f.status, f.flagged]);
    expect(assignments).toEqual([
      ['111111111111 OrgAdmin: USER rita', 'grant', false],
      ['111111111111 OrgAdmin: USER sam', 'standing', false],
      ['111111111111 ReadOnly: GROUP ops', 'unexplained', true],
      ['111111111111 ReadOnly: USER ann through GROUP ops', 'unexplained', true],
    ]);
  });

  it('marks deactivated people, approvers who decided nothing, and items with fewer than two active holders', () => {
    const r = buildReview(inputs());
    const of = (kind: string) => r.findings.filter((f) => f.kind === kind).map((f) => [f.subject.split(':')[1]?.trim().split(' ')[0] ?? f.subject, f.status, f.flagged]);
    expect(of('requester')).toEqual([
      ['gone', 'deactivated', true],
      ['rita', 'active', false],
    ]);
    expect(of('approver')).toEqual([
      ['ann', 'active', false],
      ['bob', 'no decisions', true],
    ]);
    expect(r.findings.filter((f) => f.kind === 'custodian').map((f) => [f.subject, f.status, f.flagged])).toEqual([
      ['Root email inbox', 'ok', false],
      ['MFA device', 'single holder', true],
      ['Vault entry', 'single holder', true],
    ]);
    const use = r.findings.find((f) => f.kind === 'use');
    expect(use?.detail).toContain('approvers: ann (UA1), bob (UA2)');
  });
});

describe('access review report', () => {
  it("flags a use whose session activity report flagged workloads or missed its reason category, and says when there is no report", () => {
    const use = (activity: { flagged: string[]; category: string; complete: boolean } | null) =>
      buildReview(inputs({ uses: [{ requestId: 'req_1', profileId: 'org-admin', kind: 'access', requester: 'UREQ', approvers: ['UA1', 'UA2'], justification: 'Fix the SCP', duration: 'PT1H', grantedAt: '2026-11-30T23:00:00.000Z', endedAt: null, activity }] })).findings.find((f) => f.kind === 'use');
    expect(use(null)).toMatchObject({ flagged: false, detail: expect.stringContaining('activity: no report yet') });
    expect(use({ flagged: [], category: 'matched', complete: true })).toMatchObject({ flagged: false, detail: expect.stringContaining('activity: nothing flagged; reason category matched') });
    expect(use({ flagged: ['RunInstances'], category: 'matched', complete: true })).toMatchObject({ flagged: true, detail: expect.stringContaining('flagged RunInstances') });
    expect(use({ flagged: [], category: 'not-matched', complete: false })).toMatchObject({ flagged: true, detail: expect.stringContaining('reason category not-matched; report incomplete') });
  });

  it('quotes CSV fields as RFC 4180 says and puts every finding on its own line', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a, "b"')).toBe('"a, ""b"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    const r = buildReview(inputs());
    const csv = renderReport(r, [{ reviewer: 'UA1', at: '2026-12-02T00:00:00.000Z', note: 'ok, "fine"' }], null, 'csv');
    const lines = csv.split('\r\n').filter(Boolean);
    expect(lines[0]).toBe('review,period,kind,subject,status,flagged,detail');
    expect(lines).toHaveLength(1 + r.findings.length + 1);
    expect(csv).toContain('"granted 2026-11-30T23:00:00.000Z for PT1H; approvers: ann (UA1), bob (UA2); justification: Fix the SCP, ""urgent"", now; activity: no report yet"');
    expect(lines.at(-1)).toBe('rv-2026-12,2026-12,attestation,UA1,attested,no,"2026-12-02T00:00:00.000Z; note: ok, ""fine"""');
  });

  it('renders the same findings as markdown and JSON', () => {
    const r = buildReview(inputs());
    const md = renderReport(r, [], null, 'md');
    for (const f of r.findings) expect(md).toContain(f.subject);
    expect(md).toContain('open, 0 of 2 attestations');
    const json = JSON.parse(renderReport(r, [], '2026-12-03T00:00:00.000Z', 'json')) as { findings: unknown[]; completedAt: string };
    expect(json.findings).toEqual(r.findings);
    expect(json.completedAt).toBe('2026-12-03T00:00:00.000Z');
  });
});
