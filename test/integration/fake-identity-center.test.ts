/**
 * Drives the fake Identity Center with the real AWS SDK v3 clients, so what the bot relies on
 * (async status, typed errors, throttling, pagination) is proven over the actual protocol.
 */
import {
  ConflictException,
  CreateAccountAssignmentCommand,
  DeleteAccountAssignmentCommand,
  DeleteInlinePolicyFromPermissionSetCommand,
  DescribeAccountAssignmentCreationStatusCommand,
  DescribeAccountAssignmentDeletionStatusCommand,
  DescribePermissionSetCommand,
  DescribePermissionSetProvisioningStatusCommand,
  GetInlinePolicyForPermissionSetCommand,
  InternalServerException,
  ListAccountAssignmentCreationStatusCommand,
  ListAccountAssignmentsCommand,
  ListAccountsForProvisionedPermissionSetCommand,
  ListInstancesCommand,
  ListPermissionSetProvisioningStatusCommand,
  ListPermissionSetsCommand,
  ProvisionPermissionSetCommand,
  PutInlinePolicyToPermissionSetCommand,
  ResourceNotFoundException,
  SSOAdminClient,
  ThrottlingException,
  ValidationException,
  paginateListAccountAssignments,
  type AccountAssignmentOperationStatus,
  type CreateAccountAssignmentCommandInput,
  type ProvisionPermissionSetCommandInput,
} from '@aws-sdk/client-sso-admin';
import {
  DescribeGroupCommand,
  DescribeUserCommand,
  GetUserIdCommand,
  IdentitystoreClient,
  paginateListGroupMemberships,
  ResourceNotFoundException as IdentityStoreNotFound,
} from '@aws-sdk/client-identitystore';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PacedRetryStrategy, RateLimiter } from '../../src/aws/pacing.ts';
import { IdentityCenter } from '../../src/aws/identity-center.ts';
import { FakeIdentityCenter, type FakeIdentityCenterOptions } from '../support/fake-identity-center.ts';

const INSTANCE_ARN = 'arn:aws:sso:::instance/ssoins-0123456789abcdef';
const IDENTITY_STORE_ID = 'd-0123456789';
const PS_ADMIN = 'arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef';
const PS_READ = 'arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-fedcba9876543210';
const ACCOUNT = '111111111111';
const ALICE = '9067000000-11111111-2222-3333-4444-555555555555';
const BOB = '9067000000-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
const GHOST = '9067000000-99999999-9999-9999-9999-999999999999';

const fakes: FakeIdentityCenter[] = [];

async function startFake(overrides: Partial<FakeIdentityCenterOptions> = {}): Promise<FakeIdentityCenter> {
  const fake = await FakeIdentityCenter.start({
    instanceArn: INSTANCE_ARN,
    identityStoreId: IDENTITY_STORE_ID,
    users: [
      { userId: ALICE, userName: 'alice', email: 'Alice@Example.com', displayName: 'Alice A.' },
      { userId: BOB, userName: 'bob', email: 'bob@example.com' },
    ],
    permissionSets: [
      { arn: PS_ADMIN, name: 'OrgAdmin', sessionDuration: 'PT2H' },
      { arn: PS_READ, name: 'ReadOnly', provisionedTo: ['222222222222'] },
    ],
    statusDelayMs: 60,
    // Most tests poll quickly; only the throttling tests keep the real 20 TPS.
    requestsPerSecond: 1000,
    ...overrides,
  });
  fakes.push(fake);
  return fake;
}

afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

const clientConfig = (fake: FakeIdentityCenter, maxAttempts?: number) => ({
  endpoint: fake.url,
  region: 'us-east-1',
  credentials: { accessKeyId: 'AKIAFAKEFAKEFAKEFAKE', secretAccessKey: 'fake-secret' },
  ...(maxAttempts ? { maxAttempts } : {}),
});

const ssoAdmin = (fake: FakeIdentityCenter, maxAttempts?: number) => new SSOAdminClient(clientConfig(fake, maxAttempts));
const identityStore = (fake: FakeIdentityCenter) => new IdentitystoreClient(clientConfig(fake));

const assignment = (over: Partial<CreateAccountAssignmentCommandInput> = {}): CreateAccountAssignmentCommandInput => ({
  InstanceArn: INSTANCE_ARN,
  TargetId: ACCOUNT,
  TargetType: 'AWS_ACCOUNT',
  PermissionSetArn: PS_ADMIN,
  PrincipalType: 'USER',
  PrincipalId: ALICE,
  ...over,
});

/** Catches the rejection so its typed shape can be asserted. */
async function failure(p: Promise<unknown>): Promise<Error & { $metadata: { httpStatusCode?: number } }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { $metadata: { httpStatusCode?: number } };
  }
  throw new Error('expected the call to fail');
}

async function waitFor(
  poll: () => Promise<AccountAssignmentOperationStatus | undefined>,
): Promise<AccountAssignmentOperationStatus> {
  for (let i = 0; i < 200; i++) {
    const status = await poll();
    if (status?.Status !== 'IN_PROGRESS') {
      if (!status) throw new Error('no status returned');
      return status;
    }
    await new Promise((r) => setTimeout(r, 15));
  }
  throw new Error('operation never left IN_PROGRESS');
}

const creation = (client: SSOAdminClient, requestId: string | undefined) =>
  waitFor(async () =>
    (
      await client.send(
        new DescribeAccountAssignmentCreationStatusCommand({
          InstanceArn: INSTANCE_ARN,
          AccountAssignmentCreationRequestId: requestId,
        }),
      )
    ).AccountAssignmentCreationStatus,
  );

const deletion = (client: SSOAdminClient, requestId: string | undefined) =>
  waitFor(async () =>
    (
      await client.send(
        new DescribeAccountAssignmentDeletionStatusCommand({
          InstanceArn: INSTANCE_ARN,
          AccountAssignmentDeletionRequestId: requestId,
        }),
      )
    ).AccountAssignmentDeletionStatus,
  );

const listPrincipals = async (client: SSOAdminClient, accountId = ACCOUNT, ps = PS_ADMIN) =>
  (
    await client.send(
      new ListAccountAssignmentsCommand({ InstanceArn: INSTANCE_ARN, AccountId: accountId, PermissionSetArn: ps }),
    )
  ).AccountAssignments?.map((a) => a.PrincipalId) ?? [];

