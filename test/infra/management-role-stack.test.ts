import { App, Stack, aws_iam as iam } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { actionMatches, identityStatements, leastPrivilegeViolations, list, render, synth, warnings, type Statement } from './template.ts';

const MANAGEMENT_ACCOUNT = '123456789012';
const TASK_ROLE_ARN = 'arn:aws:iam::210987654321:role/BreakglassBot-TaskRole30FC0FBB-AbCdEf';
const INSTANCE = 'arn:aws:sso:::instance/ssoins-1111222233334444';
const PERMISSION_SET = 'arn:aws:sso:::permissionSet/ssoins-1111222233334444/ps-aaaabbbbccccdddd';
const CONTEXT = {
  managementAccountId: MANAGEMENT_ACCOUNT,
  botTaskRoleArn: TASK_ROLE_ARN,
  identityCenterInstanceArn: INSTANCE,
  identityStoreId: 'd-9067abcdef',
  permissionSetArns: PERMISSION_SET,
  permissionSetNames: 'BreakglassOrgAdmin',
};

const bySid = (template: Template): Map<string, Statement> =>
  new Map(identityStatements(template).map(({ statement }) => [statement.Sid ?? '', statement]));

describe('management-account role stack', () => {
  let template: Template;
  let synthesized: ReturnType<typeof synth>;
  beforeAll(() => {
    synthesized = synth(CONTEXT);
    template = synthesized.management;
  });

  it('creates only the role, named so the bot can know its ARN in advance', () => {
    expect(Object.values(template.toJSON().Resources as Record<string, { Type: string }>).map((r) => r.Type)).toEqual(['AWS::IAM::Role']);
    template.hasResourceProperties('AWS::IAM::Role', { RoleName: 'breakglass-identity-center', MaxSessionDuration: 3600 });
    expect(render(synthesized.bot.toJSON().Outputs.AssumeRoleArn.Value)).toBe(`arn:aws:iam::${MANAGEMENT_ACCOUNT}:role/breakglass-identity-center`);
  });

  it('is trusted by the bot task role and nothing else', () => {
    const role = Object.values(template.findResources('AWS::IAM::Role'))[0];
    expect(role?.Properties.AssumeRolePolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { AWS: TASK_ROLE_ARN } }],
    });
  });

  it('writes only assignments, inline policies and provisioning of the configured permission sets, on the configured account', () => {
    const writes = identityStatements(template)
      .map(({ statement }) => statement)
      .filter((s) => list(s.Action).some((a) => /^sso:(Create|Delete|Put|Update|Attach|Detach|Provision)/.test(a)));
    expect(writes.map((s) => ({ actions: list(s.Action), resources: list(s.Resource) }))).toEqual([
      {
        actions: ['sso:CreateAccountAssignment', 'sso:DeleteAccountAssignment'],
        resources: [INSTANCE, PERMISSION_SET, `arn:aws:sso:::account/${MANAGEMENT_ACCOUNT}`],
      },
      {
        actions: ['sso:GetInlinePolicyForPermissionSet', 'sso:PutInlinePolicyToPermissionSet', 'sso:DeleteInlinePolicyFromPermissionSet'],
        resources: [INSTANCE, PERMISSION_SET],
      },
      {
        actions: ['sso:ProvisionPermissionSet'],
        resources: [INSTANCE, PERMISSION_SET, `arn:aws:sso:::account/${MANAGEMENT_ACCOUNT}`],
      },
    ]);
  });

  it('may end live sessions: edit the inline policy of, re-provision and watch only the configured permission sets, never on "*"', () => {
    const statements = bySid(template);
    // Service Authorization Reference: the inline-policy actions take Instance* and
    // PermissionSet*; ProvisionPermissionSet also Account*; the status only Instance*.
    expect(statements.get('EditInlinePolicyOfConfiguredPermissionSetsOnly')?.Resource).toEqual([INSTANCE, PERMISSION_SET]);
    expect(statements.get('ProvisionConfiguredPermissionSetsOnly')?.Resource).toEqual([INSTANCE, PERMISSION_SET, `arn:aws:sso:::account/${MANAGEMENT_ACCOUNT}`]);
    expect(statements.get('ReadProvisioningStatus')).toMatchObject({ Action: 'sso:DescribePermissionSetProvisioningStatus', Resource: INSTANCE });
    const sessionActions = [
      'sso:GetInlinePolicyForPermissionSet',
      'sso:PutInlinePolicyToPermissionSet',
      'sso:DeleteInlinePolicyFromPermissionSet',
      'sso:ProvisionPermissionSet',
      'sso:DescribePermissionSetProvisioningStatus',
    ];
    const granting = identityStatements(template)
      .map(({ statement }) => statement)
      .filter((s) => list(s.Action).some((a) => sessionActions.some((action) => actionMatches(a, action))));
    expect(granting.map((s) => s.Sid)).toEqual(['EditInlinePolicyOfConfiguredPermissionSetsOnly', 'ProvisionConfiguredPermissionSetsOnly', 'ReadProvisioningStatus']);
    for (const statement of granting) {
      expect([statement.Sid, list(statement.Resource).map(render).filter((r) => r.includes('*'))]).toEqual([statement.Sid, []]);
      expect(statement.Condition).toBeUndefined();
    }
  });

  it('grants no write on "*" and no service-wide action', () => {
    expect(leastPrivilegeViolations(template)).toEqual([]);
  });

  it('reads assignment status, permission sets and the identity store', () => {
    const statements = bySid(template);
    expect(list(statements.get('ReadAssignmentsAndStatus')?.Action)).toEqual(
      expect.arrayContaining([
        'sso:DescribeAccountAssignmentCreationStatus',
        'sso:DescribeAccountAssignmentDeletionStatus',
        'sso:ListAccountAssignments',
        'sso:ListAccountAssignmentCreationStatus',
        'sso:ListAccountAssignmentDeletionStatus',
        'sso:ListAccountsForProvisionedPermissionSet',
        'sso:ListPermissionSetsProvisionedToAccount',
        'sso:DescribePermissionSet',
        'sso:ListPermissionSets',
      ]),
    );
    expect(statements.get('ReadAssignmentsAndStatus')?.Resource).toEqual([
      INSTANCE,
      'arn:aws:sso:::permissionSet/ssoins-1111222233334444/*',
      `arn:aws:sso:::account/${MANAGEMENT_ACCOUNT}`,
    ]);
    expect(statements.get('ListInstances')).toMatchObject({ Action: 'sso:ListInstances', Resource: '*' });
    const identityStore = statements.get('ReadIdentityStore');
    expect(list(identityStore?.Action).every((a) => /^identitystore:(Get|Describe|List|IsMember)/.test(a))).toBe(true);
    expect(identityStore?.Resource).toEqual([
      `arn:aws:identitystore::${MANAGEMENT_ACCOUNT}:identitystore/d-9067abcdef`,
      'arn:aws:identitystore:::user/*',
      'arn:aws:identitystore:::group/*',
      'arn:aws:identitystore:::membership/*',
    ]);
  });

  it('looks up CloudTrail events in the management account, read-only, alone in its statement', () => {
    expect(bySid(template).get('LookupManagementAccountEvents')).toEqual({
      Sid: 'LookupManagementAccountEvents',
      Effect: 'Allow',
      Action: 'cloudtrail:LookupEvents',
      Resource: '*',
    });
    const cloudtrail = identityStatements(template).flatMap(({ statement }) => list(statement.Action)).filter((a) => a.toLowerCase().startsWith('cloudtrail:'));
    expect(cloudtrail).toEqual(['cloudtrail:LookupEvents']);
  });

  it("may touch only the reserved roles of the named permission sets and Identity Center's SAML provider in the management account", () => {
    const iamStatements = identityStatements(template)
      .map(({ statement }) => statement)
      .filter((s) => list(s.Action).some((a) => a.startsWith('iam:')));
    expect(iamStatements.map((s) => [s.Sid, list(s.Resource)])).toEqual([
      ['ProvisionReservedSsoRolesInManagementAccount', [`arn:aws:iam::${MANAGEMENT_ACCOUNT}:role/aws-reserved/sso.amazonaws.com/*AWSReservedSSO_BreakglassOrgAdmin_*`]],
      ['SsoSamlProviderInManagementAccount', [`arn:aws:iam::${MANAGEMENT_ACCOUNT}:saml-provider/AWSSSO_*`]],
      ['ListRolesForSso', ['*']],
    ]);
  });

  it('lets Identity Center write and remove the inline policy of the reserved roles when it re-provisions them', () => {
    const provision = bySid(template).get('ProvisionReservedSsoRolesInManagementAccount');
    expect(list(provision?.Action)).toEqual(expect.arrayContaining(['iam:PutRolePolicy', 'iam:DeleteRolePolicy', 'iam:GetRole', 'iam:ListRolePolicies']));
    expect(provision?.Condition).toEqual({ Bool: { 'aws:ViaAWSService': 'true' } });
  });

  it('allows every IAM action only when a service (Identity Center) makes it with the role, never the bot directly', () => {
    const iamStatements = identityStatements(template)
      .map(({ statement }) => statement)
      .filter((s) => list(s.Action).some((a) => a.startsWith('iam:')));
    expect(iamStatements).toHaveLength(3);
    for (const statement of iamStatements) {
      expect([statement.Sid, statement.Condition]).toEqual([statement.Sid, { Bool: { 'aws:ViaAWSService': 'true' } }]);
      // IAM actions are not mixed into a statement with the bot's own (unconditioned) sso calls.
      expect(list(statement.Action).every((a) => a.startsWith('iam:'))).toBe(true);
    }
  });

  it('deploys without CDK bootstrap resources in the management account', () => {
    const json = template.toJSON() as { Parameters?: Record<string, unknown>; Rules?: unknown };
    expect(json.Parameters?.BootstrapVersion).toBeUndefined();
    expect(json.Rules).toBeUndefined();
    expect(synthesized.stacks.management.account).toBe(MANAGEMENT_ACCOUNT);
  });

  it('has no example values left', () => {
    expect(warnings(synthesized.stacks.management)).toEqual([]);
  });
});

