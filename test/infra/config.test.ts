import { describe, expect, it } from 'vitest';
import { ConfigError, contextOrEnv, envVarName, readBotConfig, readManagementConfig, type Lookup } from '../../infra/lib/config.ts';

const from = (values: Record<string, string>): Lookup => (key) => values[key];

describe('infra settings', () => {
  it('maps context keys to BREAKGLASS_ environment variables', () => {
    expect(envVarName('managementAccountId')).toBe('BREAKGLASS_MANAGEMENT_ACCOUNT_ID');
    expect(envVarName('subnetIds')).toBe('BREAKGLASS_SUBNET_IDS');
  });

  it('prefers context over the environment and treats empty values as absent', () => {
    const lookup = contextOrEnv((key) => ({ a: 'context', b: '' })[key], { BREAKGLASS_A: 'env', BREAKGLASS_B: 'env-b', BREAKGLASS_C: '' });
    expect([lookup('a'), lookup('b'), lookup('c')]).toEqual(['context', 'env-b', undefined]);
  });

  it('falls back to example values for the bot, and records which', () => {
    const config = readBotConfig(from({}));
    expect(config).toMatchObject({
      managementAccountId: '111111111111',
      managementRoleName: 'breakglass-identity-center',
      desiredCount: 2,
      natGateways: 2,
      logRetention: 365,
      checkpointRetentionDays: 365,
      cpuArchitecture: 'x86_64',
      networkLayout: 'private',
    });
    expect(config.defaulted).toEqual(['managementAccountId']);
  });

  it('takes checkpointRetentionDays as a whole number of days, up to the 100 years S3 allows', () => {
    expect(readBotConfig(from({ checkpointRetentionDays: '1' })).checkpointRetentionDays).toBe(1);
    expect(readBotConfig(from({ checkpointRetentionDays: '36500' })).checkpointRetentionDays).toBe(36500);
  });

  it('takes cpuArchitecture and networkLayout, and needs no NAT gateway in the public layout', () => {
    expect(readBotConfig(from({ cpuArchitecture: 'arm64' })).cpuArchitecture).toBe('arm64');
    expect(readBotConfig(from({ cpuArchitecture: 'ARM64 ' })).cpuArchitecture).toBe('arm64');
    expect(readBotConfig(from({ networkLayout: 'private', natGateways: '1' }))).toMatchObject({ networkLayout: 'private', natGateways: 1 });
    expect(readBotConfig(from({ networkLayout: 'public' }))).toMatchObject({ networkLayout: 'public', natGateways: 0 });
    expect(readBotConfig(from({ networkLayout: 'public', natGateways: '2' }))).toMatchObject({ networkLayout: 'public', natGateways: 0 });
  });

  it.each([
    [{ cpuArchitecture: 'amd64' }, /cpuArchitecture must be x86_64 or arm64, got "amd64"/],
    [{ cpuArchitecture: 'graviton' }, /cpuArchitecture must be x86_64 or arm64, got "graviton"/],
    [{ networkLayout: 'nat' }, /networkLayout must be private or public, got "nat"/],
    [{ networkLayout: 'public', natGateways: '3' }, /natGateways must be a whole number from 1 to 2/],
    [{ managementAccountId: '1234' }, /managementAccountId must be a 12-digit account id, got "1234"/],
    [{ vpcId: 'vpc-0123456789abcdef0' }, /vpcId and subnetIds go together/],
    [{ subnetIds: 'subnet-0123456789abcdef0,nope', vpcId: 'vpc-0123456789abcdef0' }, /subnetIds must be a comma-separated list of subnet ids .*"nope"/],
    [{ desiredCount: 'two' }, /desiredCount must be a whole number from 0 to 10/],
    [{ logRetentionDays: '200' }, /logRetentionDays must be a value CloudWatch Logs accepts/],
    [{ assumeRoleArn: 'breakglass' }, /assumeRoleArn must be an IAM role ARN/],
    [{ alarmEmail: 'security' }, /alarmEmail must be an email address/],
    [{ checkpointRetentionDays: '0' }, /checkpointRetentionDays must be a whole number from 1 to 36500, got "0"/],
    [{ checkpointRetentionDays: '36501' }, /checkpointRetentionDays must be a whole number from 1 to 36500/],
    [{ checkpointRetentionDays: '365.5' }, /checkpointRetentionDays must be a whole number from 1 to 36500/],
    [{ checkpointRetentionDays: 'a year' }, /checkpointRetentionDays must be a whole number from 1 to 36500/],
  ])('rejects a bad bot setting %o with a message naming it', (values, message) => {
    expect(() => readBotConfig(from(values))).toThrow(ConfigError);
    expect(() => readBotConfig(from(values))).toThrow(message);
  });

  it('targets the management account by default and takes the partition and instance from the instance ARN', () => {
    const config = readManagementConfig(
      from({
        managementAccountId: '123456789012',
        identityCenterInstanceArn: 'arn:aws-us-gov:sso:::instance/ssoins-1111222233334444',
        permissionSetArns: 'arn:aws-us-gov:sso:::permissionSet/ssoins-1111222233334444/ps-aaaabbbbccccdddd',
        permissionSetNames: 'BreakglassAdmin',
      }),
    );
    expect(config).toMatchObject({ targetAccountIds: ['123456789012'], partition: 'aws-us-gov', instanceId: 'ssoins-1111222233334444', sessionDuration: 'PT1H' });
    expect(config.permissionSetNames).toEqual(['BreakglassAdmin']);
    expect(config.defaulted).toEqual(['botTaskRoleArn', 'identityStoreId']);
  });

  it('takes the example permission set with its name when none is given, and none at all when the stack creates its own', () => {
    expect(readManagementConfig(from({}))).toMatchObject({
      permissionSetArns: ['arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef'],
      permissionSetNames: ['BreakglassAdmin'],
    });
    expect(readManagementConfig(from({ createPermissionSets: 'true' }))).toMatchObject({ permissionSetArns: [], permissionSetNames: [] });
  });

  describe('permissionSetNames', () => {
    const INSTANCE = 'arn:aws:sso:::instance/ssoins-1111222233334444';
    const arns = (...ids: string[]): string => ids.map((id) => `arn:aws:sso:::permissionSet/ssoins-1111222233334444/ps-${id}`).join(',');
    const settings = (values: Record<string, string>): Lookup => from({ identityCenterInstanceArn: INSTANCE, ...values });

    it.each([
      [{ permissionSetArns: arns('aaaabbbbccccdddd') }, /permissionSetNames is required with permissionSetArns: give the name of each of the 1 permission set/],
      [{ permissionSetArns: arns('aaaabbbbccccdddd', 'eeeeffff00001111'), permissionSetNames: 'BreakglassAdmin' }, /permissionSetNames must give one name per permission set in permissionSetArns: got 1 name\(s\) for 2 ARN\(s\)/],
      [{ permissionSetArns: arns('aaaabbbbccccdddd'), permissionSetNames: 'BreakglassAdmin,BreakglassReadOnly' }, /permissionSetNames must give one name per permission set .* got 2 name\(s\) for 1 ARN\(s\)/],
      [{ permissionSetNames: 'BreakglassAdmin' }, /permissionSetNames names the permission sets in permissionSetArns: give permissionSetArns too/],
      [{ permissionSetNames: 'BreakglassAdmin', createPermissionSets: 'true' }, /give permissionSetArns too/],
      [{ permissionSetArns: arns('aaaabbbbccccdddd'), permissionSetNames: 'Breakglass*' }, /permissionSetNames must be a comma-separated list of permission set names, got "Breakglass\*"/],
    ])('are required, one per ARN: %o is refused with a message naming the setting', (values, message) => {
      expect(() => readManagementConfig(settings(values))).toThrow(ConfigError);
      expect(() => readManagementConfig(settings(values))).toThrow(message);
    });

    it('are taken one per ARN', () => {
      const config = readManagementConfig(settings({ permissionSetArns: arns('aaaabbbbccccdddd', 'eeeeffff00001111'), permissionSetNames: 'BreakglassAdmin, BreakglassReadOnly' }));
      expect(config.permissionSetNames).toEqual(['BreakglassAdmin', 'BreakglassReadOnly']);
    });
  });

  it.each([
    [{ permissionSetArns: 'arn:aws:sso:::permissionSet/ssoins-9999888877776666/ps-aaaabbbbccccdddd' }, /does not belong to instance/],
    [{ permissionSetArns: 'arn:aws:sso:::permissionSet/ps-aaaabbbbccccdddd' }, /permissionSetArns must be a comma-separated list of permission set ARNs/],
    [{ createPermissionSets: 'yes' }, /createPermissionSets must be true or false/],
    [{ sessionDuration: 'PT13H' }, /sessionDuration must be a whole number of hours from PT1H to PT12H/],
    [{ botTaskRoleArn: 'arn:aws:iam::123:role/x' }, /botTaskRoleArn must be the bot task role ARN/],
    [{ identityStoreId: 'store' }, /identityStoreId must be an identity store id/],
    [{ targetAccountIds: ',' }, /targetAccountIds is empty: give 12-digit account ids, comma-separated/],
  ])('rejects a bad management setting %o with a message naming it', (values, message) => {
    expect(() => readManagementConfig(from(values))).toThrow(message);
  });
});
