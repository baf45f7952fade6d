import { ErrorCode, LogLevel, WebClient, type Logger as SlackLogger } from '@slack/web-api';
import type { Logger } from 'pino';
import type { HomeView } from '@slack/types';
import { SlackDeliveryError, type AuditSlack, type Clock, type Directory, type HomeSlack, type SlackUser } from '../services/ports.ts';
import { policyGroupIds, type Policy, type Principals } from '../domain/policy.ts';
import type { SlackMessage } from './blocks/messages.ts';

/** Slack's logger interface on top of pino, so Slack's own messages are JSON lines too. */
export function slackLogger(log: Logger): SlackLogger {
  const child = log.child({ component: 'slack' });
  return {
    // Bolt logs several debug lines per request: with debug off, they are not even joined.
    debug: (...m: unknown[]) => {
      if (child.isLevelEnabled('debug')) child.debug(m.map(String).join(' '));
    },
    info: (...m: unknown[]) => child.info(m.map(String).join(' ')),
    warn: (...m: unknown[]) => child.warn(m.map(String).join(' ')),
    error: (...m: unknown[]) => child.error(m.map(String).join(' ')),
    setLevel: () => undefined,
    getLevel: () => LogLevel.INFO,
    setName: () => undefined,
  };
}

export function webClient(token: string, apiUrl: string | null, log: Logger, o: { retries: number; rejectRateLimited: boolean }): WebClient {
  return new WebClient(token, {
    ...(apiUrl ? { slackApiUrl: apiUrl } : {}),
    logger: slackLogger(log),
    retryConfig: { retries: o.retries, factor: 2, minTimeout: 500, maxTimeout: 5000 },
    rejectRateLimitedCalls: o.rejectRateLimited,
    timeout: 10_000,
  });
}

/** Slack's answers that mean the token itself is refused (not a scope or a channel). */
export const REJECTED_TOKEN = new Set(['invalid_auth', 'not_authed', 'token_revoked', 'token_expired', 'account_inactive', 'not_allowed_token_type', 'invalid_token']);

/** Errors after which the same DM will never succeed. */
const UNDELIVERABLE = new Set(['cannot_dm_bot', 'user_not_found', 'user_disabled', 'user_not_visible', 'messages_tab_disabled', 'is_archived']);

function deliveryError(err: unknown, what: string): SlackDeliveryError {
  const e = err as { code?: string; retryAfter?: number; data?: { error?: string }; statusCode?: number; message?: string };
  if (e.code === ErrorCode.RateLimitedError) return new SlackDeliveryError(`${what}: rate limited`, e.retryAfter ?? 1, false, true);
  if (e.code === ErrorCode.PlatformError) {
    const code = e.data?.error ?? 'unknown_error';
    return new SlackDeliveryError(`${what}: ${code}`, null, UNDELIVERABLE.has(code), true);
  }
  if (e.code === ErrorCode.HTTPError) return new SlackDeliveryError(`${what}: HTTP ${e.statusCode ?? '?'}`, null, false, true);
  return new SlackDeliveryError(`${what}: ${e.message ?? String(err)}`, null, false, false);
}

/** The audit publisher's Slack: no retries of its own (the outbox retries), 429s surface with their Retry-After. */
export class SlackAuditAdapter implements AuditSlack {
  private readonly dms = new Map<string, string>();

  constructor(private readonly client: WebClient) {}

  async post(channel: string, m: SlackMessage & { threadTs?: string }): Promise<string> {
    try {
      const out = await this.client.chat.postMessage({
        channel,
        text: m.text,
        blocks: m.blocks,
        ...(m.threadTs ? { thread_ts: m.threadTs } : {}),
        unfurl_links: false,
        unfurl_media: false,
      });
      if (!out.ts) throw new Error('chat.postMessage returned no ts');
      return out.ts;
    } catch (err) {
      throw deliveryError(err, `chat.postMessage to ${channel}`);
    }
  }

  async update(channel: string, ts: string, m: SlackMessage): Promise<void> {
    try {
      await this.client.chat.update({ channel, ts, text: m.text, blocks: m.blocks });
    } catch (err) {
      throw deliveryError(err, `chat.update in ${channel}`);
    }
  }

  async dmChannel(userId: string): Promise<string> {
    const known = this.dms.get(userId);
    if (known) return known;
    try {
      const out = await this.client.conversations.open({ users: userId });
      const id = out.channel?.id;
      if (!id) throw new Error('conversations.open returned no channel');
      this.dms.set(userId, id);
      return id;
    } catch (err) {
      throw deliveryError(err, `conversations.open with ${userId}`);
    }
  }
}

/** Publishes App Homes: no retries of its own (the home refresher paces and retries), 429s surface with their Retry-After. */
export class SlackHomeAdapter implements HomeSlack {
  constructor(private readonly client: WebClient) {}

  async publish(slackUserId: string, view: HomeView): Promise<void> {
    try {
      await this.client.views.publish({ user_id: slackUserId, view });
    } catch (err) {
      throw deliveryError(err, `views.publish for ${slackUserId}`);
    }
  }
}

