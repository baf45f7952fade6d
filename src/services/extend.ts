/**
 * Extending an active grant: the requester asks for more time, and the extension, a request of
 * its own, goes through the same approval message and quorum. Once approved it moves the grant's
 * end (no new assignment, so no gap and no second revoke). A grant with its extensions never
 * exceeds the profile's maxTotal, and an extension still waiting when the grant ends lapses.
 */
import { addDuration, humanDuration } from '../domain/duration.ts';
import { extensionDurations, nextActiveCheck } from '../domain/grant-time.ts';
import { pendingDue } from '../domain/nudges.ts';
import { validateSubmission, type Profile } from '../domain/policy.ts';
import { kindOf, transition, type AccessRequest } from '../domain/request.ts';
import { change } from './change.ts';
import type { ServiceContext } from './context.ts';
import { recordRejection } from './decision.ts';
import { mayRequest, profileOf } from './eligibility.ts';
import { refusal } from './grant.ts';
import { frozenError, identify, newRequest, notRequester, submitted, type SubmitResult } from './submit-request.ts';

export type Extendable = { ok: true; grant: AccessRequest; profile: Profile; durations: string[] } | { ok: false; message: string };

/** Whether this person may ask to extend this grant now, and by which durations. */
export async function extendable(ctx: ServiceContext, grantId: string, slackUserId: string): Promise<Extendable> {
  const grant = await ctx.requests.get(grantId);
  if (!grant) return { ok: false, message: `There is no breakglass request ${grantId}.` };
  if (grant.requester.slackUserId !== slackUserId) {
    const message = 'Only the person who holds this access can ask to extend it.';
    await recordRejection(ctx, grantId, slackUserId, 'extend', message);
    return { ok: false, message };
  }
  if (kindOf(grant) !== 'access') return { ok: false, message: 'Emergency access cannot be extended; ask for access with /breakglass request.' };
  const now = ctx.clock.now();
  if (grant.status !== 'ACTIVE' || !grant.grant.expiresAt || now >= grant.grant.expiresAt) {
    return { ok: false, message: `Access for ${grantId} is not active (it is ${grant.status.toLowerCase()}), so there is nothing to extend; ask for access again.` };
  }
  const profile = profileOf(ctx, grant.profileId);
  if (!profile) return { ok: false, message: `The profile "${grant.profileId}" is no longer in the policy, so this access cannot be extended.` };
  const waiting = await waitingExtension(ctx, grant);
  if (waiting) return { ok: false, message: `Extension ${waiting.id} of this access is already waiting for approval.` };
  const durations = extensionDurations(profile, grant);
  if (durations.length === 0) {
    return { ok: false, message: `This access has reached the ${humanDuration(profile.maxTotal)} that ${profile.name} allows in all (its maxTotal), so it cannot be extended further; ask for new access when it ends.` };
  }
  return { ok: true, grant, profile, durations };
}

/** The grant's extension still waiting for a decision or to be applied, if any. */
async function waitingExtension(ctx: ServiceContext, grant: AccessRequest): Promise<AccessRequest | null> {
  const id = grant.grant.extensionRequested;
  if (!id) return null;
  const ext = await ctx.requests.get(id);
  return ext && (ext.status === 'PENDING' || ext.status === 'APPROVED') ? ext : null;
}

/**
 * The requester submits the extension form. The extension waits no longer than the grant runs
 * (or the pending timeout, if sooner): not approved by then, it lapses.
 */
export async function requestExtension(ctx: ServiceContext, slackUserId: string, grantId: string, input: { duration: string | null; justification: string | null }): Promise<SubmitResult> {
  const frozen = await frozenError(ctx);
  if (frozen) return frozen;
  const found = await extendable(ctx, grantId, slackUserId);
  if (!found.ok) return { ok: false, errors: { duration: found.message } };
  const { grant, profile, durations } = found;
  const checked = validateSubmission(ctx.policy, { profileId: profile.id, duration: input.duration, justification: input.justification, ticket: grant.ticket, category: grant.category ?? null });
  if (!checked.ok) return { ok: false, errors: { ...(checked.errors.duration ? { duration: checked.errors.duration } : {}), ...(checked.errors.justification ? { justification: checked.errors.justification } : {}) } };
  const { duration, justification } = checked.value;
  if (!durations.includes(duration)) {
    return { ok: false, errors: { duration: `${humanDuration(duration)} would take this access past the ${humanDuration(profile.maxTotal)} ${profile.name} allows in all; choose one of ${durations.join(', ')}.` } };
  }
  if (!(await mayRequest(ctx, profile, slackUserId))) return notRequester(profile);
  const who = await identify(ctx, slackUserId);
  if (!who.ok) return who;
  const now = ctx.clock.now();
  const endsAt = grant.grant.expiresAt ?? now;
  const timeout = addDuration(now, ctx.policy.pendingTimeout);
  const ext = newRequest(ctx, { kind: 'extension', extendsId: grant.id, profile, duration, justification, ticket: grant.ticket, category: grant.category ?? null, who, now, pendingUntil: timeout < endsAt ? timeout : endsAt });
  // The grant names its extension first (guarded by its version), so two forms submitted at once make one extension.
  const claimed = await change(ctx, grant.id, ['ACTIVE'], (g) => (g.grant.extensionRequested === grant.grant.extensionRequested ? { set: { grant: { ...g.grant, extensionRequested: ext.id } } } : null));
  if (!claimed) return { ok: false, errors: { duration: 'This access changed meanwhile (it ended, or another extension was asked for); look at your DMs and try again.' } };
  await ctx.requests.create(ext, [submitted(ext, who.identity)], pendingDue(ext, ctx.policy));
  ctx.log.info({ event: 'request.stored', requestId: ext.id, extends: grant.id }, 'extension stored');
  ctx.eventsQueued();
  return { ok: true, request: ext };
}

