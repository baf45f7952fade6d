import { fileURLToPath } from 'node:url';
import {
  Annotations,
  CfnOutput,
  Duration,
  Fn,
  RemovalPolicy,
  Size,
  Stack,
  aws_cloudwatch as cloudwatch,
  aws_cloudwatch_actions as cloudwatchActions,
  aws_dynamodb as dynamodb,
  aws_ec2 as ec2,
  aws_ecr_assets as ecrAssets,
  aws_ecs as ecs,
  aws_iam as iam,
  aws_kms as kms,
  aws_logs as logs,
  aws_s3 as s3,
  aws_secretsmanager as secretsmanager,
  aws_sns as sns,
  aws_sns_subscriptions as subscriptions,
  type StackProps,
} from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { warnAboutExamples, type BotConfig } from './config.ts';

/** The repository root: the Docker build context of the image asset. */
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Sparse indexes the store queries (docs/architecture.md: no Scan on a hot path), as
 * src/store/dynamo.ts TABLE_DEFINITION has them. `requester` came later: a deploy over an
 * existing table adds it (DynamoDB builds it from the items already there).
 */
const TABLE_INDEXES = [
  { indexName: 'due', partitionKey: 'duePk', sortKey: 'dueAt', projectionType: dynamodb.ProjectionType.ALL },
  { indexName: 'outbox', partitionKey: 'outboxPk', sortKey: 'outboxAt', projectionType: dynamodb.ProjectionType.ALL },
  { indexName: 'requester', partitionKey: 'requesterPk', sortKey: 'requesterAt', projectionType: dynamodb.ProjectionType.KEYS_ONLY },
] as const;

/** Where the Dockerfile bakes the policy file (breakglass.yml at the repository root). */
const POLICY_PATH_IN_IMAGE = '/app/breakglass.yml';

const METRIC_NAMESPACE = 'Breakglass';

/** The same probe as the Dockerfile's HEALTHCHECK (ECS ignores the image's own). */
export const HEALTH_PROBE =
  "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))";

/** Where the bot writes audit checkpoints in the checkpoint bucket; its role may write nowhere else. */
const CHECKPOINT_PREFIX = 'checkpoints/';

/** Generated length of the audit-chain key (the bot requires at least 32 characters). */
const AUDIT_KEY_LENGTH = 64;

/** The JSON keys of the Slack secret, injected as environment variables of the same names. */
const SLACK_SECRET_KEYS = ['SLACK_BOT_TOKEN', 'SLACK_APP_TOKEN', 'SLACK_SIGNING_SECRET'] as const;

/** Fargate task size (README's cost table is computed from it). */
export const TASK_CPU = 256;
export const TASK_MEMORY_MIB = 1024;

const ARCHITECTURES: Record<BotConfig['cpuArchitecture'], { cpuArchitecture: ecs.CpuArchitecture; imagePlatform: ecrAssets.Platform }> = {
  x86_64: { cpuArchitecture: ecs.CpuArchitecture.X86_64, imagePlatform: ecrAssets.Platform.LINUX_AMD64 },
  arm64: { cpuArchitecture: ecs.CpuArchitecture.ARM64, imagePlatform: ecrAssets.Platform.LINUX_ARM64 },
};

export interface BotStackProps extends StackProps {
  readonly config: BotConfig;
}

/**
 * The bot, for a security-tooling account (never the management account): DynamoDB table,
 * Slack secret, audit-chain key, checkpoint bucket, two Fargate tasks in Socket Mode, logs and
 * alarms. Its task role can do one thing outside this stack: assume the role that
 * ManagementRoleStack creates.
 */
export class BotStack extends Stack {
  readonly taskRole: iam.Role;
  readonly table: dynamodb.Table;
  readonly slackSecret: secretsmanager.Secret;
  readonly auditKeySecret: secretsmanager.Secret;
  readonly checkpointBucket: s3.Bucket;
  readonly service: ecs.FargateService;
  readonly assumeRoleArn: string;