/**
 * User-group membership, cached briefly. Every click by someone who is not an approver asks
 * about a group; uncached, a few dozen such clicks exhaust Slack's limit for
 * usergroups.users.list (Tier 2, about 20 a minute, for the whole app) and the real approver's
 * click then waits. So a "no" is answered from the cache, which a miss re-reads at most once per
 * `missRefreshMs` across all groups (someone just added); a "yes" older than `maxAgeMs` is
 * confirmed with a fresh read (a removed approver loses the right within seconds; real approvers
 * click rarely, so this costs little); readers of one group share one call; and when Slack
 * refuses a read (rate limit, outage), a copy no older than `staleLimitMs` still answers.
 */
export class GroupMembership {
  private readonly cache = new Map<string, { members: Set<string>; at: number }>();
  private readonly loading = new Map<string, Promise<{ members: Set<string>; at: number }>>();
  private readonly now: () => number;
  private lastMissRefresh = 0;

  constructor(
    private readonly fetch: (groupId: string) => Promise<string[]>,
    private readonly o: { maxAgeMs: number; missRefreshMs: number; staleLimitMs: number; now?: () => number } = GROUP_CACHE,
    private readonly onStale: (groupId: string, err: unknown) => void = () => undefined,
  ) {
    this.now = o.now ?? Date.now;
  }

  async has(groupId: string, userId: string): Promise<boolean> {
    let entry = this.cache.get(groupId) ?? (await this.refresh(groupId));
    if (entry.members.has(userId)) {
      if (this.now() - entry.at > this.o.maxAgeMs) entry = await this.refresh(groupId);
      return entry.members.has(userId);
    }
    if (this.now() - Math.max(entry.at, this.lastMissRefresh) > this.o.missRefreshMs) {
      this.lastMissRefresh = this.now();
      entry = await this.refresh(groupId);
    }
    return entry.members.has(userId);
  }

  /** The group's members, re-read when the copy is older than a "no" would be. */
  async members(groupId: string): Promise<Set<string>> {
    const entry = this.cache.get(groupId);
    if (entry && this.now() - entry.at <= this.o.missRefreshMs) return entry.members;
    return (await this.refresh(groupId)).members;
  }

  private async refresh(groupId: string): Promise<{ members: Set<string>; at: number }> {
    try {
      return await this.load(groupId);
    } catch (err) {
      const known = this.cache.get(groupId);
      if (!known || this.now() - known.at > this.o.staleLimitMs) throw err;
      this.onStale(groupId, err);
      return known;
    }
  }

  private load(groupId: string): Promise<{ members: Set<string>; at: number }> {
    const running = this.loading.get(groupId);
    if (running) return running;
    const load = this.fetch(groupId)
      .then((users) => {
        const entry = { members: new Set(users), at: this.now() };
        this.cache.set(groupId, entry);
        return entry;
      })
      .finally(() => this.loading.delete(groupId));
    this.loading.set(groupId, load);
    return load;
  }
}

/** A "yes" is re-read after 5 s, a "no" at most every 10 s (all groups together), a failed read falls back at most 5 minutes. */
export const GROUP_CACHE = { maxAgeMs: 5_000, missRefreshMs: 10_000, staleLimitMs: 5 * 60_000 };

/** People and user groups, from Slack. Group membership is checked at click time, through a short cache. */
export class SlackDirectory implements Directory {
  private readonly membership: GroupMembership;

  /** `client` should reject rate-limited calls rather than wait them out: a click must not wait a minute for Slack. */
  constructor(
    private readonly client: WebClient,
    private readonly policy: Policy,
    log?: Logger,
    clock?: Clock,
  ) {
    this.membership = new GroupMembership(
      (g) => this.groupMembers(g),
      { ...GROUP_CACHE, ...(clock ? { now: () => clock.ms() } : {}) },
      (groupId, err) => log?.warn({ err, event: 'slack.group_stale', groupId }, 'Slack refused a group re-read; answering from the last copy'),
    );
  }

  async user(id: string): Promise<SlackUser | null> {
    try {
      const out = await this.client.users.info({ user: id });
      const u = out.user;
      if (!u?.id) return null;
      return {
        id: u.id,
        name: u.profile?.display_name || u.real_name || u.name || u.id,
        email: u.profile?.email ?? null,
        tz: u.tz ?? 'UTC',
        deleted: u.deleted ?? false,
        isBot: u.is_bot ?? false,
      };
    } catch (err) {
      if ((err as { data?: { error?: string } }).data?.error === 'user_not_found') return null;
      throw err;
    }
  }

  async groupMembers(groupId: string): Promise<string[]> {
    const out = await this.client.usergroups.users.list({ usergroup: groupId });
    return out.users ?? [];
  }

  /** Every group's members, read fresh (the quorum check). */
  async groups(ids: string[]): Promise<Map<string, string[]>> {
    const map = new Map<string, string[]>();
    for (const g of ids) map.set(g, await this.groupMembers(g));
    return map;
  }

  private async inAny(id: string, groups: string[]): Promise<boolean> {
    for (const g of groups) if (await this.membership.has(g, id)) return true;
    return false;
  }

  async isIn(id: string, who: Principals): Promise<boolean> {
    return who.users.includes(id) || this.inAny(id, who.groups);
  }

  async members(who: Principals): Promise<string[]> {
    const all = new Set(who.users);
    for (const g of who.groups) for (const u of await this.membership.members(g)) all.add(u);
    return [...all];
  }

  /** Every user group the policy names, resolved, for the quorum check. */
  async policyGroups(): Promise<Map<string, string[]>> {
    return this.groups(policyGroupIds(this.policy));
  }
}
