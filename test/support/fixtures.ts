import type { AccessRequest } from '../../src/domain/request.ts';

export const NOW = '2026-11-28T00:00:00.000Z';

/** A pending request as submitRequest stores it. */
export function pendingRequest(over: Partial<AccessRequest> = {}): AccessRequest {
  return {
    id: 'req_1',
    status: 'PENDING',
    version: 1,
    createdAt: NOW,
    updatedAt: NOW,
    requester: { slackUserId: 'UREQ', principalId: 'p1', email: 'r@example.com', name: 'r', tz: 'UTC' },
    profileId: 'org-admin',
    profileName: 'Org admin',
    target: { instanceArn: 'arn:aws:sso:::instance/ssoins-0123456789abcdef', accountId: '111111111111', permissionSetArn: 'arn:ps/ps-1', principalId: 'p1' },
    duration: 'PT1H',
    justification: 'prod is down and we need it',
    ticket: null,
    approvalsRequired: 2,
    approvals: [],
    pendingUntil: '2026-11-28T01:00:00.000Z',
    decision: null,
    grant: { startedAt: null, creationAttemptedAt: null, creationSlot: null, creationRequestId: null, grantedAt: null, expiresAt: null, alreadyHeld: null, failure: null, cleanupPending: false, attempts: 0 },
    revoke: null,
    slack: { approvalMessage: null, auditThread: null },
    ...over,
  };
}
