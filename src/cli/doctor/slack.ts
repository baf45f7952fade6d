/**
 * Slack checks of `breakglass doctor`: the token, its scopes, the two channels, the user groups.
 *
 * Channel membership with the manifest's scopes: conversations.info / conversations.members /
 * users.conversations all need channels:read or groups:read, which the manifest does not ask for
 * (chat:write's methods are the only conversation methods it allows, and each of them writes).
 * So when the token holds channels:read/groups:read, conversations.info answers is_member; otherwise
 * doctor calls chat.postMessage with a channel and nothing to post: Slack rejects a message
 * with no text, blocks or attachments (`no_text`), so nothing can ever appear, and the error
 * it gives instead — `not_in_channel`, `channel_not_found`, `is_archived` — says whether the bot
 * may post there. A first call against a channel id that cannot exist proves that Slack looks at
 * the channel before the missing text; if it does not, doctor says it cannot tell (⚠) rather
 * than claim a ✓ it has not seen.
 */
import { WebAPIPlatformError, WebAPIRateLimitedError, WebAPIRequestError, WebClient, LogLevel, type Logger as SlackLogger } from '@slack/web-api';
import type { Logger } from 'pino';
import { policyGroupIds, type GroupMembers, type Policy } from '../../domain/policy.ts';
import { REJECTED_TOKEN } from '../../slack/web.ts';
import { describeError, type Report } from './report.ts';

export interface SlackIdentity {
  userId: string;
  /** The bot's user name, as people @mention it. */
  name: string;
  team: string;
  /** From the x-oauth-scopes response header; null when Slack sent none. */
  scopes: string[] | null;
}

/** Slack's own log lines go to pino at debug: doctor's output is the report. */
function quietLogger(log: Logger): SlackLogger {
  const child = log.child({ component: 'slack' });
  const line = (...m: unknown[]) => child.debug(m.map(String).join(' '));
  return { debug: line, info: line, warn: line, error: line, setLevel: () => undefined, getLevel: () => LogLevel.DEBUG, setName: () => undefined };
}

export function doctorWebClient(token: string, apiUrl: string | null, log: Logger): WebClient {
  return new WebClient(token, {
    ...(apiUrl ? { slackApiUrl: apiUrl } : {}),
    logger: quietLogger(log),
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: 10_000,
  });
}

const errorCode = (err: unknown): string | null => (err instanceof WebAPIPlatformError ? err.data.error : null);


/** A Slack failure other than a method's own answer: the fix is about reaching Slack. */
function reachFix(err: unknown, apiUrl: string | null): string {
  if (err instanceof WebAPIRateLimitedError) return `Slack is rate limiting this app (retry after ${err.retryAfter}s); run doctor again in a minute`;
  if (err instanceof WebAPIRequestError) {
    return `cannot reach Slack at ${apiUrl ?? 'https://slack.com/api/'} (${describeError(err.original)}); check network access, proxies and SLACK_API_URL`;
  }
  return `Slack answered ${describeError(err)}; check https://slack-status.com and run doctor again`;
}

export async function checkToken(client: WebClient, apiUrl: string | null, report: Report): Promise<SlackIdentity | null> {
  const what = 'Slack bot token (SLACK_BOT_TOKEN) works';
  try {
    const out = await client.auth.test();
    const identity: SlackIdentity = {
      userId: out.user_id ?? '',
      name: out.user ?? 'breakglass',
      team: out.team ?? out.team_id ?? '?',
      scopes: out.response_metadata?.scopes ?? null,
    };
    report.ok(`${what}: bot @${identity.name} (${identity.userId}) in ${identity.team}`);
    return identity;
  } catch (err) {
    const code = errorCode(err);
    if (code && REJECTED_TOKEN.has(code)) {
      report.fail(`${what}: Slack rejected it (${code})`, 'set SLACK_BOT_TOKEN to the app\'s "Bot User OAuth Token" (xoxb-…) from its "OAuth & Permissions" page; reinstall the app if it was revoked');
    } else if (code) {
      report.fail(`${what}: auth.test answered ${code}`, 'set SLACK_BOT_TOKEN to the app\'s "Bot User OAuth Token" (xoxb-…) from its "OAuth & Permissions" page');
    } else {
      report.fail(`${what}: ${describeError(err)}`, reachFix(err, apiUrl));
    }
    return null;
  }
}