describe('management-account role stack with its own permission sets', () => {
  let template: Template;
  beforeAll(() => {
    template = synth({
      ...CONTEXT,
      permissionSetArns: '',
      permissionSetNames: '',
      createPermissionSets: 'true',
      targetAccountIds: `${MANAGEMENT_ACCOUNT},210987654321`,
    }).management;
  });

  it('creates short-session break-glass permission sets', () => {
    template.resourceCountIs('AWS::SSO::PermissionSet', 2);
    template.hasResourceProperties('AWS::SSO::PermissionSet', {
      InstanceArn: INSTANCE,
      Name: 'BreakglassAdmin',
      SessionDuration: 'PT1H',
      ManagedPolicies: ['arn:aws:iam::aws:policy/AdministratorAccess'],
    });
    template.hasResourceProperties('AWS::SSO::PermissionSet', {
      Name: 'BreakglassReadOnly',
      SessionDuration: 'PT1H',
      ManagedPolicies: ['arn:aws:iam::aws:policy/ReadOnlyAccess'],
    });
  });

  it('assigns exactly those permission sets, and narrows the reserved roles to them', () => {
    const statements = bySid(template);
    expect(list(statements.get('AssignConfiguredPermissionSetsOnly')?.Resource).map(render)).toEqual([
      INSTANCE,
      '${AdminPermissionSet.PermissionSetArn}',
      '${ReadOnlyPermissionSet.PermissionSetArn}',
      `arn:aws:sso:::account/${MANAGEMENT_ACCOUNT}`,
      'arn:aws:sso:::account/210987654321',
    ]);
    expect(statements.get('ProvisionReservedSsoRolesInManagementAccount')?.Resource).toEqual([
      `arn:aws:iam::${MANAGEMENT_ACCOUNT}:role/aws-reserved/sso.amazonaws.com/*AWSReservedSSO_BreakglassAdmin_*`,
      `arn:aws:iam::${MANAGEMENT_ACCOUNT}:role/aws-reserved/sso.amazonaws.com/*AWSReservedSSO_BreakglassReadOnly_*`,
    ]);
    expect(leastPrivilegeViolations(template)).toEqual([]);
  });

  it('edits the inline policy of and re-provisions exactly those permission sets, on the configured accounts', () => {
    const statements = bySid(template);
    const created = ['${AdminPermissionSet.PermissionSetArn}', '${ReadOnlyPermissionSet.PermissionSetArn}'];
    expect(list(statements.get('EditInlinePolicyOfConfiguredPermissionSetsOnly')?.Resource).map(render)).toEqual([INSTANCE, ...created]);
    expect(list(statements.get('ProvisionConfiguredPermissionSetsOnly')?.Resource).map(render)).toEqual([
      INSTANCE,
      ...created,
      `arn:aws:sso:::account/${MANAGEMENT_ACCOUNT}`,
      'arn:aws:sso:::account/210987654321',
    ]);
  });
});

