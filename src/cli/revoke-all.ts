import { userInfo } from 'node:os';
import type { Logger } from 'pino';
import { AuditPublisher } from '../audit/publisher.ts';
import type { Env } from '../config/env.ts';
import type { LoadedPolicy } from '../config/policy-file.ts';
import { isFinal, type AccessRequest, type AssignmentTarget } from '../domain/request.ts';
import { chainAnchors } from '../audit/anchors.ts';
import { buildContext, region } from '../main.ts';
import type { Directory, ServiceContext } from '../services/context.ts';
import { advance } from '../services/lifecycle.ts';
import { mutate } from '../services/mutate.ts';
import { startRevoke } from '../services/revoke.ts';
import { isStandingAccess } from '../services/standing.ts';
import { sleep } from '../aws/pacing.ts';
import { openStoreForCli } from './store.ts';

/** The kill switch runs without Slack: nothing it does needs to know who people are. */
class NoSlackDirectory implements Directory {
  private refuse(): never {
    throw new Error('the kill switch does not use Slack');
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

interface Cli {
  env: Env;
  source: NodeJS.ProcessEnv;
  loaded: LoadedPolicy;
  log: Logger;
  out: NodeJS.WritableStream;
  say: (text: string) => void;
}

/** The services' context for the CLI, with the audit chain written at once (Slack gets it when the bot next runs). */
async function open(c: Cli): Promise<{ ctx: ServiceContext; publisher: AuditPublisher; via: string; close: () => Promise<void> }> {
  const { db, via } = await openStoreForCli(c.env, c.log);
  const { ctx, ic } = buildContext({
    env: c.env,
    source: c.source,
    policy: c.loaded.policy,
    db,
    log: c.log,
    directory: new NoSlackDirectory(),
    eventsQueued: () => undefined,
    workQueued: () => undefined,
  });
  const anchors = chainAnchors(c.env, db, region(c.source));
  const publisher = new AuditPublisher({ owner: ctx.owner, outbox: ctx.outbox, slack: null, policy: c.loaded.policy, log: c.log, chainKey: anchors.chainKey, checkpoints: anchors.checkpoints });
  return {
    ctx,
    publisher,
    via,
    close: async () => {
      // The kill switch's own records are anchored before it leaves.
      await publisher.stop();
      anchors.close();
      ic.destroy();
      await db.close();
    },
  };
}

/** What is left in Identity Center of one request's grant once everything settled. */
type Leftover = { request: AccessRequest; kept: string } | { request: AccessRequest; remains: true };

/**
 * The kill switch: freezes breakglass (no submit, approval or grant is taken until
 * `unfreeze`), cancels every undecided request, revokes every grant (finishing the ones
 * being granted first), cleans up creations that were never confirmed, and then asks
 * Identity Center whether anything breakglass created remains. Exit 0 only when nothing does.
 * Works with the bot running or stopped, and with Slack down: events go into the audit
 * chain at once and reach Slack when the bot next delivers them.
 */
export async function revokeAll(c: Cli, reason: string, settleMs: number): Promise<number> {
  const { ctx, publisher, via, close } = await open(c);
  const operator = userInfo().username;
  try {
    c.say(`revoke-all through ${via}, as ${operator}: ${reason}`);
    const now = ctx.now();
    await ctx.freeze.set({ by: operator, reason, at: now }, { type: 'freeze.set', requestId: null, actor: null, details: { operator, reason } });
    const live: AccessRequest[] = [];
    for (const item of await ctx.requests.due(null, 100_000)) {
      const r = await ctx.requests.get(item.id);
      if (r && !isFinal(r.status)) live.push(r);
      else if (r?.status === 'FAILED' && r.grant.cleanupPending) live.push(r);
    }
    await ctx.outbox.appendSystem([{ type: 'revoke_all.started', requestId: null, actor: null, details: { operator, reason, count: live.length } }], now);
    await publisher.runOnce();

    // Undecided requests, and approved ones not yet being granted, never become access.
    for (const r of live) {
      if (r.status === 'PENDING' || r.status === 'APPROVED') await cancelForFreeze(ctx, r.id, operator, reason);
    }

    const deadline = Date.now() + settleMs;
    const settled = new Map<string, AccessRequest>();
    while (settled.size < live.length && Date.now() < deadline) {
      for (const { id } of live) {
        if (settled.has(id)) continue;
        const r = await ctx.requests.get(id);
        if (!r) continue;
        if (r.status === 'ACTIVE') await startRevoke(ctx, id, 'revoke-all', null, { operator, note: reason });
        const fresh = (await ctx.requests.get(id)) ?? r;
        if (isFinal(fresh.status) && !fresh.grant.cleanupPending) {
          settled.set(id, fresh);
          continue;
        }
        // GRANTING finishes (or, under the freeze, fails before creating); REVOKING and cleanups go on.
        await advance(ctx, id);
      }
      await publisher.runOnce();
      if (settled.size < live.length) await sleep(500);
    }

    const leftovers = await checkIdentityCenter(ctx, [...settled.values()]);
    const remaining = leftovers.filter((l): l is { request: AccessRequest; remains: true } => 'remains' in l);
    const unsettled = live.filter((r) => !settled.has(r.id));
    await ctx.outbox.appendSystem(
      [
        {
          type: 'revoke_all.finished',
          requestId: null,
          actor: null,
          details: {
            operator,
            reason,
            revoked: [...settled.values()].filter((r) => r.status === 'REVOKED').length,
            pending: unsettled.length,
            remaining: remaining.map((l) => l.request.id),
          },
        },
      ],
      ctx.now(),
    );
    await publisher.runOnce();
    for (const r of settled.values()) {
      const left = leftovers.find((l) => l.request.id === r.id);
      const line = {
        requestId: r.id,
        requester: r.requester.slackUserId,
        principalId: r.target.principalId,
        profile: r.profileId,
        status: r.status,
        kept: r.revoke?.kept ?? (left && 'kept' in left ? left.kept : null),
        remains: left !== undefined && 'remains' in left,
      };
      c.out.write(`${JSON.stringify(line)}\n`);
    }
    for (const r of unsettled) c.out.write(`${JSON.stringify({ requestId: r.id, status: 'UNSETTLED', note: 'still being removed; the bot keeps retrying' })}\n`);
    const ok = unsettled.length === 0 && remaining.length === 0;
    c.say(
      ok
        ? `revoke-all: ${settled.size} requests settled; Identity Center holds nothing breakglass granted. breakglass stays frozen until \`breakglass unfreeze --reason "…"\`.`
        : `revoke-all: ${unsettled.length} not settled and ${remaining.length} assignments still in Identity Center (${remaining.map((l) => l.request.id).join(', ') || 'none'}); the bot keeps retrying. Run revoke-all again or check Identity Center.`,
    );
    return ok ? 0 : 1;
  } finally {
    await close();
  }
}

async function cancelForFreeze(ctx: ServiceContext, id: string, operator: string, reason: string): Promise<void> {
  await mutate(ctx, id, ['PENDING', 'APPROVED'], (_r, now) => ({
    set: { status: 'CANCELLED', decision: { by: operator, at: now, reason: `revoke-all: ${reason}` } },
    events: [{ type: 'request.cancelled', requestId: id, actor: null, details: { by: operator, reason: `revoke-all: ${reason}` } }],
    due: null,
  }));
}

/**
 * Asks Identity Center, for every request the kill switch settled, whether its assignment still
 * exists. One that does is fine only when the user held it before breakglass granted it (the
 * record says so, or the policy lists it as standing access); anything else remains.
 */
async function checkIdentityCenter(ctx: ServiceContext, settled: AccessRequest[]): Promise<Leftover[]> {
  const out: Leftover[] = [];
  const seen = new Map<string, boolean>();
  const key = (t: AssignmentTarget) => `${t.accountId}/${t.permissionSetArn}/${t.principalId}`;
  for (const r of settled) {
    const touched = r.grant.creationAttemptedAt !== null || r.grant.grantedAt !== null;
    if (!touched) continue;
    let present = seen.get(key(r.target));
    if (present === undefined) seen.set(key(r.target), (present = await ctx.ic.hasAssignment(r.target)));
    if (!present) continue;
    const record = await ctx.assignments.get(r.target);
    const kept = record.heldBefore ?? (isStandingAccess(ctx.policy, r) ? 'the policy lists it as standing access' : null);
    out.push(kept ? { request: r, kept } : { request: r, remains: true });
  }
  return out;
}

/** Lifts the freeze revoke-all set; audited and shouted like the freeze itself. */
export async function unfreeze(c: Cli, reason: string): Promise<number> {
  const { ctx, publisher, via, close } = await open(c);
  const operator = userInfo().username;
  try {
    const lifted = await ctx.freeze.lift(ctx.now(), { type: 'freeze.lifted', requestId: null, actor: null, details: { operator, reason } });
    await publisher.runOnce();
    c.say(lifted ? `unfreeze through ${via}, as ${operator}: breakglass takes requests again.` : 'breakglass was not frozen; nothing changed.');
    return 0;
  } finally {
    await close();
  }
}