  constructor(scope: Construct, id: string, props: BotStackProps) {
    super(scope, id, props);
    const { config } = props;
    warnAboutExamples(this, config.defaulted);
    if (config.desiredCount === 0) {
      Annotations.of(this).addInfo('desiredCount is 0: no bot runs until you store the Slack tokens and deploy again');
    }

    // The management role has a fixed name, so its ARN is known before that stack is
    // deployed: no ARN to copy back into this stack and no second deploy for it.
    this.assumeRoleArn =
      config.assumeRoleArn ??
      this.formatArn({ service: 'iam', region: '', account: config.managementAccountId, resource: 'role', resourceName: config.managementRoleName });

    // A customer managed key rather than the AWS managed one: with aws/dynamodb anyone in the
    // account with DynamoDB read access (ReadOnlyAccess, for one) can read the audit trail;
    // with this key they also need kms:Decrypt on this key, which read-only policies do not
    // grant. Disabling the key cuts all access at once. (The key policy delegates to IAM.)
    const dataKey = new kms.Key(this, 'DataKey', {
      description: 'breakglass: DynamoDB table, Slack tokens and audit-chain key',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: dataKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    for (const index of TABLE_INDEXES) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.indexName,
        partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING },
        projectionType: index.projectionType,
      });
    }

    // Created with a random placeholder; the operator stores the tokens with put-secret-value
    // (README.md, "Deploy"), so they never pass through CloudFormation.
    this.slackSecret = new secretsmanager.Secret(this, 'SlackTokens', {
      description: `breakglass Slack credentials: a JSON object with ${SLACK_SECRET_KEYS.join(', ')}`,
      encryptionKey: dataKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // The HMAC key of the audit chain: whoever can write the table but not read this secret
    // cannot recompute the chain after changing a record. Generated by Secrets Manager, so it
    // never passes through CloudFormation or anyone's hands; letters and digits only.
    this.auditKeySecret = new secretsmanager.Secret(this, 'AuditKey', {
      description: 'breakglass audit-chain HMAC key (BREAKGLASS_AUDIT_KEY)',
      encryptionKey: dataKey,
      generateSecretString: { passwordLength: AUDIT_KEY_LENGTH, excludePunctuation: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: config.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // Audit checkpoints: the bot writes the chain's head here now and then. Compliance-mode
    // Object Lock means no one, not even the account root, can change or delete a checkpoint
    // version before its retention ends, so cutting records off the chain's tail in the table
    // shows up in `breakglass audit verify` against the newest checkpoint. S3-managed
    // encryption: checkpoints hold hashes, not secrets, and the task role needs no KMS grant.
    this.checkpointBucket = new s3.Bucket(this, 'Checkpoints', {
      objectLockEnabled: true,
      objectLockDefaultRetention: s3.ObjectLockRetention.compliance(Duration.days(config.checkpointRetentionDays)),
      versioned: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      encryption: s3.BucketEncryption.S3_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.taskRole = this.createTaskRole(dataKey, this.checkpointBucket);

    const { vpc, subnets } = this.network(config);
    // Socket Mode dials out to Slack; nothing dials in. No inbound rule at all, and outbound
    // only HTTPS (Slack's WebSocket, AWS APIs, image pull). The VPC resolver and time sync
    // are link-local and not filtered by security groups.
    const securityGroup = new ec2.SecurityGroup(this, 'TaskSecurityGroup', {
      vpc,
      description: 'breakglass bot: no inbound; outbound HTTPS only',
      allowAllOutbound: false,
    });
    securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to Slack and AWS APIs');

    // Container Insights publishes RunningTaskCount, which the no-tasks alarm watches.
    const cluster = new ecs.Cluster(this, 'Cluster', { vpc, containerInsightsV2: ecs.ContainerInsights.ENABLED });

    // The task and its image are for one architecture. arm64 (Graviton) costs less per hour
    // and runs the same image: the Dockerfile's Debian base and the native modules (esbuild,
    // classic-level) ship linux-arm64 builds.
    const { cpuArchitecture, imagePlatform } = ARCHITECTURES[config.cpuArchitecture];
    // 1 GiB: room above the peak measured in `npm run bench` (README) for bursts of Slack and Identity Center work.
    const taskDefinition = new ecs.FargateTaskDefinition(this, 'TaskDefinition', {
      cpu: TASK_CPU,
      memoryLimitMiB: TASK_MEMORY_MIB,
      taskRole: this.taskRole,
      runtimePlatform: { cpuArchitecture, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    taskDefinition.addContainer('bot', {
      image: ecs.ContainerImage.fromAsset(REPO_ROOT, { platform: imagePlatform }),
      // Non-blocking: if CloudWatch Logs stalls, the bot (and its revokes) keeps running; the
      // audit record of truth is the table, not the log.
      logging: ecs.LogDrivers.awsLogs({
        logGroup,
        streamPrefix: 'bot',
        mode: ecs.AwsLogDriverMode.NON_BLOCKING,
        maxBufferSize: Size.mebibytes(25),
      }),
      environment: {
        AWS_REGION: this.region,
        BREAKGLASS_TABLE: this.table.tableName,
        BREAKGLASS_ASSUME_ROLE_ARN: this.assumeRoleArn,
        BREAKGLASS_POLICY: POLICY_PATH_IN_IMAGE,
        BREAKGLASS_CHECKPOINT_BUCKET: this.checkpointBucket.bucketName,
        SLACK_SOCKET_MODE: 'true',
      },
      // Read by the execution role at task start, never by the bot's own role.
      secrets: {
        ...Object.fromEntries(SLACK_SECRET_KEYS.map((key) => [key, ecs.Secret.fromSecretsManager(this.slackSecret, key)])),
        BREAKGLASS_AUDIT_KEY: ecs.Secret.fromSecretsManager(this.auditKeySecret),
      },
      healthCheck: {
        command: ['CMD', 'node', '-e', HEALTH_PROBE],
        interval: Duration.seconds(30),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(60),
      },
      readonlyRootFilesystem: true,
      // An init process as PID 1 forwards SIGTERM to node on deploys and scale-in.
      linuxParameters: new ecs.LinuxParameters(this, 'LinuxParameters', { initProcessEnabled: true }),
    });

    // Two tasks in two AZs: the bot stays up through a task or AZ failure. Conditional writes
    // make the replicas safe together (docs/architecture.md).
    this.service = new ecs.FargateService(this, 'Service', {
      cluster,
      taskDefinition,
      desiredCount: config.desiredCount,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { rollback: true },
      vpcSubnets: { subnets },
      // Only the public layout: there the task reaches the internet through its own address.
      assignPublicIp: config.networkLayout === 'public',
      securityGroups: [securityGroup],
      enableExecuteCommand: false,
    });

    const topic = this.createAlarms(config, logGroup, cluster);

    new CfnOutput(this, 'TaskRoleArn', { value: this.taskRole.roleArn, description: 'botTaskRoleArn for the management-account stack' });
    new CfnOutput(this, 'AssumeRoleArn', { value: this.assumeRoleArn, description: 'Role the bot assumes in the management account' });
    new CfnOutput(this, 'SlackSecretArn', { value: this.slackSecret.secretArn, description: 'Store the Slack tokens here (put-secret-value)' });
    new CfnOutput(this, 'AuditKeySecretArn', { value: this.auditKeySecret.secretArn, description: 'BREAKGLASS_AUDIT_KEY: keep it to verify the audit chain' });
    new CfnOutput(this, 'TableName', { value: this.table.tableName });
    new CfnOutput(this, 'CheckpointBucketName', { value: this.checkpointBucket.bucketName, description: 'Audit checkpoints (Object Lock, compliance mode)' });
    new CfnOutput(this, 'LogGroupName', { value: logGroup.logGroupName });
    new CfnOutput(this, 'AlarmTopicArn', { value: topic.topicArn });
  }

  /**
   * The private layout (default): private subnets behind NAT, so the tasks have no address
   * reachable from the internet even if a security group rule were added by mistake, and the
   * egress path is one place to watch. One NAT per AZ by default so an AZ outage (when
   * break-glass access may be needed most) does not cut both tasks off.
   * The public layout: public subnets and a public IP per task, no NAT gateway (cheaper). The
   * security group (no inbound rule, HTTPS out) is then all that keeps the tasks unreachable,
   * and each task leaves from its own address.
   */
  private network(config: BotConfig): { vpc: ec2.IVpc; subnets: ec2.ISubnet[] } {
    if (config.existingVpc !== undefined) {
      const { vpcId, subnetIds } = config.existingVpc;
      // Only ids are used (the security group takes the VPC id, the service the subnet ids), so
      // nothing is looked up and the zones and route tables CDK would like stay undeclared.
      const vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', { vpcId, availabilityZones: Fn.getAzs() });
      const subnets = subnetIds.map((subnetId, i) => ec2.Subnet.fromSubnetId(this, `Subnet${i}`, subnetId));
      const idsOnly = 'only the VPC and subnet ids are used';
      Annotations.of(this).acknowledgeWarning('@aws-cdk/aws-ec2:vpcAttributeIsListTokenavailabilityZones', idsOnly);
      Annotations.of(this).acknowledgeWarning('@aws-cdk/aws-ec2:noSubnetRouteTableId', idsOnly);
      return { vpc, subnets };
    }
    const publicLayout = config.networkLayout === 'public';
    const taskSubnets = publicLayout ? ec2.SubnetType.PUBLIC : ec2.SubnetType.PRIVATE_WITH_EGRESS;
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: publicLayout ? 0 : config.natGateways,
      subnetConfiguration: publicLayout
        ? [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }]
        : [
            { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
            { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 24 },
          ],
      restrictDefaultSecurityGroup: true,
    });
    return { vpc, subnets: vpc.selectSubnets({ subnetType: taskSubnets }).subnets };
  }

  /**
   * Written out rather than table.grantReadWriteData(): exactly the item operations on this
   * table and its two indexes, writes on the table only, the key only through DynamoDB, and
   * sts:AssumeRole on the one management role. Nothing else; not even the Slack secret or the
   * audit-chain key.
   * No DeleteItem or BatchWriteItem: the bot never deletes an item (the store only gets,
   * queries, puts and updates), so neither may its role. Checkpoints are write-only: PutObject
   * under the prefix, nothing that reads, lists, deletes or changes a retention or legal hold
   * (new objects take the bucket's default retention).
   */
  private createTaskRole(dataKey: kms.IKey, checkpointBucket: s3.IBucket): iam.Role {
    const role = new iam.Role(this, 'TaskRole', {
      description: 'breakglass bot task: own table, and assume the management-account role',
      // Confused-deputy guard: only ECS tasks of this account and region may assume it.
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com').withConditions({
        ArnLike: { 'aws:SourceArn': this.formatArn({ service: 'ecs', resource: '*' }) },
        StringEquals: { 'aws:SourceAccount': this.account },
      }),
    });
    const indexArns = TABLE_INDEXES.map(({ indexName }) => `${this.table.tableArn}/index/${indexName}`);
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'AssumeManagementAccountRole',
      actions: ['sts:AssumeRole'],
      resources: [this.assumeRoleArn],
    }));
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'ReadOwnTable',
      actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:DescribeTable'],
      resources: [this.table.tableArn, ...indexArns],
    }));
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'WriteOwnTable',
      actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem'],
      resources: [this.table.tableArn],
    }));
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'UseDataKeyThroughDynamoDB',
      actions: ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*'],
      resources: [dataKey.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${this.region}.amazonaws.com` } },
    }));
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'WriteCheckpoints',
      actions: ['s3:PutObject'],
      resources: [checkpointBucket.arnForObjects(`${CHECKPOINT_PREFIX}*`)],
    }));
    return role;
  }

  private createAlarms(config: BotConfig, logGroup: logs.ILogGroup, cluster: ecs.ICluster): sns.Topic {
    const topic = new sns.Topic(this, 'AlarmTopic', { displayName: 'breakglass alarms', enforceSSL: true });
    if (config.alarmEmail !== undefined) topic.addSubscription(new subscriptions.EmailSubscription(config.alarmEmail));
    const notify = new cloudwatchActions.SnsAction(topic);
    const alarm = (id: string, props: cloudwatch.AlarmProps): void => {
      const created = new cloudwatch.Alarm(this, id, props);
      created.addAlarmAction(notify);
      created.addOkAction(notify);
    };

    // The bot logs one pino JSON line per event; count revoke trouble by its `event` field.
    const revokeMetric = (event: string, metricName: string): cloudwatch.IMetric =>
      new logs.MetricFilter(this, `${metricName}Filter`, {
        logGroup,
        filterPattern: logs.FilterPattern.stringValue('$.event', '=', event),
        metricNamespace: METRIC_NAMESPACE,
        metricName,
        metricValue: '1',
      }).metric({ statistic: cloudwatch.Stats.SUM, period: Duration.minutes(5) });

    alarm('RevokeFailedAlarm', {
      alarmDescription: 'breakglass: a revoke failed (event revoke.failed). Access may outlive its approval: check the audit channel and Identity Center now.',
      metric: revokeMetric('revoke.failed', 'RevokeFailed'),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm('RevokeRetryingAlarm', {
      alarmDescription: 'breakglass: revokes have been retrying for 15 minutes (event revoke.retrying). Identity Center or the management-account role may be failing.',
      metric: revokeMetric('revoke.retrying', 'RevokeRetrying'),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    // RunningTaskCount (Container Insights) counts tasks directly; the service CPU metric only
    // implies them by its sample count. No data at all also means no tasks.
    alarm('NoRunningTasksAlarm', {
      alarmDescription: 'breakglass: no bot task has been running for 3 minutes. Requests are not answered and expiring access is not revoked.',
      metric: new cloudwatch.Metric({
        namespace: 'ECS/ContainerInsights',
        metricName: 'RunningTaskCount',
        dimensionsMap: { ClusterName: cluster.clusterName, ServiceName: this.service.serviceName },
        statistic: cloudwatch.Stats.MAXIMUM,
        period: Duration.minutes(1),
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    return topic;
  }
}
