import { randomBytes } from 'node:crypto';
import type { ReasonCategory } from '../domain/categories.ts';
import { addDuration } from '../domain/duration.ts';
import { pendingDue } from '../domain/nudges.ts';
import { ruleSnapshots, validateSubmission, type Profile, type SubmissionErrors, type SubmissionInput } from '../domain/policy.ts';
import type { AccessRequest, RequestKind } from '../domain/request.ts';
import type { DomainEvent } from '../domain/events.ts';
import type { IdentityUser, SlackUser } from './ports.ts';
import type { ServiceContext } from './context.ts';
import { mayRequest } from './eligibility.ts';

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
  const frozen = await frozenError(ctx);
  if (frozen) return frozen;
  const checked = validateSubmission(ctx.policy, input);
  if (!checked.ok) return checked;
  const { profile, duration, justification, ticket, category } = checked.value;
  if (!(await mayRequest(ctx, profile, slackUserId))) return notRequester(profile);
  const who = await identify(ctx, slackUserId);
  if (!who.ok) return who;
  const now = ctx.clock.now();
  const request = newRequest(ctx, { kind: 'access', profile, duration, justification, ticket, category, who, now, pendingUntil: addDuration(now, ctx.policy.pendingTimeout) });
  await ctx.requests.create(request, [submitted(request, who.identity)], pendingDue(request, ctx.policy));
  ctx.log.info({ event: 'request.stored', requestId: request.id }, 'request stored');
  ctx.eventsQueued();
  return { ok: true, request };
}

export async function frozenError(ctx: ServiceContext): Promise<{ ok: false; errors: SubmissionErrors } | null> {
  const frozen = await ctx.freeze.get();
  if (!frozen) return null;
  return { ok: false, errors: { profile: `breakglass is frozen: ${frozen.by} ran revoke-all at ${frozen.at} (${frozen.reason}). No new requests are taken until an operator runs \`breakglass unfreeze\`.` } };
}

export function notRequester(profile: Profile): { ok: false; errors: SubmissionErrors } {
  return { ok: false, errors: { profile: `You may not request ${profile.name}: you are not among its requesters. Ask the platform team to add you to the policy.` } };
}

export type Identified = { ok: true; user: SlackUser & { email: string }; identity: IdentityUser };

/** The requester's Slack profile and the Identity Center user its email names; an error a person can act on when there is none. */
export async function identify(ctx: ServiceContext, slackUserId: string): Promise<Identified | { ok: false; errors: SubmissionErrors }> {
  const user = await ctx.directory.user(slackUserId);
  const email = user?.email;
  if (!user || !email) {
    return { ok: false, errors: { profile: 'Your Slack profile has no email address breakglass can read, so it cannot find your IAM Identity Center user.' } };
  }
  let identity: IdentityUser | null;
  try {
    identity = await ctx.ic.findUserByEmail(email);
  } catch (err) {
    ctx.log.error({ err, event: 'identity.lookup_failed' }, 'Identity Store lookup failed');
    return { ok: false, errors: { profile: 'IAM Identity Center did not answer; nothing was submitted. Try again in a minute.' } };
  }
  if (!identity) {
    return {
      ok: false,
      errors: { profile: `No IAM Identity Center user has the email ${email} (your Slack email). Ask an administrator to create or link your user; nothing was submitted.` },
    };
  }
  if (identity.disabled) {
    return { ok: false, errors: { profile: `The IAM Identity Center user ${identity.userName} (${identity.email}) is disabled, so it cannot sign in; nothing was submitted.` } };
  }
  return { ok: true, user: { ...user, email }, identity };
}

export interface NewRequest {
  kind: RequestKind;
  profile: Profile;
  duration: string;
  justification: string;
  ticket: string | null;
  category: ReasonCategory | null;
  who: Identified;
  now: string;
  pendingUntil: string;
  extendsId?: string;
}

/** A request as first stored, of any kind: the profile's rules and limits travel with it. */
export function newRequest(ctx: ServiceContext, n: NewRequest): AccessRequest {
  const { profile, who, now } = n;
  const principalId = who.identity.userId;
  const escalation = ctx.policy.escalation;
  return {
    id: newRequestId(),
    ...(n.kind === 'access' ? {} : { kind: n.kind }),
    ...(n.extendsId ? { extends: n.extendsId } : {}),
    status: 'PENDING',
    version: 1,
    createdAt: now,
    updatedAt: now,
    requester: {
      slackUserId: who.user.id,
      principalId,
      email: who.user.email,
      name: who.user.name,
      tz: who.user.tz,
      identity: { userName: who.identity.userName, email: who.identity.email, displayName: who.identity.displayName },
    },
    profileId: profile.id,
    profileName: profile.name,
    target: {
      instanceArn: ctx.policy.identityCenter.instanceArn,
      accountId: profile.accountId,
      permissionSetArn: profile.permissionSetArn,
      principalId,
    },
    duration: n.duration,
    justification: n.justification,
    ticket: n.ticket,
    category: n.category,
    approvalsRequired: profile.approvals,
    rules: ruleSnapshots(profile),
    approvals: [],
    denialsRequired: profile.denials,
    denials: [],
    pendingUntil: n.pendingUntil,
    escalatesAt: escalation ? addDuration(now, escalation.after) : null,
    nudges: { nextReminderAt: ctx.policy.reminders ? addDuration(now, ctx.policy.reminders.every) : null, escalated: false, pinged: [] },
    decision: null,
    grant: { startedAt: null, creationAttemptedAt: null, creationSlot: null, creationRequestId: null, grantedAt: null, expiresAt: null, alreadyHeld: null, failure: null, cleanupPending: false, attempts: 0 },
    revoke: null,
    slack: { approvalMessage: null, auditThread: null },
  };
}

/** The event a new request is recorded with. */
export function submitted(r: AccessRequest, identity: IdentityUser): DomainEvent {
  return {
    type: 'request.submitted',
    requestId: r.id,
    actor: { slackUserId: r.requester.slackUserId, principalId: r.requester.principalId },
    details: {
      profileId: r.profileId,
      profileName: r.profileName,
      accountId: r.target.accountId,
      permissionSetArn: r.target.permissionSetArn,
      duration: r.duration,
      justification: r.justification,
      ticket: r.ticket,
      category: r.category ?? null,
      approvalsRequired: r.approvalsRequired,
      identityCenterUser: { userId: identity.userId, userName: identity.userName, email: identity.email },
      ...(r.kind && r.kind !== 'access' ? { kind: r.kind } : {}),
      ...(r.extends ? { extends: r.extends } : {}),
    },
  };
}