/**
 * An approved extension moves its grant's end. The grant's list of applied extensions makes
 * this idempotent: after a crash between the two writes, the next pass sees it applied and only
 * marks the extension done.
 */
export async function applyExtension(ctx: ServiceContext, id: string): Promise<void> {
  const ext = await ctx.requests.get(id);
  if (ext?.status !== 'APPROVED' || !ext.extends) return;
  const grantId = ext.extends;
  const grant = await ctx.requests.get(grantId);
  const applied = (g: AccessRequest | null) => g?.grant.extensions?.find((e) => e.requestId === id) ?? null;
  if (!applied(grant)) {
    const problem = (await refusal(ctx, ext)) ?? extensionProblem(ctx, ext, grant);
    if (problem) return notApplied(ctx, id, problem);
    const approvers = ext.approvals.map((a) => a.slackUserId);
    await change(ctx, grantId, ['ACTIVE'], (g, now) => {
      const from = g.grant.expiresAt;
      if (applied(g) || !from || extensionProblem(ctx, ext, g)) return null;
      const to = addDuration(from, ext.duration);
      const extensions = [...(g.grant.extensions ?? []), { requestId: id, duration: ext.duration, at: now, from, to }];
      const moved = { ...g, grant: { ...g.grant, expiresAt: to, extensions } };
      return {
        set: { grant: moved.grant },
        events: [{ type: 'access.extended', requestId: grantId, actor: null, details: { extensionId: id, duration: ext.duration, from, to, approvers } }],
        due: nextActiveCheck(moved, ctx.policy) ?? to,
      };
    });
  }
  const entry = applied(await ctx.requests.get(grantId));
  if (!entry) return notApplied(ctx, id, extensionProblem(ctx, ext, await ctx.requests.get(grantId)) ?? 'the access it extends changed meanwhile');
  await change(ctx, id, ['APPROVED'], (r) => ({
    set: transition(r, 'EXTENDED'),
    events: [{ type: 'extension.applied', requestId: id, actor: null, details: { extends: grantId, expiresAt: entry.to } }],
    due: null,
  }));
}

/** Why the extension cannot move the grant's end now; null when it can. */
function extensionProblem(ctx: ServiceContext, ext: AccessRequest, grant: AccessRequest | null): string | null {
  const now = ctx.clock.now();
  if (grant?.status !== 'ACTIVE' || !grant.grant.expiresAt || now >= grant.grant.expiresAt) return 'the access it extends ended before it was approved';
  const profile = profileOf(ctx, grant.profileId);
  if (!profile) return `the profile "${grant.profileId}" is no longer in the policy`;
  if (!extensionDurations(profile, grant).includes(ext.duration)) return `it would take the access past the ${humanDuration(profile.maxTotal)} ${profile.name} allows in all`;
  return null;
}

async function notApplied(ctx: ServiceContext, id: string, reason: string): Promise<void> {
  ctx.log.warn({ event: 'extension.refused', requestId: id, reason }, 'extension not applied');
  await change(ctx, id, ['APPROVED'], (r) => ({
    set: { ...transition(r, 'FAILED'), grant: { ...r.grant, failure: reason, cleanupPending: false } },
    events: [{ type: 'grant.failed', requestId: id, actor: null, details: { reason, refused: true, creationRequestId: null } }],
    due: null,
  }));
}

/** The grant is ending: an extension of it still waiting for approval lapses now (it could only be refused later). */
export async function lapseWaitingExtension(ctx: ServiceContext, grant: AccessRequest, why: string): Promise<void> {
  const id = grant.grant.extensionRequested;
  if (!id) return;
  await change(ctx, id, ['PENDING'], (r) => ({
    set: transition(r, 'EXPIRED'),
    events: [{ type: 'request.expired', requestId: id, actor: null, details: { pendingTimeout: ctx.policy.pendingTimeout, pendingUntil: r.pendingUntil, lapsed: why } }],
    due: null,
  }));
}
