/**
 * The periodic access review: gathers who can reach the management account(s) (Identity Center,
 * every permission set), who may request and approve (Slack), what breakglass was used for and
 * who decided (the audit chain of the period), and the root-credential custodians; stores the
 * report and takes attestations from a quorum of distinct reviewers. Reminders and the overdue
 * shout come from the review watcher (src/workers/review.ts).
 */
import { randomBytes } from 'node:crypto';
import type { DomainEvent } from '../domain/events.ts';
import { addDuration } from '../domain/duration.ts';
import { poolOf, requestersOf } from '../domain/policy.ts';
import { buildReview, periodBounds, reviewPeriod, type ActiveGrant, type GatheredAssignment, type ListedStanding, type PeriodUse, type ProfileAccess, type ReviewReport } from '../domain/review.ts';
import type { RequestStatus } from '../domain/request.ts';
import type { ServiceContext } from './context.ts';
import { auditedRefusal, type DecisionResult } from './decision.ts';
import type { AccessInventoryPort, ReviewRecord, ReviewStorePort } from './ports.ts';

export interface ReviewDeps {
  ctx: ServiceContext;
  reviews: ReviewStorePort;
  inventory: AccessInventoryPort;
}

/** Reviewers who have not attested are reminded this often; a review not completed this long after it started is overdue. */
export const REVIEW_REMIND_EVERY = 'P1D';
export const REVIEW_OVERDUE_AFTER = 'P7D';

/** Statuses in which a grant holds (or may hold) its assignment. */
const HOLDING: readonly RequestStatus[] = ['GRANTING', 'ACTIVE', 'REVOKING'];

/** Every assignment on the accounts the profiles name, all permission sets, groups expanded. */
async function gatherAssignments(d: ReviewDeps): Promise<GatheredAssignment[]> {
  const instanceArn = d.ctx.policy.identityCenter.instanceArn;
  const users = new Map<string, Promise<string>>();
  const userName = (id: string): Promise<string> => {
    const known = users.get(id);
    if (known) return known;
    const asked = d.inventory.userName(id);
    users.set(id, asked);
    return asked;
  };
  const groups = new Map<string, { name: string; members: { userId: string; name: string }[] }>();
  const all: GatheredAssignment[] = [];
  for (const accountId of [...new Set(d.ctx.policy.profiles.map((p) => p.accountId))]) {
    for (const permissionSetArn of await d.inventory.permissionSetsOn(instanceArn, accountId)) {
      const permissionSetName = await d.inventory.permissionSetName(instanceArn, permissionSetArn);
      for (const a of await d.inventory.listAssignments(instanceArn, accountId, permissionSetArn)) {
        if (a.principalType === 'USER') {
          all.push({ accountId, permissionSetArn, permissionSetName, principalType: 'USER', principalId: a.principalId, principalName: await userName(a.principalId), members: [] });
          continue;
        }
        let group = groups.get(a.principalId);
        if (!group) {
          const ids = await d.inventory.groupMembers(a.principalId);
          group = { name: await d.inventory.groupName(a.principalId), members: await Promise.all(ids.map(async (userId) => ({ userId, name: await userName(userId) }))) };
          groups.set(a.principalId, group);
        }
        all.push({ accountId, permissionSetArn, permissionSetName, principalType: 'GROUP', principalId: a.principalId, principalName: group.name, members: group.members });
      }
    }
  }
  return all;
}

/** The policy's standing access, emails resolved to Identity Store users. */
async function gatherStanding(d: ReviewDeps): Promise<ListedStanding[]> {
  const listed: ListedStanding[] = [];
  for (const s of d.ctx.policy.standingAccess) {
    const profile = d.ctx.policy.profiles.find((p) => p.id === s.profile);
    if (!profile) continue;
    const ids = [s.userId, s.groupId, s.email ? await d.ctx.ic.findUserIdByEmail(s.email) : null].filter((x): x is string => Boolean(x));
    for (const principalId of ids) listed.push({ profileId: profile.id, accountId: profile.accountId, permissionSetArn: profile.permissionSetArn, principalId });
  }
  return listed;
}

