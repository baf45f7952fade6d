import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.ts';
import { readEnv, wantsSandbox } from '../../src/config/env.ts';
import { SANDBOX_POLICY } from '../../src/sandbox/policy.ts';
import { parsePolicy } from '../../src/config/policy-file.ts';

const GOOD = `identityCenter:
  instanceArn: arn:aws:sso:::instance/ssoins-0123456789abcdef
  identityStoreId: d-0123456789
  accessPortalUrl: https://d-0123456789.awsapps.com/start
profiles:
  - id: org-admin
    name: Organizations administrator
    accountId: "111111111111"
    permissionSetArn: arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef
    durations: [PT15M, PT1H, PT2H]
    approvals: 2
    requireTicket: false
requesters: { users: [UREQ1], groups: [SENG] }
approvers:  { users: [UAPP1, UAPP2, UAPP3], groups: [] }
channels: { approvals: CAPPROVALS, audit: CAUDIT }
pendingTimeout: PT1H
standingAccess:
  - { profile: org-admin, userId: 9067000000-aaaa }
drift: alert
`;

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('policy file', () => {
  it('loads the documented example', () => {
    const { policy, digest } = parsePolicy(GOOD, 'breakglass.yml');
    expect(policy.profiles[0]).toMatchObject({ id: 'org-admin', approvals: 2, durations: ['PT15M', 'PT1H', 'PT2H'] });
    expect(policy.standingAccess).toEqual([{ profile: 'org-admin', userId: '9067000000-aaaa' }]);
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
  });
  it('names the line of an unknown key', () => {
    const text = GOOD.replace('    requireTicket: false', '    requireTicket: false\n    approval: 3');
    expect(problemsOf(() => parsePolicy(text, 'p.yml'))).toEqual(['p.yml:13: unknown key "approval" in profiles[0]']);
  });
  it('names the line of a duration that does not parse', () => {
    const text = GOOD.replace('[PT15M, PT1H, PT2H]', '[PT15M, 1 hour]');
    const problems = problemsOf(() => parsePolicy(text, 'p.yml'));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^p\.yml:10: profiles\[0\]\.durations\[1\]: must be a positive ISO-8601 duration/);
  });
  it('rejects an unquoted account id with a hint', () => {
    const text = GOOD.replace('accountId: "111111111111"', 'accountId: 111111111111');
    expect(problemsOf(() => parsePolicy(text, 'p.yml'))[0]).toMatch(/^p\.yml:8: profiles\[0\]\.accountId: .*quoted/);
  });
  it('reports YAML syntax errors with their line', () => {
    expect(problemsOf(() => parsePolicy('profiles:\n  - id: [oops\n', 'p.yml'))[0]).toMatch(/^p\.yml:\d+: /);
  });
  it('rejects standing access to an unknown profile and duplicate ids', () => {
    const text = GOOD.replace('{ profile: org-admin, userId', '{ profile: nope, userId');
    expect(problemsOf(() => parsePolicy(text, 'p.yml'))).toEqual(['p.yml:18: standingAccess[0].profile: no profile "nope"']);
  });
});

