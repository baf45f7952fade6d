import {
  ConflictException,
  CreateAccountAssignmentCommand,
  DeleteAccountAssignmentCommand,
  DescribeAccountAssignmentCreationStatusCommand,
  DescribeAccountAssignmentDeletionStatusCommand,
  DeleteInlinePolicyFromPermissionSetCommand,
  DescribePermissionSetCommand,
  DescribePermissionSetProvisioningStatusCommand,
  GetInlinePolicyForPermissionSetCommand,
  ListAccountAssignmentsCommand,
  ListPermissionSetsProvisionedToAccountCommand,
  ProvisionPermissionSetCommand,
  PutInlinePolicyToPermissionSetCommand,
  SSOAdminClient,
} from '@aws-sdk/client-sso-admin';
import {
  DescribeGroupCommand,
  DescribeUserCommand,
  GetUserIdCommand,
  IdentitystoreClient,
  IsMemberInGroupsCommand,
  ListGroupMembershipsCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-identitystore';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import type { AssignmentTarget } from '../domain/request.ts';
import type { AccessInventoryPort, IdentityCenterPort, IdentityUser, ListedAssignment, OperationStatus } from '../services/ports.ts';
import { backoffMs, PacedRetryStrategy, RateLimiter, sleep } from './pacing.ts';

export interface IdentityCenterOptions {
  region: string;
  identityStoreId: string;
  assumeRoleArn: string | null;
  /** The account's budget of sso-admin calls a second (AWS allows 20), shared by the replicas running (shareBudget). */
  callsPerSecond: number;
}

const CONFLICT_RETRIES = 6;
const SDK_ATTEMPTS = 8;

/** Credentials of the management-account role when one is configured; otherwise the SDK's own chain. */
export function managementRoleCredentials(roleArn: string | null, sessionName: string) {
  return roleArn ? fromTemporaryCredentials({ params: { RoleArn: roleArn, RoleSessionName: sessionName, DurationSeconds: 900 } }) : undefined;
}

/** Identity Center through the AWS SDK (sso-admin and identitystore); tests drive it against a loopback fake. */
export class IdentityCenter implements IdentityCenterPort, AccessInventoryPort {
  private readonly sso: SSOAdminClient;
  private readonly store: IdentitystoreClient;
  private readonly pace: RateLimiter;
  /** Session durations and names change rarely and only by an administrator: read once per permission set per process. */
  private readonly described = new Map<string, { duration: string; name: string }>();
  /** Existence checks by instance, account and permission set: the listing waiting to be sent, the one sent last (see hasAssignment). */
  private readonly checks = new Map<string, { next: Promise<ListedAssignment[]> | null; sent: Promise<ListedAssignment[]> | null }>();

  constructor(private readonly opts: IdentityCenterOptions) {
    const credentials = managementRoleCredentials(opts.assumeRoleArn, 'breakglass');
    // A second's worth of the budget may go at once, which a bucket of AWS's 20 calls a second
    // (as the fake models the quota) takes without a throttle: 20 approvals at once reach
    // CreateAccountAssignment together rather than one every 55 ms.
    this.pace = new RateLimiter(opts.callsPerSecond);
    const common = { region: opts.region, retryStrategy: new PacedRetryStrategy(this.pace, SDK_ATTEMPTS), ...(credentials ? { credentials } : {}) };
    this.sso = new SSOAdminClient(common);
    this.store = new IdentitystoreClient(common);
  }

  /** `replicas` replicas run now: this one paces its calls at its share of the account's budget. */
  shareBudget(replicas: number): void {
    this.pace.setRate(this.opts.callsPerSecond / Math.max(1, replicas));
  }

  async findUserIdByEmail(email: string): Promise<string | null> {
    try {
      const out = await this.store.send(
        new GetUserIdCommand({
          IdentityStoreId: this.opts.identityStoreId,
          AlternateIdentifier: { UniqueAttribute: { AttributePath: 'emails.value', AttributeValue: email } },
        }),
      );
      return out.UserId ?? null;
    } catch (err) {
      if (err instanceof ResourceNotFoundException) return null;
      throw err;
    }
  }

  async findUserByEmail(email: string): Promise<IdentityUser | null> {
    const userId = await this.findUserIdByEmail(email);
    if (!userId) return null;
    const out = await this.store.send(new DescribeUserCommand({ IdentityStoreId: this.opts.identityStoreId, UserId: userId }));
    // GetUserId may match a secondary address; the match must be an email of this user, exactly but for case.
    const matched = (out.Emails ?? []).find((e) => e.Value?.toLowerCase() === email.toLowerCase())?.Value;
    if (!matched) return null;
    return { userId, userName: out.UserName ?? userId, displayName: out.DisplayName ?? null, email: matched, disabled: out.UserStatus === 'DISABLED' };
  }

  /**
   * Asked while a grant or revoke decides what to do next: paced as urgently as the change it leads
   * to. A listing names every principal of the account and permission set, so the checks of one
   * share it, but only those asked before its first page is sent: each answer is then read after
   * its caller asked, as fresh as a listing of its own. One listing of a pair is under way at a
   * time; checks asked meanwhile wait for the next, so 20 grants approved at once need a few.
   */
  async hasAssignment(t: AssignmentTarget): Promise<boolean> {
    const all = await this.sharedListing(t);
    return all.some((a) => a.principalType === 'USER' && a.principalId === t.principalId);
  }

  private sharedListing(t: AssignmentTarget): Promise<ListedAssignment[]> {
    const key = `${t.instanceArn}|${t.accountId}|${t.permissionSetArn}`;
    const pair = this.checks.get(key) ?? { next: null, sent: null };
    this.checks.set(key, pair);
    if (pair.next) return pair.next;
    const before = pair.sent;
    const listing: Promise<ListedAssignment[]> = (async () => {
      await before?.catch(() => undefined);
      return this.list(t.instanceArn, t.accountId, t.permissionSetArn, true, () => {
        pair.next = null;
        pair.sent = listing;
      });
    })();
    pair.next = listing;
    return listing;
  }

  listAssignments(instanceArn: string, accountId: string, permissionSetArn: string): Promise<ListedAssignment[]> {
    return this.list(instanceArn, accountId, permissionSetArn, false, () => undefined);
  }

  /** All pages; `sending` is called once, just before the first page is asked for. */
  private async list(instanceArn: string, accountId: string, permissionSetArn: string, urgent: boolean, sending: () => void): Promise<ListedAssignment[]> {
    const all: ListedAssignment[] = [];
    let token: string | undefined;
    do {
      await this.pace.acquire(urgent);
      if (token === undefined) sending();
      const out = await this.sso.send(new ListAccountAssignmentsCommand({ InstanceArn: instanceArn, AccountId: accountId, PermissionSetArn: permissionSetArn, NextToken: token }));
      for (const a of out.AccountAssignments ?? []) {
        if (a.PrincipalId && (a.PrincipalType === 'USER' || a.PrincipalType === 'GROUP')) all.push({ principalType: a.PrincipalType, principalId: a.PrincipalId });
      }
      token = out.NextToken;
    } while (token);
    return all;
  }

  async startCreation(t: AssignmentTarget): Promise<string> {
    const out = await this.withConflictRetry(() =>
      this.sso.send(
        new CreateAccountAssignmentCommand({
          InstanceArn: t.instanceArn,
          TargetId: t.accountId,
          TargetType: 'AWS_ACCOUNT',
          PermissionSetArn: t.permissionSetArn,
          PrincipalType: 'USER',
          PrincipalId: t.principalId,
        }),
      ),
    );
    const id = out.AccountAssignmentCreationStatus?.RequestId;
    if (!id) throw new Error('CreateAccountAssignment returned no request id');
    return id;
  }

  async creationStatus(instanceArn: string, requestId: string): Promise<OperationStatus> {
    await this.pace.acquire();
    const out = await this.sso.send(
      new DescribeAccountAssignmentCreationStatusCommand({ InstanceArn: instanceArn, AccountAssignmentCreationRequestId: requestId }),
    );
    return toStatus(out.AccountAssignmentCreationStatus);
  }

  async startDeletion(t: AssignmentTarget, principalType: 'USER' | 'GROUP' = 'USER'): Promise<string> {
    const out = await this.withConflictRetry(() =>
      this.sso.send(
        new DeleteAccountAssignmentCommand({
          InstanceArn: t.instanceArn,
          TargetId: t.accountId,
          TargetType: 'AWS_ACCOUNT',
          PermissionSetArn: t.permissionSetArn,
          PrincipalType: principalType,
          PrincipalId: t.principalId,
        }),
      ),
    );
    const id = out.AccountAssignmentDeletionStatus?.RequestId;
    if (!id) throw new Error('DeleteAccountAssignment returned no request id');
    return id;
  }

  async deletionStatus(instanceArn: string, requestId: string): Promise<OperationStatus> {
    await this.pace.acquire();
    const out = await this.sso.send(
      new DescribeAccountAssignmentDeletionStatusCommand({ InstanceArn: instanceArn, AccountAssignmentDeletionRequestId: requestId }),
    );
    return toStatus(out.AccountAssignmentDeletionStatus);
  }

  /** Another operation on the same assignment is in flight: wait for it rather than fail. */
  private async withConflictRetry<T>(call: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      // Changes are what grants and revokes wait on: served before status polls and listings.
      await this.pace.acquire(true);
      try {
        return await call();
      } catch (err) {
        if (!(err instanceof ConflictException) || attempt >= CONFLICT_RETRIES) throw err;
        await sleep(backoffMs(attempt, 250, 5000));
      }
    }
  }

  async inlinePolicy(instanceArn: string, permissionSetArn: string): Promise<string> {
    await this.pace.acquire();
    const out = await this.sso.send(new GetInlinePolicyForPermissionSetCommand({ InstanceArn: instanceArn, PermissionSetArn: permissionSetArn }));
    return out.InlinePolicy ?? '';
  }

  async putInlinePolicy(instanceArn: string, permissionSetArn: string, document: string | null): Promise<void> {
    const target = { InstanceArn: instanceArn, PermissionSetArn: permissionSetArn };
    if (document === null) await this.withConflictRetry(() => this.sso.send(new DeleteInlinePolicyFromPermissionSetCommand(target)));
    else await this.withConflictRetry(() => this.sso.send(new PutInlinePolicyToPermissionSetCommand({ ...target, InlinePolicy: document })));
  }

  async provision(instanceArn: string, permissionSetArn: string, accountId: string): Promise<string> {
    const out = await this.withConflictRetry(() =>
      this.sso.send(new ProvisionPermissionSetCommand({ InstanceArn: instanceArn, PermissionSetArn: permissionSetArn, TargetType: 'AWS_ACCOUNT', TargetId: accountId })),
    );
    const id = out.PermissionSetProvisioningStatus?.RequestId;
    if (!id) throw new Error('ProvisionPermissionSet returned no request id');
    return id;
  }

  async provisioningStatus(instanceArn: string, requestId: string): Promise<OperationStatus> {
    await this.pace.acquire();
    const out = await this.sso.send(new DescribePermissionSetProvisioningStatusCommand({ InstanceArn: instanceArn, ProvisionPermissionSetRequestId: requestId }));
    return toStatus(out.PermissionSetProvisioningStatus);
  }

  async sessionDuration(instanceArn: string, permissionSetArn: string): Promise<string> {
    return (await this.describe(instanceArn, permissionSetArn)).duration;
  }

  async permissionSetName(instanceArn: string, permissionSetArn: string): Promise<string> {
    return (await this.describe(instanceArn, permissionSetArn)).name;
  }

  private async describe(instanceArn: string, permissionSetArn: string): Promise<{ duration: string; name: string }> {
    const known = this.described.get(permissionSetArn);
    if (known) return known;
    await this.pace.acquire();
    const out = await this.sso.send(new DescribePermissionSetCommand({ InstanceArn: instanceArn, PermissionSetArn: permissionSetArn }));
    // Identity Center's default when a permission set names none.
    const found = { duration: out.PermissionSet?.SessionDuration ?? 'PT1H', name: out.PermissionSet?.Name ?? '' };
    if (!found.name) throw new Error(`Identity Center returned no name for permission set ${permissionSetArn}`);
    this.described.set(permissionSetArn, found);
    return found;
  }

  async memberOfAny(userId: string, groupIds: string[]): Promise<boolean> {
    if (groupIds.length === 0) return false;
    // IsMemberInGroups takes at most 100 groups a call.
    for (let i = 0; i < groupIds.length; i += 100) {
      const out = await this.store.send(
        new IsMemberInGroupsCommand({ IdentityStoreId: this.opts.identityStoreId, MemberId: { UserId: userId }, GroupIds: groupIds.slice(i, i + 100) }),
      );
      if ((out.Results ?? []).some((r) => r.MembershipExists)) return true;
    }
    return false;
  }

  async permissionSetsOn(instanceArn: string, accountId: string): Promise<string[]> {
    const all: string[] = [];
    let token: string | undefined;
    do {
      await this.pace.acquire();
      const out = await this.sso.send(new ListPermissionSetsProvisionedToAccountCommand({ InstanceArn: instanceArn, AccountId: accountId, NextToken: token }));
      all.push(...(out.PermissionSets ?? []));
      token = out.NextToken;
    } while (token);
    return all;
  }

  async groupName(groupId: string): Promise<string> {
    try {
      await this.pace.acquire();
      const out = await this.store.send(new DescribeGroupCommand({ IdentityStoreId: this.opts.identityStoreId, GroupId: groupId }));
      return out.DisplayName ?? groupId;
    } catch (err) {
      if (err instanceof ResourceNotFoundException) return groupId;
      throw err;
    }
  }

  async groupMembers(groupId: string): Promise<string[]> {
    const all: string[] = [];
    let token: string | undefined;
    do {
      await this.pace.acquire();
      const out = await this.store.send(new ListGroupMembershipsCommand({ IdentityStoreId: this.opts.identityStoreId, GroupId: groupId, NextToken: token }));
      for (const m of out.GroupMemberships ?? []) if (m.MemberId && 'UserId' in m.MemberId && m.MemberId.UserId) all.push(m.MemberId.UserId);
      token = out.NextToken;
    } while (token);
    return all;
  }

  async userName(userId: string): Promise<string> {
    try {
      await this.pace.acquire();
      const out = await this.store.send(new DescribeUserCommand({ IdentityStoreId: this.opts.identityStoreId, UserId: userId }));
      return out.UserName ?? userId;
    } catch (err) {
      if (err instanceof ResourceNotFoundException) return userId;
      throw err;
    }
  }

  destroy(): void {
    this.sso.destroy();
    this.store.destroy();
  }
}

function toStatus(s: { Status?: string; FailureReason?: string } | undefined): OperationStatus {
  const state = s?.Status === 'SUCCEEDED' || s?.Status === 'FAILED' ? s.Status : 'IN_PROGRESS';
  return { state, failureReason: s?.FailureReason ?? null };
}
