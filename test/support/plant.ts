/**
 * For end-to-end tests that start from a state a crash, a replica or an older version could have
 * left: request items and assignment records written straight into the bot's store.
 */
import { expect } from 'vitest';
import { addDuration } from '../../src/domain/duration.ts';
import type { AccessRequest, AssignmentTarget, RequestStatus } from '../../src/domain/request.ts';
import type { AssignmentRecord } from '../../src/services/ports.ts';
import { pendingRequest } from './fixtures.ts';
import { ACCOUNT, INSTANCE_ARN, PEOPLE, PERMISSION_SET, eventually, type Harness } from './harness.ts';

/** The assignment a request of this principal targets. */
export const target = (principalId: string = PEOPLE.requester.principal): AssignmentTarget => ({ instanceArn: INSTANCE_ARN, accountId: ACCOUNT, permissionSetArn: PERMISSION_SET, principalId });

/** A request item as the store would hold it, in any state, for the requester. */
export function stored(id: string, status: RequestStatus, over: Partial<AccessRequest> = {}): AccessRequest {
  const now = new Date().toISOString();
  return pendingRequest({
    id,
    status,
    createdAt: now,
    updatedAt: now,
    requester: { slackUserId: PEOPLE.requester.slack, principalId: PEOPLE.requester.principal, email: PEOPLE.requester.email, name: 'Rita', tz: 'UTC' },
    profileId: 'org-admin',
    profileName: 'Organizations administrator',
    target: target(),
    pendingUntil: addDuration(now, 'PT1H'),
    ...over,
  });
}

/** Writes the assignment record through its lock, as a crash or a lost lock could have left it. */
export async function plantRecord(x: Harness, record: AssignmentRecord, principalId?: string): Promise<void> {
  const t = target(principalId);
  const now = new Date().toISOString();
  // A drift pass may hold the lock for a moment.
  await eventually(() => x.bot.ctx.assignments.lock(t, 'test', now, addDuration(now, 'PT1M')), 5000, () => 'the assignment lock');
  expect(await x.bot.ctx.assignments.saveAndUnlock(t, 'test', record)).toBe(true);
  if (record.creating) {
    await x.bot.ctx.assignments.lock(t, 'test', now, addDuration(now, 'PT1M'));
    expect(await x.bot.ctx.assignments.markCreating(t, 'test', record.creating)).toBe(true);
    await x.bot.ctx.assignments.unlock(t, 'test');
  }
}

/** Asks for access as `user` and has two approvers approve it; the grant then runs. */
export async function approved(x: Harness, user: string = PEOPLE.requester.slack, duration = 'PT1H'): Promise<string> {
  const { requestId } = await x.request(user, { duration });
  const id = requestId ?? '';
  await x.slack.waitFor(() => x.approvalMessage(id), 5000);
  await x.click(PEOPLE.approver1.slack, 'approve', id);
  await x.click(PEOPLE.approver2.slack, 'approve', id);
  return id;
}

export const hasAssignment = (x: Harness, principalId: string = PEOPLE.requester.principal) => x.ic.assignments().some((a) => a.principalId === principalId);