describe('policy file: issue 11 keys', () => {
  const rules = GOOD.replace(
    '    approvals: 2\n',
    `    approvals:
      - { count: 1, from: { groups: [SSEC] }, name: security }
      - { count: 1, from: { users: [UAPP1, UAPP2] } }
    denials: 2
    requesters: { users: [UREQ1] }
    emergency: { maxDuration: PT1H, ratifyWithin: PT15M }
`,
  );
  it('reads approval rules, denials, per-profile requesters and emergency, filling the defaults', () => {
    const { policy } = parsePolicy(rules, 'p.yml');
    expect(policy.profiles[0]).toMatchObject({
      approvals: 2,
      rules: [
        { count: 1, from: { users: [], groups: ['SSEC'] }, name: 'security' },
        { count: 1, from: { users: ['UAPP1', 'UAPP2'], groups: [] } },
      ],
      denials: 2,
      requesters: { users: ['UREQ1'], groups: [] },
      maxTotal: 'PT4H',
      emergency: { maxDuration: 'PT1H', ratifyWithin: 'PT15M', perDay: 1, requireTicket: true },
    });
    expect(policy).toMatchObject({ expiryWarning: 'PT10M', reminders: null, escalation: null });
    // A plain number is one rule from the policy's approvers.
    expect(parsePolicy(GOOD, 'p.yml').policy.profiles[0]).toMatchObject({ rules: [{ count: 2, from: null }], denials: 1, requesters: null, emergency: null });
  });
  it('says what approvals may be, and names the line of a bad rule', () => {
    expect(problemsOf(() => parsePolicy(GOOD.replace('    approvals: 2', '    approvals: two'), 'p.yml'))).toEqual([
      'p.yml:11: profiles[0].approvals: approvals is a number (1 to 10) or a list of rules such as - { count: 1, from: { groups: [S0123ABCD] } }',
    ]);
    expect(problemsOf(() => parsePolicy(rules.replace('from: { groups: [SSEC] }', 'from: { groups: [] }'), 'p.yml'))[0]).toMatch(/^p\.yml:12: profiles\[0\]\.approvals\[0\]\.from: name at least one user or group/);
    expect(problemsOf(() => parsePolicy(rules.replace('count: 1, from: { groups', 'count: 9, from: { groups').replace('count: 1, from: { users', 'count: 9, from: { users'), 'p.yml'))).toEqual([
      'p.yml:12: profiles[0].approvals: the rules ask for more than 10 approvals in all',
    ]);
  });
  it('refuses a maxTotal shorter than a duration, and a ratification window as long as the access', () => {
    expect(problemsOf(() => parsePolicy(rules.replace('    denials: 2', '    denials: 2\n    maxTotal: PT1H'), 'p.yml'))[0]).toMatch(/maxTotal PT1H is shorter than the longest duration/);
    expect(problemsOf(() => parsePolicy(rules.replace('ratifyWithin: PT15M', 'ratifyWithin: PT1H'), 'p.yml'))[0]).toMatch(/emergency\.ratifyWithin: ratifyWithin must be shorter than maxDuration/);
  });
  it('reads reason categories, the activity report, the review and custodians, filling the defaults', () => {
    const plain = parsePolicy(GOOD, 'p.yml').policy;
    expect(plain).toMatchObject({ activityReport: { enabled: true, delay: 'PT20M', regions: ['us-east-1'] }, review: null, custodians: [] });
    expect(plain.profiles[0]?.reasons).toBeNull();
    const text = `${GOOD.replace('    requireTicket: false', '    requireTicket: false\n    reasons: [account-lifecycle, billing]')}activityReport: { delay: PT30M, regions: [eu-west-1] }
review: { every: P3M, reviewers: { users: [UAPP1, UAPP2], groups: [SSEC] } }
custodians:
  - { item: root user email inbox, holders: [UAPP1, UAPP2] }
  - { item: MFA device, holders: [UAPP3] }
`;
    const { policy } = parsePolicy(text, 'p.yml');
    expect(policy.profiles[0]?.reasons).toEqual(['account-lifecycle', 'billing']);
    // Global services record in us-east-1: it is always searched.
    expect(policy.activityReport).toEqual({ enabled: true, delay: 'PT30M', regions: ['us-east-1', 'eu-west-1'] });
    expect(policy.review).toEqual({ every: 'P3M', reviewers: { users: ['UAPP1', 'UAPP2'], groups: ['SSEC'] }, approvals: 2 });
    expect(policy.custodians).toEqual([
      { item: 'root user email inbox', holders: ['UAPP1', 'UAPP2'] },
      { item: 'MFA device', holders: ['UAPP3'] },
    ]);
    expect(problemsOf(() => parsePolicy(text.replace('reasons: [account-lifecycle, billing]', 'reasons: [payroll]'), 'p.yml'))[0]).toMatch(/^p\.yml:\d+: profiles\[0\]\.reasons\[0\]: a reason category is one of account-lifecycle, organization-structure/);
    expect(problemsOf(() => parsePolicy(text.replace('every: P3M', 'every: P1W'), 'p.yml'))[0]).toMatch(/review\.every: a review runs every P1M \(monthly\) or P3M \(quarterly\)/);
    expect(problemsOf(() => parsePolicy(text.replace('regions: [eu-west-1]', 'regions: [Ireland]'), 'p.yml'))[0]).toMatch(/activityReport\.regions\[0\]: an AWS Region looks like us-east-1/);
    expect(problemsOf(() => parsePolicy(text.replace('holders: [UAPP3]', 'holders: [bob]'), 'p.yml'))[0]).toMatch(/custodians\[1\]\.holders\[0\]: a Slack user id looks like U0123ABCD/);
  });
});

