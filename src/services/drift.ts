import { randomUUID } from 'node:crypto';
import type { AssignmentTarget } from '../domain/request.ts';
import type { Profile } from '../domain/policy.ts';
import { driftId } from '../store/drift.ts';
import type { AssignmentRecord, DriftAlert } from './ports.ts';
import type { ServiceContext } from './context.ts';
import { mayRevoke } from './eligibility.ts';
import type { DecisionResult } from './decision.ts';
import { classifyHolders, settleForeignCreation, withAssignmentLock } from './assignment-lock.ts';
import { describeError, pollUntilSettled } from './poll.ts';
import { endSessions, sessionsKeptBecause } from './sessions.ts';

export interface DriftPass {
  raised: number;
  revoked: number;
  resolved: number;
}

/** Principals the policy says may hold each profile's assignment permanently (emails resolved to user ids). */
async function standingPrincipals(ctx: ServiceContext): Promise<Map<string, Set<string>>> {
  const map = new Map<string, Set<string>>();
  for (const s of ctx.policy.standingAccess) {
    const set = map.get(s.profile) ?? new Set<string>();
    if (s.userId) set.add(s.userId);
    if (s.groupId) set.add(s.groupId);
    if (s.email) {
      const id = await ctx.ic.findUserIdByEmail(s.email);
      if (id) set.add(id);
    }
    map.set(s.profile, set);
  }
  return map;
}

/**
 * Compares what Identity Center says each managed permission set grants on
 * its account with what breakglass granted and the policy allows. Anything
 * else raises one alert (or is removed, with `drift: revoke`); an alert whose
 * access has gone is closed.
 */
export async function checkDrift(ctx: ServiceContext): Promise<DriftPass> {
  const pass: DriftPass = { raised: 0, revoked: 0, resolved: 0 };
  const standing = await standingPrincipals(ctx);
  const instanceArn = ctx.policy.identityCenter.instanceArn;
  const checked = new Set<string>();
  for (const profile of ctx.policy.profiles) {
    const scope = `${profile.accountId}/${profile.permissionSetArn}`;
    if (checked.has(scope)) continue;
    checked.add(scope);
    // Profiles may share an account and permission set: standing access listed under any of them counts.
    const allowed = new Set(
      ctx.policy.profiles.filter((p) => `${p.accountId}/${p.permissionSetArn}` === scope).flatMap((p) => [...(standing.get(p.id) ?? [])]),
    );
    const present = new Set<string>();
    for (const a of await ctx.ic.listAssignments(instanceArn, profile.accountId, profile.permissionSetArn)) {
      const alert = { instanceArn, accountId: profile.accountId, permissionSetArn: profile.permissionSetArn, principalType: a.principalType, principalId: a.principalId };
      const id = driftId(alert);
      present.add(id);
      if (allowed.has(a.principalId)) continue;
      try {
        const outcome = await judge(ctx, profile, { ...alert, id });
        if (outcome === 'raised' || outcome === 'raised+revoked') pass.raised++;
        if (outcome === 'revoked' || outcome === 'raised+revoked') pass.revoked++;
      } catch (err) {
        // One assignment Identity Center will not remove right now must not stop the check of the others.
        ctx.log.warn({ err, event: 'drift.judge_failed', driftId: id }, 'could not settle one drifted assignment; next pass retries');
      }
    }
    for (const id of await ctx.drift.openIds(profile.id)) {
      if (!present.has(id) && (await resolveIfGone(ctx, id))) pass.resolved++;
    }
  }
  if (pass.raised + pass.revoked + pass.resolved > 0) ctx.eventsQueued();
  return pass;
}

/**
 * Closes an open alert whose access is gone. Judged under the assignment's lock and asked of
 * Identity Center again, so an approver's Revoke in flight closes it as revoked, by them.
 */
async function resolveIfGone(ctx: ServiceContext, id: string): Promise<boolean> {
  const alert = await ctx.drift.get(id);
  if (alert?.status !== 'open') return false;
  const target: AssignmentTarget = { instanceArn: alert.instanceArn, accountId: alert.accountId, permissionSetArn: alert.permissionSetArn, principalId: alert.principalId };
  const outcome = await underLock(ctx, alert.principalType, target, `drift:${ctx.owner}:${randomUUID()}`, async () => {
    if (await stillAssigned(ctx, alert.principalType, target)) return false;
    return ctx.drift.close(id, 'resolved', { type: 'drift.resolved', requestId: null, actor: null, details: { driftId: id, note: 'the assignment is gone' } }, ctx.clock.now());
  });
  return outcome?.value ?? false;
}

type Judgement = 'backed' | 'gone' | 'busy' | 'known' | 'raised' | 'revoked' | 'raised+revoked';

/** Whether Identity Center holds the assignment now. */
async function stillAssigned(ctx: ServiceContext, principalType: 'USER' | 'GROUP', target: AssignmentTarget): Promise<boolean> {
  if (principalType === 'USER') return ctx.ic.hasAssignment(target);
  const now = await ctx.ic.listAssignments(target.instanceArn, target.accountId, target.permissionSetArn);
  return now.some((a) => a.principalType === 'GROUP' && a.principalId === target.principalId);
}

/**
 * Whether a breakglass grant really backs the assignment: a name in the record counts only
 * while its request relies on it (a name left behind by an ended grant backs nothing).
 */
async function backed(ctx: ServiceContext, record: AssignmentRecord, target: AssignmentTarget): Promise<boolean> {
  const settled = await settleForeignCreation(ctx, record, target, null);
  if (settled === 'wait') return true;
  const holders = await classifyHolders(ctx, settled.holders, target, null);
  return holders.relying.length + holders.deleting.length > 0;
}