export function checkScopes(identity: SlackIdentity, wanted: readonly string[], manifestSource: string, report: Report): void {
  const what = 'Slack token has the scopes manifest.yml asks for';
  if (identity.scopes === null) {
    report.warn(`${what}: Slack did not say which scopes the token has`, `compare the app's "OAuth & Permissions" page with oauth_config.scopes.bot in manifest.yml by hand`);
    return;
  }
  const have = new Set(identity.scopes);
  const missing = wanted.filter((s) => !have.has(s));
  const extra = identity.scopes.filter((s) => !wanted.includes(s));
  if (missing.length > 0) {
    report.fail(
      `${what}: missing ${missing.join(', ')}`,
      `reinstall the app from manifest.yml (app settings → "App Manifest" → paste it, then "Install App" → Reinstall) and set SLACK_BOT_TOKEN to the new bot token`,
    );
  } else {
    report.ok(`${what} (${wanted.join(', ')}; from ${manifestSource})`);
  }
  if (extra.length > 0) {
    report.warn(
      `Slack token also has scopes manifest.yml does not ask for: ${extra.join(', ')}`,
      'breakglass does not need them; remove them (reinstall the app from manifest.yml) so the token can do no more than the bot does',
    );
  }
}

type Membership = { state: 'member'; name: string | null } | { state: 'not_member'; name: string | null } | { state: 'missing' } | { state: 'archived'; name: string | null } | { state: 'unknown'; why: string };

/** Answers from conversations.info when the token may call it; null when it may not. */
async function viaInfo(client: WebClient, channel: string): Promise<Membership | null> {
  try {
    const out = await client.conversations.info({ channel });
    const c = out.channel;
    const name = c?.name ?? null;
    if (c?.is_archived) return { state: 'archived', name };
    return c?.is_member ? { state: 'member', name } : { state: 'not_member', name };
  } catch (err) {
    // missing_scope (e.g. a private channel without groups:read) or a channel it cannot see: fall back to the probe.
    if (errorCode(err) !== null) return null;
    throw err;
  }
}

/** A channel id no workspace has: what Slack says about it shows whether the probe can tell anything. */
const NO_SUCH_CHANNEL = 'C0000000000';

/** chat.postMessage with nothing to post: never creates a message; the error says whether the bot may post. */
async function probe(client: WebClient, channel: string): Promise<string> {
  try {
    await client.apiCall('chat.postMessage', { channel });
    // Cannot happen (no text, blocks or attachments); if it ever did, the bot may post there.
    return 'ok';
  } catch (err) {
    const code = errorCode(err);
    if (code) return code;
    throw err;
  }
}

async function membership(client: WebClient, channel: string, scopes: string[] | null, probeWorks: () => Promise<boolean>): Promise<Membership> {
  if (scopes?.some((s) => s === 'channels:read' || s === 'groups:read')) {
    // is_member is the answer even where chat:write.public would let a non-member post.
    const fromInfo = await viaInfo(client, channel);
    if (fromInfo) return fromInfo;
  }
  if (!(await probeWorks())) {
    return { state: 'unknown', why: 'Slack does not say, to a token with only the manifest\'s scopes, whether the bot is in a channel' };
  }
  const code = await probe(client, channel);
  switch (code) {
    case 'no_text':
    case 'ok':
      return { state: 'member', name: null };
    case 'not_in_channel':
      return { state: 'not_member', name: null };
    case 'channel_not_found':
      return { state: 'missing' };
    case 'is_archived':
      return { state: 'archived', name: null };
    default:
      return { state: 'unknown', why: `chat.postMessage answered ${code}` };
  }
}

