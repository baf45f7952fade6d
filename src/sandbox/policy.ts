/**
 * The sandbox's own policy: one profile whose durations fit a whole lifecycle into minutes, a
 * quorum of two out of three approvers, one requester; Olly is in the workspace but not in the
 * policy. `npx breakglass sandbox --policy FILE` uses the user's policy instead (its people and
 * channels are made up from the ids it names).
 */
export const SANDBOX_POLICY = `# breakglass sandbox policy (generated; run \`npx breakglass sandbox --policy FILE\` to try your own)
identityCenter:
  instanceArn: arn:aws:sso:::instance/ssoins-5a4db0c0ffee0001
  identityStoreId: d-5a4db0c0ff
  accessPortalUrl: https://d-5a4db0c0ff.awsapps.com/start
profiles:
  - id: org-admin
    name: Organizations administrator
    accountId: "111122223333"
    permissionSetArn: arn:aws:sso:::permissionSet/ssoins-5a4db0c0ffee0001/ps-5a4db0c0ffee0001
    durations: [PT2M, PT5M]
    approvals: 2
    endSessions: true
requesters: { users: [URITA] }
approvers: { users: [UANN, UBOB, UCAT] }
channels: { approvals: CAPPROVALS, audit: CAUDIT }
pendingTimeout: PT15M
expiryWarning: PT1M
drift: alert
activityReport: { enabled: false }
`;

/** Names for the sandbox policy's people; others get one made from their id. */
export const SANDBOX_PEOPLE: Record<string, { name: string; realName: string; role: string }> = {
  URITA: { name: 'rita', realName: 'Rita Requester', role: 'requester' },
  UANN: { name: 'ann', realName: 'Ann Approver', role: 'approver' },
  UBOB: { name: 'bob', realName: 'Bob Approver', role: 'approver' },
  UCAT: { name: 'cat', realName: 'Cat Approver', role: 'approver' },
  UOLLY: { name: 'olly', realName: 'Olly Outsider', role: 'not in the policy' },
};