/** Grants in force now: the live requests (the due index, never a Scan) that hold an assignment. */
async function gatherGrants(d: ReviewDeps): Promise<ActiveGrant[]> {
  const grants: ActiveGrant[] = [];
  for (const item of await d.ctx.requests.due(null, 10_000)) {
    if (!HOLDING.includes(item.status)) continue;
    const r = await d.ctx.requests.get(item.id);
    if (!r || !HOLDING.includes(r.status)) continue;
    grants.push({ requestId: r.id, accountId: r.target.accountId, permissionSetArn: r.target.permissionSetArn, principalId: r.target.principalId, requester: r.requester.slackUserId, expiresAt: r.grant.expiresAt });
  }
  return grants;
}

/** The period's uses and deciders, read from the audit chain. */
async function gatherRecord(d: ReviewDeps, since: string, until: string): Promise<{ uses: PeriodUse[]; deciders: string[] }> {
  const submitted = new Map<string, Omit<PeriodUse, 'approvers' | 'grantedAt' | 'endedAt' | 'activity'>>();
  const approvers = new Map<string, string[]>();
  const uses = new Map<string, PeriodUse>();
  const deciders = new Set<string>();
  const inPeriod = (at: string) => at >= since && at < until;
  // The whole chain, in order: a request submitted before the period may be granted in it, and
  // records are ordered by position, not strictly by time.
  for await (const r of d.ctx.outbox.chain()) {
    const id = r.requestId;
    const actor = r.actor?.slackUserId ?? null;
    if ((r.type === 'approval.given' || r.type === 'denial.given' || r.type === 'request.denied') && actor && inPeriod(r.at)) deciders.add(actor);
    if (!id) continue;
    const details = r.details;
    if (r.type === 'request.submitted') {
      const kind = details.kind === 'emergency' || details.kind === 'extension' ? details.kind : 'access';
      submitted.set(id, { requestId: id, profileId: String(details.profileId), kind, requester: actor ?? '', justification: typeof details.justification === 'string' ? details.justification : '', duration: typeof details.duration === 'string' ? details.duration : '' });
    } else if ((r.type === 'request.approved' || r.type === 'emergency.ratified') && Array.isArray(details.approvers)) {
      approvers.set(id, details.approvers.map(String));
    } else if (r.type === 'grant.succeeded' && inPeriod(r.at)) {
      const s = submitted.get(id);
      if (s) uses.set(id, { ...s, approvers: [], grantedAt: r.at, endedAt: null, activity: null });
    } else if (r.type === 'access.ended') {
      const use = uses.get(id);
      if (use) use.endedAt = r.at;
    } else if (r.type === 'activity.reported') {
      const use = uses.get(id);
      const flagged = Array.isArray(details.flaggedNames) ? details.flaggedNames.map(String) : [];
      if (use) use.activity = { flagged, category: String(details.category), complete: details.complete === true };
    }
  }
  for (const [id, use] of uses) use.approvers = approvers.get(id) ?? [];
  return { uses: [...uses.values()], deciders: [...deciders] };
}

/** Gathers everything and builds the report (the snapshot reviewers attest). */
export async function gatherReview(d: ReviewDeps, id: string, startedAt: string, startedBy: string | null): Promise<ReviewReport> {
  const policy = d.ctx.policy;
  const review = policy.review;
  if (!review) throw new Error('the policy has no review: add `review: { every, reviewers, approvals }`');
  const period = reviewPeriod(review.every, startedAt);
  const profiles: ProfileAccess[] = [];
  for (const p of policy.profiles) {
    const approvers = new Set<string>();
    // The escalation pool may approve any profile once a request has escalated: it is listed too.
    for (const pool of [...p.rules.map((rule) => poolOf(policy, rule)), ...(policy.escalation ? [policy.escalation.approvers] : [])]) {
      for (const u of await d.ctx.directory.members(pool)) approvers.add(u);
    }
    profiles.push({ profileId: p.id, profileName: p.name, requesters: await d.ctx.directory.members(requestersOf(policy, p)), approvers: [...approvers] });
  }
  const reviewers = await d.ctx.directory.members(review.reviewers);
  const [assignments, standing, grants, record] = [await gatherAssignments(d), await gatherStanding(d), await gatherGrants(d), await gatherRecord(d, period.since, period.until)];
  const ids = new Set<string>([
    ...profiles.flatMap((p) => [...p.requesters, ...p.approvers]),
    ...reviewers,
    ...policy.custodians.flatMap((c) => c.holders),
    ...record.uses.flatMap((u) => [u.requester, ...u.approvers]),
    ...grants.map((g) => g.requester),
  ]);
  const people = [];
  for (const slackUserId of [...ids].filter(Boolean).sort()) {
    const u = await d.ctx.directory.user(slackUserId);
    people.push({ slackUserId, name: u?.name ?? slackUserId, deactivated: !u || u.deleted });
  }
  return buildReview({
    id,
    period,
    startedAt,
    startedBy,
    policy: { every: review.every, approvals: review.approvals, reviewers },
    assignments,
    standing,
    grants,
    profiles,
    people,
    deciders: record.deciders,
    uses: record.uses,
    custodians: policy.custodians,
  });
}

