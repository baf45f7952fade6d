/**
 * Reminders and escalation of a request that waits for decisions: when each is due and who is
 * told. Pure: services/nudge.ts reads the directory and writes what this plans.
 */
import { addDuration } from './duration.ts';
import type { DomainEvent } from './events.ts';
import type { Policy } from './policy.ts';
import { kindOf, type AccessRequest } from './request.ts';

export type Nudges = NonNullable<AccessRequest['nudges']>;

/**
 * At most this many people are mentioned in one reply: a mention is about 15 characters and a
 * Slack section holds 3000, with room left for the sentence around them.
 */
export const MAX_MENTIONS = 50;

/** Requests stored before reminders existed have none: no reminder, no escalation. */
export const nudgesOf = (r: Pick<AccessRequest, 'nudges'>): Nudges => r.nudges ?? { nextReminderAt: null, escalated: false, pinged: [] };

/** The instant from which no decision counts: the pending timeout, or an emergency grant's ratification deadline. */
export function decisionDeadline(r: Pick<AccessRequest, 'kind' | 'emergency' | 'pendingUntil'>): string {
  return kindOf(r) === 'emergency' && r.emergency ? r.emergency.ratifyBy : r.pendingUntil;
}

const earliest = (times: (string | null)[]): string | null =>
  times.reduce<string | null>((a, b) => (a === null ? b : b === null ? a : a <= b ? a : b), null);

/**
 * When the next reminder or the escalation is due under the policy in force (a policy that no
 * longer has them stops them); null when none is due before the decision deadline.
 */
export function nextNudgeAt(r: AccessRequest, policy: Pick<Policy, 'reminders' | 'escalation'>): string | null {
  const n = nudgesOf(r);
  const next = earliest([policy.reminders ? n.nextReminderAt : null, policy.escalation && !n.escalated ? (r.escalatesAt ?? null) : null]);
  return next !== null && next < decisionDeadline(r) ? next : null;
}

/** When the sweeper next looks at a pending request: its next nudge, or its timeout. */
export function pendingDue(r: AccessRequest, policy: Pick<Policy, 'reminders' | 'escalation'>): string {
  return earliest([r.pendingUntil, nextNudgeAt(r, policy)]) ?? r.pendingUntil;
}

/**
 * The reminder after the one due at `scheduled`: one interval later, or one interval from now
 * when the bot was away for longer (missed reminders are not sent in a burst).
 */
export function followingReminder(scheduled: string, now: string, every: string): string {
  const next = addDuration(scheduled, every);
  return next > now ? next : addDuration(now, every);
}

/** Who of `people` still has a decision to make: not the requester, nobody who approved or denied. */
export function notActed(r: Pick<AccessRequest, 'requester' | 'approvals' | 'denials'>, people: readonly string[]): string[] {
  const acted = new Set([r.requester.slackUserId, ...r.approvals.map((a) => a.slackUserId), ...(r.denials ?? []).map((d) => d.slackUserId)]);
  return [...new Set(people)].filter((id) => !acted.has(id)).sort();
}

/** The people one message mentions, and how many more there were. */
export function capped(people: readonly string[]): { mentioned: string[]; more: number } {
  return { mentioned: people.slice(0, MAX_MENTIONS), more: Math.max(0, people.length - MAX_MENTIONS) };
}

/** Who may decide the request now (`eligible`, the escalation pool included once it applies) and who the escalation pool is. */
export interface NudgePeople {
  eligible: readonly string[];
  pool: readonly string[];
}

/**
 * What is due at `now`: the escalation (once: its pool is told it may decide too) and/or a
 * reminder to everyone eligible who has not acted (not repeating whom the escalation just told).
 * A reminder with nobody left to mention posts nothing but still moves to the next interval.
 * Null when nothing is due.
 */
export function planNudges(r: AccessRequest, policy: Pick<Policy, 'reminders' | 'escalation'>, now: string, people: NudgePeople): { nudges: Nudges; events: DomainEvent[] } | null {
  const before = nudgesOf(r);
  const nudges: Nudges = { ...before, pinged: [...before.pinged] };
  const events: DomainEvent[] = [];
  const told = new Set<string>();
  if (policy.escalation && r.escalatesAt && !before.escalated && now >= r.escalatesAt) {
    const { mentioned, more } = capped(notActed(r, people.pool));
    nudges.escalated = true;
    nudges.escalatedTo = { mentioned, more };
    events.push({ type: 'request.escalated', requestId: r.id, actor: null, details: { after: policy.escalation.after, mentioned, ...(more > 0 ? { more } : {}) } });
    for (const id of mentioned) told.add(id);
  }
  if (policy.reminders && before.nextReminderAt && now >= before.nextReminderAt) {
    const { mentioned, more } = capped(notActed(r, people.eligible).filter((id) => !told.has(id)));
    if (mentioned.length > 0) events.push({ type: 'request.reminded', requestId: r.id, actor: null, details: { mentioned, ...(more > 0 ? { more } : {}) } });
    for (const id of mentioned) told.add(id);
    nudges.nextReminderAt = followingReminder(before.nextReminderAt, now, policy.reminders.every);
  }
  if (nudges.escalated === before.escalated && nudges.nextReminderAt === before.nextReminderAt) return null;
  nudges.pinged = [...new Set([...before.pinged, ...told])].sort();
  return { nudges, events };
}
