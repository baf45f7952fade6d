import { userInfo } from 'node:os';
import type { Logger } from 'pino';
import { chainAnchors } from '../audit/anchors.ts';
import { awsRegion, serviceContext, WorkSignals } from '../bootstrap.ts';
import type { Env } from '../config/env.ts';
import type { LoadedPolicy } from '../config/policy-file.ts';
import type { ServiceContext } from '../services/context.ts';
import { liftFreeze, revokeEverything } from '../services/kill-switch.ts';
import type { Directory } from '../services/ports.ts';
import { AuditPublisher } from '../workers/publisher.ts';
import { openStoreForCli } from './store.ts';

/** The kill switch runs without Slack: nothing it does needs to know who people are. */
class NoSlackDirectory implements Directory {
  private refuse(): never {
    throw new Error('the kill switch does not use Slack');
  }
  user(): never {
    return this.refuse();
  }
  isIn(): never {
    return this.refuse();
  }
  members(): never {
    return this.refuse();
  }
}

export interface Cli {
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
  const services = serviceContext({ env: c.env, source: c.source, policy: c.loaded.policy, db, log: c.log, directory: new NoSlackDirectory(), signals: new WorkSignals() });
  const { ctx } = services;
  const anchors = await chainAnchors(c.env, db, awsRegion(c.source));
  const publisher = new AuditPublisher({ owner: ctx.owner, outbox: ctx.outbox, slack: null, policy: c.loaded.policy, log: c.log, clock: ctx.clock, chainKey: anchors.chainKey, checkpoints: anchors.checkpoints });
  return {
    ctx: services.ctx,
    publisher,
    via,
    close: async () => {
      // The kill switch's own records are anchored before it leaves.
      await publisher.stop();
      anchors.close();
      services.close();
      await db.close();
    },
  };
}

/**
 * `revoke-all`: the kill switch (src/services/kill-switch.ts), audited under the operator's OS
 * user name. Works with the bot running or stopped, and with Slack down. Exit 0 only when
 * Identity Center holds nothing breakglass granted.
 */
export async function revokeAll(c: Cli, reason: string, settleMs: number): Promise<number> {
  const { ctx, publisher, via, close } = await open(c);
  const operator = userInfo().username;
  try {
    c.say(`revoke-all through ${via}, as ${operator}: ${reason}`);
    const outcome = await revokeEverything(ctx, operator, reason, settleMs, () => publisher.runOnce());
    for (const r of outcome.settled) {
      const left = outcome.leftovers.find((l) => l.request.id === r.id);
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
    for (const r of outcome.unsettled) c.out.write(`${JSON.stringify({ requestId: r.id, status: 'UNSETTLED', note: 'still being removed; the bot keeps retrying' })}\n`);
    const remaining = outcome.leftovers.filter((l) => 'remains' in l).map((l) => l.request.id);
    c.say(
      outcome.clean
        ? `revoke-all: ${outcome.settled.length} requests settled; Identity Center holds nothing breakglass granted. breakglass stays frozen until \`breakglass unfreeze --reason "…"\`.`
        : `revoke-all: ${outcome.unsettled.length} not settled and ${remaining.length} assignments still in Identity Center (${remaining.join(', ') || 'none'}); the bot keeps retrying. Run revoke-all again or check Identity Center.`,
    );
    return outcome.clean ? 0 : 1;
  } finally {
    await close();
  }
}

/** `unfreeze`: lifts revoke-all's freeze; audited and shouted like the freeze itself. */
export async function unfreeze(c: Cli, reason: string): Promise<number> {
  const { ctx, publisher, via, close } = await open(c);
  const operator = userInfo().username;
  try {
    const lifted = await liftFreeze(ctx, operator, reason);
    await publisher.runOnce();
    c.say(lifted ? `unfreeze through ${via}, as ${operator}: breakglass takes requests again.` : 'breakglass was not frozen; nothing changed.');
    return 0;
  } finally {
    await close();
  }
}
