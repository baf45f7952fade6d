/** Identity Center checks of `breakglass doctor`: the instance, each profile's permission set. */
import {
  DescribePermissionSetCommand,
  GetInlinePolicyForPermissionSetCommand,
  PutInlinePolicyToPermissionSetCommand,
  paginateListAccountsForProvisionedPermissionSet,
  paginateListInstances,
  SSOAdminClient,
  type PermissionSet,
} from '@aws-sdk/client-sso-admin';
import { managementRoleCredentials } from '../../aws/identity-center.ts';
import { humanDuration, parseDuration } from '../../domain/duration.ts';
import { longestDuration, type Policy, type Profile } from '../../domain/policy.ts';
import { describeError, type Report } from './report.ts';

export interface AwsOptions {
  region: string;
  assumeRoleArn: string | null;
}

/** The same client the bot builds (src/aws/identity-center.ts), with fewer retries and a deadline. */
export function doctorSsoClient(o: AwsOptions): SSOAdminClient {
  const credentials = managementRoleCredentials(o.assumeRoleArn, 'breakglass-doctor');
  return new SSOAdminClient({
    region: o.region,
    maxAttempts: 2,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 10_000 },
    ...(credentials ? { credentials } : {}),
  });
}

const NETWORK = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|socket hang up|TimeoutError|timed out/i;

/** Whether an error came without an answer from AWS (network, credentials), so later calls would only repeat it. */
export function unreachable(err: unknown): boolean {
  return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === undefined;
}

/** What to do about an AWS error, given the permission the call needed. */
export function awsFix(err: unknown, o: AwsOptions & { action: string; endpointVar: string }): string {
  const e = err as { name?: string; message?: string; code?: string };
  const text = `${e.name ?? ''} ${e.code ?? ''} ${e.message ?? ''}`;
  const via = o.assumeRoleArn ? `the role ${o.assumeRoleArn}` : "this process's AWS identity";
  if (o.assumeRoleArn && /AssumeRole|sts/i.test(text) && /denied|not authorized|AccessDenied/i.test(text)) {
    return `let this process's AWS identity sts:AssumeRole ${o.assumeRoleArn} (the role's trust policy names the bot's task role; infra/ deploys both)`;
  }
  if (e.name === 'CredentialsProviderError' || /Could not load credentials|credential/i.test(text)) {
    return 'give the process AWS credentials (the task role, AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), as the bot has them';
  }
  if (/Region is missing/i.test(text)) return 'set AWS_REGION to the region of your Identity Center instance';
  if (e.name === 'AccessDeniedException' || /not authorized|AccessDenied/i.test(text)) {
    return `allow ${o.action} to ${via} (infra/ management-role stack grants it)`;
  }
  if (e.name === 'UnrecognizedClientException' || e.name === 'InvalidSignatureException' || /security token/i.test(text)) {
    return 'the AWS credentials are invalid or expired; renew them';
  }
  if (NETWORK.test(text)) {
    return `cannot reach the endpoint: check network access, AWS_REGION (${o.region}) and ${o.endpointVar} if set`;
  }
  return `check ${o.action} with the AWS CLI using the same identity and region (${o.region})`;
}

/** ListInstances: the policy's instance is reachable and its identity store is the policy's. */
export async function checkInstance(sso: SSOAdminClient, policy: Policy, o: AwsOptions, report: Report): Promise<'ok' | 'failed' | 'unreachable'> {
  const { instanceArn, identityStoreId } = policy.identityCenter;
  const what = `Identity Center instance ${instanceArn} is reachable`;
  try {
    const seen: { arn: string; store: string }[] = [];
    for await (const page of paginateListInstances({ client: sso }, {})) {
      for (const i of page.Instances ?? []) seen.push({ arn: i.InstanceArn ?? '', store: i.IdentityStoreId ?? '' });
    }
    const found = seen.find((i) => i.arn === instanceArn);
    if (!found) {
      report.fail(
        `${what}: this AWS identity sees ${seen.length === 0 ? 'no instances' : `only ${seen.map((i) => i.arn).join(', ')}`} in ${o.region}`,
        seen.length === 0
          ? `set AWS_REGION to the instance's region and call from the management account (set BREAKGLASS_ASSUME_ROLE_ARN to the role infra/ deploys there)`
          : `set identityCenter.instanceArn in the policy to one of those, or AWS_REGION/BREAKGLASS_ASSUME_ROLE_ARN to reach the right one`,
      );
      return 'failed';
    }
    if (found.store !== identityStoreId) {
      report.fail(`${what}, but its identity store is ${found.store}, not ${identityStoreId}`, `set identityCenter.identityStoreId: ${found.store} in the policy`);
      return 'failed';
    }
    report.ok(`${what} (identity store ${identityStoreId}${o.assumeRoleArn ? `, via ${o.assumeRoleArn}` : ''})`);
    return 'ok';
  } catch (err) {
    report.fail(`${what}: ${describeError(err)}`, awsFix(err, { ...o, action: 'sso:ListInstances', endpointVar: 'AWS_ENDPOINT_URL_SSO_ADMIN' }));
    return unreachable(err) ? 'unreachable' : 'failed';
  }
}

