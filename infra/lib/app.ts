import { LegacyStackSynthesizer, Tags, type App } from 'aws-cdk-lib';
import { BotStack } from './bot-stack.ts';
import { readBotConfig, readManagementConfig, type Lookup } from './config.ts';
import { ManagementRoleStack } from './management-role-stack.ts';

/** Both stacks, wired as they are deployed; throws ConfigError on a bad setting. */
export function addStacks(app: App, lookup: Lookup): { bot: BotStack; management: ManagementRoleStack } {
  const botConfig = readBotConfig(lookup);
  const managementConfig = readManagementConfig(lookup);

  // Account-agnostic on purpose: deployed with the tooling account's credentials, and its
  // availability zones come from Fn::GetAZs instead of a lookup.
  const bot = new BotStack(app, 'BreakglassBot', {
    config: botConfig,
    env: { region: botConfig.region },
    description: 'breakglass Slack bot: table, secret, Fargate service, alarms (security-tooling account)',
  });

  // Pinned to the management account so a deploy with other credentials is refused. The
  // legacy synthesizer deploys with the caller's own credentials and needs no `cdk bootstrap`,
  // so no standing CDK deployment roles are created in the management account.
  const management = new ManagementRoleStack(app, 'BreakglassManagementRole', {
    config: managementConfig,
    env: { account: managementConfig.managementAccountId, region: managementConfig.region },
    synthesizer: new LegacyStackSynthesizer(),
    description: 'breakglass: the role the bot assumes to assign break-glass permission sets (management account)',
  });

  Tags.of(app).add('app', 'breakglass');
  return { bot, management };
}
