import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { App } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { HEALTH_PROBE } from '../../infra/lib/bot-stack.ts';
import { TABLE_DEFINITION } from '../../src/store/dynamo.ts';
import { actionMatches, identityStatements, imagePlatforms, leastPrivilegeViolations, list, onlyId, render, synth, warnings, type Statement } from './template.ts';

const MANAGEMENT_ACCOUNT = '123456789012';
const ROLE_ARN = `arn:aws:iam::${MANAGEMENT_ACCOUNT}:role/breakglass-identity-center`;

/** The task's one security group: no inbound rule at all, outbound HTTPS only. */
function expectNoInboundHttpsOutOnly(template: Template): void {
  template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
  template.resourceCountIs('AWS::EC2::SecurityGroupEgress', 0);
  const groups = Object.values(template.findResources('AWS::EC2::SecurityGroup'));
  expect(groups).toHaveLength(1);
  for (const group of groups) {
    expect(group.Properties.SecurityGroupIngress).toBeUndefined();
    expect(group.Properties.SecurityGroupEgress).toEqual([
      { CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 443, ToPort: 443, Description: 'HTTPS to Slack and AWS APIs' },
    ]);
  }
}

describe('bot stack', () => {
  let template: Template;
  let synthesized: ReturnType<typeof synth>;
  let ids: { table: string; key: string; secret: string; auditKey: string; bucket: string; taskRole: string; executionRole: string; logs: string; topic: string };

  beforeAll(() => {
    synthesized = synth({ managementAccountId: MANAGEMENT_ACCOUNT });
    template = synthesized.bot;
    const roles = template.findResources('AWS::IAM::Role');
    const idOf = (resources: Record<string, unknown>, prefix: string): string => {
      const found = Object.keys(resources).filter((logicalId) => logicalId.startsWith(prefix));
      if (found.length !== 1) throw new Error(`expected one ${prefix}, found ${found.length}`);
      return found[0] as string;
    };
    const roleId = (prefix: string): string => idOf(roles, prefix);
    const secretId = (prefix: string): string => idOf(template.findResources('AWS::SecretsManager::Secret'), prefix);
    ids = {
      table: onlyId(template, 'AWS::DynamoDB::Table'),
      key: onlyId(template, 'AWS::KMS::Key'),
      secret: secretId('SlackTokens'),
      auditKey: secretId('AuditKey'),
      bucket: onlyId(template, 'AWS::S3::Bucket'),
      taskRole: roleId('TaskRole'),
      executionRole: roleId('TaskDefinitionExecutionRole'),
      logs: onlyId(template, 'AWS::Logs::LogGroup'),
      topic: onlyId(template, 'AWS::SNS::Topic'),
    };
  });

  const statementsOf = (role: string): Statement[] =>
    identityStatements(template).filter((s) => s.role === role).map((s) => s.statement);
  const summary = (statements: Statement[]): { actions: string[]; resources: string[]; condition: unknown }[] =>
    statements.map((s) => ({ actions: list(s.Action).sort(), resources: list(s.Resource).map(render).sort(), condition: s.Condition }));

  describe('table', () => {
    it('has the keys, indexes and billing the store relies on', () => {
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        GlobalSecondaryIndexes: [
          {
            IndexName: 'due',
            KeySchema: [
              { AttributeName: 'duePk', KeyType: 'HASH' },
              { AttributeName: 'dueAt', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
          {
            IndexName: 'outbox',
            KeySchema: [
              { AttributeName: 'outboxPk', KeyType: 'HASH' },
              { AttributeName: 'outboxAt', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
          {
            IndexName: 'requester',
            KeySchema: [
              { AttributeName: 'requesterPk', KeyType: 'HASH' },
              { AttributeName: 'requesterAt', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'KEYS_ONLY' },
          },
        ],
        AttributeDefinitions: Match.arrayWith([
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
          { AttributeName: 'duePk', AttributeType: 'S' },
          { AttributeName: 'dueAt', AttributeType: 'S' },
          { AttributeName: 'outboxPk', AttributeType: 'S' },
          { AttributeName: 'outboxAt', AttributeType: 'S' },
          { AttributeName: 'requesterPk', AttributeType: 'S' },
          { AttributeName: 'requesterAt', AttributeType: 'S' },
        ]),
      });
    });

    it('has exactly the indexes the store creates for itself (src/store/dynamo.ts), so both kinds of table answer the same queries', () => {
      const table = Object.values(template.findResources('AWS::DynamoDB::Table'))[0] as { Properties: { GlobalSecondaryIndexes: unknown[] } };
      expect(table.Properties.GlobalSecondaryIndexes).toEqual(TABLE_DEFINITION.GlobalSecondaryIndexes.map((i) => ({ IndexName: i.IndexName, KeySchema: i.KeySchema, Projection: i.Projection })));
    });

    it('is protected: point-in-time recovery, deletion protection, retained, encrypted with its own rotating key', () => {
      template.hasResource('AWS::DynamoDB::Table', {
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: Match.objectLike({
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          DeletionProtectionEnabled: true,
          SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: { 'Fn::GetAtt': [ids.key, 'Arn'] } },
        }),
      });
      template.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Retain', Properties: Match.objectLike({ EnableKeyRotation: true }) });
    });
  });

  it('keeps the Slack tokens in a retained secret under the same key', () => {
    template.hasResource('AWS::SecretsManager::Secret', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({ KmsKeyId: { 'Fn::GetAtt': [ids.key, 'Arn'] } }),
    });
  });

  it('generates the audit-chain key: 64 letters and digits, retained, under the same key, and outputs its ARN', () => {
    const resource = template.findResources('AWS::SecretsManager::Secret')[ids.auditKey];
    expect(resource).toMatchObject({
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        KmsKeyId: { 'Fn::GetAtt': [ids.key, 'Arn'] },
        GenerateSecretString: { PasswordLength: 64, ExcludePunctuation: true },
      },
    });
    // Generated by Secrets Manager: no value in the template.
    expect(resource?.Properties.SecretString).toBeUndefined();
    template.hasOutput('AuditKeySecretArn', { Value: { Ref: ids.auditKey } });
  });

  describe('checkpoint bucket', () => {
    it('locks every checkpoint version in compliance mode for a year, versioned and retained', () => {
      template.hasResource('AWS::S3::Bucket', {
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: Match.objectLike({
          ObjectLockEnabled: true,
          ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 365 } } },
          VersioningConfiguration: { Status: 'Enabled' },
        }),
      });
      template.hasOutput('CheckpointBucketName', { Value: { Ref: ids.bucket } });
    });

    it('blocks all public access, disables ACLs and encrypts at rest', () => {
      template.hasResourceProperties('AWS::S3::Bucket', {
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      });
    });

    it('refuses every request without TLS', () => {
      const policies = Object.values(template.findResources('AWS::S3::BucketPolicy'));
      expect(policies).toHaveLength(1);
      expect(policies[0]?.Properties.Bucket).toEqual({ Ref: ids.bucket });
      const statements = (policies[0]?.Properties.PolicyDocument as { Statement: Statement[] }).Statement;
      expect(statements.map((st) => ({ ...st, Resource: list(st.Resource).map(render) }))).toEqual([
        {
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: 's3:*',
          Resource: [`\${${ids.bucket}.Arn}`, `\${${ids.bucket}.Arn}/*`],
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        },
      ]);
    });

    it('lets the task role only put objects under checkpoints/, and no role do anything else with it', () => {
      const s3Grants = identityStatements(template)
        .filter(({ statement }) => list(statement.Action).some((a) => a.toLowerCase().startsWith('s3:')))
        .map(({ role, statement }) => ({ role, actions: list(statement.Action), resources: list(statement.Resource).map(render), condition: statement.Condition }));
      expect(s3Grants).toEqual([
        { role: ids.taskRole, actions: ['s3:PutObject'], resources: [`\${${ids.bucket}.Arn}/checkpoints/*`], condition: undefined },
      ]);
      // Nothing that reads, lists, deletes or loosens a lock, by any name or wildcard.
      const forbidden = ['s3:GetObject', 's3:ListBucket', 's3:DeleteObject', 's3:DeleteObjectVersion', 's3:PutObjectRetention', 's3:PutObjectLegalHold', 's3:BypassGovernanceRetention', 's3:PutBucketObjectLockConfiguration', 's3:PutBucketPolicy'];
      const granted = identityStatements(template).flatMap(({ statement }) => list(statement.Action));
      expect(forbidden.filter((action) => granted.some((g) => actionMatches(g, action)))).toEqual([]);
    });
  });

  it('keeps logs for a year and retains them', () => {
    template.hasResource('AWS::Logs::LogGroup', { DeletionPolicy: 'Retain', Properties: Match.objectLike({ RetentionInDays: 365 }) });
  });

  describe('service', () => {
    it('runs two Fargate tasks in private subnets without public IPs', () => {
      template.hasResourceProperties('AWS::ECS::Service', {
        LaunchType: 'FARGATE',
        DesiredCount: 2,
        EnableExecuteCommand: false,
        DeploymentConfiguration: Match.objectLike({ MinimumHealthyPercent: 100, DeploymentCircuitBreaker: { Enable: true, Rollback: true } }),
        NetworkConfiguration: {
          AwsvpcConfiguration: Match.objectLike({
            AssignPublicIp: 'DISABLED',
            Subnets: [{ Ref: Match.stringLikeRegexp('^Vpcprivate') }, { Ref: Match.stringLikeRegexp('^Vpcprivate') }],
          }),
        },
      });
      template.resourceCountIs('AWS::EC2::NatGateway', 2);
      template.resourceCountIs('AWS::ElasticLoadBalancingV2::LoadBalancer', 0);
    });

    it('accepts no inbound traffic at all and sends only HTTPS', () => {
      expectNoInboundHttpsOutOnly(template);
      // The VPC's default security group is emptied too.
      template.resourceCountIs('Custom::VpcRestrictDefaultSG', 1);
    });

    it('runs on x86_64 by default: the task definition and the image built for linux/amd64', () => {
      template.hasResourceProperties('AWS::ECS::TaskDefinition', {
        Cpu: '256',
        Memory: '1024',
        RuntimePlatform: { CpuArchitecture: 'X86_64', OperatingSystemFamily: 'LINUX' },
      });
      expect(imagePlatforms(synthesized.stacks.bot)).toEqual(['linux/amd64']);
    });

    it('configures the container from the table, the role ARN, the baked-in policy and the secret', () => {
      template.hasResourceProperties('AWS::ECS::TaskDefinition', {
        TaskRoleArn: { 'Fn::GetAtt': [ids.taskRole, 'Arn'] },
        ContainerDefinitions: [
          Match.objectLike({
            ReadonlyRootFilesystem: true,
            LinuxParameters: Match.objectLike({ InitProcessEnabled: true }),
            Secrets: [
              ...['SLACK_BOT_TOKEN', 'SLACK_APP_TOKEN', 'SLACK_SIGNING_SECRET'].map((name) => ({
                Name: name,
                ValueFrom: { 'Fn::Join': ['', [{ Ref: ids.secret }, `:${name}::`]] },
              })),
              { Name: 'BREAKGLASS_AUDIT_KEY', ValueFrom: { Ref: ids.auditKey } },
            ],
            HealthCheck: Match.objectLike({ Command: ['CMD', 'node', '-e', HEALTH_PROBE] }),
            LogConfiguration: Match.objectLike({ LogDriver: 'awslogs', Options: Match.objectLike({ 'awslogs-group': { Ref: ids.logs } }) }),
          }),
        ],
      });
      const [container] = Object.values(template.findResources('AWS::ECS::TaskDefinition'))[0]?.Properties.ContainerDefinitions as {
        Environment: { Name: string; Value: unknown }[];
      }[];
      expect(Object.fromEntries(container?.Environment.map((e) => [e.Name, render(e.Value)]) ?? [])).toEqual({
        AWS_REGION: '${AWS::Region}',
        BREAKGLASS_TABLE: `\${${ids.table}}`,
        BREAKGLASS_ASSUME_ROLE_ARN: ROLE_ARN,
        BREAKGLASS_POLICY: '/app/breakglass.yml',
        BREAKGLASS_CHECKPOINT_BUCKET: `\${${ids.bucket}}`,
        SLACK_SOCKET_MODE: 'true',
      });
      expect(HEALTH_PROBE).toContain("'/healthz'");
    });
  });

  describe('least privilege', () => {
    it('grants no write on "*" and no service-wide action anywhere', () => {
      expect(leastPrivilegeViolations(template)).toEqual([]);
    });

    it('lets the task role assume only the management role and use only its own table', () => {
      const tableArn = `\${${ids.table}.Arn}`;
      expect(summary(statementsOf(ids.taskRole))).toEqual([
        { actions: ['sts:AssumeRole'], resources: [ROLE_ARN], condition: undefined },
        {
          actions: ['dynamodb:BatchGetItem', 'dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:Query'],
          resources: [tableArn, `${tableArn}/index/due`, `${tableArn}/index/outbox`, `${tableArn}/index/requester`],
          condition: undefined,
        },
        {
          actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem'],
          resources: [tableArn],
          condition: undefined,
        },
        {
          actions: ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey*', 'kms:ReEncrypt*'],
          resources: [`\${${ids.key}.Arn}`],
          condition: { StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['dynamodb.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } } },
        },
        { actions: ['s3:PutObject'], resources: [`\${${ids.bucket}.Arn}/checkpoints/*`], condition: undefined },
      ]);
      expect(template.findResources('AWS::IAM::Role')[ids.taskRole]?.Properties.ManagedPolicyArns).toBeUndefined();
    });

    it('lets no role delete table items or the table: the bot only puts and updates', () => {
      const deleting = ['DeleteItem', 'BatchWriteItem', 'PartiQLDelete', 'DeleteTable', 'DeleteBackup', 'DeleteTableReplica'].map((a) => `dynamodb:${a}`);
      const granted = identityStatements(template)
        .filter(({ statement }) => statement.Effect === 'Allow')
        .flatMap(({ role, statement }) => list(statement.Action).map((action) => ({ role, action })))
        .filter(({ action }) => deleting.some((d) => actionMatches(action, d)));
      expect(granted).toEqual([]);
    });

    it('lets only ECS tasks of this account and region assume the task role', () => {
      template.hasResourceProperties('AWS::IAM::Role', {
        AssumeRolePolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: 'sts:AssumeRole',
              Principal: { Service: 'ecs-tasks.amazonaws.com' },
              Condition: {
                ArnLike: { 'aws:SourceArn': Match.anyValue() },
                StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
              },
            },
          ],
        },
      });
    });

    it.each(['secret', 'auditKey'] as const)('gives the %s secret to the execution role (which starts the task) and to nothing else', (secret) => {
      const secretReaders = identityStatements(template).filter(({ statement }) =>
        list(statement.Resource).some((r) => render(r) === `\${${ids[secret]}}`),
      );
      expect(secretReaders.map((s) => [s.role, list(s.statement.Action).sort()])).toEqual([
        [ids.executionRole, ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue']],
      ]);
      // Nothing grants secretsmanager actions on every secret either.
      const anySecret = identityStatements(template).filter(({ statement }) =>
        list(statement.Action).some((a) => a.startsWith('secretsmanager:')) && list(statement.Resource).map(render).includes('*'),
      );
      expect(anySecret).toEqual([]);
    });

    it('lets only the task role use the table', () => {
      const tableUsers = new Set(
        identityStatements(template)
          .filter(({ statement }) => list(statement.Resource).some((r) => render(r).startsWith(`\${${ids.table}.Arn}`)))
          .map((s) => s.role),
      );
      expect([...tableUsers]).toEqual([ids.taskRole]);
    });

    it('attaches a managed policy only to the CDK custom resource that empties the default security group', () => {
      const withManaged = Object.entries(template.findResources('AWS::IAM::Role')).filter(([, r]) => r.Properties.ManagedPolicyArns !== undefined);
      expect(withManaged.map(([id, r]) => [id.replace(/[0-9A-F]{8}$/, ''), (r.Properties.ManagedPolicyArns as unknown[]).map(render)])).toEqual([
        ['CustomVpcRestrictDefaultSGCustomResourceProviderRole', ['arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole']],
      ]);
    });
  });

  describe('alarms', () => {
    it('counts revoke failures and retries from the JSON log lines', () => {
      template.hasResourceProperties('AWS::Logs::MetricFilter', {
        LogGroupName: { Ref: ids.logs },
        FilterPattern: '{ $.event = "revoke.failed" }',
        MetricTransformations: [{ MetricNamespace: 'Breakglass', MetricName: 'RevokeFailed', MetricValue: '1' }],
      });
      template.hasResourceProperties('AWS::Logs::MetricFilter', {
        LogGroupName: { Ref: ids.logs },
        FilterPattern: '{ $.event = "revoke.retrying" }',
        MetricTransformations: [{ MetricNamespace: 'Breakglass', MetricName: 'RevokeRetrying', MetricValue: '1' }],
      });
    });

    it('alarms when a revoke fails, when revokes keep retrying, and when no task runs', () => {
      const notify = { AlarmActions: [{ Ref: ids.topic }] };
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        ...notify,
        Namespace: 'Breakglass',
        MetricName: 'RevokeFailed',
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Threshold: 1,
        EvaluationPeriods: 1,
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        ...notify,
        Namespace: 'Breakglass',
        MetricName: 'RevokeRetrying',
        EvaluationPeriods: 3,
        DatapointsToAlarm: 3,
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        ...notify,
        Namespace: 'ECS/ContainerInsights',
        MetricName: 'RunningTaskCount',
        ComparisonOperator: 'LessThanThreshold',
        Threshold: 1,
        TreatMissingData: 'breaching',
      });
      template.resourceCountIs('AWS::CloudWatch::Alarm', 3);
      template.hasResourceProperties('AWS::ECS::Cluster', { ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }] });
    });
  });

  it('builds the image from the allowlisted context only (the .dockerignore is honoured)', () => {
    const { directory } = (synthesized.stacks.bot.node.root as App).synth();
    const images = readdirSync(directory).filter((name) => name.startsWith('asset.') && existsSync(join(directory, name, 'Dockerfile')));
    expect(images).toHaveLength(1);
    const context = join(directory, images[0] as string);
    const allowed = ['.dockerignore', 'Dockerfile', 'bin', 'breakglass.yml', 'manifest.yml', 'package-lock.json', 'package.json', 'scripts', 'src', 'tsconfig.build.json', 'tsconfig.json'];
    expect(readdirSync(context).filter((name) => !allowed.includes(name))).toEqual([]);
    expect(readdirSync(context)).toEqual(expect.arrayContaining(['Dockerfile', 'package.json', 'package-lock.json', 'scripts', 'tsconfig.json']));
    const files = readdirSync(context, { recursive: true, encoding: 'utf8' });
    expect(files.filter((file) => file.endsWith('.test.ts'))).toEqual([]);
  });

  it('outputs the task role ARN for the management-account stack', () => {
    template.hasOutput('TaskRoleArn', { Value: { 'Fn::GetAtt': [ids.taskRole, 'Arn'] } });
  });

  it('warns while settings still hold example values', () => {
    expect(warnings(synthesized.stacks.bot)).toEqual([]);
    expect(warnings(synthesized.stacks.management)).toEqual([
      expect.stringMatching(/^Using example values for identityCenterInstanceArn, permissionSetArns, botTaskRoleArn, identityStoreId:/),
    ]);
  });
});

