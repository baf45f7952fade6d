import { userInfo } from 'node:os';
import { chainAnchors } from '../audit/anchors.ts';
import { awsRegion, serviceContext, WorkSignals } from '../bootstrap.ts';
import { renderReport, type ReportFormat } from '../domain/review.ts';
import type { ReviewRecord } from '../services/ports.ts';
import { startReview } from '../services/review.ts';
import { SlackDirectory, webClient } from '../slack/web.ts';
import { ReviewStore } from '../store/reviews.ts';
import { AuditPublisher } from '../workers/publisher.ts';
import type { Cli } from './revoke-all.ts';
import { openStoreForCli } from './store.ts';

/**
 * `review start`: gathers and stores an access review now (off schedule too), audited under the
 * operator's OS user name; the running bot posts it to the audit channel. Prints the review id.
 * It reads Slack (who is in the policy's user groups, who is deactivated) and Identity Center.
 */
export async function reviewStart(c: Cli): Promise<number> {
  const policy = c.loaded.policy;
  if (!policy.review) {
    c.say(`${c.loaded.path}: the policy has no review; add \`review: { every: P1M, reviewers: { users: [...], groups: [...] }, approvals: 2 }\``);
    return 2;
  }
  const { db, via } = await openStoreForCli(c.env, c.log);
  const directory = new SlackDirectory(webClient(c.env.slack.botToken, c.env.slack.apiUrl, c.log, { retries: 2, rejectRateLimited: false }), policy, c.log);
  const services = serviceContext({ env: c.env, source: c.source, policy, db, log: c.log, directory, signals: new WorkSignals() });
  const anchors = await chainAnchors(c.env, db, awsRegion(c.source));
  const publisher = new AuditPublisher({ owner: services.ctx.owner, outbox: services.ctx.outbox, slack: null, policy, log: c.log, clock: services.ctx.clock, chainKey: anchors.chainKey, checkpoints: anchors.checkpoints });
  try {
    const operator = userInfo().username;
    c.say(`review start through ${via}, as ${operator}: gathering Identity Center, Slack and the audit record…`);
    const { id } = await startReview({ ctx: services.ctx, reviews: new ReviewStore(db), inventory: services.inventory }, { by: operator, scheduled: false });
    // Into the audit chain now; the bot posts it to the audit channel.
    await publisher.runOnce();
    c.out.write(`${id}\n`);
    c.say(`started access review ${id}; the bot posts it to the audit channel. The report: breakglass review report --period ${id}`);
    return 0;
  } finally {
    await publisher.stop();
    anchors.close();
    services.close();
    await db.close();
  }
}

/** `review report`: the stored review (the newest, of a period YYYY-MM / YYYY-Qn, or by id) for auditors. */
export async function reviewReport(c: Cli, period: string | null, format: ReportFormat): Promise<number> {
  const { db, via } = await openStoreForCli(c.env, c.log);
  try {
    const store = new ReviewStore(db);
    let review: ReviewRecord | null;
    if (period?.startsWith('rv-')) review = await store.get(period);
    else review = (await store.latest(1, period ?? undefined))[0] ?? null;
    if (!review) {
      c.say(period ? `no access review for ${period} in ${via}` : `no access review in ${via} yet; start one with \`breakglass review start\``);
      return 1;
    }
    const attestations = Object.entries(review.attestations)
      .map(([reviewer, a]) => ({ reviewer, at: a.at, note: a.note }))
      .sort((a, b) => a.at.localeCompare(b.at));
    c.out.write(renderReport(review.report, attestations, review.completedAt, format));
    c.say(`access review ${review.id} (${review.status}) from ${via}`);
    return 0;
  } finally {
    await db.close();
  }
}