describe('FakeIdentityCenter with the real SDK clients', () => {
  it('describes the instance and permission sets with typed timestamps and request ids', async () => {
    const fake = await startFake();
    const client = ssoAdmin(fake);

    const instances = await client.send(new ListInstancesCommand({}));
    expect(instances.Instances).toEqual([
      expect.objectContaining({ InstanceArn: INSTANCE_ARN, IdentityStoreId: IDENTITY_STORE_ID, Status: 'ACTIVE' }),
    ]);
    expect(instances.Instances?.[0]?.CreatedDate).toBeInstanceOf(Date);
    expect(instances.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);

    const sets = await client.send(new ListPermissionSetsCommand({ InstanceArn: INSTANCE_ARN }));
    expect(sets.PermissionSets).toEqual([PS_ADMIN, PS_READ]);

    const ps = await client.send(new DescribePermissionSetCommand({ InstanceArn: INSTANCE_ARN, PermissionSetArn: PS_READ }));
    expect(ps.PermissionSet).toMatchObject({ Name: 'ReadOnly', SessionDuration: 'PT1H', PermissionSetArn: PS_READ });
    expect(ps.PermissionSet?.CreatedDate).toBeInstanceOf(Date);
  });

  it('creates asynchronously: IN_PROGRESS first, listed only once SUCCEEDED', async () => {
    const fake = await startFake();
    const client = ssoAdmin(fake);

    const created = await client.send(new CreateAccountAssignmentCommand(assignment()));
    const status = created.AccountAssignmentCreationStatus;
    expect(status).toMatchObject({
      Status: 'IN_PROGRESS',
      TargetId: ACCOUNT,
      TargetType: 'AWS_ACCOUNT',
      PermissionSetArn: PS_ADMIN,
      PrincipalType: 'USER',
      PrincipalId: ALICE,
    });
    expect(status?.RequestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(status?.CreatedDate).toBeInstanceOf(Date);

    // Not visible while in progress.
    expect(await listPrincipals(client)).toEqual([]);
    expect(fake.assignments()).toEqual([]);
    expect(fake.outstandingCreations()).toBe(1);

    const done = await creation(client, status?.RequestId);
    expect(done.Status).toBe('SUCCEEDED');
    expect(await listPrincipals(client)).toEqual([ALICE]);
    expect(fake.assignments()).toEqual([
      { accountId: ACCOUNT, permissionSetArn: PS_ADMIN, principalType: 'USER', principalId: ALICE },
    ]);
    expect(fake.outstandingCreations()).toBe(0);

    const provisioned = await client.send(
      new ListAccountsForProvisionedPermissionSetCommand({ InstanceArn: INSTANCE_ARN, PermissionSetArn: PS_ADMIN }),
    );
    expect(provisioned.AccountIds).toEqual([ACCOUNT]);

    const statuses = await client.send(new ListAccountAssignmentCreationStatusCommand({ InstanceArn: INSTANCE_ARN }));
    expect(statuses.AccountAssignmentsCreationStatus).toEqual([
      expect.objectContaining({ RequestId: status?.RequestId, Status: 'SUCCEEDED' }),
    ]);
    expect(fake.callsTo('CreateAccountAssignment')).toEqual([
      expect.objectContaining({ service: 'sso-admin', status: 200, input: expect.objectContaining({ PrincipalId: ALICE }) }),
    ]);
  });

  it('deletes asynchronously and the assignment disappears only after SUCCEEDED', async () => {
    const fake = await startFake();
    const client = ssoAdmin(fake);
    fake.addAssignment({ accountId: ACCOUNT, permissionSetArn: PS_ADMIN, principalId: ALICE });
    expect(await listPrincipals(client)).toEqual([ALICE]);

    const deleted = await client.send(new DeleteAccountAssignmentCommand(assignment()));
    expect(deleted.AccountAssignmentDeletionStatus?.Status).toBe('IN_PROGRESS');
    expect(await listPrincipals(client)).toEqual([ALICE]);

    const done = await deletion(client, deleted.AccountAssignmentDeletionStatus?.RequestId);
    expect(done.Status).toBe('SUCCEEDED');
    expect(await listPrincipals(client)).toEqual([]);
    expect(fake.assignments()).toEqual([]);
  });

  it('re-creating an existing assignment succeeds once; deleting a missing one succeeds', async () => {
    const fake = await startFake();
    const client = ssoAdmin(fake);
    fake.addAssignment({ accountId: ACCOUNT, permissionSetArn: PS_ADMIN, principalId: ALICE });

    const again = await client.send(new CreateAccountAssignmentCommand(assignment()));
    expect((await creation(client, again.AccountAssignmentCreationStatus?.RequestId)).Status).toBe('SUCCEEDED');
    expect(fake.assignments()).toHaveLength(1);

    const missing = await client.send(new DeleteAccountAssignmentCommand(assignment({ PrincipalId: BOB })));
    expect((await deletion(client, missing.AccountAssignmentDeletionStatus?.RequestId)).Status).toBe('SUCCEEDED');
    expect(await listPrincipals(client)).toEqual([ALICE]);
  });

  it('ends FAILED with a FailureReason via failNextCreations/failNextDeletions and for unknown principals', async () => {
    const fake = await startFake();
    const client = ssoAdmin(fake);

    fake.failNextCreations(1, 'Received a 403 status error: Access denied by IAM.');
    const first = await client.send(new CreateAccountAssignmentCommand(assignment()));
    const failed = await creation(client, first.AccountAssignmentCreationStatus?.RequestId);
    expect(failed).toMatchObject({ Status: 'FAILED', FailureReason: 'Received a 403 status error: Access denied by IAM.' });
    expect(await listPrincipals(client)).toEqual([]);

    // Only the next one failed: a retry succeeds.
    const retry = await client.send(new CreateAccountAssignmentCommand(assignment()));
    expect((await creation(client, retry.AccountAssignmentCreationStatus?.RequestId)).Status).toBe('SUCCEEDED');

    const ghost = await client.send(new CreateAccountAssignmentCommand(assignment({ PrincipalId: GHOST })));
    const ghostStatus = await creation(client, ghost.AccountAssignmentCreationStatus?.RequestId);
    expect(ghostStatus.Status).toBe('FAILED');
    expect(ghostStatus.FailureReason).toBe(
      `Received a 404 status error: the USER assignee ${GHOST} was not found in directory ${IDENTITY_STORE_ID}`,
    );

    fake.failNextDeletions(1);
    const del = await client.send(new DeleteAccountAssignmentCommand(assignment()));
    const delStatus = await deletion(client, del.AccountAssignmentDeletionStatus?.RequestId);
    expect(delStatus.Status).toBe('FAILED');
    expect(delStatus.FailureReason).toMatch(/Access denied by IAM/);
    expect(await listPrincipals(client)).toEqual([ALICE]);
  });

  it('parses error shapes into the SDK typed exceptions', async () => {
    const fake = await startFake();
    const client = ssoAdmin(fake, 1);

    const wrongInstance = await failure(
      client.send(
        new CreateAccountAssignmentCommand(assignment({ InstanceArn: 'arn:aws:sso:::instance/ssoins-aaaaaaaaaaaaaaaa' })),
      ),
    );
    expect(wrongInstance).toBeInstanceOf(ResourceNotFoundException);
    expect(wrongInstance.name).toBe('ResourceNotFoundException');
    expect(wrongInstance.$metadata.httpStatusCode).toBe(400);

    const unknownPs = await failure(
      client.send(
        new CreateAccountAssignmentCommand(
          assignment({ PermissionSetArn: 'arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0000000000000000' }),
        ),
      ),
    );
    expect(unknownPs).toBeInstanceOf(ResourceNotFoundException);

    const badTarget = await failure(
      client.send(
        new CreateAccountAssignmentCommand(
          assignment({ TargetType: 'AWS_OU' as CreateAccountAssignmentCommandInput['TargetType'] }),
        ),
      ),
    );
    expect(badTarget).toBeInstanceOf(ValidationException);
    expect(badTarget.message).toMatch(/'targetType' failed to satisfy constraint: Member must satisfy enum value set/);

    const missing = await failure(client.send(new CreateAccountAssignmentCommand(assignment({ PrincipalId: undefined }))));
    expect(missing).toBeInstanceOf(ValidationException);
    expect(missing.message).toBe(
      "1 validation error detected: Value null at 'principalId' failed to satisfy constraint: Member must not be null",
    );

    const badAccount = await failure(client.send(new CreateAccountAssignmentCommand(assignment({ TargetId: '1234' }))));
    expect(badAccount).toBeInstanceOf(ValidationException);

    const unknownRequest = await failure(
      client.send(
        new DescribeAccountAssignmentCreationStatusCommand({
          InstanceArn: INSTANCE_ARN,
          AccountAssignmentCreationRequestId: '00000000-0000-4000-8000-000000000000',
        }),
      ),
    );
    expect(unknownRequest).toBeInstanceOf(ResourceNotFoundException);

    expect(fake.callsTo('CreateAccountAssignment').map((c) => c.errorType)).toEqual([
      'ResourceNotFoundException',
      'ResourceNotFoundException',
      'ValidationException',
      'ValidationException',
      'ValidationException',
    ]);
    expect(fake.assignments()).toEqual([]);
  });

  it('rejects a create or delete while the same assignment has an operation IN_PROGRESS', async () => {
    const fake = await startFake({ statusDelayMs: 150 });
    const client = ssoAdmin(fake, 1);

    const created = await client.send(new CreateAccountAssignmentCommand(assignment()));
    const dup = await failure(client.send(new CreateAccountAssignmentCommand(assignment())));
    expect(dup).toBeInstanceOf(ConflictException);
    expect(dup.$metadata.httpStatusCode).toBe(400);
    const del = await failure(client.send(new DeleteAccountAssignmentCommand(assignment())));
    expect(del.name).toBe('ConflictException');

    // A different principal is not in conflict.
    const bob = await client.send(new CreateAccountAssignmentCommand(assignment({ PrincipalId: BOB })));
    expect(bob.AccountAssignmentCreationStatus?.Status).toBe('IN_PROGRESS');

    await creation(client, created.AccountAssignmentCreationStatus?.RequestId);
    const later = await client.send(new DeleteAccountAssignmentCommand(assignment()));
    expect(later.AccountAssignmentDeletionStatus?.Status).toBe('IN_PROGRESS');
  });

  it('throttles sso-admin past 20 rapid calls with ThrottlingException (HTTP 400)', async () => {
    // A frozen clock makes the burst exact: no token refills while it runs.
    let clock = Date.now();
    const fake = await startFake({ requestsPerSecond: 20, now: () => clock });
    const client = ssoAdmin(fake, 1);

    const results = await Promise.allSettled(
      Array.from({ length: 30 }, () => client.send(new ListInstancesCommand({}))),
    );
    const ok = results.filter((r) => r.status === 'fulfilled');
    const throttled = results
      .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      .map((r) => r.reason as ThrottlingException);
    expect(ok).toHaveLength(20);
    expect(throttled).toHaveLength(10);
    for (const err of throttled) {
      expect(err).toBeInstanceOf(ThrottlingException);
      expect(err.name).toBe('ThrottlingException');
      expect(err.$metadata.httpStatusCode).toBe(400);
      expect(err.message).toBe('Rate exceeded');
    }
    expect(fake.callsTo('ListInstances').filter((c) => c.errorType === 'ThrottlingException')).toHaveLength(
      throttled.length,
    );

    // The identity store has its own bucket, so it is unaffected.
    const ids = await identityStore(fake).send(
      new GetUserIdCommand({
        IdentityStoreId: IDENTITY_STORE_ID,
        AlternateIdentifier: { UniqueAttribute: { AttributePath: 'userName', AttributeValue: 'bob' } },
      }),
    );
    expect(ids.UserId).toBe(BOB);

    // Tokens come back as time passes: 20 per second.
    clock += 100;
    await expect(client.send(new ListInstancesCommand({}))).resolves.toBeDefined();
    await expect(client.send(new ListInstancesCommand({}))).resolves.toBeDefined();
    expect((await failure(client.send(new ListInstancesCommand({})))).name).toBe('ThrottlingException');
  });

  it('caps outstanding creations at 15 and does not count rejected ones', async () => {
    let clock = Date.now();
    const fake = await startFake({ statusDelayMs: 400, now: () => clock });
    const client = ssoAdmin(fake, 1);
    const accounts = Array.from({ length: 16 }, (_, i) => String(300000000000 + i));

    const accepted = [];
    for (const acct of accounts.slice(0, 15)) {
      accepted.push(await client.send(new CreateAccountAssignmentCommand(assignment({ TargetId: acct }))));
    }
    expect(fake.outstandingCreations()).toBe(15);

    const rejected = await failure(
      client.send(new CreateAccountAssignmentCommand(assignment({ TargetId: accounts[15] }))),
    );
    expect(rejected).toBeInstanceOf(ThrottlingException);
    expect(rejected.$metadata.httpStatusCode).toBe(400);
    expect(rejected.message).toBe('There are too many requests processing. Please try again later.');
    expect(fake.outstandingCreations()).toBe(15);
    expect(fake.maxOutstandingCreationsSeen).toBe(15);

    // Deletions are not subject to the creation cap.
    const del = await client.send(new DeleteAccountAssignmentCommand(assignment({ PrincipalId: BOB })));
    expect(del.AccountAssignmentDeletionStatus?.Status).toBe('IN_PROGRESS');

    clock += 400;
    expect(fake.outstandingCreations()).toBe(0);
    expect(fake.assignments()).toHaveLength(15);
    const first = await creation(client, accepted[0]?.AccountAssignmentCreationStatus?.RequestId);
    expect(first.Status).toBe('SUCCEEDED');
    const after = await client.send(new CreateAccountAssignmentCommand(assignment({ TargetId: accounts[15] })));
    expect(after.AccountAssignmentCreationStatus?.Status).toBe('IN_PROGRESS');
    expect(fake.maxOutstandingCreationsSeen).toBe(15);
  });

  it('resolves users by email (case-insensitively) and user name, and reports unknown users', async () => {
    const fake = await startFake();
    const client = identityStore(fake);

    const byEmail = await client.send(
      new GetUserIdCommand({
        IdentityStoreId: IDENTITY_STORE_ID,
        AlternateIdentifier: { UniqueAttribute: { AttributePath: 'emails.value', AttributeValue: 'alice@example.com' } },
      }),
    );
    expect(byEmail).toMatchObject({ IdentityStoreId: IDENTITY_STORE_ID, UserId: ALICE });

    const user = await client.send(new DescribeUserCommand({ IdentityStoreId: IDENTITY_STORE_ID, UserId: ALICE }));
    expect(user).toMatchObject({ UserName: 'alice', DisplayName: 'Alice A.', Emails: [{ Value: 'Alice@Example.com', Primary: true }] });

    const nobody = await failure(
      client.send(
        new GetUserIdCommand({
          IdentityStoreId: IDENTITY_STORE_ID,
          AlternateIdentifier: { UniqueAttribute: { AttributePath: 'emails.value', AttributeValue: 'nobody@example.com' } },
        }),
      ),
    );
    expect(nobody).toBeInstanceOf(IdentityStoreNotFound);
    expect((nobody as IdentityStoreNotFound).ResourceType).toBe('USER');
    expect(nobody.$metadata.httpStatusCode).toBe(400);

    fake.addUser({ userId: GHOST, userName: 'casper', email: 'casper@example.com' });
    const added = await client.send(
      new GetUserIdCommand({
        IdentityStoreId: IDENTITY_STORE_ID,
        AlternateIdentifier: { UniqueAttribute: { AttributePath: 'emails.value', AttributeValue: 'casper@example.com' } },
      }),
    );
    expect(added.UserId).toBe(GHOST);
    expect(fake.callsTo('GetUserId').map((c) => [c.service, c.status])).toEqual([
      ['identitystore', 200],
      ['identitystore', 400],
      ['identitystore', 200],
    ]);
  });

  it('paginates ListAccountAssignments with MaxResults/NextToken', async () => {
    const fake = await startFake();
    const client = ssoAdmin(fake);
    const principals = Array.from({ length: 5 }, (_, i) => `9067000000-0000000${i}-0000-0000-0000-000000000000`);
    for (const p of principals) fake.addAssignment({ accountId: ACCOUNT, permissionSetArn: PS_ADMIN, principalId: p });
    fake.addAssignment({ accountId: ACCOUNT, permissionSetArn: PS_READ, principalId: ALICE });

    const first = await client.send(
      new ListAccountAssignmentsCommand({ InstanceArn: INSTANCE_ARN, AccountId: ACCOUNT, PermissionSetArn: PS_ADMIN, MaxResults: 2 }),
    );
    expect(first.AccountAssignments?.map((a) => a.PrincipalId)).toEqual(principals.slice(0, 2));
    expect(first.NextToken).toBeTruthy();

    const seen: string[] = [];
    const pages = paginateListAccountAssignments(
      { client, pageSize: 2 },
      { InstanceArn: INSTANCE_ARN, AccountId: ACCOUNT, PermissionSetArn: PS_ADMIN },
    );
    let pageCount = 0;
    for await (const page of pages) {
      pageCount++;
      for (const a of page.AccountAssignments ?? []) seen.push(a.PrincipalId ?? '');
    }
    expect(pageCount).toBe(3);
    expect(seen).toEqual(principals);

    const bad = await failure(
      client.send(
        new ListAccountAssignmentsCommand({
          InstanceArn: INSTANCE_ARN,
          AccountId: ACCOUNT,
          PermissionSetArn: PS_ADMIN,
          NextToken: 'not-a-token',
        }),
      ),
    );
    expect(bad).toBeInstanceOf(ValidationException);

    fake.removeAssignment({ accountId: ACCOUNT, permissionSetArn: PS_ADMIN, principalId: principals[0] ?? '' });
    expect(await listPrincipals(client)).toEqual(principals.slice(1));
  });

  it('injects seeded faults before processing, without touching state', async () => {
    const fake = await startFake();
    const client = ssoAdmin(fake, 1);

    fake.setFaults({ serverErrorRate: 1, operations: ['CreateAccountAssignment'] });
    const err = await failure(client.send(new CreateAccountAssignmentCommand(assignment())));
    expect(err).toBeInstanceOf(InternalServerException);
    expect(err.$metadata.httpStatusCode).toBe(500);
    expect(fake.outstandingCreations()).toBe(0);
    // Other operations are not affected.
    await expect(client.send(new ListInstancesCommand({}))).resolves.toBeDefined();

    fake.setFaults({ throttleRate: 1, latencyMs: 40 });
    const started = Date.now();
    const throttled = await failure(client.send(new ListInstancesCommand({})));
    expect(Date.now() - started).toBeGreaterThanOrEqual(35);
    expect(throttled.name).toBe('ThrottlingException');

    fake.setFaults(null);
    await expect(client.send(new ListInstancesCommand({}))).resolves.toBeDefined();
    expect(fake.calls.map((c) => [c.operation, c.status, c.errorType])).toEqual([
      ['CreateAccountAssignment', 500, 'InternalServerException'],
      ['ListInstances', 200, undefined],
      ['ListInstances', 400, 'ThrottlingException'],
      ['ListInstances', 200, undefined],
    ]);

    // The same seed replays the same faults.
    const outcomes = async (seed: number) => {
      const f = await startFake({ seed });
      f.setFaults({ throttleRate: 0.5 });
      const c = ssoAdmin(f, 1);
      for (let i = 0; i < 12; i++) await c.send(new ListInstancesCommand({})).catch(() => undefined);
      return f.calls.map((call) => call.status);
    };
    const a = await outcomes(42);
    expect(await outcomes(42)).toEqual(a);
    expect(a).toContain(400);
    expect(a).toContain(200);
  });

  it('answers unsigned requests and unknown operations as AWS does', async () => {
    const fake = await startFake();
    const headers = {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'SWBExternalService.ListInstances',
    };

    const unsigned = await fetch(fake.url, { method: 'POST', headers, body: '{}' });
    expect(unsigned.status).toBe(403);
    expect(await unsigned.json()).toMatchObject({ __type: 'MissingAuthenticationTokenException' });
    expect(unsigned.headers.get('x-amzn-requestid')).toBeTruthy();

    const signed = {
      ...headers,
      'x-amz-date': '20250101T000000Z',
      authorization:
        'AWS4-HMAC-SHA256 Credential=AKIAFAKE/20250101/us-east-1/sso/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=' +
        '0'.repeat(64),
    };
    const unknown = await fetch(fake.url, {
      method: 'POST',
      headers: { ...signed, 'x-amz-target': 'SWBExternalService.DoSomethingElse' },
      body: '{}',
    });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ __type: 'UnknownOperationException' });

    const ok = await fetch(fake.url, { method: 'POST', headers: signed, body: '{}' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('application/x-amz-json-1.1');
    const body = (await ok.json()) as { Instances: Array<{ CreatedDate: unknown }> };
    expect(typeof body.Instances[0]?.CreatedDate).toBe('number');

    expect(fake.calls.map((c) => c.errorType)).toEqual([
      'MissingAuthenticationTokenException',
      'UnknownOperationException',
      undefined,
    ]);
  });

  it('refuses fixtures AWS could never return unless strictIdFormats is off', async () => {
    await expect(
      startFake({ users: [{ userId: 'alice', userName: 'alice', email: 'a@example.com' }] }),
    ).rejects.toThrow(/FakeUser.userId 'alice'/);
    const lenient = await startFake({
      strictIdFormats: false,
      users: [{ userId: 'alice', userName: 'alice', email: 'a@example.com' }],
    });
    const created = await ssoAdmin(lenient).send(new CreateAccountAssignmentCommand(assignment({ PrincipalId: 'alice' })));
    expect(created.AccountAssignmentCreationStatus?.Status).toBe('IN_PROGRESS');
  });
});

// ---- additions: inline policies, provisioning and sessions ----

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const ALLOW_READ = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Sid: 'Read', Effect: 'Allow', Action: ['s3:GetObject'], Resource: '*' }],
});

