import type { AccessRequest } from '../domain/request.ts';
import type { Policy } from '../domain/policy.ts';

/** True when the policy lists this user's access to the profile as standing access the bot must never remove. */
export function isStandingAccess(policy: Policy, r: AccessRequest): boolean {
  return policy.standingAccess.some(
    (s) =>
      s.profile === r.profileId &&
      ((s.userId !== undefined && s.userId === r.target.principalId) || (s.email !== undefined && s.email.toLowerCase() === r.requester.email.toLowerCase())),
  );
}
