/** Policy rules: who may request, who may approve, what a request may ask for. Pure. */
import { tally } from './approval.ts';
import { CATEGORY_SHORT, isReasonCategory, REASON_CATEGORIES, type ReasonCategory } from './categories.ts';
import { parseDuration } from './duration.ts';
import { kindOf, type AccessRequest, type RuleSnapshot } from './request.ts';

export interface Principals {
  users: string[];
  groups: string[];
}

/** `count` approvals from people in `from` (null: the policy's approvers). */
export interface ApprovalRule {
  count: number;
  from: Principals | null;
  /** What people see the rule called ("security"); default: who it names. */
  name?: string | undefined;
}

/** Emergency access for a profile: granted at once, then ratified by the quorum within `ratifyWithin` or revoked. */
export interface EmergencyPolicy {
  maxDuration: string;
  ratifyWithin: string;
  perDay: number;
  requireTicket: boolean;
}

export interface Profile {
  id: string;
  name: string;
  accountId: string;
  permissionSetArn: string;
  /** ISO-8601 choices, as written in the policy; the longest is the cap. */
  durations: string[];
  /** The total number of approvals: the sum of the rules' counts. */
  approvals: number;
  /** Rules that must all hold; a person counts toward one rule at most. */
  rules: ApprovalRule[];
  /** Who may request this profile; null: the policy's requesters. */
  requesters: Principals | null;
  /** Distinct denials that end a request. */
  denials: number;
  /** A grant with its extensions never lasts longer than this (ISO-8601). */
  maxTotal: string;
  requireTicket: boolean;
  /** When access ends, deny the sessions it issued (inline policy + re-provisioning); false: they last until their own expiry. */
  endSessions: boolean;
  emergency: EmergencyPolicy | null;
  /** The reason categories this profile serves; null: any, and naming one is optional. */
  reasons: ReasonCategory[] | null;
}

/** After a grant ends, what its session did, read from CloudTrail and posted after `delay`. */
export interface ActivityReportPolicy {
  enabled: boolean;
  /** ISO-8601: how long after the grant ends the report is read (CloudTrail delivers late). */
  delay: string;
  /** Regions searched; us-east-1 (where global services record) is always added. */
  regions: string[];
}

/** A periodic review of who can reach the management account, attested by a quorum of reviewers. */
export interface ReviewPolicy {
  every: 'P1M' | 'P3M';
  reviewers: Principals;
  /** Distinct reviewers who must attest. */
  approvals: number;
}

/** A root-credential item (inbox, vault entry, MFA device, phone) and the Slack users who hold it. */
export interface Custodian {
  item: string;
  holders: string[];
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
  /** How long before a grant ends its requester is warned (ISO-8601). */
  expiryWarning: string;
  /** Re-notify approvers of an undecided request this often; null: never. */
  reminders: { every: string } | null;
  /** After `after`, `approvers` may approve too (toward any rule), and are told. */
  escalation: { after: string; approvers: Principals } | null;
  activityReport: ActivityReportPolicy;
  /** null: no periodic review. */
  review: ReviewPolicy | null;
  custodians: Custodian[];
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
  /** The reason category chosen; absent or null: none. */
  category?: string | null;
}

export type SubmissionErrors = Partial<Record<'profile' | 'duration' | 'justification' | 'ticket' | 'category', string>>;

export interface ValidSubmission {
  profile: Profile;
  duration: string;
  justification: string;
  ticket: string | null;
  category: ReasonCategory | null;
}

/** The categories a profile serves, in the policy's order (all of them when it names none). */
export const categoriesOf = (profile: Profile): readonly ReasonCategory[] => profile.reasons ?? REASON_CATEGORIES;

/** The durations a profile offers for emergency access: its own up to the emergency cap (the cap itself when none fits). */
export function emergencyDurations(profile: Profile): string[] {
  const e = profile.emergency;
  if (!e) return [];
  const fitting = profile.durations.filter((d) => fitsWithin(d, e.maxDuration));
  return fitting.length > 0 ? fitting : [e.maxDuration];
}

