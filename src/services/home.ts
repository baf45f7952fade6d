/**
 * What one person's App Home shows, gathered for them at the moment it is published: their own
 * access, open requests and last requests; what waits for their decision; the grants they may
 * revoke; the profiles they may request. Read fresh every time (Slack is a view of the table) and
 * judged by the same rules the clicks are (services/eligibility.ts), so the home offers nobody a
 * button they may not use; every click is still checked again. The blocks are
 * src/slack/blocks/home.ts.
 */
import { openForDecisions } from '../domain/approval.ts';
import type { Profile } from '../domain/policy.ts';
import type { AccessRequest } from '../domain/request.ts';
import type { ServiceContext } from './context.ts';
import { isAnyApprover, mayDecide, mayRequest, mayRevoke, profileOf } from './eligibility.ts';
import { liveRequests } from './status.ts';

/** How many of a person's requests the home lists as their history. */
export const HISTORY_LENGTH = 10;

/** A request with what its End access / Revoke button must say about sessions. */
export interface Shown {
  request: AccessRequest;
  /** Whether ending the access also ends the sessions it opened (the profile's endSessions). */
  endsSessions: boolean;
}

export interface Home {
  viewer: string;
  /** The viewer's time zone (from Slack), for every instant shown. */
  tz: string;
  now: string;
  /** Profiles the viewer may request, in policy order. */
  requestable: Profile[];
  /** The viewer's requests waiting for approval, oldest first. */
  open: AccessRequest[];
  /** The viewer's access being granted, active, or being removed, oldest first. */
  access: Shown[];
  /** The viewer's last requests, newest first; null when the table has no requester index yet. */
  history: AccessRequest[] | null;
  /** Whether the viewer approves anything, so an empty list of decisions is said rather than left out. */
  approver: boolean;
  /** Others' requests (and emergency grants to ratify) this viewer may decide now and has not, oldest first. */
  waiting: AccessRequest[];
  /** Others' active access this viewer may revoke, oldest first. */
  grants: Shown[];
}

const OWN_ACCESS = new Set<AccessRequest['status']>(['APPROVED', 'GRANTING', 'ACTIVE', 'REVOKING']);

const byCreation = (a: AccessRequest, b: AccessRequest) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0);

async function filterAsync<T>(items: T[], keep: (item: T) => Promise<boolean>): Promise<T[]> {
  const kept = await Promise.all(items.map(keep));
  return items.filter((_x, i) => kept[i]);
}

/** Whether the viewer may decide the request now and has not yet: never their own, never twice. */
async function waitsFor(ctx: ServiceContext, r: AccessRequest, viewer: string, now: string): Promise<boolean> {
  if (r.requester.slackUserId === viewer || openForDecisions(r, now) !== null) return false;
  if (r.approvals.some((a) => a.slackUserId === viewer) || (r.denials ?? []).some((d) => d.slackUserId === viewer)) return false;
  return mayDecide(ctx, r, viewer, now);
}

/** The profiles the person may request now, in policy order. */
export function requestableBy(ctx: ServiceContext, slackUserId: string): Promise<Profile[]> {
  return filterAsync(ctx.policy.profiles, (p) => mayRequest(ctx, p, slackUserId));
}

export async function homeOf(ctx: ServiceContext, viewer: string): Promise<Home> {
  const now = ctx.clock.now();
  const [user, live, history, approver, requestable] = await Promise.all([
    ctx.directory.user(viewer),
    liveRequests(ctx),
    ctx.requests.ofRequester(viewer, HISTORY_LENGTH),
    isAnyApprover(ctx, viewer),
    requestableBy(ctx, viewer),
  ]);
  live.sort(byCreation);
  const shown = (request: AccessRequest): Shown => ({ request, endsSessions: profileOf(ctx, request.profileId)?.endSessions ?? true });
  const mine = live.filter((r) => r.requester.slackUserId === viewer);
  const others = live.filter((r) => r.requester.slackUserId !== viewer);
  const [waiting, revocable] = await Promise.all([
    filterAsync(others, (r) => waitsFor(ctx, r, viewer, now)),
    filterAsync(
      others.filter((r) => r.status === 'ACTIVE'),
      (r) => mayRevoke(ctx, r.profileId, viewer),
    ),
  ]);
  return {
    viewer,
    tz: user?.tz ?? 'UTC',
    now,
    requestable,
    open: mine.filter((r) => r.status === 'PENDING'),
    access: mine.filter((r) => OWN_ACCESS.has(r.status)).map(shown),
    history,
    approver,
    waiting,
    grants: revocable.map(shown),
  };
}

/**
 * Whether the request appears (or appeared) on the viewer's home: theirs, or one they may decide
 * or revoke. Refreshes go to these people only.
 */
export async function showsOn(ctx: ServiceContext, r: AccessRequest, viewer: string): Promise<boolean> {
  if (r.requester.slackUserId === viewer) return true;
  return (await mayRevoke(ctx, r.profileId, viewer)) || mayDecide(ctx, r, viewer, ctx.clock.now());
}
