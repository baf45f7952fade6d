/**
 * Emergency access, for when no quorum is reachable in time: granted at once, then the quorum must
 * ratify it within the profile's `ratifyWithin`, or it is revoked; one denial revokes it at once.
 * So even in an emergency no single person decides alone for longer than the ratification window.
 */
import { addDuration, humanDuration, humanInstant } from '../domain/duration.ts';
import type { DomainEvent } from '../domain/events.ts';
import { validateSubmission, type SubmissionInput } from '../domain/policy.ts';
import type { AccessRequest } from '../domain/request.ts';
import { change } from './change.ts';
import type { ServiceContext } from './context.ts';
import { eligibleApprovers, mayRequest } from './eligibility.ts';
import { startRevoke } from './revoke.ts';
import { frozenError, identify, newRequest, notRequester, submitted, type SubmitResult } from './submit-request.ts';

const DAY_MS = 24 * 3600 * 1000;

/** The requester submits the emergency form: checked like any request, limited per day, then granted without waiting. */
export async function invokeEmergency(ctx: ServiceContext, slackUserId: string, input: SubmissionInput): Promise<SubmitResult> {
  const frozen = await frozenError(ctx);
  if (frozen) return frozen;
  const checked = validateSubmission(ctx.policy, input, 'emergency');
  if (!checked.ok) return checked;
  const { profile, duration, justification, ticket, category } = checked.value;
  const policy = profile.emergency;
  if (!policy) return { ok: false, errors: { profile: `${profile.name} does not offer emergency access.` } };
  if (!(await mayRequest(ctx, profile, slackUserId))) return notRequester(profile);
  const who = await identify(ctx, slackUserId);
  if (!who.ok) return who;
  const now = ctx.clock.now();
  const base = newRequest(ctx, { kind: 'emergency', profile, duration, justification, ticket, category, who, now, pendingUntil: now });
  // Slack is asked who to alert before the use is counted: a directory failure costs nobody their use.
  const notified = await eligibleApprovers(ctx, base, now);
  // Counted before anything is granted: a use that then fails still counts, so the limit cannot be probed.
  const blocking = await ctx.emergencyUses.take(slackUserId, profile.id, now, DAY_MS, policy.perDay);
  if (blocking) {
    const next = addDuration(blocking[0] ?? now, 'P1D');
    return {
      ok: false,
      errors: { profile: `You have used emergency access to ${profile.name} ${blocking.length} time${blocking.length === 1 ? '' : 's'} in the last 24 hours, the most its policy allows (perDay: ${policy.perDay}); ask for access with /breakglass request, or wait until ${humanInstant(next, who.user.tz || 'UTC')}.` },
    };
  }
  const ratifyBy = addDuration(now, policy.ratifyWithin);
  const request: AccessRequest = { ...base, status: 'APPROVED', emergency: { ratifyBy, ratifiedAt: null, rejected: null } };
  const events: DomainEvent[] = [
    submitted(request, who.identity),
    { type: 'emergency.invoked', requestId: request.id, actor: { slackUserId, principalId: request.requester.principalId }, details: { ratifyBy, ratifyWithin: policy.ratifyWithin, incident: ticket, notified } },
  ];
  await ctx.requests.create(request, events, now);
  ctx.log.warn({ event: 'emergency.invoked', requestId: request.id, profileId: profile.id, ratifyBy }, 'emergency access invoked');
  ctx.eventsQueued();
  ctx.workQueued(request.id);
  return { ok: true, request };
}

/**
 * An active emergency grant the quorum did not ratify in time, or that an approver denied, is
 * revoked now (its sessions ended with it, unless the profile keeps them). True when it was.
 */
export async function revokeRejectedEmergency(ctx: ServiceContext, r: AccessRequest): Promise<boolean> {
  const e = r.emergency;
  if (r.status !== 'ACTIVE' || !e || e.ratifiedAt) return false;
  const now = ctx.clock.now();
  if (!e.rejected) {
    if (now < e.ratifyBy) return false;
    const within = ctx.policy.profiles.find((p) => p.id === r.profileId)?.emergency?.ratifyWithin;
    const reason = `the quorum did not ratify it ${within ? `within ${humanDuration(within)}` : 'in time'}`;
    const marked = await change(ctx, r.id, ['ACTIVE'], (x, at) =>
      x.emergency && !x.emergency.ratifiedAt && !x.emergency.rejected
        ? {
            set: { emergency: { ...x.emergency, rejected: { why: 'unratified', by: null, at, reason } } },
            events: [{ type: 'emergency.rejected', requestId: r.id, actor: null, details: { why: 'unratified', reason } }],
          }
        : null,
    );
    if (!marked?.emergency?.rejected) return false;
    return (await startRevoke(ctx, r.id, 'unratified', null)) !== null;
  }
  return (await startRevoke(ctx, r.id, e.rejected.why, null)) !== null;
}