/** Checks a request against the policy; errors are keyed by the modal's block ids. */
export function validateSubmission(
  policy: Policy,
  input: SubmissionInput,
  kind: 'access' | 'emergency' = 'access',
): { ok: true; value: ValidSubmission } | { ok: false; errors: SubmissionErrors } {
  const errors: SubmissionErrors = {};
  const profile = policy.profiles.find((p) => p.id === input.profileId);
  if (!profile) errors.profile = input.profileId ? `Unknown profile "${input.profileId}". Pick one from the list.` : 'Pick a profile.';
  else if (kind === 'emergency' && !profile.emergency) errors.profile = `${profile.name} does not offer emergency access; use /breakglass request.`;
  const offered = profile ? (kind === 'emergency' ? emergencyDurations(profile) : profile.durations) : [];
  const duration = input.duration ?? '';
  if (!duration) errors.duration = 'Pick a duration.';
  else if (profile && offered.length > 0 && !offered.includes(duration)) {
    errors.duration = `${duration} is not offered for ${kind === 'emergency' ? 'emergency access to ' : ''}${profile.name}; choose one of ${offered.join(', ')}.`;
  } else if (!parseDuration(duration)) errors.duration = `${duration} is not a valid duration.`;
  const justification = (input.justification ?? '').trim();
  if (justification.length < JUSTIFICATION_MIN) {
    errors.justification = `Say why you need access in at least ${JUSTIFICATION_MIN} characters.`;
  } else if (justification.length > JUSTIFICATION_MAX) {
    errors.justification = `Keep the justification under ${JUSTIFICATION_MAX} characters (it has ${justification.length}).`;
  }
  const ticket = (input.ticket ?? '').trim() || null;
  const ticketRequired = kind === 'emergency' ? (profile?.emergency?.requireTicket ?? true) : profile?.requireTicket;
  if (ticketRequired && !ticket) errors.ticket = kind === 'emergency' ? `Emergency access to ${profile?.name ?? 'this profile'} needs an incident reference.` : `${profile?.name ?? 'This profile'} needs a ticket reference.`;
  else if (ticket && ticket.length > TICKET_MAX) errors.ticket = `Keep the ${kind === 'emergency' ? 'incident' : 'ticket'} reference under ${TICKET_MAX} characters.`;
  const category = input.category ?? null;
  if (category !== null && !isReasonCategory(category)) errors.category = `Unknown reason category "${category}". Pick one from the list.`;
  else if (profile?.reasons && category === null) errors.category = `${profile.name} asks for a reason category: ${profile.reasons.map((c) => CATEGORY_SHORT[c]).join(', ')}.`;
  else if (profile?.reasons && category !== null && !profile.reasons.includes(category)) {
    errors.category = `${profile.name} serves only ${profile.reasons.map((c) => CATEGORY_SHORT[c]).join(', ')}; "${CATEGORY_SHORT[category]}" needs another profile.`;
  }
  if (Object.keys(errors).length > 0 || !profile) return { ok: false, errors };
  return { ok: true, value: { profile, duration, justification, ticket, category: category !== null && isReasonCategory(category) ? category : null } };
}

export interface QuorumProblem {
  profileId: string;
  requester: string | null;
  message: string;
}

/** Who may request the profile: its own requesters, or the policy's. */
export const requestersOf = (policy: Policy, profile: Profile): Principals => profile.requesters ?? policy.requesters;
/** Who a rule takes approvals from. */
export const poolOf = (policy: Policy, rule: ApprovalRule): Principals => rule.from ?? policy.approvers;

/** Every user group the policy names (requesters, approvers, rules, escalation), for resolving them together. */
export function policyGroupIds(policy: Policy): string[] {
  const all = [...policy.requesters.groups, ...policy.approvers.groups, ...(policy.escalation?.approvers.groups ?? []), ...(policy.review?.reviewers.groups ?? [])];
  for (const p of policy.profiles) {
    all.push(...(p.requesters?.groups ?? []));
    for (const r of p.rules) all.push(...(r.from?.groups ?? []));
  }
  return [...new Set(all)];
}

/** What people see a rule called: its name, or whom it names. */
export function ruleLabel(rule: ApprovalRule): string {
  if (rule.name) return rule.name;
  if (!rule.from) return 'approvers';
  const names = [...rule.from.groups.map((g) => `group ${g}`), ...rule.from.users];
  return names.length > 3 ? `${names.slice(0, 3).join(', ')} and ${names.length - 3} more` : names.join(', ');
}

export function ruleSnapshots(profile: Profile): RuleSnapshot[] {
  return profile.rules.map((r) => ({ count: r.count, label: ruleLabel(r) }));
}

/**
 * No single person may be required: for every requester, the profile's rules must all still be
 * met by approvers other than the requester with any one of them absent. Each person counts
 * toward one rule at most (a matching of people to rule places), so "1 from security and 1 from
 * platform" with one person in both groups and one other is flagged. The escalation pool is not
 * counted: the quorum must be safe without the fallback.
 */