describe('bot stack in an existing VPC', () => {
  let template: Template;
  let synthesized: ReturnType<typeof synth>;
  beforeAll(() => {
    synthesized = synth({
      managementAccountId: MANAGEMENT_ACCOUNT,
      vpcId: 'vpc-0123456789abcdef0',
      subnetIds: 'subnet-0123456789abcdef0,subnet-0123456789abcdef1',
      assumeRoleArn: 'arn:aws:iam::123456789012:role/custom/other-name',
      alarmEmail: 'security@example.com',
      desiredCount: '0',
      checkpointRetentionDays: '2555',
    });
    template = synthesized.bot;
  });

  it('locks checkpoints for checkpointRetentionDays', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 2555 } } },
    });
  });

  it('creates no network of its own and runs in the given subnets, without warnings', () => {
    expect(warnings(synthesized.stacks.bot)).toEqual([]);
    template.resourceCountIs('AWS::EC2::VPC', 0);
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.hasResourceProperties('AWS::EC2::SecurityGroup', { VpcId: 'vpc-0123456789abcdef0' });
    template.hasResourceProperties('AWS::ECS::Service', {
      DesiredCount: 0,
      NetworkConfiguration: {
        AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'DISABLED', Subnets: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'] }),
      },
    });
    expectNoInboundHttpsOutOnly(template);
  });

  it('uses an explicit role ARN and mails the alarms', () => {
    const assume = identityStatements(template).find(({ statement }) => statement.Sid === 'AssumeManagementAccountRole');
    expect(assume?.statement.Resource).toBe('arn:aws:iam::123456789012:role/custom/other-name');
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'security@example.com' });
    expect(leastPrivilegeViolations(template)).toEqual([]);
  });
});