/**
 * Starts a review now. A scheduled one has the period's id, so however many replicas try, the
 * period's review is stored (and posted) once; one started by hand always gets a fresh id.
 */
export async function startReview(d: ReviewDeps, o: { by: string | null; scheduled: boolean }): Promise<{ started: boolean; id: string }> {
  const review = d.ctx.policy.review;
  if (!review) throw new Error('the policy has no review: add `review: { every, reviewers, approvals }`');
  const startedAt = d.ctx.clock.now();
  const label = reviewPeriod(review.every, startedAt).label;
  const id = o.scheduled ? `rv-${label}` : `rv-${label}-${randomBytes(3).toString('hex')}`;
  const report = await gatherReview(d, id, startedAt, o.by);
  const flagged = report.findings.filter((f) => f.flagged).length;
  // Holders asked to confirm by DM: those whose Slack account is active (a deactivated one is flagged in the report instead).
  const holders: string[] = [];
  for (const h of [...new Set(d.ctx.policy.custodians.flatMap((c) => c.holders))].sort()) {
    const u = await d.ctx.directory.user(h);
    if (u && !u.deleted) holders.push(h);
  }
  const record: ReviewRecord = {
    id,
    status: 'open',
    startedAt,
    report,
    attestations: {},
    completedAt: null,
    nextReminderAt: addDuration(startedAt, REVIEW_REMIND_EVERY),
    overdueAt: addDuration(startedAt, REVIEW_OVERDUE_AFTER),
    overdueShouted: false,
    confirmations: {},
    message: null,
  };
  const event: DomainEvent = {
    type: 'review.started',
    requestId: null,
    actor: null,
    details: {
      reviewId: id,
      by: o.by,
      period: label,
      since: report.period.since,
      until: report.period.until,
      findings: report.findings.length,
      flagged,
      approvals: review.approvals,
      custodians: holders,
    },
  };
  const started = await d.reviews.create(record, event);
  if (started) d.ctx.eventsQueued();
  return { started, id };
}

/** Why this person may not attest the review now; null when they may. */
async function attestRefusal(d: ReviewDeps, review: ReviewRecord | null, reviewer: string): Promise<string | null> {
  const policy = d.ctx.policy.review;
  if (!review) return 'There is no such review.';
  if (!policy || !(await d.ctx.directory.isIn(reviewer, policy.reviewers))) return 'Only the policy\'s reviewers may attest an access review.';
  if (review.attestations[reviewer]) return 'You have already attested this review; the quorum needs other reviewers.';
  if (review.status !== 'open') return 'This review is already completed.';
  return null;
}

/** A refused attest is answered always and audited as refusals on requests are: each person's 1st, 10th, 100th, … */
async function refuse(d: ReviewDeps, reviewId: string, reviewer: string, reason: string): Promise<DecisionResult> {
  const count = await d.reviews.countRefusal(reviewId, reviewer);
  if (!auditedRefusal(count)) return { ok: false, message: reason };
  const event: DomainEvent = { type: 'attempt.rejected', requestId: null, actor: { slackUserId: reviewer, principalId: null }, details: { action: 'attest', reason, count, reviewId } };
  if (await d.reviews.appendEvents(reviewId, [event], d.ctx.clock.now())) d.ctx.eventsQueued();
  return { ok: false, message: reason };
}

/** The attest button: whether the clicker may attest (the form opens), else a refusal, audited. */
export async function mayAttest(d: ReviewDeps, reviewId: string, reviewer: string): Promise<DecisionResult> {
  const review = await d.reviews.get(reviewId);
  const refusal = await attestRefusal(d, review, reviewer);
  if (refusal) return refuse(d, reviewId, reviewer, refusal);
  return { ok: true, message: '' };
}