export function quorumProblems(policy: Policy, groups: GroupMembers): QuorumProblem[] {
  const problems: QuorumProblem[] = [];
  for (const profile of policy.profiles) {
    const pools = profile.rules.map((rule) => expand(poolOf(policy, rule), groups));
    const everyone = new Set(pools.flatMap((p) => [...p]));
    const requesters = expand(requestersOf(policy, profile), groups);
    const people = (without: ReadonlySet<string>) =>
      [...everyone].filter((id) => !without.has(id)).map((id) => ({ id, rules: pools.flatMap((p, i) => (p.has(id) ? [i] : [])) }));
    const rules = profile.rules;
    const want = profile.approvals;
    if (everyone.size < want + 1) {
      problems.push({
        profileId: profile.id,
        requester: null,
        message: `profile "${profile.id}" needs ${want} approvals, so at least ${want + 1} approvers (one spare, so no single person is required); its approver pools have ${everyone.size}`,
      });
      continue;
    }
    // A requester outside every pool removes nobody: one check stands for all of them.
    const cases: (string | null)[] = [...requesters].filter((r) => everyone.has(r));
    if ([...requesters].some((r) => !everyone.has(r))) cases.unshift(null);
    for (const r of cases) {
      const base = new Set(r ? [r] : []);
      const full = tally(rules, people(base));
      const whose = r ? `requester ${r}` : 'a requester outside the approver pools';
      if (!full.met) {
        problems.push({
          profileId: profile.id,
          requester: r,
          message: `profile "${profile.id}" needs ${describeRules(profile)}, but ${whose} can reach only ${full.counted} of them from the approvers; add approvers or lower "approvals"`,
        });
        continue;
      }
      // Only someone counted in this matching can be required: without anyone else, it still holds.
      const counted = full.perRule.flat();
      const required = counted.find((x) => !tally(rules, people(new Set([...base, x]))).met);
      if (required !== undefined) {
        problems.push({
          profileId: profile.id,
          requester: r,
          message: `${whose} can reach the ${describeRules(profile)} of profile "${profile.id}" only with ${required}, so one person would be required; add approvers or lower "approvals"`,
        });
      }
    }
  }
  return problems;
}

export function describeRules(profile: Profile): string {
  if (profile.rules.length === 1 && !profile.rules[0]?.from) return `${profile.approvals} approval${profile.approvals === 1 ? '' : 's'}`;
  return profile.rules.map((r) => `${r.count} from ${ruleLabel(r)}`).join(' and ');
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
  at: string;
  requesterEligible: boolean;
  /** The request's approvers and the profile's rules each may count toward now (none: not an approver any more). */
  approvers: { id: string; rules: number[] }[];
}

/**
 * Why a stored request may not be granted under the policy in force now (null when it may):
 * the profile still exists and still names the same target, the requester is still a
 * requester, the duration is still offered, and the approvals of distinct current approvers
 * other than the requester still meet the profile's rules. An emergency needs no approvals yet
 * (it is ratified after), but the profile must still offer emergency access and nobody may have
 * denied it. A request item is never trusted just because it says APPROVED.
 */
export function grantProblem(policy: Policy, r: AccessRequest, now: CurrentEligibility): string | null {
  const profile = policy.profiles.find((p) => p.id === r.profileId);
  if (!profile) return `the profile "${r.profileId}" is no longer in the policy`;
  const t = r.target;
  if (t.instanceArn !== policy.identityCenter.instanceArn || t.accountId !== profile.accountId || t.permissionSetArn !== profile.permissionSetArn) {
    return `the request's target (account ${t.accountId}, ${t.permissionSetArn}) is not what profile "${profile.id}" grants now (account ${profile.accountId}, ${profile.permissionSetArn})`;
  }
  if (!now.requesterEligible) return `${r.requester.slackUserId} is no longer a requester of profile "${profile.id}"`;
  if (kindOf(r) === 'emergency') {
    if (!profile.emergency) return `profile "${profile.id}" no longer offers emergency access`;
    if (!fitsWithin(r.duration, profile.emergency.maxDuration)) return `${r.duration} is longer than the ${profile.emergency.maxDuration} emergency access profile "${profile.id}" allows now`;
    if (r.emergency?.rejected) return `an approver denied it before it was granted (${r.emergency.rejected.reason})`;
    if (r.emergency && !r.emergency.ratifiedAt && now.at >= r.emergency.ratifyBy) return 'the quorum did not ratify it before its deadline, and it was never granted';
    return null;
  }
  if (!profile.durations.includes(r.duration)) return `${r.duration} is not a duration profile "${profile.id}" offers now (${profile.durations.join(', ')})`;
  const current = tally(
    profile.rules,
    now.approvers.filter((a) => a.id !== r.requester.slackUserId && a.rules.length > 0),
  );
  if (!current.met) {
    return `only ${current.counted} of the ${describeRules(profile)} profile "${profile.id}" needs come from distinct current approvers other than the requester`;
  }
  return null;
}

/** Whether duration `d` is no longer than `limit` (both ISO-8601). */
export function fitsWithin(d: string, limit: string): boolean {
  const a = parseDuration(d);
  const b = parseDuration(limit);
  return a !== null && b !== null && a.as('milliseconds') <= b.as('milliseconds');
}