export async function checkChannels(client: WebClient, identity: SlackIdentity, policy: Policy, report: Report): Promise<void> {
  let calibrated: boolean | null = null;
  const probeWorks = async () => {
    calibrated ??= (await probe(client, NO_SUCH_CHANNEL)) === 'channel_not_found';
    return calibrated;
  };
  const bot = `@${identity.name}`;
  for (const [role, id] of [['approvals', policy.channels.approvals], ['audit', policy.channels.audit]] as const) {
    const what = (name: string | null) => `${role} channel ${name ? `#${name} (${id})` : id}`;
    const invite = (name: string | null) => `invite ${bot} to ${name ? `#${name}` : `channel ${id}`}: type "/invite ${bot}" in the channel`;
    let m: Membership;
    try {
      m = await membership(client, id, identity.scopes, probeWorks);
    } catch (err) {
      report.fail(`${what(null)}: ${describeError(err)}`, reachFix(err, null));
      continue;
    }
    switch (m.state) {
      case 'member':
        report.ok(`${what(m.name)}: the bot is a member`);
        break;
      case 'not_member':
        report.fail(`${what(m.name)}: the bot is not a member`, invite(m.name));
        break;
      case 'missing':
        report.fail(
          `${what(null)}: no such channel, or a private channel the bot is not in`,
          `${invite(null)}; or set channels.${role} in the policy to the right channel id (channel details → "About", at the bottom)`,
        );
        break;
      case 'archived':
        report.fail(`${what(m.name)}: the channel is archived`, `unarchive it, or set channels.${role} in the policy to a live channel with ${bot} in it`);
        break;
      case 'unknown':
        report.warn(`${what(null)}: could not tell whether the bot is a member`, `${m.why}; make sure ${bot} is in it ("/invite ${bot}")`);
        break;
    }
  }
}

/** Resolves every user group the policy names; returns the map when all resolved, else null. */
export async function checkGroups(client: WebClient, policy: Policy, report: Report): Promise<GroupMembers | null> {
  const ids = policyGroupIds(policy);
  const groups = new Map<string, string[]>();
  if (ids.length === 0) {
    report.ok('user groups: the policy names none');
    return groups;
  }
  let all = true;
  for (const id of ids) {
    const roles = groupRoles(policy, id);
    const what = `user group ${id} (${roles}) resolves`;
    try {
      const out = await client.usergroups.users.list({ usergroup: id });
      const users = out.users ?? [];
      groups.set(id, users);
      report.ok(`${what}: ${users.length} member${users.length === 1 ? '' : 's'}`);
    } catch (err) {
      all = false;
      const code = errorCode(err);
      if (code === 'no_such_subteam' || code === 'subteam_not_found') {
        report.fail(`${what}: Slack has no such user group (${code})`, `correct ${roles}.groups in the policy: a user group id looks like S0123ABCD (the group's page in Slack → "Copy group ID")`);
      } else if (code === 'missing_scope') {
        report.fail(`${what}: the token lacks usergroups:read`, 'reinstall the app from manifest.yml and set SLACK_BOT_TOKEN to the new bot token');
      } else if (code) {
        report.fail(`${what}: usergroups.users.list answered ${code}`, `check user group ${id} in Slack, or remove it from the policy`);
      } else {
        report.fail(`${what}: ${describeError(err)}`, reachFix(err, null));
      }
    }
  }
  return all ? groups : null;
}

/** Where the policy names a user group, as people would look for it in the file. */
function groupRoles(policy: Policy, id: string): string {
  const roles: string[] = [];
  if (policy.approvers.groups.includes(id)) roles.push('approvers');
  if (policy.requesters.groups.includes(id)) roles.push('requesters');
  if (policy.escalation?.approvers.groups.includes(id)) roles.push('escalation.approvers');
  for (const p of policy.profiles) {
    if (p.requesters?.groups.includes(id)) roles.push(`profile ${p.id} requesters`);
    if (p.rules.some((r) => r.from?.groups.includes(id))) roles.push(`profile ${p.id} approvals`);
  }
  return roles.join(' and ');
}