const ps = (arn: string) => arn.split('/').pop() ?? arn;

/** DescribePermissionSet + ListAccountsForProvisionedPermissionSet per profile; then the session-duration rule. */
export async function checkPermissionSets(sso: SSOAdminClient, policy: Policy, o: AwsOptions, report: Report): Promise<void> {
  const { instanceArn } = policy.identityCenter;
  const described = new Map<string, PermissionSet | Error>();
  const provisioned = new Map<string, Set<string> | Error>();
  const sets = new Map<string, PermissionSet>();

  for (const profile of policy.profiles) {
    const arn = profile.permissionSetArn;
    const what = `profile ${profile.id}: permission set ${ps(arn)}`;
    if (!described.has(arn)) {
      try {
        const out = await sso.send(new DescribePermissionSetCommand({ InstanceArn: instanceArn, PermissionSetArn: arn }));
        described.set(arn, out.PermissionSet ?? {});
      } catch (err) {
        described.set(arn, err as Error);
      }
    }
    const d = described.get(arn);
    if (d instanceof Error) {
      if (d.name === 'ResourceNotFoundException') {
        report.fail(`${what} does not exist in ${instanceArn}`, `create it in IAM Identity Center, or set profiles[${profile.id}].permissionSetArn in the policy to an existing one`);
      } else {
        report.fail(`${what} could not be read: ${describeError(d)}`, awsFix(d, { ...o, action: 'sso:DescribePermissionSet', endpointVar: 'AWS_ENDPOINT_URL_SSO_ADMIN' }));
      }
      continue;
    }
    if (!d) continue;
    sets.set(profile.id, d);
    const name = d.Name ? `${ps(arn)} (${d.Name})` : ps(arn);
    if (!provisioned.has(arn)) {
      try {
        const accounts = new Set<string>();
        for await (const page of paginateListAccountsForProvisionedPermissionSet({ client: sso }, { InstanceArn: instanceArn, PermissionSetArn: arn })) {
          for (const a of page.AccountIds ?? []) accounts.add(a);
        }
        provisioned.set(arn, accounts);
      } catch (err) {
        provisioned.set(arn, err as Error);
      }
    }
    const p = provisioned.get(arn);
    if (p instanceof Error) {
      report.fail(`profile ${profile.id}: permission set ${name} exists, but its accounts could not be listed: ${describeError(p)}`, awsFix(p, { ...o, action: 'sso:ListAccountsForProvisionedPermissionSet', endpointVar: 'AWS_ENDPOINT_URL_SSO_ADMIN' }));
    } else if (!p?.has(profile.accountId)) {
      report.fail(
        `profile ${profile.id}: permission set ${name} exists but is not provisioned to account ${profile.accountId}`,
        `provision it: aws sso-admin provision-permission-set --instance-arn ${instanceArn} --permission-set-arn ${arn} --target-type AWS_ACCOUNT --target-id ${profile.accountId}`,
      );
    } else {
      report.ok(`profile ${profile.id}: permission set ${name} exists and is provisioned to account ${profile.accountId}`);
    }
  }

  for (const profile of policy.profiles) {
    const set = sets.get(profile.id);
    if (set) checkSessionDuration(profile, set, report);
  }
  const checked = new Set<string>();
  for (const profile of policy.profiles) {
    if (!profile.endSessions || !sets.has(profile.id) || checked.has(profile.permissionSetArn)) continue;
    checked.add(profile.permissionSetArn);
    await checkInlinePolicyAccess(sso, instanceArn, profile, o, report);
  }
}

