import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.ts';
import { readEnv } from '../../src/config/env.ts';
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
