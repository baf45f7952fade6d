/**
 * `breakglass doctor`: checks a deployment before it is needed. Prints a ✓/✗ list to stdout,
 * one line per check with a one-line fix under each ✗ (⚠ marks what is worth knowing but not
 * wrong, – what could not be checked because something it needs failed). Progress goes to
 * stderr. Exit status 0 only when every check passed. Checks are independent where they can be:
 * a Slack failure does not stop the AWS checks. Nothing secret is printed, and nothing is
 * written anywhere except one probe file in an embedded store's directory, removed at once.
 */
import { ConfigError } from '../config/errors.ts';
import { readEnv, type Env } from '../config/env.ts';
import { loadPolicy, type LoadedPolicy } from '../config/policy-file.ts';
import { describeRules, expand, policyGroupIds, quorumProblems, type GroupMembers, type Policy } from '../domain/policy.ts';
import { reviewProblem } from '../domain/review.ts';
import { createLogger, logLevel, scrub } from '../log.ts';
import { awsRegion } from '../bootstrap.ts';
import { checkInstance, checkPermissionSets, doctorSsoClient } from './doctor/aws.ts';
import { manifestScopes, MANIFEST_BOT_SCOPES } from './doctor/manifest.ts';
import { describeError, Report } from './doctor/report.ts';
import { checkChannels, checkGroups, checkScopes, checkToken, doctorWebClient } from './doctor/slack.ts';
import { checkStore } from './doctor/store.ts';

export { Report } from './doctor/report.ts';

function problemsOf(err: unknown): string[] {
  return err instanceof ConfigError ? err.problems : [describeError(err)];
}

/** Quorum per profile: every requester can reach it without any one approver (src/domain/policy.ts). */
export function checkQuorum(policy: Policy, groups: GroupMembers, report: Report): void {
  const problems = quorumProblems(policy, groups);
  const approvers = expand(policy.approvers, groups);
  for (const profile of policy.profiles) {
    const mine = problems.filter((p) => p.profileId === profile.id);
    const simple = profile.rules.length === 1 && !profile.rules[0]?.from;
    if (mine.length === 0) {
      report.ok(`profile ${profile.id}: every requester reaches ${describeRules(profile)} without any one approver${simple ? ` (pool of ${approvers.size})` : ''}`);
      continue;
    }
    if (!simple) {
      for (const p of mine) report.fail(p.message, `add people (users or a user group) to the pool of the rule that cannot be met, or lower its count in profile ${profile.id}`);
      continue;
    }
    const needed = profile.approvals + 1;
    for (const p of mine) {
      const pool = p.requester !== null && approvers.has(p.requester) ? approvers.size - 1 : approvers.size;
      const lower = pool - 1 >= 1 ? ` or lower approvals of profile ${profile.id} to ${pool - 1}` : '';
      const what =
        p.requester === null
          ? `profile ${profile.id}: ${profile.approvals} approvals need at least ${needed} approvers (one spare, so no single person is required); the approver pool has ${approvers.size}`
          : `profile ${profile.id}: requester ${p.requester} reaches ${profile.approvals} approvals only with ${pool} other approvers, so one of them would be required`;
      report.fail(what, `add approvers (${needed - pool} more to approvers.users or an approvers group)${lower}`);
    }
  }
}

