/** Policy rules: who may request, who may approve, what a request may ask for. Pure. */
import { parseDuration } from './duration.ts';
import type { AccessRequest } from './request.ts';

export interface Profile {
  id: string;
  name: string;
  accountId: string;
  permissionSetArn: string;
  /** ISO-8601 choices, as written in the policy; the longest is the cap. */
  durations: string[];
  approvals: number;
  requireTicket: boolean;
  /** When access ends, deny the sessions it issued (inline policy + re-provisioning); false: they last until their own expiry. */
  endSessions: boolean;
}

export interface Principals {
  users: string[];
  groups: string[];
}

export interface StandingAccess {
  profile: string;
  userId?: string | undefined;
  email?: string | undefined;
  groupId?: string | undefined;
}

export interface Policy {
  identityCenter: { instanceArn: string; identityStoreId: string; accessPortalUrl?: string | undefined };
  profiles: Profile[];
  requesters: Principals;
  approvers: Principals;
  channels: { approvals: string; audit: string };
  pendingTimeout: string;
  standingAccess: StandingAccess[];
  drift: 'alert' | 'revoke';
}

/** Slack user-group memberships, resolved from Slack. */
export type GroupMembers = ReadonlyMap<string, readonly string[]>;

/** Everyone the principals name, groups expanded. */
export function expand(principals: Principals, groups: GroupMembers): Set<string> {
  const all = new Set(principals.users);
  for (const g of principals.groups) for (const u of groups.get(g) ?? []) all.add(u);
  return all;
}

export const JUSTIFICATION_MIN = 10;
export const JUSTIFICATION_MAX = 3000;
export const TICKET_MAX = 200;

export interface SubmissionInput {
  profileId: string | null;
  duration: string | null;
  justification: string | null;
  ticket: string | null;
}

export type SubmissionErrors = Partial<Record<'profile' | 'duration' | 'justification' | 'ticket', string>>;

export interface ValidSubmission {
  profile: Profile;
  duration: string;
  justification: string;
  ticket: string | null;
}

/** Checks a request against the policy; errors are keyed by the modal's block ids. */
export function validateSubmission(
  policy: Policy,
  input: SubmissionInput,
): { ok: true; value: ValidSubmission } | { ok: false; errors: SubmissionErrors } {
  const errors: SubmissionErrors = {};
  const profile = policy.profiles.find((p) => p.id === input.profileId);
  if (!profile) errors.profile = input.profileId ? `Unknown profile "${input.profileId}". Pick one from the list.` : 'Pick a profile.';
  const duration = input.duration ?? '';
  if (!duration) errors.duration = 'Pick a duration.';
  else if (profile && !profile.durations.includes(duration)) {
    errors.duration = `${duration} is not offered for ${profile.name}; choose one of ${profile.durations.join(', ')}.`;
  } else if (!parseDuration(duration)) errors.duration = `${duration} is not a valid duration.`;
  const justification = (input.justification ?? '').trim();
  if (justification.length < JUSTIFICATION_MIN) {
    errors.justification = `Say why you need access in at least ${JUSTIFICATION_MIN} characters.`;
  } else if (justification.length > JUSTIFICATION_MAX) {
    errors.justification = `Keep the justification under ${JUSTIFICATION_MAX} characters (it has ${justification.length}).`;
  }
  const ticket = (input.ticket ?? '').trim() || null;
  if (profile?.requireTicket && !ticket) errors.ticket = `${profile.name} needs a ticket reference.`;
  else if (ticket && ticket.length > TICKET_MAX) errors.ticket = `Keep the ticket reference under ${TICKET_MAX} characters.`;
  if (Object.keys(errors).length > 0 || !profile) return { ok: false, errors };
  return { ok: true, value: { profile, duration, justification, ticket } };
}

export interface QuorumProblem {
  profileId: string;
  requester: string | null;
  message: string;
}

/**
 * No single person may be required: for every requester, the approvers other
 * than the requester must reach the profile's quorum even with any one of
 * them absent, so the pool without the requester needs at least quorum + 1.
 */
export function quorumProblems(policy: Policy, groups: GroupMembers): QuorumProblem[] {
  const approvers = expand(policy.approvers, groups);
  const requesters = expand(policy.requesters, groups);
  const problems: QuorumProblem[] = [];
  for (const profile of policy.profiles) {
    const needed = profile.approvals + 1;
    if (approvers.size < needed) {
      problems.push({
        profileId: profile.id,
        requester: null,
        message: `profile "${profile.id}" needs ${profile.approvals} approvals, so at least ${needed} approvers (one spare, so no single person is required); the approver pool has ${approvers.size}`,
      });
      continue;
    }
    for (const r of requesters) {
      const pool = approvers.has(r) ? approvers.size - 1 : approvers.size;
      if (pool < needed) {
        problems.push({
          profileId: profile.id,
          requester: r,
          message: `requester ${r} could reach the ${profile.approvals} approvals of profile "${profile.id}" only with ${pool} other approvers, so one of them would be required; add approvers or lower "approvals"`,
        });
      }
    }
  }
  return problems;
}

export function longestDuration(profile: Profile): string {
  let best = profile.durations[0] ?? 'PT0S';
  for (const d of profile.durations) {
    if ((parseDuration(d)?.as('milliseconds') ?? 0) > (parseDuration(best)?.as('milliseconds') ?? 0)) best = d;
  }
  return best;
}

/** Who, of the people a request names, the directory says are eligible now. */
export interface CurrentEligibility {
  requesterEligible: boolean;
  /** The request's approvers who are approvers now. */
  eligibleApprovers: string[];
}

/**
 * Why a stored request may not be granted under the policy in force now (null when it may):
 * the profile still exists and still names the same target, the requester is still a
 * requester, the duration is still offered, and enough distinct current approvers other than
 * the requester approved it. A request item is never trusted just because it says APPROVED.
 */
export function grantProblem(policy: Policy, r: AccessRequest, now: CurrentEligibility): string | null {
  const profile = policy.profiles.find((p) => p.id === r.profileId);
  if (!profile) return `the profile "${r.profileId}" is no longer in the policy`;
  const t = r.target;
  if (t.instanceArn !== policy.identityCenter.instanceArn || t.accountId !== profile.accountId || t.permissionSetArn !== profile.permissionSetArn) {
    return `the request's target (account ${t.accountId}, ${t.permissionSetArn}) is not what profile "${profile.id}" grants now (account ${profile.accountId}, ${profile.permissionSetArn})`;
  }
  if (!now.requesterEligible) return `${r.requester.slackUserId} is no longer a breakglass requester`;
  if (!profile.durations.includes(r.duration)) return `${r.duration} is not a duration profile "${profile.id}" offers now (${profile.durations.join(', ')})`;
  const approvers = new Set(now.eligibleApprovers.filter((a) => a !== r.requester.slackUserId));
  if (approvers.size < profile.approvals) {
    return `only ${approvers.size} of the ${profile.approvals} approvals profile "${profile.id}" needs come from distinct current approvers other than the requester`;
  }
  return null;
}