/** USER assignments are judged under their lock (grants and revokes hold it while Identity Center works); GROUP ones need none. */
async function underLock<T>(ctx: ServiceContext, principalType: 'USER' | 'GROUP', target: AssignmentTarget, owner: string, work: (record: AssignmentRecord) => Promise<T>): Promise<{ value: T } | null> {
  if (principalType === 'GROUP') return { value: await work({ holders: [], heldBefore: null, creating: null }) };
  return withAssignmentLock(ctx, target, owner, (held) => work(held.record));
}

async function judge(ctx: ServiceContext, profile: Profile, alert: Omit<DriftAlert, 'status' | 'alertMessage' | 'detectedAt' | 'profileId'>): Promise<Judgement> {
  const target: AssignmentTarget = { instanceArn: alert.instanceArn, accountId: alert.accountId, permissionSetArn: alert.permissionSetArn, principalId: alert.principalId };
  const outcome = await underLock(ctx, alert.principalType, target, `drift:${ctx.owner}:${randomUUID()}`, async (record): Promise<Judgement> => {
    if (await backed(ctx, record, target)) return 'backed';
    // The listing is older than the lock: a revoke may have removed the assignment in between.
    if (!(await stillAssigned(ctx, alert.principalType, target))) return 'gone';
    const now = ctx.clock.now();
    const raised = await ctx.drift.raise(
      { ...alert, profileId: profile.id, detectedAt: now },
      {
        type: 'drift.detected',
        requestId: null,
        actor: null,
        details: { driftId: alert.id, profileId: profile.id, profileName: profile.name, accountId: alert.accountId, permissionSetArn: alert.permissionSetArn, principalType: alert.principalType, principalId: alert.principalId, mode: ctx.policy.drift },
      },
      now,
    );
    if (ctx.policy.drift !== 'revoke') return raised ? 'raised' : 'known';
    await removeDriftAccess(ctx, alert.id, target, alert.principalType, null);
    return raised ? 'raised+revoked' : 'revoked';
  });
  return outcome?.value ?? 'busy';
}

async function removeDriftAccess(ctx: ServiceContext, id: string, target: AssignmentTarget, principalType: 'USER' | 'GROUP', by: string | null): Promise<void> {
  const deletionId = await ctx.ic.startDeletion(target, principalType);
  const status = await pollUntilSettled(ctx.clock, () => ctx.ic.deletionStatus(target.instanceArn, deletionId), ctx.clock.ms() + ctx.timing.pollRoundMs);
  if (status.state !== 'SUCCEEDED') {
    throw new Error(status.state === 'FAILED' ? `Identity Center could not delete it: ${status.failureReason ?? 'no reason given'}` : 'Identity Center has not confirmed the deletion yet');
  }
  const sessions = await endDriftSessions(ctx, id, target, principalType);
  await ctx.drift.close(id, 'revoked', { type: 'drift.revoked', requestId: null, actor: by ? { slackUserId: by, principalId: null } : null, details: { driftId: id, deletionRequestId: deletionId, sessions } }, ctx.clock.now());
  ctx.eventsQueued();
}

/** Ends the sessions of a user whose drifted access was removed; says what happened, in words for the alert. */
async function endDriftSessions(ctx: ServiceContext, id: string, target: AssignmentTarget, principalType: 'USER' | 'GROUP'): Promise<string> {
  if (principalType === 'GROUP') return 'not ended: sessions of a group assignment belong to its members, who may hold them otherwise';
  const alert = await ctx.drift.get(id);
  try {
    const kept = await sessionsKeptBecause(ctx, alert?.profileId ?? '', target);
    if (kept) return `not ended: ${kept}`;
    const instant = ctx.clock.now();
    let outcome = await endSessions(ctx, target, instant);
    // Another edit of the permission set is under way and will carry this one too: wait for it a while.
    for (let i = 0; !outcome.ended && outcome.busy && i < 30; i++) {
      await ctx.clock.sleep(500);
      outcome = await endSessions(ctx, target, instant);
    }
    return outcome.ended ? 'ended' : `could not be ended: ${outcome.retry}`;
  } catch (err) {
    return `could not be ended: ${describeError(err)}`;
  }
}

/** An approver clicks Revoke on a drift alert. */
export async function revokeDrift(ctx: ServiceContext, id: string, bySlackId: string): Promise<DecisionResult> {
  const alert = await ctx.drift.get(id);
  if (!alert) return { ok: false, message: `There is no drift alert ${id}.` };
  if (!(await mayRevoke(ctx, alert.profileId, bySlackId))) return { ok: false, message: 'Only breakglass approvers can revoke access found by drift detection.' };
  if (alert.status !== 'open') return { ok: false, message: `This alert is already ${alert.status}.` };
  const target: AssignmentTarget = { instanceArn: alert.instanceArn, accountId: alert.accountId, permissionSetArn: alert.permissionSetArn, principalId: alert.principalId };
  try {
    const outcome = await underLock(ctx, alert.principalType, target, `drift:${bySlackId}:${randomUUID()}`, async (record): Promise<DecisionResult> => {
      if (await backed(ctx, record, target)) return { ok: false, message: 'A breakglass grant now backs this assignment, so it was left in place.' };
      await removeDriftAccess(ctx, id, target, alert.principalType, bySlackId);
      return { ok: true, message: 'Removed: Identity Center confirmed the deletion.' };
    });
    return outcome?.value ?? { ok: false, message: 'A grant or revoke of this assignment is in progress; try again in a moment.' };
  } catch (err) {
    return { ok: false, message: `Could not remove it: ${describeError(err)}` };
  }
}