describe('bot stack on Graviton (cpuArchitecture=arm64)', () => {
  it('runs the task on ARM64 with the image built for linux/arm64', () => {
    const synthesized = synth({ managementAccountId: MANAGEMENT_ACCOUNT, cpuArchitecture: 'arm64' });
    synthesized.bot.hasResourceProperties('AWS::ECS::TaskDefinition', {
      RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
    });
    expect(imagePlatforms(synthesized.stacks.bot)).toEqual(['linux/arm64']);
    expect(warnings(synthesized.stacks.bot)).toEqual([]);
  });
});

describe('bot stack in the public layout (networkLayout=public)', () => {
  let template: Template;
  let synthesized: ReturnType<typeof synth>;
  beforeAll(() => {
    // natGateways is ignored in the public layout.
    synthesized = synth({ managementAccountId: MANAGEMENT_ACCOUNT, networkLayout: 'public', natGateways: '2' });
    template = synthesized.bot;
  });

  it('creates no NAT gateway and no private subnet, only public subnets in two zones', () => {
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.resourceCountIs('AWS::EC2::EIP', 0);
    template.resourceCountIs('AWS::EC2::InternetGateway', 1);
    const subnets = Object.keys(template.findResources('AWS::EC2::Subnet'));
    expect(subnets).toHaveLength(2);
    expect(subnets.every((id) => id.startsWith('Vpcpublic'))).toBe(true);
  });

  it('runs the tasks in the public subnets with a public IP', () => {
    template.hasResourceProperties('AWS::ECS::Service', {
      NetworkConfiguration: {
        AwsvpcConfiguration: Match.objectLike({
          AssignPublicIp: 'ENABLED',
          Subnets: [{ Ref: Match.stringLikeRegexp('^Vpcpublic') }, { Ref: Match.stringLikeRegexp('^Vpcpublic') }],
        }),
      },
    });
  });

  it('still accepts no inbound traffic at all and sends only HTTPS', () => {
    expectNoInboundHttpsOutOnly(template);
    template.resourceCountIs('Custom::VpcRestrictDefaultSG', 1);
  });

  it('changes nothing else: least privilege holds and no warning', () => {
    expect(leastPrivilegeViolations(template)).toEqual([]);
    expect(warnings(synthesized.stacks.bot)).toEqual([]);
  });
});

describe('bot stack in the public layout in an existing VPC', () => {
  it('gives the tasks a public IP in the given (public) subnets and creates no network', () => {
    const template = synth({
      managementAccountId: MANAGEMENT_ACCOUNT,
      networkLayout: 'public',
      vpcId: 'vpc-0123456789abcdef0',
      subnetIds: 'subnet-0123456789abcdef0,subnet-0123456789abcdef1',
    }).bot;
    template.resourceCountIs('AWS::EC2::VPC', 0);
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.hasResourceProperties('AWS::ECS::Service', {
      NetworkConfiguration: {
        AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'ENABLED', Subnets: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'] }),
      },
    });
    expectNoInboundHttpsOutOnly(template);
  });
});