/** The statement the bot adds to end a user's live sessions (user guide: "Use a Deny policy ..."). */
const revoke = (userId: string, instant: number, sid = 'BreakglassRevoked0a1b2c3d') => ({
  Sid: sid,
  Effect: 'Deny',
  Action: '*',
  Resource: '*',
  Condition: {
    StringEquals: { 'identitystore:userId': userId },
    DateLessThan: { 'aws:TokenIssueTime': new Date(instant).toISOString() },
  },
});

const policyWith = (...statements: object[]) => JSON.stringify({ Version: '2012-10-17', Statement: statements }, null, 2);

/** A valid policy whose text, whitespace removed, is exactly `size` bytes (JSON.stringify adds none). */
function policyOfNonWhitespaceSize(size: number): string {
  const make = (pad: number) =>
    JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Sid: 'Pad', Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${'a'.repeat(pad)}` }],
    });
  const policy = make(size - make(0).length);
  expect(policy.length).toBe(size);
  return policy;
}

const getPolicy = async (client: SSOAdminClient, ps = PS_ADMIN) =>
  (await client.send(new GetInlinePolicyForPermissionSetCommand({ InstanceArn: INSTANCE_ARN, PermissionSetArn: ps })))
    .InlinePolicy;

const putPolicy = (client: SSOAdminClient, policy: string, ps = PS_ADMIN) =>
  client.send(new PutInlinePolicyToPermissionSetCommand({ InstanceArn: INSTANCE_ARN, PermissionSetArn: ps, InlinePolicy: policy }));

const provisionTo = (client: SSOAdminClient, over: Partial<ProvisionPermissionSetCommandInput> = {}) =>
  client.send(
    new ProvisionPermissionSetCommand({
      InstanceArn: INSTANCE_ARN,
      PermissionSetArn: PS_ADMIN,
      TargetType: 'AWS_ACCOUNT',
      TargetId: ACCOUNT,
      ...over,
    }),
  );

const provisioningStatus = async (client: SSOAdminClient, requestId: string | undefined) =>
  (
    await client.send(
      new DescribePermissionSetProvisioningStatusCommand({ InstanceArn: INSTANCE_ARN, ProvisionPermissionSetRequestId: requestId }),
    )
  ).PermissionSetProvisioningStatus;

const staleAccounts = async (client: SSOAdminClient, ps: string) =>
  (
    await client.send(
      new ListAccountsForProvisionedPermissionSetCommand({
        InstanceArn: INSTANCE_ARN,
        PermissionSetArn: ps,
        ProvisioningStatus: 'LATEST_PERMISSION_SET_NOT_PROVISIONED',
      }),
    )
  ).AccountIds;

/** A fake on a frozen clock that only `advance` moves. */
async function startClocked(overrides: Partial<FakeIdentityCenterOptions> = {}) {
  let clock = Date.UTC(2025, 0, 6, 9, 0, 0);
  const fake = await startFake({ now: () => clock, ...overrides });
  return {
    fake,
    client: ssoAdmin(fake, 1),
    now: () => clock,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

describe('FakeIdentityCenter inline policies (additions)', () => {
  it('puts, gets and deletes a permission set inline policy; Get answers "" when there is none', async () => {
    const fake = await startFake();
    const client = ssoAdmin(fake, 1);

    expect(await getPolicy(client)).toBe('');
    const put = await putPolicy(client, ALLOW_READ);
    expect(put.$metadata.httpStatusCode).toBe(200);
    expect(await getPolicy(client)).toBe(ALLOW_READ);
    // Put replaces: one inline policy per permission set.
    const other = policyWith(revoke(ALICE, Date.now()));
    await putPolicy(client, other);
    expect(await getPolicy(client)).toBe(other);
    // Other permission sets are untouched.
    expect(await getPolicy(client, PS_READ)).toBe('');

    await client.send(new DeleteInlinePolicyFromPermissionSetCommand({ InstanceArn: INSTANCE_ARN, PermissionSetArn: PS_ADMIN }));
    expect(await getPolicy(client)).toBe('');

    const unknown = await failure(
      getPolicy(client, 'arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0000000000000000'),
    );
    expect(unknown).toBeInstanceOf(ResourceNotFoundException);
    expect(fake.callsTo('PutInlinePolicyToPermissionSet').map((c) => c.status)).toEqual([200, 200]);
  });

  it('refuses malformed JSON and documents that are not IAM policies with ValidationException, keeping the old policy', async () => {
    const fake = await startFake();
    const client = ssoAdmin(fake, 1);
    await putPolicy(client, ALLOW_READ);

    const refused = [
      '{"Version": "2012-10-17", "Statement": [',
      'not json at all',
      '[]',
      JSON.stringify({ Version: '2012-10-17' }),
      JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Maybe', Action: '*', Resource: '*' }] }),
      JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Resource: '*' }] }),
      JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Action: '*', Resource: '*', Principal: '*' }] }),
      // IAM Sids are A-Z a-z 0-9 only, and unique in a policy.
      policyWith({ ...revoke(ALICE, Date.now()), Sid: 'Breakglass-Revoked' }),
      policyWith(revoke(ALICE, Date.now(), 'Same'), revoke(BOB, Date.now(), 'Same')),
    ];
    for (const policy of refused) {
      const err = await failure(putPolicy(client, policy));
      expect(err, policy).toBeInstanceOf(ValidationException);
      expect(err.message).toBe('Invalid PermissionsPolicy Document');
      expect(err.$metadata.httpStatusCode).toBe(400);
    }
    expect(await getPolicy(client)).toBe(ALLOW_READ);

    // Field constraints of InlinePolicy itself.
    const empty = await failure(putPolicy(client, ''));
    expect(empty).toBeInstanceOf(ValidationException);
    const outsidePattern = await failure(putPolicy(client, policyWith({ ...revoke(ALICE, Date.now()), Sid: 'Ré\u2011' })));
    expect(outsidePattern.message).toBe(
      "Value of input 'inlinePolicy' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+",
    );
    expect(await getPolicy(client)).toBe(ALLOW_READ);
  });

  it('enforces the documented size limits: 10,240 non-whitespace bytes and 32,768 characters in all', async () => {
    const fake = await startFake();
    const client = ssoAdmin(fake, 1);

    const atLimit = policyOfNonWhitespaceSize(10240);
    await putPolicy(client, atLimit);
    expect(await getPolicy(client)).toBe(atLimit);

    const over = await failure(putPolicy(client, policyOfNonWhitespaceSize(10241)));
    expect(over).toBeInstanceOf(ValidationException);
    expect(over.$metadata.httpStatusCode).toBe(400);
    expect(over.message).toBe(
      'Current size of the non-whitespace characters present in the InlinePolicy Document is 10241 bytes which has exceeded the maximum limit of 10240 bytes',
    );

    // Whitespace does not count against 10,240, but the whole text may not pass 32,768.
    const small = policyWith(revoke(ALICE, Date.now()));
    const padded = small + '\n'.repeat(32768 - small.length);
    await putPolicy(client, padded);
    expect(await getPolicy(client)).toBe(padded);
    const tooLong = await failure(putPolicy(client, padded + ' '));
    expect(tooLong).toBeInstanceOf(ValidationException);
    expect(tooLong.message).toBe(
      "Value of input 'inlinePolicy' failed to satisfy constraint: Member must have length less than or equal to 32768",
    );
    expect(await getPolicy(client)).toBe(padded);
  });

  it('refuses a permission set fixture whose inline policy AWS would refuse', async () => {
    await expect(
      startFake({ permissionSets: [{ arn: PS_ADMIN, name: 'OrgAdmin', inlinePolicy: '{"Statement": [' }] }),
    ).rejects.toThrow(/inlinePolicy of .* would be refused by AWS \(Invalid PermissionsPolicy Document: not JSON\)/);
  });
});

describe('FakeIdentityCenter provisioning (additions)', () => {
  it('provisions asynchronously: IN_PROGRESS with a RequestId, SUCCEEDED after the status delay, then in force', async () => {
    const { fake, client, advance } = await startClocked({ statusDelayMs: 500 });
    fake.addAssignment({ accountId: ACCOUNT, permissionSetArn: PS_ADMIN, principalId: ALICE });
    expect(fake.effectivePolicy(PS_ADMIN, ACCOUNT)).toBeUndefined();
    await putPolicy(client, ALLOW_READ);
    expect(await staleAccounts(client, PS_ADMIN)).toEqual([ACCOUNT]);

    const started = (await provisionTo(client)).PermissionSetProvisioningStatus;
    expect(started).toMatchObject({ Status: 'IN_PROGRESS', AccountId: ACCOUNT, PermissionSetArn: PS_ADMIN });
    expect(started?.RequestId).toMatch(UUID);
    expect(started?.CreatedDate).toBeInstanceOf(Date);
    expect(started?.FailureReason).toBeUndefined();

    advance(499);
    expect((await provisioningStatus(client, started?.RequestId))?.Status).toBe('IN_PROGRESS');
    expect(fake.effectivePolicy(PS_ADMIN, ACCOUNT)).toBeUndefined();

    advance(1);
    const done = await provisioningStatus(client, started?.RequestId);
    expect(done).toMatchObject({ Status: 'SUCCEEDED', RequestId: started?.RequestId, AccountId: ACCOUNT });
    expect(fake.effectivePolicy(PS_ADMIN, ACCOUNT)).toBe(ALLOW_READ);
    expect(await staleAccounts(client, PS_ADMIN)).toEqual([]);

    const listed = await client.send(
      new ListPermissionSetProvisioningStatusCommand({ InstanceArn: INSTANCE_ARN, Filter: { Status: 'SUCCEEDED' } }),
    );
    expect(listed.PermissionSetsProvisioningStatus).toEqual([
      { Status: 'SUCCEEDED', RequestId: started?.RequestId, CreatedDate: started?.CreatedDate },
    ]);
    expect(fake.provisionings()).toEqual([
      expect.objectContaining({ permissionSetArn: PS_ADMIN, targetType: 'AWS_ACCOUNT', accounts: [ACCOUNT], status: 'SUCCEEDED' }),
    ]);

    const unknown = await failure(provisioningStatus(client, '00000000-0000-4000-8000-000000000000'));
    expect(unknown).toBeInstanceOf(ResourceNotFoundException);
  });

  it('answers ConflictException to a provision, put or delete of a permission set while it is being provisioned', async () => {
    const { fake, client, advance } = await startClocked({ statusDelayMs: 500 });
    fake.addAssignment({ accountId: ACCOUNT, permissionSetArn: PS_ADMIN, principalId: ALICE });
    await putPolicy(client, ALLOW_READ);
    const first = (await provisionTo(client)).PermissionSetProvisioningStatus;

    const again = await failure(provisionTo(client));
    expect(again).toBeInstanceOf(ConflictException);
    expect(again.$metadata.httpStatusCode).toBe(400);
    expect(again.message).toBe('There is a conflicting operation in process.');
    // Even to another account: the permission set is what is busy.
    expect((await failure(provisionTo(client, { TargetId: '333333333333' }))).name).toBe('ConflictException');
    const put = await failure(putPolicy(client, policyWith(revoke(ALICE, Date.now()))));
    expect(put).toBeInstanceOf(ConflictException);
    expect(put.message).toBe('There is a conflicting operation in process.');
    const del = await failure(
      client.send(new DeleteInlinePolicyFromPermissionSetCommand({ InstanceArn: INSTANCE_ARN, PermissionSetArn: PS_ADMIN })),
    );
    expect(del.name).toBe('ConflictException');
    // Reads go on, and another permission set is not in conflict.
    expect(await getPolicy(client)).toBe(ALLOW_READ);
    const other = await provisionTo(client, { PermissionSetArn: PS_READ, TargetId: '222222222222' });
    expect(other.PermissionSetProvisioningStatus?.Status).toBe('IN_PROGRESS');

    advance(500);
    expect((await provisioningStatus(client, first?.RequestId))?.Status).toBe('SUCCEEDED');
    await putPolicy(client, policyWith(revoke(ALICE, Date.now())));
    expect((await provisionTo(client)).PermissionSetProvisioningStatus?.Status).toBe('IN_PROGRESS');
    // The refused calls started nothing.
    expect(fake.provisionings().map((p) => p.permissionSetArn)).toEqual([PS_ADMIN, PS_READ, PS_ADMIN]);
  });

  it('leaves what is in force in an account alone when a policy is put but not provisioned', async () => {
    const { fake, client } = await startClocked({
      permissionSets: [{ arn: PS_READ, name: 'ReadOnly', provisionedTo: ['222222222222'], inlinePolicy: ALLOW_READ }],
    });
    expect(fake.effectivePolicy(PS_READ, '222222222222')).toBe(ALLOW_READ);
    expect(await getPolicy(client, PS_READ)).toBe(ALLOW_READ);

    const deny = policyWith(revoke(ALICE, Date.now()));
    await putPolicy(client, deny, PS_READ);
    expect(await getPolicy(client, PS_READ)).toBe(deny);
    expect(fake.effectivePolicy(PS_READ, '222222222222')).toBe(ALLOW_READ);
    expect(await staleAccounts(client, PS_READ)).toEqual(['222222222222']);

    await client.send(new DeleteInlinePolicyFromPermissionSetCommand({ InstanceArn: INSTANCE_ARN, PermissionSetArn: PS_READ }));
    expect(fake.effectivePolicy(PS_READ, '222222222222')).toBe(ALLOW_READ);
    expect(fake.provisionings()).toEqual([]);
  });

  it('puts the current policy in force in an account the permission set first reaches through an assignment', async () => {
    const { fake, client, advance } = await startClocked({ statusDelayMs: 100 });
    await putPolicy(client, ALLOW_READ);
    const created = await client.send(new CreateAccountAssignmentCommand(assignment()));
    expect(fake.effectivePolicy(PS_ADMIN, ACCOUNT)).toBeUndefined();
    advance(100);
    expect((await creation(client, created.AccountAssignmentCreationStatus?.RequestId)).Status).toBe('SUCCEEDED');
    expect(fake.effectivePolicy(PS_ADMIN, ACCOUNT)).toBe(ALLOW_READ);

    // A second assignment of an already provisioned permission set does not re-provision it.
    await putPolicy(client, policyWith(revoke(ALICE, Date.now())));
    fake.addAssignment({ accountId: ACCOUNT, permissionSetArn: PS_ADMIN, principalId: BOB });
    expect(fake.effectivePolicy(PS_ADMIN, ACCOUNT)).toBe(ALLOW_READ);
  });

  it('ends FAILED with the FailureReason given to failNextProvisionings, changing nothing in the account', async () => {
    const { fake, client, advance } = await startClocked({ statusDelayMs: 100 });
    fake.addAssignment({ accountId: ACCOUNT, permissionSetArn: PS_ADMIN, principalId: ALICE });
    await putPolicy(client, ALLOW_READ);
    await provisionTo(client);
    advance(100);
    expect(fake.effectivePolicy(PS_ADMIN, ACCOUNT)).toBe(ALLOW_READ);

    const deny = policyWith(revoke(ALICE, Date.now()));
    await putPolicy(client, deny);
    fake.failNextProvisionings(1, 'Received a 409 status error: Conflict while updating the role.');
    const failed = (await provisionTo(client)).PermissionSetProvisioningStatus;
    expect(failed?.Status).toBe('IN_PROGRESS');
    advance(100);
    expect(await provisioningStatus(client, failed?.RequestId)).toMatchObject({
      Status: 'FAILED',
      FailureReason: 'Received a 409 status error: Conflict while updating the role.',
    });
    expect(fake.effectivePolicy(PS_ADMIN, ACCOUNT)).toBe(ALLOW_READ);
    expect(await staleAccounts(client, PS_ADMIN)).toEqual([ACCOUNT]);

    // Only the next one failed: a retry succeeds.
    const retry = (await provisionTo(client)).PermissionSetProvisioningStatus;
    advance(100);
    expect((await provisioningStatus(client, retry?.RequestId))?.Status).toBe('SUCCEEDED');
    expect(fake.effectivePolicy(PS_ADMIN, ACCOUNT)).toBe(deny);
    const failedOnes = await client.send(
      new ListPermissionSetProvisioningStatusCommand({ InstanceArn: INSTANCE_ARN, Filter: { Status: 'FAILED' } }),
    );
    expect(failedOnes.PermissionSetsProvisioningStatus?.map((s) => s.RequestId)).toEqual([failed?.RequestId]);
  });

  it('records the accounts of each provisioning, so a test can tell ALL_PROVISIONED_ACCOUNTS apart', async () => {
    const { fake, client, advance } = await startClocked({ statusDelayMs: 100 });
    fake.addAssignment({ accountId: ACCOUNT, permissionSetArn: PS_ADMIN, principalId: ALICE });
    fake.addAssignment({ accountId: '333333333333', permissionSetArn: PS_ADMIN, principalId: ALICE });

    const missingTarget = await failure(provisionTo(client, { TargetId: undefined }));
    expect(missingTarget).toBeInstanceOf(ValidationException);
    const badType = await failure(
      provisionTo(client, { TargetType: 'AWS_OU' as ProvisionPermissionSetCommandInput['TargetType'] }),
    );
    expect(badType.message).toMatch(/'targetType' failed to satisfy constraint: Member must satisfy enum value set/);

    await provisionTo(client);
    advance(100);
    expect(fake.provisionings().every((p) => p.targetType === 'AWS_ACCOUNT')).toBe(true);

    const all = await provisionTo(client, { TargetType: 'ALL_PROVISIONED_ACCOUNTS', TargetId: undefined });
    expect(all.PermissionSetProvisioningStatus?.AccountId).toBeUndefined();
    expect(fake.provisionings().at(-1)).toMatchObject({
      targetType: 'ALL_PROVISIONED_ACCOUNTS',
      accounts: [ACCOUNT, '333333333333'],
    });
    expect(fake.provisionings().every((p) => p.targetType === 'AWS_ACCOUNT')).toBe(false);
  });
});

describe('FakeIdentityCenter sessions and Deny-based revocation (additions)', () => {
  it('refuses a session issued before the Deny instant once the Deny is provisioned; later and other users\' sessions go on', async () => {
    const { fake, client, now, advance } = await startClocked({ statusDelayMs: 500 });
    fake.addAssignment({ accountId: ACCOUNT, permissionSetArn: PS_ADMIN, principalId: ALICE });
    fake.addAssignment({ accountId: ACCOUNT, permissionSetArn: PS_ADMIN, principalId: BOB });
    const aliceOld = fake.issueSession({ userId: ALICE, permissionSetArn: PS_ADMIN, accountId: ACCOUNT });
    const bobOld = fake.issueSession({ userId: BOB, permissionSetArn: PS_ADMIN, accountId: ACCOUNT });
    expect(aliceOld).toMatchObject({ issuedAt: now(), expiresAt: now() + 2 * 3600_000 });

    advance(60_000);
    const instant = now();
    const atInstant = fake.issueSession({ userId: ALICE, permissionSetArn: PS_ADMIN, accountId: ACCOUNT });
    await putPolicy(client, policyWith(revoke(ALICE, instant)));
    // Put alone changes nothing in the account.
    expect(fake.sessionAllowed(aliceOld.sessionId)).toBe(true);

    const started = (await provisionTo(client)).PermissionSetProvisioningStatus;
    advance(499);
    expect(fake.sessionAllowed(aliceOld.sessionId)).toBe(true);
    advance(1);
    expect((await provisioningStatus(client, started?.RequestId))?.Status).toBe('SUCCEEDED');

    expect(fake.sessionAllowed(aliceOld.sessionId)).toBe(false);
    // As it was before the Deny came into force.
    expect(fake.sessionAllowed(aliceOld.sessionId, now() - 1)).toBe(true);
    // DateLessThan is strict: a token issued at the instant itself is not older than it.
    expect(fake.sessionAllowed(atInstant.sessionId)).toBe(true);
    const aliceNew = fake.issueSession({ userId: ALICE, permissionSetArn: PS_ADMIN, accountId: ACCOUNT });
    expect(fake.sessionAllowed(aliceNew.sessionId)).toBe(true);
    expect(fake.sessionAllowed(bobOld.sessionId)).toBe(true);
    expect(fake.unsupportedConditions()).toEqual([]);

    // Removing the statement and re-provisioning lets an old, unexpired session act again: the bot
    // may only remove it once every session it was meant to end has run out.
    await client.send(new DeleteInlinePolicyFromPermissionSetCommand({ InstanceArn: INSTANCE_ARN, PermissionSetArn: PS_ADMIN }));
    await provisionTo(client);
    advance(500);
    expect(fake.effectivePolicy(PS_ADMIN, ACCOUNT)).toBeUndefined();
    expect(fake.sessionAllowed(aliceOld.sessionId)).toBe(true);
    expect(fake.provisionings().every((p) => p.targetType === 'AWS_ACCOUNT')).toBe(true);
  });

  it('keeps an old session alive after the assignment is deleted, and issues none without an assignment', async () => {
    const { fake, client, now, advance } = await startClocked({ statusDelayMs: 100 });
    const before = now();
    const created = await client.send(new CreateAccountAssignmentCommand(assignment()));
    advance(100);
    expect((await creation(client, created.AccountAssignmentCreationStatus?.RequestId)).Status).toBe('SUCCEEDED');
    const session = fake.issueSession({ userId: ALICE, permissionSetArn: PS_ADMIN, accountId: ACCOUNT });

    const deleted = await client.send(new DeleteAccountAssignmentCommand(assignment()));
    advance(100);
    expect((await deletion(client, deleted.AccountAssignmentDeletionStatus?.RequestId)).Status).toBe('SUCCEEDED');
    expect(fake.assignments()).toEqual([]);
    expect(fake.sessionAllowed(session.sessionId)).toBe(true);

    // No assignment now, and none before it was created: Identity Center would not issue these.
    expect(() => fake.issueSession({ userId: ALICE, permissionSetArn: PS_ADMIN, accountId: ACCOUNT })).toThrow(
      /held no assignment/,
    );
    expect(() => fake.issueSession({ userId: ALICE, permissionSetArn: PS_ADMIN, accountId: ACCOUNT, at: before })).toThrow(
      /held no assignment/,
    );
    expect(() => fake.issueSession({ userId: BOB, permissionSetArn: PS_ADMIN, accountId: ACCOUNT, at: before + 150 })).toThrow(
      /held no assignment/,
    );
    // While it existed, a session could be had (at a past instant too).
    expect(fake.issueSession({ userId: ALICE, permissionSetArn: PS_ADMIN, accountId: ACCOUNT, at: before + 150 }).issuedAt).toBe(
      before + 150,
    );

    // The session ends with the permission set's session duration (PT2H).
    advance(2 * 3600_000 - 200);
    expect(fake.sessionAllowed(session.sessionId)).toBe(true);
    advance(100);
    expect(fake.sessionAllowed(session.sessionId)).toBe(false);
  });

  it('never matches a Deny it cannot evaluate, and reports it through unsupportedConditions()', async () => {
    const { fake, client, now, advance } = await startClocked({ statusDelayMs: 100 });
    fake.addAssignment({ accountId: ACCOUNT, permissionSetArn: PS_ADMIN, principalId: ALICE });
    const session = fake.issueSession({ userId: ALICE, permissionSetArn: PS_ADMIN, accountId: ACCOUNT });
    advance(1000);
    const later = new Date(now()).toISOString();

    await putPolicy(
      client,
      policyWith(
        { Sid: 'Like', Effect: 'Deny', Action: '*', Resource: '*', Condition: { StringLike: { 'identitystore:userId': ALICE } } },
        { Sid: 'OtherKey', Effect: 'Deny', Action: '*', Resource: '*', Condition: { StringEquals: { 'aws:userid': ALICE } } },
        { Sid: 'Epoch', Effect: 'Deny', Action: ['*'], Resource: ['*'], Condition: { DateLessThan: { 'aws:TokenIssueTime': '1893456000' } } },
        // Not a deny-everything statement: the fake leaves it alone without reporting it.
        { Sid: 'S3Only', Effect: 'Deny', Action: 's3:*', Resource: '*', Condition: { StringLike: { 's3:prefix': 'x' } } },
      ),
    );
    expect(fake.unsupportedConditions()).toEqual([
      { permissionSetArn: PS_ADMIN, where: 'permission set', sid: 'Like', operator: 'StringLike', reason: expect.any(String) },
      { permissionSetArn: PS_ADMIN, where: 'permission set', sid: 'OtherKey', operator: 'StringEquals', key: 'aws:userid', reason: expect.any(String) },
      { permissionSetArn: PS_ADMIN, where: 'permission set', sid: 'Epoch', operator: 'DateLessThan', key: 'aws:TokenIssueTime', reason: expect.any(String) },
    ]);
    await provisionTo(client);
    advance(100);
    expect(fake.sessionAllowed(session.sessionId)).toBe(true);
    expect(fake.unsupportedConditions().filter((u) => u.where === `account ${ACCOUNT}`).map((u) => u.sid)).toEqual([
      'Like',
      'OtherKey',
      'Epoch',
    ]);

    // The same intent in the two understood forms (condition key names are case-insensitive).
    await putPolicy(
      client,
      policyWith({
        Sid: 'Understood',
        Effect: 'Deny',
        Action: '*',
        Resource: '*',
        Condition: { StringEquals: { 'IdentityStore:UserId': [BOB, ALICE] }, DateLessThan: { 'aws:tokenissuetime': later } },
      }),
    );
    await provisionTo(client);
    advance(100);
    expect(fake.unsupportedConditions()).toEqual([]);
    expect(fake.sessionAllowed(session.sessionId)).toBe(false);
  });
});

describe('FakeIdentityCenter groups for the access review (additions)', () => {
  const OPS = '9067000000-44444444-4444-4444-8444-444444444444';

  it('lists group memberships page by page and describes groups; unknown groups are ResourceNotFound', async () => {
    const fake = await startFake({ groups: [{ groupId: OPS, displayName: 'ops-admins', members: [ALICE, BOB] }] });
    const client = identityStore(fake);
    const members: string[] = [];
    for await (const page of paginateListGroupMemberships({ client, pageSize: 1 }, { IdentityStoreId: IDENTITY_STORE_ID, GroupId: OPS })) {
      expect(page.GroupMemberships?.length).toBeLessThanOrEqual(1);
      for (const m of page.GroupMemberships ?? []) {
        expect(m.GroupId).toBe(OPS);
        expect(m.IdentityStoreId).toBe(IDENTITY_STORE_ID);
        if (m.MemberId && 'UserId' in m.MemberId && m.MemberId.UserId) members.push(m.MemberId.UserId);
      }
    }
    expect(members).toEqual([ALICE, BOB]);
    expect((await client.send(new DescribeGroupCommand({ IdentityStoreId: IDENTITY_STORE_ID, GroupId: OPS }))).DisplayName).toBe('ops-admins');
    await expect(client.send(new DescribeGroupCommand({ IdentityStoreId: IDENTITY_STORE_ID, GroupId: GHOST }))).rejects.toBeInstanceOf(IdentityStoreNotFound);
  });

  it("serves the bot's inventory reads: every permission set on an account, its assignments, group members, names", async () => {
    const fake = await startFake({ groups: [{ groupId: OPS, displayName: 'ops-admins', members: [BOB] }], defaultMaxResults: 1 });
    // Assignments provision their permission sets to the account.
    fake.addAssignment({ accountId: ACCOUNT, permissionSetArn: PS_READ, principalId: OPS, principalType: 'GROUP' });
    fake.addAssignment({ accountId: ACCOUNT, permissionSetArn: PS_ADMIN, principalId: ALICE });
    await withAdapter(fake, 1000, async (ic) => {
      expect((await ic.permissionSetsOn(INSTANCE_ARN, ACCOUNT)).sort()).toEqual([PS_ADMIN, PS_READ].sort());
      expect(await ic.permissionSetName(INSTANCE_ARN, PS_READ)).toBe('ReadOnly');
      expect(await ic.groupMembers(OPS)).toEqual([BOB]);
      expect(await ic.groupName(OPS)).toBe('ops-admins');
      expect(await ic.groupName(GHOST)).toBe(GHOST);
      expect(await ic.userName(ALICE)).toBe('alice');
      expect(await ic.userName(GHOST)).toBe(GHOST);
    });
  });
});

/** The bot's adapter against the fake; it finds its endpoints and credentials as in production: the SDK's environment. */
async function withAdapter(fake: FakeIdentityCenter, callsPerSecond: number, work: (ic: IdentityCenter) => Promise<void>): Promise<void> {
  const saved = { ...process.env };
  Object.assign(process.env, { AWS_ENDPOINT_URL_SSO_ADMIN: fake.url, AWS_ENDPOINT_URL_IDENTITYSTORE: fake.url, AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'test-secret' });
  const ic = new IdentityCenter({ region: 'us-east-1', identityStoreId: IDENTITY_STORE_ID, assumeRoleArn: null, callsPerSecond });
  try {
    await work(ic);
  } finally {
    ic.destroy();
    for (const k of ['AWS_ENDPOINT_URL_SSO_ADMIN', 'AWS_ENDPOINT_URL_IDENTITYSTORE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
}

describe("the bot's adapter when many grants come at once", () => {
  const target = (principalId: string) => ({ instanceArn: INSTANCE_ARN, accountId: ACCOUNT, permissionSetArn: PS_ADMIN, principalId });
  const someone = (n: number) => `9067000000-${String(n).padStart(8, '0')}-0000-4000-8000-000000000000`;

  it("spends a second's worth of its budget at once (changes approved together go together)", async () => {
    const fake = await startFake();
    await withAdapter(fake, 18, async (ic) => {
      // The pace's clock stands still: only the bucket's burst can let calls through, nothing refills it.
      vi.useFakeTimers({ toFake: ['Date'] });
      const deletions = Promise.all(Array.from({ length: 18 }, (_, i) => ic.startDeletion(target(someone(i)))));
      try {
        await Promise.race([deletions, new Promise((resolve) => setTimeout(resolve, 5000))]);
        expect(fake.callsTo('DeleteAccountAssignment')).toHaveLength(18);
      } finally {
        vi.useRealTimers();
        await deletions;
      }
    });
  });

  it('asked for 20 grants at once, one listing answers them all', async () => {
    const fake = await startFake();
    fake.addAssignment({ accountId: ACCOUNT, permissionSetArn: PS_ADMIN, principalId: ALICE });
    await withAdapter(fake, 18, async (ic) => {
      const principals = [ALICE, ...Array.from({ length: 19 }, (_, i) => someone(i))];
      const held = await Promise.all(principals.map((p) => ic.hasAssignment(target(p))));
      expect(held).toEqual([true, ...Array<boolean>(19).fill(false)]);
      expect(fake.callsTo('ListAccountAssignments')).toHaveLength(1);
    });
  });

  it('asked while a listing is under way, wait for the next one together', async () => {
    const fake = await startFake();
    fake.setFaults({ latencyMs: 300, operations: ['ListAccountAssignments'] });
    await withAdapter(fake, 18, async (ic) => {
      const checks = [ic.hasAssignment(target(someone(0)))];
      // Two more waves while the first listing is on its way.
      for (let wave = 1; wave <= 2; wave++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        for (let i = 0; i < 5; i++) checks.push(ic.hasAssignment(target(someone(wave * 10 + i))));
      }
      expect(await Promise.all(checks)).toEqual(Array<boolean>(11).fill(false));
      expect(fake.callsTo('ListAccountAssignments')).toHaveLength(2);
    });
  });

  it('asked once a listing is under way, waits for a listing of its own (an earlier page may be stale)', async () => {
    // Four pages, each slow: the first is answered while the rest are still to come.
    const fake = await startFake({ defaultMaxResults: 1, users: [{ userId: ALICE, userName: 'alice', email: 'alice@example.com' }, { userId: BOB, userName: 'bob', email: 'bob@example.com' }] });
    for (const p of [BOB, ALICE, someone(1), someone(2)]) fake.addAssignment({ accountId: ACCOUNT, permissionSetArn: PS_ADMIN, principalId: p });
    fake.setFaults({ latencyMs: 150, operations: ['ListAccountAssignments'] });
    await withAdapter(fake, 18, async (ic) => {
      const first = ic.hasAssignment(target(ALICE));
      await vi.waitFor(() => expect(fake.callsTo('ListAccountAssignments')).toHaveLength(1), { timeout: 5000, interval: 5 });
      // Bob's assignment is removed after the first page (which named him) was read.
      fake.removeAssignment({ accountId: ACCOUNT, permissionSetArn: PS_ADMIN, principalId: BOB });
      expect(await ic.hasAssignment(target(BOB))).toBe(false);
      await first;
    });
  });
});

describe("the bot's Identity Center retry strategy", () => {
  it('retries a throttled delete within 2 s each time, where the SDK default would wait up to 20 s', async () => {
    const fake = await startFake();
    const client = new SSOAdminClient({ ...clientConfig(fake), retryStrategy: new PacedRetryStrategy(new RateLimiter(20, 2), 8) });

    fake.setFaults({ throttleRate: 1, operations: ['DeleteAccountAssignment'], limit: 6 });
    await client.send(new DeleteAccountAssignmentCommand(assignment()));

    const deletes = fake.calls.filter((c) => c.operation === 'DeleteAccountAssignment');
    expect(deletes.map((c) => c.errorType ?? 'ok')).toEqual([...Array<string>(6).fill('ThrottlingException'), 'ok']);
    // The SDK's own backoff for the 4th–6th throttles is drawn from up to 8, 16 and 20 s.
    const waits = deletes.slice(1).map((c, i) => c.at - (deletes[i]?.at ?? 0));
    for (const wait of waits) expect(wait).toBeLessThan(2_500);
  });

  it("keeps retrying after more throttles than the SDK's retry quota allows (500 tokens, 5 per throttle)", async () => {
    const fake = await startFake();
    // Backoff shrunk to milliseconds so 150 throttles take no time; the pacing is the point.
    const client = new SSOAdminClient({ ...clientConfig(fake), retryStrategy: new PacedRetryStrategy(new RateLimiter(1000, 1000), 8, 1, 2) });
    // Each call is throttled 7 times and succeeds on its 8th attempt: 147 throttles in all.
    for (let i = 0; i < 21; i++) {
      fake.setFaults({ throttleRate: 1, operations: ['ListInstances'], limit: 7 });
      await client.send(new ListInstancesCommand({}));
    }
    const calls = fake.calls.filter((c) => c.operation === 'ListInstances');
    expect(calls.filter((c) => c.errorType === 'ThrottlingException')).toHaveLength(147);
    expect(calls.filter((c) => c.status === 200)).toHaveLength(21);
  });

  it('does not retry what is not throttling or transient, and stops after its attempts', async () => {
    const fake = await startFake();
    const client = new SSOAdminClient({ ...clientConfig(fake), retryStrategy: new PacedRetryStrategy(new RateLimiter(1000, 1000), 3, 1, 2) });
    await expect(client.send(new DescribePermissionSetCommand({ InstanceArn: INSTANCE_ARN, PermissionSetArn: 'arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-1111111111111111' }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    expect(fake.calls.filter((c) => c.operation === 'DescribePermissionSet')).toHaveLength(1);
    fake.setFaults({ throttleRate: 1, operations: ['ListInstances'] });
    await expect(client.send(new ListInstancesCommand({}))).rejects.toBeInstanceOf(ThrottlingException);
    expect(fake.calls.filter((c) => c.operation === 'ListInstances')).toHaveLength(3);
  });
});
