import { userInfo } from 'node:os';
import type { Logger } from 'pino';
import { AuditPublisher } from '../audit/publisher.ts';
import type { Env } from '../config/env.ts';
import type { LoadedPolicy } from '../config/policy-file.ts';
import type { AccessRequest } from '../domain/request.ts';
import { buildContext } from '../main.ts';
import type { Directory } from '../services/context.ts';
import { advance } from '../services/lifecycle.ts';
import { startRevoke } from '../services/revoke.ts';
import { sleep } from '../aws/pacing.ts';
import { openStoreForCli } from './store.ts';

/** The kill switch runs without Slack: nothing it does needs to know who people are. */
class NoSlackDirectory implements Directory {
  private refuse(): never {
    throw new Error('revoke-all does not use Slack');
  }
  user(): never {
    return this.refuse();
  }
  isApprover(): never {
    return this.refuse();
  }
  isRequester(): never {
    return this.refuse();
  }
}

const SETTLE_MS = 120_000;

/**
 * Revokes every active grant now, audited under the operator's name. Works
 * with the bot running or stopped, and with Slack down: events go into the
 * audit chain at once and reach Slack when the bot next delivers them.
 */
export async function revokeAll(
  env: Env,
  source: NodeJS.ProcessEnv,
  loaded: LoadedPolicy,
  reason: string,
  log: Logger,
  out: NodeJS.WritableStream,
  say: (text: string) => void,
): Promise<number> {
  const { db, via } = await openStoreForCli(env, log);
  const { ctx, ic } = buildContext({
    env,
    source,
    policy: loaded.policy,
    db,
    log,
    directory: new NoSlackDirectory(),
    eventsQueued: () => undefined,
    workQueued: () => undefined,
  });
  const publisher = new AuditPublisher({ owner: ctx.owner, outbox: ctx.outbox, slack: null, policy: loaded.policy, log });
  const operator = userInfo().username;
  try {
    say(`revoke-all through ${via}, as ${operator}: ${reason}`);
    const live: AccessRequest[] = [];
    for (const item of await ctx.requests.due(null, 10_000)) {
      const r = await ctx.requests.get(item.id);
      if (r && ['APPROVED', 'GRANTING', 'ACTIVE', 'REVOKING'].includes(r.status)) live.push(r);
    }
    await ctx.outbox.appendSystem([{ type: 'revoke_all.started', requestId: null, actor: null, details: { operator, reason, count: live.length } }], ctx.now());
    await publisher.runOnce();

    const deadline = Date.now() + SETTLE_MS;
    const targets = new Set(live.map((r) => r.id));
    const done = new Map<string, AccessRequest>();
    while (targets.size > done.size && Date.now() < deadline) {
      for (const id of targets) {
        if (done.has(id)) continue;
        const r = await ctx.requests.get(id);
        if (!r) continue;
        if (r.status === 'ACTIVE') await startRevoke(ctx, id, 'revoke-all', null, { operator, note: reason });
        if (r.status === 'REVOKED' || r.status === 'FAILED') {
          done.set(id, r);
          continue;
        }
        // APPROVED / GRANTING finish granting first (then are revoked); REVOKING continues.
        await advance(ctx, id);
      }
      await publisher.runOnce();
      if (targets.size > done.size) await sleep(500);
    }
    const pending = [...targets].filter((id) => !done.has(id));
    await ctx.outbox.appendSystem(
      [{ type: 'revoke_all.finished', requestId: null, actor: null, details: { operator, reason, revoked: [...done.values()].filter((r) => r.status === 'REVOKED').length, pending: pending.length } }],
      ctx.now(),
    );
    await publisher.runOnce();
    for (const r of done.values()) {
      out.write(`${JSON.stringify({ requestId: r.id, requester: r.requester.slackUserId, principalId: r.target.principalId, profile: r.profileId, status: r.status, kept: r.revoke?.kept ?? null })}\n`);
    }
    for (const id of pending) out.write(`${JSON.stringify({ requestId: id, status: 'REVOKING', note: 'still being removed; the bot keeps retrying' })}\n`);
    say(`revoke-all: ${done.size} of ${targets.size} done${pending.length ? `; ${pending.length} still being removed (the bot keeps retrying)` : ''}`);
    return pending.length === 0 ? 0 : 1;
  } finally {
    ic.destroy();
    await db.close();
  }
}