describe('environment', () => {
  it('defaults to Socket Mode and names every missing Slack setting', () => {
    const problems = problemsOf(() => readEnv({}));
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^SLACK_BOT_TOKEN is not set/);
    expect(problems[1]).toMatch(/^SLACK_APP_TOKEN is not set/);
  });
  it('asks for the signing secret in HTTP mode', () => {
    const problems = problemsOf(() => readEnv({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_SOCKET_MODE: 'false' }));
    expect(problems).toEqual([expect.stringMatching(/^SLACK_SIGNING_SECRET is not set/)]);
  });
  it('reads every documented setting', () => {
    const env = readEnv({
      SLACK_BOT_TOKEN: 'xoxb-1',
      SLACK_SIGNING_SECRET: 's',
      SLACK_SOCKET_MODE: 'false',
      SLACK_API_URL: 'http://127.0.0.1:1/api/',
      PORT: '0',
      BREAKGLASS_POLICY: '/etc/bg.yml',
      BREAKGLASS_TABLE: 'bg',
      BREAKGLASS_SWEEP_SECONDS: '1',
      BREAKGLASS_DRIFT_SECONDS: '60',
      BREAKGLASS_ASSUME_ROLE_ARN: 'arn:aws:iam::111111111111:role/breakglass',
      LOG_LEVEL: 'debug',
    });
    expect(env).toMatchObject({
      slack: { socketMode: false, apiUrl: 'http://127.0.0.1:1/api/', signingSecret: 's' },
      port: 0,
      policyPath: '/etc/bg.yml',
      table: 'bg',
      sweepSeconds: 1,
      driftSeconds: 60,
      assumeRoleArn: 'arn:aws:iam::111111111111:role/breakglass',
      logLevel: 'debug',
    });
  });
  it('names a malformed setting', () => {
    expect(problemsOf(() => readEnv({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1', BREAKGLASS_SWEEP_SECONDS: 'soon' }))).toEqual([
      'BREAKGLASS_SWEEP_SECONDS must be a positive number of seconds (got "soon")',
    ]);
  });
});

describe('the sandbox switch', () => {
  it('opens the sandbox only with no SLACK_* setting at all and outside production', () => {
    expect(wantsSandbox({})).toBe(true);
    expect(wantsSandbox({ NODE_ENV: 'development', BREAKGLASS_POLICY: './p.yml' })).toBe(true);
    expect(wantsSandbox({ NODE_ENV: 'production' })).toBe(false);
    // Half-configured is still configured: strict validation, never the sandbox.
    expect(wantsSandbox({ SLACK_BOT_TOKEN: 'xoxb-1' })).toBe(false);
    expect(wantsSandbox({ SLACK_SOCKET_MODE: '' })).toBe(false);
  });

  it('ships a valid policy whose quorum no single approver can block', () => {
    const { policy } = parsePolicy(SANDBOX_POLICY, 'sandbox.yml');
    expect(policy.profiles).toHaveLength(1);
    expect(policy.profiles[0]).toMatchObject({ id: 'org-admin', approvals: 2, durations: ['PT2M', 'PT5M'] });
    expect(policy.approvers.users).toHaveLength(3);
  });
});