/**
 * Ending sessions edits the permission set's inline policy. Reading it is checked by reading it;
 * writing it without changing anything is checked with a document that passes the request's
 * shape rules but is not a policy: Identity Center answers ValidationException only to a caller
 * IAM let through, AccessDeniedException otherwise, and stores nothing either way.
 */
export async function checkInlinePolicyAccess(sso: SSOAdminClient, instanceArn: string, profile: Profile, o: AwsOptions, report: Report): Promise<void> {
  const what = `profile ${profile.id}: the bot may read and write the inline policy of ${ps(profile.permissionSetArn)} (to end sessions)`;
  const target = { InstanceArn: instanceArn, PermissionSetArn: profile.permissionSetArn };
  try {
    await sso.send(new GetInlinePolicyForPermissionSetCommand(target));
  } catch (err) {
    report.fail(`${what}: reading it failed: ${describeError(err)}`, awsFix(err, { ...o, action: 'sso:GetInlinePolicyForPermissionSet', endpointVar: 'AWS_ENDPOINT_URL_SSO_ADMIN' }));
    return;
  }
  try {
    await sso.send(new PutInlinePolicyToPermissionSetCommand({ ...target, InlinePolicy: '{' }));
    report.warn(`${what}: Identity Center accepted a document that is not a policy, which doctor did not expect`, 'check the permission set\'s inline policy in IAM Identity Center now');
  } catch (err) {
    const e = err as { name?: string };
    if (e.name === 'ValidationException') report.ok(what);
    else if (e.name === 'AccessDeniedException') {
      report.fail(`${what}: writing it is denied`, awsFix(err, { ...o, action: 'sso:PutInlinePolicyToPermissionSet', endpointVar: 'AWS_ENDPOINT_URL_SSO_ADMIN' }));
    } else report.warn(`${what}: could not tell whether it may write it (${describeError(err)})`, 'run doctor again; if it repeats, check sso:PutInlinePolicyToPermissionSet for the bot\'s role');
  }
}

/** AWS allows session durations of 1 to 12 hours. */
const SHORTEST_SESSION = 'PT1H';

/**
 * A session that lasts longer than the longest grant: with endSessions its denial stays in the
 * inline policy that long (a warning); without, revoking does not end it, so access would outlive
 * the time-box (a failure where AWS allows a shorter session).
 */
export function checkSessionDuration(profile: Profile, set: PermissionSet, report: Report): void {
  // AWS's default when a permission set sets none.
  const session = set.SessionDuration ?? SHORTEST_SESSION;
  const longest = longestDuration(profile);
  const sessionMs = parseDuration(session)?.as('milliseconds');
  const longestMs = parseDuration(longest)?.as('milliseconds') ?? 0;
  const what = `profile ${profile.id}: session duration ${session} of permission set ${set.Name ?? ps(profile.permissionSetArn)}`;
  if (sessionMs === undefined) {
    report.warn(`${what} is not an ISO-8601 duration doctor understands`, `make sure it is at most the profile's longest grant, ${longest}`);
    return;
  }
  if (sessionMs <= longestMs) {
    report.ok(`${what} does not outlast the longest grant (${longest})`);
    return;
  }
  const shortestMs = parseDuration(SHORTEST_SESSION)?.as('milliseconds') ?? 3_600_000;
  const target = longestMs >= shortestMs ? longest : SHORTEST_SESSION;
  if (profile.endSessions) {
    report.warn(
      `${what} outlasts the longest grant (${longest})`,
      `revoking ends the grant's sessions, but each denial stays in the permission set's inline policy for ${humanDuration(session)}; shorten the session duration to ${target} to keep the policy small`,
    );
    return;
  }
  if (sessionMs <= shortestMs) {
    // Already as short as AWS allows: nothing to shorten. Say what it means rather than fail forever.
    report.warn(
      `${what} outlasts the longest grant (${longest}), but AWS allows no shorter session`,
      `revoking does not end a session already issued, so access can last up to ${humanDuration(session)} after a grant starts; offer a duration of at least ${SHORTEST_SESSION} or accept that`,
    );
    return;
  }
  report.fail(
    `${what} outlasts the longest grant (${longest}): revoking an assignment does not end sessions already issued, so access would outlive the time-box`,
    `shorten the permission set's session duration to at most ${target} (IAM Identity Center → Permission sets → ${set.Name ?? ps(profile.permissionSetArn)} → Edit)`,
  );
}