describe('management-account role stack for member accounts only', () => {
  it('needs no IAM permissions when the management account is not a target', () => {
    const template = synth({ ...CONTEXT, targetAccountIds: '210987654321' }).management;
    const actions = identityStatements(template).flatMap(({ statement }) => list(statement.Action));
    expect(actions.filter((a) => a.startsWith('iam:'))).toEqual([]);
  });
});

describe('least-privilege check', () => {
  it('catches a write on "*" and a service-wide action', () => {
    const stack = new Stack(new App(), 'Bad');
    new iam.Role(stack, 'Role', {
      assumedBy: new iam.AccountRootPrincipal(),
      inlinePolicies: {
        bad: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({ sid: 'WriteAnywhere', actions: ['sso:CreateAccountAssignment', 'sso:ListInstances'], resources: ['*'] }),
            new iam.PolicyStatement({ sid: 'Everything', actions: ['dynamodb:*'], resources: ['arn:aws:dynamodb:eu-west-1:123456789012:table/t'] }),
            // Only LookupEvents is exempt, not CloudTrail: stopping the trail on "*" is caught.
            new iam.PolicyStatement({ sid: 'Trail', actions: ['cloudtrail:LookupEvents', 'cloudtrail:StopLogging'], resources: ['*'] }),
          ],
        }),
      },
    });
    expect(leastPrivilegeViolations(Template.fromStack(stack)).map((v) => v.replace(/^Role[0-9A-F]{8}/, 'Role'))).toEqual([
      'Role/WriteAnywhere: sso:CreateAccountAssignment on *',
      'Role/Everything: every action of dynamodb:*',
      'Role/Trail: cloudtrail:StopLogging on *',
    ]);
  });
});
