/**
 * Who may do what with a request, asked of the directory at the moment they act (never when the
 * request was routed): requesters per profile, approvers per approval rule, the escalation pool
 * once a request has escalated.
 */
import { poolOf, requestersOf, type Profile } from '../domain/policy.ts';
import type { AccessRequest } from '../domain/request.ts';
import type { ServiceContext } from './context.ts';

export const profileOf = (ctx: ServiceContext, id: string): Profile | null => ctx.policy.profiles.find((p) => p.id === id) ?? null;

/** Whether the person may request the profile (its own requesters, or the policy's). */
export function mayRequest(ctx: ServiceContext, profile: Profile, slackUserId: string): Promise<boolean> {
  return ctx.directory.isIn(slackUserId, requestersOf(ctx.policy, profile));
}

/** Whether the request's escalation pool may approve it at `now`. */
export const escalated = (r: Pick<AccessRequest, 'escalatesAt'>, now: string): boolean => Boolean(r.escalatesAt && now >= r.escalatesAt);

/**
 * The rules of the request's profile this person may count toward now (indexes; empty: not an
 * approver of it). After escalation the escalation pool may count toward any rule: it is the
 * fallback for whichever rule cannot be met.
 */
export async function approverRules(ctx: ServiceContext, r: Pick<AccessRequest, 'profileId' | 'escalatesAt'>, slackUserId: string, now: string): Promise<number[]> {
  const profile = profileOf(ctx, r.profileId);
  if (!profile) return [];
  const rules: number[] = [];
  for (const [i, rule] of profile.rules.entries()) if (await ctx.directory.isIn(slackUserId, poolOf(ctx.policy, rule))) rules.push(i);
  const fallback = ctx.policy.escalation;
  if (rules.length < profile.rules.length && fallback && escalated(r, now) && (await ctx.directory.isIn(slackUserId, fallback.approvers))) {
    return profile.rules.map((_r, i) => i);
  }
  return rules;
}

/** Whether the person may decide on the request now (approve toward some rule, or deny). */
export async function mayDecide(ctx: ServiceContext, r: Pick<AccessRequest, 'profileId' | 'escalatesAt'>, slackUserId: string, now: string): Promise<boolean> {
  return (await approverRules(ctx, r, slackUserId, now)).length > 0;
}

/**
 * Whether the person is an approver of the profile or of the policy: they may end (revoke) its
 * active grants. Taking access away early is never riskier than letting it run.
 */
export async function mayRevoke(ctx: ServiceContext, profileId: string, slackUserId: string): Promise<boolean> {
  if (await ctx.directory.isIn(slackUserId, ctx.policy.approvers)) return true;
  const profile = profileOf(ctx, profileId);
  if (!profile) return false;
  for (const rule of profile.rules) if (await ctx.directory.isIn(slackUserId, poolOf(ctx.policy, rule))) return true;
  return false;
}

/** Whether the person approves anything at all: the policy's approvers or any profile's rules. */
export async function isAnyApprover(ctx: ServiceContext, slackUserId: string): Promise<boolean> {
  if (await ctx.directory.isIn(slackUserId, ctx.policy.approvers)) return true;
  for (const profile of ctx.policy.profiles) {
    for (const rule of profile.rules) if (rule.from && (await ctx.directory.isIn(slackUserId, rule.from))) return true;
  }
  return false;
}

/** Everyone who may decide on the request now, other than its requester (for mentions and DMs). */
export async function eligibleApprovers(ctx: ServiceContext, r: Pick<AccessRequest, 'profileId' | 'escalatesAt' | 'requester'>, now: string): Promise<string[]> {
  const profile = profileOf(ctx, r.profileId);
  if (!profile) return [];
  const all = new Set<string>();
  for (const rule of profile.rules) for (const id of await ctx.directory.members(poolOf(ctx.policy, rule))) all.add(id);
  const fallback = ctx.policy.escalation;
  if (fallback && escalated(r, now)) for (const id of await ctx.directory.members(fallback.approvers)) all.add(id);
  all.delete(r.requester.slackUserId);
  return [...all].sort();
}
