import { Annotations, aws_logs as logs } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Deployment settings, read from CDK context (`cdk deploy -c key=value`, cdk.json) or, for
 * runs without the CDK CLI such as `npm run synth`, from the environment variable
 * BREAKGLASS_<KEY_IN_SNAKE_CASE> (managementAccountId -> BREAKGLASS_MANAGEMENT_ACCOUNT_ID).
 * Nothing here is looked up in AWS: synthesis works offline.
 */
export type Lookup = (key: string) => unknown;

/** Placeholders used when a setting is absent, so that synthesis still works offline. */
const EXAMPLE = {
  managementAccountId: '111111111111',
  identityCenterInstanceArn: 'arn:aws:sso:::instance/ssoins-0123456789abcdef',
  identityStoreId: 'd-0123456789',
  permissionSetArn: 'arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef',
  permissionSetName: 'BreakglassAdmin',
  botTaskRoleArn: 'arn:aws:iam::222222222222:role/BreakglassBot-TaskRole-EXAMPLE',
} as const;

const DEFAULT_MANAGEMENT_ROLE_NAME = 'breakglass-identity-center';

export function envVarName(key: string): string {
  return `BREAKGLASS_${key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

/** Context first, then the environment; empty strings count as absent. */
export function contextOrEnv(tryGetContext: (key: string) => unknown, env: NodeJS.ProcessEnv = process.env): Lookup {
  return (key) => {
    const fromContext = tryGetContext(key);
    if (fromContext !== undefined && fromContext !== '') return fromContext;
    const fromEnv = env[envVarName(key)];
    return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
  };
}

/** Synthesis shows this warning; `cdk deploy --strict` or a careful operator stops on it. */
export function warnAboutExamples(scope: IConstruct, defaulted: string[]): void {
  if (defaulted.length === 0) return;
  Annotations.of(scope).addWarningV2(
    'breakglass:example-values',
    `Using example values for ${defaulted.join(', ')}: set them (-c key=value) before deploying`,
  );
}

/** A context value as a person wrote it (context values may be strings, numbers or JSON). */
const shown = (raw: unknown): string => (typeof raw === 'string' ? raw : JSON.stringify(raw));

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const ACCOUNT_ID = /^\d{12}$/;
const INSTANCE_ARN = /^arn:(aws[a-z-]*):sso:::instance\/((?:sso)?ins-[a-zA-Z0-9-.]{16})$/;
const PERMISSION_SET_ARN = /^arn:aws[a-z-]*:sso:::permissionSet\/(sso)?ins-[a-zA-Z0-9-.]{16}\/ps-[a-zA-Z0-9-./]{16}$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;
const IDENTITY_STORE_ID = /^d-[0-9a-f]{10}$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO_HOURS = /^PT([1-9]|1[0-2])H$/;
const PERMISSION_SET_NAME = /^[\w+=,.@-]{1,32}$/;

class Reader {
  readonly defaulted: string[] = [];
  constructor(private readonly lookup: Lookup) {}

  private check(key: string, raw: unknown, pattern: RegExp, expected: string): string {
    const value = shown(raw).trim();
    if (!pattern.test(value)) throw new ConfigError(`${key} must be ${expected}, got "${value}"`);
    return value;
  }

  string(key: string, pattern: RegExp, expected: string, fallback: string): string {
    const raw = this.lookup(key);
    return raw === undefined ? fallback : this.check(key, raw, pattern, expected);
  }

  /** A setting whose absence means a placeholder is used: recorded so the stack can warn. */
  example(key: string, pattern: RegExp, expected: string, placeholder: string): string {
    if (this.lookup(key) === undefined) this.defaulted.push(key);
    return this.string(key, pattern, expected, placeholder);
  }

  optional(key: string, pattern: RegExp, expected: string): string | undefined {
    const raw = this.lookup(key);
    return raw === undefined ? undefined : this.check(key, raw, pattern, expected);
  }

  /** Comma-separated list (context values may also be JSON arrays in cdk.json). */
  list(key: string, pattern: RegExp, expected: string): string[] | undefined {
    const raw = this.lookup(key);
    if (raw === undefined) return undefined;
    const items = (Array.isArray(raw) ? raw.map(shown) : shown(raw).split(',')).map((s) => s.trim()).filter(Boolean);
    if (items.length === 0) throw new ConfigError(`${key} is empty: give ${expected}, comma-separated`);
    for (const item of items) {
      if (!pattern.test(item)) throw new ConfigError(`${key} must be a comma-separated list of ${expected}, got "${item}"`);
    }
    return [...new Set(items)];
  }

  integer(key: string, fallback: number, min: number, max: number): number {
    const raw = this.lookup(key);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new ConfigError(`${key} must be a whole number from ${min} to ${max}, got "${shown(raw)}"`);
    }
    return value;
  }

  /** One of a few words, as written (case-insensitive); the first is the default. */
  choice<T extends string>(key: string, values: readonly [T, ...T[]]): T {
    const raw = this.lookup(key);
    if (raw === undefined) return values[0];
    const value = shown(raw).trim().toLowerCase();
    const found = values.find((v) => v === value);
    if (found === undefined) throw new ConfigError(`${key} must be ${values.join(' or ')}, got "${shown(raw)}"`);
    return found;
  }

  flag(key: string): boolean {
    const raw = this.lookup(key);
    if (raw === undefined) return false;
    const value = shown(raw).trim().toLowerCase();
    if (value !== 'true' && value !== 'false') throw new ConfigError(`${key} must be true or false, got "${shown(raw)}"`);
    return value === 'true';
  }
}

/** The Identity Center region: the bot must run there, and permission sets live there. */
function readRegion(r: Reader): string | undefined {
  return r.optional('region', /^[a-z]{2}(-[a-z]+)+-\d$/, 'a region name such as eu-west-1');
}

export const CPU_ARCHITECTURES = ['x86_64', 'arm64'] as const;
export const NETWORK_LAYOUTS = ['private', 'public'] as const;

export interface BotConfig {
  managementAccountId: string;
  /** Role in the management account the bot assumes: given, or derived from the fixed role name. */
  assumeRoleArn?: string;
  managementRoleName: string;
  desiredCount: number;
  /** Run in an existing VPC instead of creating one: private subnets with a NAT route, or public subnets in the public layout. */
  existingVpc?: { vpcId: string; subnetIds: string[] };
  /** x86_64, or arm64 (Graviton: the task and the image are built for linux/arm64). */
  cpuArchitecture: (typeof CPU_ARCHITECTURES)[number];
  /** private: tasks in private subnets behind NAT; public: tasks in public subnets with a public IP, no NAT. */
  networkLayout: (typeof NETWORK_LAYOUTS)[number];
  /** NAT gateways of the created VPC; 0 in the public layout (natGateways is ignored there). */
  natGateways: number;
  logRetention: logs.RetentionDays;
  /** Days each audit checkpoint is locked (S3 Object Lock, compliance mode). */
  checkpointRetentionDays: number;
  alarmEmail?: string;
  region?: string;
  /** Settings that fell back to an example value. */
  defaulted: string[];
}

const RETENTION_DAYS = new Set<number>(Object.values(logs.RetentionDays).filter((v): v is number => typeof v === 'number'));

export function readBotConfig(lookup: Lookup): BotConfig {
  const r = new Reader(lookup);
  const vpcId = r.optional('vpcId', /^vpc-[0-9a-f]{8,17}$/, 'a VPC id (vpc-...)');
  const subnetIds = r.list('subnetIds', /^subnet-[0-9a-f]{8,17}$/, 'subnet ids (subnet-...)');
  if ((vpcId === undefined) !== (subnetIds === undefined)) {
    throw new ConfigError('vpcId and subnetIds go together: give both (private subnets that route to a NAT, or public subnets with networkLayout=public) or neither');
  }
  const networkLayout = r.choice('networkLayout', NETWORK_LAYOUTS);
  // Read (and so checked) in both layouts; the public layout has no NAT to count.
  const natGateways = r.integer('natGateways', 2, 1, 2);
  const logRetentionDays = r.integer('logRetentionDays', logs.RetentionDays.ONE_YEAR, 1, 3653);
  if (!RETENTION_DAYS.has(logRetentionDays)) {
    throw new ConfigError(`logRetentionDays must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, ...), got ${logRetentionDays}`);
  }
  return {
    managementAccountId: r.example('managementAccountId', ACCOUNT_ID, 'a 12-digit account id', EXAMPLE.managementAccountId),
    assumeRoleArn: r.optional('assumeRoleArn', ROLE_ARN, 'an IAM role ARN'),
    managementRoleName: r.string('managementRoleName', ROLE_NAME, 'an IAM role name', DEFAULT_MANAGEMENT_ROLE_NAME),
    desiredCount: r.integer('desiredCount', 2, 0, 10),
    existingVpc: vpcId !== undefined && subnetIds !== undefined ? { vpcId, subnetIds } : undefined,
    cpuArchitecture: r.choice('cpuArchitecture', CPU_ARCHITECTURES),
    networkLayout,
    natGateways: networkLayout === 'public' ? 0 : natGateways,
    logRetention: logRetentionDays,
    // S3 accepts up to 100 years of default retention.
    checkpointRetentionDays: r.integer('checkpointRetentionDays', 365, 1, 36500),
    alarmEmail: r.optional('alarmEmail', /^[^@\s]+@[^@\s]+\.[^@\s]+$/, 'an email address'),
    region: readRegion(r),
    defaulted: r.defaulted,
  };
}

export interface ManagementConfig {
  managementAccountId: string;
  /** Both taken from the instance ARN: the partition the ARNs below are built in. */
  partition: string;
  instanceId: string;
  botTaskRoleArn: string;
  roleName: string;
  identityCenterInstanceArn: string;
  identityStoreId: string;
  /** Permission sets the bot may assign (in addition to any this stack creates). */
  permissionSetArns: string[];
  /** Names of those permission sets, one per ARN: the AWSReservedSSO_<name>_* roles the grant touches. */
  permissionSetNames: string[];
  /** Accounts the bot may assign to; the management account by default. */
  targetAccountIds: string[];
  createPermissionSets: boolean;
  sessionDuration: string;
  region?: string;
  defaulted: string[];
}

export function readManagementConfig(lookup: Lookup): ManagementConfig {
  const r = new Reader(lookup);
  const managementAccountId = r.example('managementAccountId', ACCOUNT_ID, 'a 12-digit account id', EXAMPLE.managementAccountId);
  const identityCenterInstanceArn = r.example('identityCenterInstanceArn', INSTANCE_ARN, 'an Identity Center instance ARN (arn:aws:sso:::instance/ssoins-...)', EXAMPLE.identityCenterInstanceArn);
  const createPermissionSets = r.flag('createPermissionSets');
  let permissionSetArns = r.list('permissionSetArns', PERMISSION_SET_ARN, 'permission set ARNs (arn:aws:sso:::permissionSet/ssoins-.../ps-...)');
  let permissionSetNames = r.list('permissionSetNames', PERMISSION_SET_NAME, 'permission set names');
  if (permissionSetArns === undefined && permissionSetNames !== undefined) {
    throw new ConfigError('permissionSetNames names the permission sets in permissionSetArns: give permissionSetArns too');
  }
  if (permissionSetArns === undefined && !createPermissionSets) {
    // The example name goes with the example ARN; the warning names permissionSetArns.
    r.defaulted.push('permissionSetArns');
    permissionSetArns = [EXAMPLE.permissionSetArn];
    permissionSetNames = [EXAMPLE.permissionSetName];
  }
  const [, partition = '', instanceId = ''] = INSTANCE_ARN.exec(identityCenterInstanceArn) ?? [];
  for (const arn of permissionSetArns ?? []) {
    if (arn.split(':')[1] !== partition || arn.split('/')[1] !== instanceId) throw new ConfigError(`permission set ${arn} does not belong to instance ${identityCenterInstanceArn}`);
  }
  // Without the names the IAM grant in the management account could only cover every
  // AWSReservedSSO_* role, including those of permission sets the bot may not assign.
  if (permissionSetArns !== undefined && permissionSetNames === undefined) {
    throw new ConfigError(
      `permissionSetNames is required with permissionSetArns: give the name of each of the ${permissionSetArns.length} permission set(s), comma-separated`,
    );
  }
  if (permissionSetArns !== undefined && permissionSetNames !== undefined && permissionSetNames.length !== permissionSetArns.length) {
    throw new ConfigError(
      `permissionSetNames must give one name per permission set in permissionSetArns: got ${permissionSetNames.length} name(s) for ${permissionSetArns.length} ARN(s)`,
    );
  }
  return {
    managementAccountId,
    partition,
    instanceId,
    botTaskRoleArn: r.example('botTaskRoleArn', ROLE_ARN, 'the bot task role ARN (output TaskRoleArn of the bot stack)', EXAMPLE.botTaskRoleArn),
    roleName: r.string('managementRoleName', ROLE_NAME, 'an IAM role name', DEFAULT_MANAGEMENT_ROLE_NAME),
    identityCenterInstanceArn,
    identityStoreId: r.example('identityStoreId', IDENTITY_STORE_ID, 'an identity store id (d-xxxxxxxxxx)', EXAMPLE.identityStoreId),
    permissionSetArns: permissionSetArns ?? [],
    permissionSetNames: permissionSetNames ?? [],
    targetAccountIds: r.list('targetAccountIds', ACCOUNT_ID, '12-digit account ids') ?? [managementAccountId],
    createPermissionSets,
    sessionDuration: r.string('sessionDuration', ISO_HOURS, 'a whole number of hours from PT1H to PT12H', 'PT1H'),
    region: readRegion(r),
    defaulted: r.defaulted,
  };
}