/** The attest form's submission: eligibility checked again, then one guarded write (each reviewer once, distinct quorum). */
export async function attestReview(d: ReviewDeps, reviewId: string, reviewer: string, note: string | null): Promise<DecisionResult> {
  const review = await d.reviews.get(reviewId);
  const refusal = await attestRefusal(d, review, reviewer);
  if (refusal || !review) return refuse(d, reviewId, reviewer, refusal ?? 'There is no such review.');
  const required = review.report.approvals;
  const outcome = await d.reviews.attest(reviewId, reviewer, note?.trim() || null, d.ctx.clock.now(), required);
  if (outcome === 'attested' || outcome === 'completed') d.ctx.eventsQueued();
  switch (outcome) {
    case 'attested':
      return { ok: true, message: `Attested. ${Object.keys(review.attestations).length + 1} of ${required} reviewers so far.` };
    case 'completed':
      return { ok: true, message: `Attested. The review is complete.` };
    case 'already':
      return refuse(d, reviewId, reviewer, 'You have already attested this review; the quorum needs other reviewers.');
    case 'closed':
      return refuse(d, reviewId, reviewer, 'This review is already completed.');
    case 'missing':
      return { ok: false, message: 'There is no such review.' };
  }
}

/** A custodian confirms they still hold a root-credential item (`index` into the policy's custodians). */
export async function confirmCustodian(d: ReviewDeps, reviewId: string, index: number, holder: string): Promise<DecisionResult> {
  const item = d.ctx.policy.custodians[index];
  if (!item?.holders.includes(holder)) return { ok: false, message: 'The policy does not list you as a holder of this item.' };
  if (!(await d.reviews.get(reviewId))) return { ok: false, message: 'There is no such review.' };
  const event: DomainEvent = { type: 'custodian.confirmed', requestId: null, actor: { slackUserId: holder, principalId: null }, details: { reviewId, item: item.item } };
  if (!(await d.reviews.confirmCustodian(reviewId, `${index}:${holder}`, event, d.ctx.clock.now()))) return { ok: true, message: `You already confirmed ${item.item} for this review.` };
  d.ctx.eventsQueued();
  return { ok: true, message: `Thanks: recorded that you still hold ${item.item}.` };
}

/** How many reviewers a reminder mentions at most; the rest are counted. */
const REMIND_AT_MOST = 20;

/**
 * One pass of the schedule: starts the period's review when it is due, reminds reviewers of open
 * reviews who have not attested, and marks overdue ones (each once, guarded in the table).
 * The first scheduled review is in the first period that begins after reviews were configured.
 */
export async function reviewPass(d: ReviewDeps): Promise<void> {
  const review = d.ctx.policy.review;
  if (!review) return;
  const now = d.ctx.clock.now();
  const since = await d.reviews.scheduleSince(now);
  const { start } = periodBounds(review.every, now);
  if (start > since && (await d.reviews.latest(1, reviewPeriod(review.every, now).label)).length === 0) await startReview(d, { by: null, scheduled: true });
  for (const r of await d.reviews.latest(5)) {
    if (r.status !== 'open') continue;
    if (r.nextReminderAt && r.nextReminderAt <= now) {
      const pending = (await d.ctx.directory.members(review.reviewers)).filter((u) => !r.attestations[u]).sort();
      const event: DomainEvent = { type: 'review.reminded', requestId: null, actor: null, details: { reviewId: r.id, mentioned: pending.slice(0, REMIND_AT_MOST), more: Math.max(0, pending.length - REMIND_AT_MOST) } };
      if (await d.reviews.remind(r.id, r.nextReminderAt, addDuration(now, REVIEW_REMIND_EVERY), event, now)) d.ctx.eventsQueued();
    }
    if (!r.overdueShouted && r.overdueAt <= now) {
      const event: DomainEvent = {
        type: 'review.overdue',
        requestId: null,
        actor: null,
        details: { reviewId: r.id, startedAt: r.startedAt, overdueAt: r.overdueAt, attested: Object.keys(r.attestations).length, required: r.report.approvals },
      };
      if (await d.reviews.markOverdue(r.id, event, now)) d.ctx.eventsQueued();
    }
  }
}
