import { createHash } from 'node:crypto';
import { canonicalJson } from '../audit/chain.ts';
import { backoffMs } from '../aws/pacing.ts';
import { buildReport, isSessionOf, type ActivityReport, type TrailEvent } from '../domain/activity.ts';
import { addDuration, parseDuration } from '../domain/duration.ts';
import type { DomainEvent } from '../domain/events.ts';
import type { AccessRequest, ActivityState } from '../domain/request.ts';
import { change, later, write } from './change.ts';
import type { ServiceContext } from './context.ts';
import { withLease } from './lease.ts';
import { describeError } from './poll.ts';

/** Reports being read at once in this process; more wait for a later sweep (they hold nothing meanwhile). */
const MAX_CONCURRENT = 2;
const running = new WeakMap<object, number>();

/**
 * The changes that ask for a report when a grant has ended (written with REVOKED, in the same
 * update): a field and a due time, no call to anything, so the revoke is never slowed by it.
 */
export function reportWhenRevoked(ctx: ServiceContext, r: AccessRequest, now: string): { activity?: ActivityState; due: string | null } {
  const p = ctx.policy.activityReport;
  if (!p.enabled || !r.grant.grantedAt) return { due: null };
  const activity: ActivityState = { state: 'waiting', attempts: 0, lastError: null, report: null, digest: null };
  return { activity, due: addDuration(now, p.delay) };
}

/**
 * Reads what the grant's sessions did from CloudTrail, once the delay after the window's end has
 * passed, and records the report (on the request, and as `activity.reported` with its digest).
 * Failed reads are retried with backoff; after the last attempt the report says what could not
 * be read. Runs only on REVOKED requests: nothing here can hold up a revoke.
 */
export async function reportActivity(ctx: ServiceContext, id: string): Promise<void> {
  const request = await ctx.requests.get(id);
  if (request?.status !== 'REVOKED') return;
  if (request.activity?.state !== 'waiting' || !ctx.policy.activityReport.enabled) {
    await setDue(ctx, request, null);
    return;
  }
  const window = await windowOf(ctx, request);
  const dueAt = addDuration(window.end, ctx.policy.activityReport.delay);
  if (ctx.clock.now() < dueAt) {
    await setDue(ctx, request, dueAt);
    return;
  }
  const busy = running.get(ctx.trail) ?? 0;
  if (busy >= MAX_CONCURRENT) {
    await setDue(ctx, request, later(ctx.clock.now(), 5_000));
    return;
  }
  running.set(ctx.trail, busy + 1);
  try {
    await withLease(ctx, id, 'REVOKED', (claimed) => readAndRecord(ctx, claimed, window));
  } finally {
    running.set(ctx.trail, (running.get(ctx.trail) ?? 1) - 1);
  }
}

/**
 * From the creation of the assignment (a session can start as soon as it lands, before the bot sees
 * it confirmed) to the confirmation that its sessions were ended; when they were not (kept,
 * lapsed, or the profile keeps them), a session issued just before the removal could run for the
 * permission set's whole session duration.
 */
export async function windowOf(ctx: ServiceContext, r: AccessRequest): Promise<ActivityReport['window']> {
  const start = r.grant.creationAttemptedAt ?? r.grant.grantedAt ?? r.createdAt;
  const done = r.revoke?.doneAt ?? r.updatedAt;
  if (r.revoke?.sessions?.state === 'ended') return { start, end: done, endsAt: 'removal' };
  const removed = r.revoke?.removedAt ?? done;
  const duration = await ctx.ic.sessionDuration(r.target.instanceArn, r.target.permissionSetArn).catch(() => 'PT12H');
  return { start, end: addDuration(removed, parseDuration(duration) ? duration : 'PT12H'), endsAt: 'session-expiry' };
}

async function readAndRecord(ctx: ServiceContext, r: AccessRequest, window: ActivityReport['window']): Promise<void> {
  const activity = r.activity;
  if (activity?.state !== 'waiting') return;
  const regions = ctx.policy.activityReport.regions;
  const userName = r.requester.identity?.userName ?? null;
  const events: TrailEvent[] = [];
  const failed: ActivityReport['failed'] = [];
  if (!userName) {
    failed.push(...regions.map((region) => ({ region, error: 'the request does not record the Identity Center user name' })));
  } else {
    let permissionSet: string | null = null;
    try {
      permissionSet = await ctx.ic.permissionSetName(r.target.instanceArn, r.target.permissionSetArn);
    } catch (err) {
      failed.push(...regions.map((region) => ({ region, error: `permission set name unknown: ${describeError(err)}` })));
    }
    if (permissionSet) {
      const name = permissionSet;
      // Regions are read side by side: each has its own quota, and the adapter paces each.
      const signal = AbortSignal.timeout(ctx.timing.activityReadMs);
      await Promise.all(
        regions.map(async (region) => {
          try {
            const found = await ctx.trail.lookupByUsername(region, userName, window.start, window.end, signal);
            events.push(...found.filter((e) => isSessionOf(e.principalArn, r.target.accountId, name, userName)));
          } catch (err) {
            failed.push({ region, error: describeError(err) });
          }
        }),
      );
    }
  }
  const attempt = activity.attempts + 1;
  if (failed.length > 0 && attempt < ctx.timing.activityAttempts) {
    const error = failed.map((f) => `${f.region}: ${f.error}`).join('; ');
    ctx.log.warn({ event: 'activity.read_failed', requestId: r.id, attempt, error }, 'could not read the session activity; retrying');
    const t = ctx.timing;
    const next = later(ctx.clock.now(), backoffMs(attempt - 1, t.activityRetryBaseMs, t.activityRetryCapMs));
    await writeActivity(ctx, r, { ...activity, attempts: attempt, lastError: error }, next);
    return;
  }
  failed.sort((a, b) => a.region.localeCompare(b.region));
  const report = buildReport({ window, regions, failed, readAt: ctx.clock.now(), events, category: r.category ?? null });
  const digest = createHash('sha256').update(canonicalJson(report)).digest('hex');
  await writeActivity(ctx, r, { state: 'reported', attempts: attempt, lastError: failed.length > 0 ? failed.map((f) => `${f.region}: ${f.error}`).join('; ') : null, report, digest }, null, {
    type: 'activity.reported',
    requestId: r.id,
    actor: null,
    details: {
      window,
      regions,
      failedRegions: failed.map((f) => f.region),
      complete: report.complete,
      calls: report.calls,
      writes: report.writes.length + report.omittedWrites,
      expected: report.expected,
      flagged: report.flagged.length,
      flaggedNames: [...new Set(report.flagged)].slice(0, 20),
      category: report.category.outcome,
      digest,
    },
  });
}

async function writeActivity(ctx: ServiceContext, r: AccessRequest, activity: ActivityState, due: string | null, event?: DomainEvent): Promise<void> {
  // Recorded once: only while the report is still awaited (another writer may have touched the item meanwhile).
  await change(ctx, r.id, ['REVOKED'], (fresh) => (fresh.activity?.state === 'waiting' ? { set: { activity }, ...(event ? { events: [event] } : {}), due } : null));
}

async function setDue(ctx: ServiceContext, r: AccessRequest, due: string | null): Promise<void> {
  // A request that changed meanwhile is looked at again by the sweeper.
  await write(ctx, r, { due }, ctx.clock.now());
}
