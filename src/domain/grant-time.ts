/**
 * The time box of a grant with its extensions, and when the sweeper must next look at an active
 * grant (warn its requester, revoke an unratified emergency, end it). Pure.
 */
import { addDuration, parseDuration } from './duration.ts';
import { nextNudgeAt } from './nudges.ts';
import type { Policy, Profile } from './policy.ts';
import { kindOf, type AccessRequest } from './request.ts';

const ms = (iso: string) => parseDuration(iso)?.as('milliseconds') ?? 0;

/** How much longer the grant may still be extended under the profile's maxTotal (ms; 0 when none). */
export function extensionRoomMs(profile: Profile, r: Pick<AccessRequest, 'grant'>): number {
  const { grantedAt, expiresAt } = r.grant;
  if (!grantedAt || !expiresAt) return 0;
  return Math.max(0, ms(profile.maxTotal) - (Date.parse(expiresAt) - Date.parse(grantedAt)));
}

/** The profile's durations an extension of this grant may still ask for. */
export function extensionDurations(profile: Profile, r: Pick<AccessRequest, 'grant'>): string[] {
  const room = extensionRoomMs(profile, r);
  return profile.durations.filter((d) => ms(d) <= room);
}

/** When the requester is warned that the grant ends; null when the grant is shorter than the warning or was already warned about this end. */
export function warningAt(r: Pick<AccessRequest, 'grant'>, expiryWarning: string): string | null {
  const { grantedAt, expiresAt, warnedFor } = r.grant;
  if (!grantedAt || !expiresAt || warnedFor === expiresAt) return null;
  const at = addDuration(expiresAt, `-${expiryWarning}`);
  // A warning at (or before) the grant itself says nothing the grant's own message did not.
  return at > grantedAt ? at : null;
}

/** When an emergency grant must next be judged: its ratification deadline, or at once when an approver denied it. */
export function ratifyDeadline(r: AccessRequest): string | null {
  const e = r.emergency;
  if (kindOf(r) !== 'emergency' || !e || e.ratifiedAt) return null;
  return e.rejected ? e.rejected.at : e.ratifyBy;
}

/**
 * The next instant an active grant needs the sweeper: the earliest of its warning, its end, and
 * for an emergency awaiting ratification its deadline and the next reminder of its approvers.
 */
export function nextActiveCheck(r: AccessRequest, policy: Pick<Policy, 'expiryWarning' | 'reminders' | 'escalation'>): string | null {
  const deadline = ratifyDeadline(r);
  const nudge = deadline && !r.emergency?.rejected ? nextNudgeAt(r, policy) : null;
  const times = [warningAt(r, policy.expiryWarning), deadline, nudge, r.grant.expiresAt].filter((t): t is string => t !== null);
  return times.length > 0 ? times.reduce((a, b) => (a < b ? a : b)) : null;
}
