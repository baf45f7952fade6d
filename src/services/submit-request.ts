import { randomBytes } from 'node:crypto';
import { addDuration } from '../domain/duration.ts';
import { validateSubmission, type SubmissionErrors, type SubmissionInput } from '../domain/policy.ts';
import type { AccessRequest } from '../domain/request.ts';
import type { IdentityUser } from './ports.ts';
import type { ServiceContext } from './context.ts';

export type SubmitResult = { ok: true; request: AccessRequest } | { ok: false; errors: SubmissionErrors };

const ID_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** Short, unambiguous request ids people can read out: "req_7k2m9x4q1c". */
export function newRequestId(): string {
  const bytes = randomBytes(10);
  return `req_${[...bytes].map((b) => ID_ALPHABET[b % 32]).join('')}`;
}

/**
 * A requester asks for access. Everything is checked here, server-side:
 * the modal's own limits are a convenience, not a control.
 */
export async function submitRequest(ctx: ServiceContext, slackUserId: string, input: SubmissionInput): Promise<SubmitResult> {
  const frozen = await ctx.freeze.get();
  if (frozen) {
    return { ok: false, errors: { profile: `breakglass is frozen: ${frozen.by} ran revoke-all at ${frozen.at} (${frozen.reason}). No new requests are taken until an operator runs \`breakglass unfreeze\`.` } };
  }
  if (!(await ctx.directory.isRequester(slackUserId))) {
    return { ok: false, errors: { profile: 'You are not on the breakglass requester list. Ask the platform team to add you to the policy.' } };
  }
  const checked = validateSubmission(ctx.policy, input);
  if (!checked.ok) return checked;
  const { profile, duration, justification, ticket } = checked.value;

  const user = await ctx.directory.user(slackUserId);
  if (!user?.email) {
    return { ok: false, errors: { profile: 'Your Slack profile has no email address breakglass can read, so it cannot find your IAM Identity Center user.' } };
  }
  let identity: IdentityUser | null;
  try {
    identity = await ctx.ic.findUserByEmail(user.email);
  } catch (err) {
    ctx.log.error({ err, event: 'identity.lookup_failed' }, 'Identity Store lookup failed');
    return { ok: false, errors: { profile: 'IAM Identity Center did not answer; nothing was submitted. Try again in a minute.' } };
  }
  if (!identity) {
    return {
      ok: false,
      errors: { profile: `No IAM Identity Center user has the email ${user.email} (your Slack email). Ask an administrator to create or link your user; nothing was submitted.` },
    };
  }
  if (identity.disabled) {
    return { ok: false, errors: { profile: `The IAM Identity Center user ${identity.userName} (${identity.email}) is disabled, so it cannot sign in; nothing was submitted.` } };
  }
  const principalId = identity.userId;

  const now = ctx.clock.now();
  const request: AccessRequest = {
    id: newRequestId(),
    status: 'PENDING',
    version: 1,
    createdAt: now,
    updatedAt: now,
    requester: { slackUserId, principalId, email: user.email, name: user.name, tz: user.tz, identity: { userName: identity.userName, email: identity.email, displayName: identity.displayName } },
    profileId: profile.id,
    profileName: profile.name,
    target: {
      instanceArn: ctx.policy.identityCenter.instanceArn,
      accountId: profile.accountId,
      permissionSetArn: profile.permissionSetArn,
      principalId,
    },
    duration,
    justification,
    ticket,
    approvalsRequired: profile.approvals,
    approvals: [],
    pendingUntil: addDuration(now, ctx.policy.pendingTimeout),
    decision: null,
    grant: { startedAt: null, creationAttemptedAt: null, creationSlot: null, creationRequestId: null, grantedAt: null, expiresAt: null, alreadyHeld: null, failure: null, cleanupPending: false, attempts: 0 },
    revoke: null,
    slack: { approvalMessage: null, auditThread: null },
  };
  await ctx.requests.create(
    request,
    [
      {
        type: 'request.submitted',
        requestId: request.id,
        actor: { slackUserId, principalId },
        details: {
          profileId: profile.id,
          profileName: profile.name,
          accountId: profile.accountId,
          permissionSetArn: profile.permissionSetArn,
          duration,
          justification,
          ticket,
          approvalsRequired: profile.approvals,
          identityCenterUser: { userId: principalId, userName: identity.userName, email: identity.email },
        },
      },
    ],
    request.pendingUntil,
  );
  ctx.log.info({ event: 'request.stored', requestId: request.id }, 'request stored');
  ctx.eventsQueued();
  return { ok: true, request };
}