export async function runDoctor(env: NodeJS.ProcessEnv, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const log = createLogger(logLevel(env, 'warn'), err);
  const say = (text: string) => err.write(`${scrub(text)}\n`);
  const report = new Report(out);

  /** One stage cannot stop the others: anything it throws becomes a ✗. */
  const stage = async (name: string, run: () => Promise<void> | void): Promise<void> => {
    try {
      await run();
    } catch (e) {
      report.fail(`${name}: doctor could not finish this check (${describeError(e)})`, 'run doctor again with LOG_LEVEL=debug and report the output if it repeats');
    }
  };

  // 1. configuration: the environment, then the policy file
  say('doctor: checking the configuration…');
  let settings: Env | null = null;
  try {
    settings = readEnv(env);
    report.ok('environment settings are valid');
  } catch (e) {
    report.fail('environment settings are valid', problemsOf(e));
    try {
      settings = readEnv(env, { requireSlack: false });
    } catch {
      settings = null;
    }
  }
  const policyPath = settings?.policyPath ?? (env.BREAKGLASS_POLICY?.trim() || './breakglass.yml');
  let loaded: LoadedPolicy | null = null;
  try {
    loaded = loadPolicy(policyPath);
    const n = loaded.policy.profiles.length;
    report.ok(`policy file ${policyPath} is valid (${n} profile${n === 1 ? '' : 's'}, sha256 ${loaded.digest.slice(0, 12)}…)`);
  } catch (e) {
    report.fail(`policy file ${policyPath} is valid`, problemsOf(e));
  }
  const policy = loaded?.policy ?? null;
  const envBroken = 'the environment settings above are not valid';
  const policyBroken = 'the policy file is not valid';

  // 2–5. Slack: token and scopes, channels, user groups, quorum
  // Without user groups in the policy, quorum needs nothing from Slack.
  const policyGroups = policy ? policyGroupIds(policy).length : 0;
  let groups: GroupMembers | null = policy && policyGroups === 0 ? new Map() : null;
  await stage('Slack', async () => {
    const token = settings?.slack.botToken ?? '';
    const skipSlack = (why: string) => {
      report.skip('Slack bot token (SLACK_BOT_TOKEN) works', why);
      report.skip("Slack token has the scopes manifest.yml asks for", why);
      if (policy) report.skip('approvals and audit channels: the bot is a member', why);
      if (policyGroups > 0) report.skip('user groups resolve', why);
    };
    if (!settings) return skipSlack(envBroken);
    if (!token) return skipSlack('SLACK_BOT_TOKEN is not set');
    say(`doctor: checking Slack (${settings.slack.apiUrl ?? 'https://slack.com/api/'})…`);
    const client = doctorWebClient(token, settings.slack.apiUrl, log);
    const identity = await checkToken(client, settings.slack.apiUrl, report);
    if (!identity) {
      report.skip("Slack token has the scopes manifest.yml asks for", 'the token check failed');
      if (policy) report.skip('approvals and audit channels: the bot is a member', 'the token check failed');
    } else {
      let manifest: { scopes: string[]; source: string };
      try {
        manifest = manifestScopes();
      } catch (e) {
        say(`doctor: cannot read manifest.yml (${describeError(e)}); using the built-in scope list`);
        manifest = { scopes: [...MANIFEST_BOT_SCOPES], source: 'the manifest built into breakglass' };
      }
      checkScopes(identity, manifest.scopes, manifest.source, report);
      if (policy) await checkChannels(client, identity, policy, report);
    }
    if (!policy || policyGroups === 0) return;
    if (identity) groups = await checkGroups(client, policy, report);
    else report.skip('user groups resolve', 'the token check failed');
  });
  if (policy) {
    await stage('quorum', () => {
      if (groups) {
        checkQuorum(policy, groups, report);
        const problem = reviewProblem(policy, groups);
        if (problem) report.fail(problem, 'add people (users or a user group) to review.reviewers, or lower review.approvals');
        else if (policy.review) report.ok(`access review: ${policy.review.approvals} distinct reviewers can attest (${policy.review.every})`);
      } else report.skip('quorum: every requester reaches quorum without any one approver', 'the policy\'s user groups could not be resolved');
    });
  } else {
    report.skip('channels, user groups and quorum', policyBroken);
  }

  // 6–8. Identity Center: the instance, each profile's permission set and its session duration
  const region = awsRegion(env);
  await stage('Identity Center', async () => {
    if (!policy || !settings) {
      report.skip('Identity Center and permission sets', !settings ? envBroken : policyBroken);
      return;
    }
    const o = { region, assumeRoleArn: settings.assumeRoleArn };
    say(`doctor: checking Identity Center in ${region}${o.assumeRoleArn ? ` through ${o.assumeRoleArn}` : ''}…`);
    const sso = doctorSsoClient(o);
    try {
      const instance = await checkInstance(sso, policy, o, report);
      if (instance === 'unreachable') {
        for (const p of policy.profiles) report.skip(`profile ${p.id}: permission set, provisioning and session duration`, 'Identity Center could not be asked');
      } else {
        await checkPermissionSets(sso, policy, o, report);
      }
    } finally {
      sso.destroy();
    }
  });

  // 9. the store
  await stage('store', async () => {
    if (!settings) {
      report.skip('the store is reachable', envBroken);
      return;
    }
    say(`doctor: checking the store (${settings.table ? `DynamoDB table ${settings.table}` : `embedded, in ${settings.dataDir}`})…`);
    await checkStore(settings, env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim() || null, report);
  });

  say(report.passed ? `doctor: all ${report.checks} checks passed` : `doctor: ${report.failures} of ${report.checks} checks did not pass`);
  return report.passed ? 0 : 1;
}
