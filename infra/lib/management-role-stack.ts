import { CfnOutput, Duration, Stack, aws_iam as iam, aws_sso as sso, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { warnAboutExamples, type ManagementConfig } from './config.ts';

export interface ManagementRoleStackProps extends StackProps {
  readonly config: ManagementConfig;
}

/** Example break-glass permission sets, created only with -c createPermissionSets=true. */
const EXAMPLE_PERMISSION_SETS = [
  { id: 'AdminPermissionSet', name: 'BreakglassAdmin', managedPolicy: 'AdministratorAccess' },
  { id: 'ReadOnlyPermissionSet', name: 'BreakglassReadOnly', managedPolicy: 'ReadOnlyAccess' },
] as const;

/**
 * The one role the bot assumes, in the Organizations management account. It trusts only the
 * bot's task role and may only create and delete account assignments of the configured
 * permission sets on the configured accounts, edit those permission sets' inline policy and
 * re-provision them there (to end live sessions at revoke), and read what it needs to do
 * that safely.
 *
 * Resource ARNs follow the Service Authorization Reference:
 *   sso:           instance/${InstanceId}, permissionSet/${InstanceId}/${PermissionSetId}, account/${AccountId}
 *   identitystore: identitystore/${IdentityStoreId} (in the management account), user/*, group/*, membership/*
 */
export class ManagementRoleStack extends Stack {
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: ManagementRoleStackProps) {
    super(scope, id, props);
    const { config } = props;
    warnAboutExamples(this, config.defaulted);
    const { partition, instanceId } = config;

    const created = config.createPermissionSets ? this.createPermissionSets(config) : [];
    const permissionSetArns = [...config.permissionSetArns, ...created.map((ps) => ps.attrPermissionSetArn)];
    // The AWSReservedSSO_<name>_<suffix> roles of exactly these permission sets (config.ts
    // requires a name for every given ARN).
    const permissionSetNames = [...config.permissionSetNames, ...created.map((ps) => ps.name)];

    const ssoArn = (resource: string): string => `arn:${partition}:sso:::${resource}`;
    const accountArns = config.targetAccountIds.map((accountId) => ssoArn(`account/${accountId}`));
    const iamArn = (resource: string): string => `arn:${partition}:iam::${config.managementAccountId}:${resource}`;

    const statements = [
      new iam.PolicyStatement({
        sid: 'AssignConfiguredPermissionSetsOnly',
        actions: ['sso:CreateAccountAssignment', 'sso:DeleteAccountAssignment'],
        resources: [config.identityCenterInstanceArn, ...permissionSetArns, ...accountArns],
      }),
      // Ending live sessions at revoke: the bot adds a Deny to a break-glass permission set's
      // inline policy, re-provisions it, and later puts the policy back without that statement
      // (or deletes it when the Deny was its only statement: IAM refuses a policy with no
      // statement, so "put it back empty" is not always possible). Service Authorization
      // Reference, "Actions, resources, and condition keys for AWS IAM Identity Center": Get/
      // Put/DeleteInlinePolicy... require Instance* and PermissionSet* and support no Account
      // resource, so they are scoped to the instance and these permission sets only. Delete
      // adds no power over Put, which can already replace the policy with anything.
      new iam.PolicyStatement({
        sid: 'EditInlinePolicyOfConfiguredPermissionSetsOnly',
        actions: ['sso:GetInlinePolicyForPermissionSet', 'sso:PutInlinePolicyToPermissionSet', 'sso:DeleteInlinePolicyFromPermissionSet'],
        resources: [config.identityCenterInstanceArn, ...permissionSetArns],
      }),
      // ProvisionPermissionSet requires Account*, Instance* and PermissionSet*: the bot may
      // re-provision these permission sets to the configured accounts (TargetType AWS_ACCOUNT,
      // one account at a time), nowhere else.
      new iam.PolicyStatement({
        sid: 'ProvisionConfiguredPermissionSetsOnly',
        actions: ['sso:ProvisionPermissionSet'],
        resources: [config.identityCenterInstanceArn, ...permissionSetArns, ...accountArns],
      }),
      // DescribePermissionSetProvisioningStatus supports the Instance resource only.
      new iam.PolicyStatement({
        sid: 'ReadProvisioningStatus',
        actions: ['sso:DescribePermissionSetProvisioningStatus'],
        resources: [config.identityCenterInstanceArn],
      }),
      new iam.PolicyStatement({
        sid: 'ReadAssignmentsAndStatus',
        actions: [
          'sso:DescribeAccountAssignmentCreationStatus',
          'sso:DescribeAccountAssignmentDeletionStatus',
          'sso:ListAccountAssignmentCreationStatus',
          'sso:ListAccountAssignmentDeletionStatus',
          'sso:ListAccountAssignments',
          'sso:ListAccountsForProvisionedPermissionSet',
          // The access review lists every permission set on the management account (Instance, Account).
          'sso:ListPermissionSetsProvisionedToAccount',
          'sso:DescribePermissionSet',
          'sso:ListPermissionSets',
        ],
        resources: [config.identityCenterInstanceArn, ssoArn(`permissionSet/${instanceId}/*`), ...accountArns],
      }),
      // ListInstances supports no resource-level permissions; it is read-only.
      new iam.PolicyStatement({ sid: 'ListInstances', actions: ['sso:ListInstances'], resources: ['*'] }),
      // Session activity reports: what a break-glass session did in the management account.
      // LookupEvents is read-only (it reads CloudTrail's event history, changes nothing) and
      // supports no resource-level permissions (Service Authorization Reference, "Actions,
      // resources, and condition keys for AWS CloudTrail": no resource type), so "*" is the only
      // form IAM accepts. It reads every management event of this account in the region called.
      new iam.PolicyStatement({ sid: 'LookupManagementAccountEvents', actions: ['cloudtrail:LookupEvents'], resources: ['*'] }),
      new iam.PolicyStatement({
        sid: 'ReadIdentityStore',
        actions: [
          'identitystore:GetUserId',
          'identitystore:DescribeUser',
          'identitystore:ListUsers',
          'identitystore:GetGroupId',
          'identitystore:DescribeGroup',
          'identitystore:ListGroups',
          'identitystore:ListGroupMemberships',
          'identitystore:ListGroupMembershipsForMember',
          'identitystore:GetGroupMembershipId',
          'identitystore:IsMemberInGroups',
        ],
        resources: [
          `arn:${partition}:identitystore::${config.managementAccountId}:identitystore/${config.identityStoreId}`,
          `arn:${partition}:identitystore:::user/*`,
          `arn:${partition}:identitystore:::group/*`,
          `arn:${partition}:identitystore:::membership/*`,
        ],
      }),
    ];

    if (config.targetAccountIds.includes(config.managementAccountId)) {
      // In the management account Identity Center does not use its service-linked role: it
      // creates, updates and deletes the AWSReservedSSO_* roles (and the AWSSSO_* SAML
      // provider) with the caller's own credentials, so the caller needs those IAM actions
      // (IAM Identity Center User Guide, "Understanding service-linked roles in IAM Identity
      // Center": "When IAM Identity Center performs any IAM operations in the AWS Organizations
      // management account, all operations happen using the credentials of the IAM principal";
      // the role actions mirror AWSSSOServiceRolePolicy, which has iam:PutRolePolicy and
      // iam:DeleteRolePolicy for what re-provisioning a changed or removed inline policy does to
      // the reserved role; not verified by a deployment). Only under Identity Center's reserved
      // path; the path may carry a region (/aws-reserved/sso.amazonaws.com/eu-west-1/), hence
      // the `*`.
      const reservedRoles = permissionSetNames.map((name) => iamArn(`role/aws-reserved/sso.amazonaws.com/*AWSReservedSSO_${name}_*`));
      // Only when a service makes the call with this role's credentials, never the bot itself
      // (it calls no IAM API). IAM User Guide, "AWS global condition context keys":
      // aws:ViaAWSService is true "when a service uses the credentials of an IAM principal to
      // make a request on behalf of the principal" and false "when the principal makes the
      // call directly"; "Forward access sessions": requests a service makes with the caller's
      // credentials set it to true. aws:CalledVia/CalledViaFirst would name the service, but
      // their supported-services list (Athena, CloudFormation, DynamoDB, KMS) does not list
      // Identity Center: on these calls they may be absent, and a condition on them would then
      // break every management-account grant. The role may call no other service that could
      // pass its credentials on to IAM, so in practice only Identity Center can use these.
      const viaAwsService = { Bool: { 'aws:ViaAWSService': 'true' } };
      statements.push(
        new iam.PolicyStatement({
          sid: 'ProvisionReservedSsoRolesInManagementAccount',
          actions: [
            'iam:CreateRole',
            'iam:DeleteRole',
            'iam:GetRole',
            'iam:UpdateRole',
            'iam:UpdateRoleDescription',
            'iam:UpdateAssumeRolePolicy',
            'iam:AttachRolePolicy',
            'iam:DetachRolePolicy',
            'iam:PutRolePolicy',
            'iam:DeleteRolePolicy',
            'iam:ListRolePolicies',
            'iam:ListAttachedRolePolicies',
            'iam:PutRolePermissionsBoundary',
            'iam:DeleteRolePermissionsBoundary',
          ],
          resources: reservedRoles,
          conditions: viaAwsService,
        }),
        new iam.PolicyStatement({
          sid: 'SsoSamlProviderInManagementAccount',
          actions: ['iam:CreateSAMLProvider', 'iam:GetSAMLProvider', 'iam:UpdateSAMLProvider'],
          resources: [iamArn('saml-provider/AWSSSO_*')],
          conditions: viaAwsService,
        }),
        // ListRoles supports no resource-level permissions; it is read-only.
        new iam.PolicyStatement({ sid: 'ListRolesForSso', actions: ['iam:ListRoles'], resources: ['*'], conditions: viaAwsService }),
      );
    }

    this.role = new iam.Role(this, 'AssignmentsRole', {
      roleName: config.roleName,
      description: 'breakglass bot: create and delete Identity Center account assignments of the break-glass permission sets, and end their live sessions through their inline policy',
      // Exactly the bot's task role: not its account root, not any role in that account.
      assumedBy: new iam.ArnPrincipal(config.botTaskRoleArn),
      maxSessionDuration: Duration.hours(1),
      inlinePolicies: { assignments: new iam.PolicyDocument({ statements }) },
    });

    new CfnOutput(this, 'RoleArn', { value: this.role.roleArn, description: 'BREAKGLASS_ASSUME_ROLE_ARN' });
    for (const ps of created) {
      new CfnOutput(this, `${ps.node.id}Arn`, { value: ps.attrPermissionSetArn, description: `permissionSetArn of ${ps.name}` });
    }
  }

  /**
   * Short sessions matter: deleting an assignment stops new sign-ins but does not end a
   * session already issued, which lasts until the permission set's session duration runs out.
   */
  private createPermissionSets(config: ManagementConfig): sso.CfnPermissionSet[] {
    return EXAMPLE_PERMISSION_SETS.map(
      ({ id, name, managedPolicy }) =>
        new sso.CfnPermissionSet(this, id, {
          instanceArn: config.identityCenterInstanceArn,
          name,
          description: `Break-glass ${managedPolicy}, assigned only by the breakglass bot after approval`,
          sessionDuration: config.sessionDuration,
          managedPolicies: [`arn:${config.partition}:iam::aws:policy/${managedPolicy}`],
        }),
    );
  }
}
