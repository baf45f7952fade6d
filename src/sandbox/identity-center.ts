/**
 * The sandbox's Identity Center: a small in-memory stand-in for the `sso-admin` and
 * `identitystore` operations the bot calls, on 127.0.0.1, over AWS's own wire format, so the
 * bot's unmodified AWS SDK clients talk to it once `AWS_ENDPOINT_URL_SSO_ADMIN` and
 * `AWS_ENDPOINT_URL_IDENTITYSTORE` point here.
 *
 * Wire format (AWS JSON 1.1): `POST /`, the operation in `X-Amz-Target`
 * (`SWBExternalService.<Op>` for sso-admin, `AWSIdentityStore.<Op>` for identitystore), JSON in
 * and out with `Content-Type: application/x-amz-json-1.1`, timestamps as epoch seconds, errors as
 * HTTP 400 `{"__type":"<Name>","message":"…"}`. Assignment changes and provisioning are
 * asynchronous as in AWS: they answer IN_PROGRESS with a RequestId and turn SUCCEEDED a moment
 * later, and only then does ListAccountAssignments change. Signatures are not checked.
 *
 * It also answers CloudTrail's LookupEvents (an empty history), and every other AWS call the
 * sandbox's process might make is pointed here too (AWS_ENDPOINT_URL), where it is refused: nothing
 * leaves the machine.
 *
 * The test suite has a far richer fake (quotas, throttling, failures, sessions) in
 * test/support/fake-identity-center.ts; this one only has to be right, not adversarial.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SandboxUser {
  userId: string;
  userName: string;
  displayName: string;
  email: string;
}

export interface SandboxPermissionSet {
  arn: string;
  name: string;
  sessionDuration: string;
  accounts: string[];
}

export interface Assignment {
  accountId: string;
  permissionSetArn: string;
  principalType: 'USER' | 'GROUP';
  principalId: string;
}

interface Operation {
  requestId: string;
  kind: 'create' | 'delete' | 'provision';
  status: 'IN_PROGRESS' | 'SUCCEEDED' | 'FAILED';
  failureReason?: string;
  created: number;
  assignment?: Assignment;
  permissionSetArn: string;
  accountId: string;
}

class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

type Json = Record<string, unknown>;
const CLOUDTRAIL = 'com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101';
const text = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Emits 'change' whenever assignments or inline policies change. */
export class SandboxIdentityCenter extends EventEmitter {
  private server: Server | null = null;
  private readonly assignmentList: Assignment[] = [];
  private readonly operations = new Map<string, Operation>();
  private readonly inline = new Map<string, string>();

  constructor(
    readonly instanceArn: string,
    readonly identityStoreId: string,
    private readonly users: SandboxUser[],
    readonly permissionSets: SandboxPermissionSet[],
    /** How long an asynchronous change stays IN_PROGRESS. */
    private readonly settleMs = 400,
  ) {
    super();
  }

  async listen(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  assignments(): Assignment[] {
    return this.assignmentList.map((a) => ({ ...a }));
  }

  inlinePolicies(): Array<{ permissionSetArn: string; name: string; policy: string }> {
    return this.permissionSets.map((p) => ({ permissionSetArn: p.arn, name: p.name, policy: this.inline.get(p.arn) ?? '' }));
  }

  userName(principalId: string): string {
    return this.users.find((u) => u.userId === principalId)?.displayName ?? principalId;
  }

  /** What an administrator does in the console, outside the bot: the drift watcher should notice it. */
  assignByHand(a: Assignment): void {
    if (!this.assignmentList.some((x) => same(x, a))) this.assignmentList.push({ ...a });
    this.emit('change');
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const target = text(req.headers['x-amz-target']);
    const prefix = target.slice(0, target.lastIndexOf('.'));
    const op = target.slice(target.lastIndexOf('.') + 1);
    const send = (status: number, body: Json) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() });
      res.end(JSON.stringify(body));
    };
    try {
      const input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Json;
      this.settle();
      // CloudTrail's event history is empty: a policy with the activity report on finds no calls to report.
      if (prefix === CLOUDTRAIL && op === 'LookupEvents') return send(200, { Events: [] });
      const handler = prefix === 'SWBExternalService' || prefix === 'AWSIdentityStore' ? this.ops[op] : undefined;
      if (!handler) throw new AwsError('UnknownOperationException', `the sandbox does not implement ${target || `${req.method ?? ''} ${req.url ?? ''}`}`);
      send(200, handler(input));
    } catch (err) {
      if (err instanceof AwsError) send(400, { __type: err.type, message: err.message });
      else send(500, { __type: 'InternalServerException', message: String(err) });
    }
  }

  /** Applies changes whose time has come. */
  private settle(): void {
    const now = Date.now();
    let changed = false;
    for (const o of this.operations.values()) {
      if (o.status !== 'IN_PROGRESS' || now - o.created < this.settleMs) continue;
      o.status = 'SUCCEEDED';
      if (o.kind === 'create' && o.assignment && !this.assignmentList.some((a) => same(a, o.assignment!))) this.assignmentList.push(o.assignment);
      if (o.kind === 'delete' && o.assignment) {
        const i = this.assignmentList.findIndex((a) => same(a, o.assignment!));
        if (i >= 0) this.assignmentList.splice(i, 1);
      }
      changed = true;
    }
    if (changed) this.emit('change');
  }

  private permissionSet(arn: unknown): SandboxPermissionSet {
    const ps = this.permissionSets.find((p) => p.arn === arn);
    if (!ps) throw new AwsError('ResourceNotFoundException', `Could not find PermissionSet with ARN ${text(arn)}`);
    return ps;
  }

  private instance(arn: unknown): void {
    if (arn !== this.instanceArn) throw new AwsError('ResourceNotFoundException', `Could not find Instance with ARN ${text(arn)}`);
  }

  private user(id: unknown): SandboxUser {
    const u = this.users.find((x) => x.userId === id);
    if (!u) throw new AwsError('ResourceNotFoundException', `USER not found: ${text(id)}`);
    return u;
  }

  private start(kind: 'create' | 'delete', input: Json): Json {
    this.instance(input.InstanceArn);
    const ps = this.permissionSet(input.PermissionSetArn);
    const assignment: Assignment = {
      accountId: text(input.TargetId),
      permissionSetArn: ps.arn,
      principalType: input.PrincipalType === 'GROUP' ? 'GROUP' : 'USER',
      principalId: text(input.PrincipalId),
    };
    if (assignment.principalType === 'USER') this.user(assignment.principalId);
    const busy = [...this.operations.values()].some((o) => o.status === 'IN_PROGRESS' && o.assignment && same(o.assignment, assignment));
    if (busy) throw new AwsError('ConflictException', 'An account assignment operation is already in progress for this assignment');
    const o: Operation = { requestId: randomUUID(), kind, status: 'IN_PROGRESS', created: Date.now(), assignment, permissionSetArn: ps.arn, accountId: assignment.accountId };
    this.operations.set(o.requestId, o);
    return { [kind === 'create' ? 'AccountAssignmentCreationStatus' : 'AccountAssignmentDeletionStatus']: this.assignmentStatus(o) };
  }

  private assignmentStatus(o: Operation): Json {
    return {
      Status: o.status,
      RequestId: o.requestId,
      ...(o.failureReason ? { FailureReason: o.failureReason } : {}),
      TargetId: o.accountId,
      TargetType: 'AWS_ACCOUNT',
      PermissionSetArn: o.permissionSetArn,
      PrincipalType: o.assignment?.principalType,
      PrincipalId: o.assignment?.principalId,
      CreatedDate: Math.floor(o.created / 1000),
    };
  }

  private operation(id: unknown, kind: Operation['kind']): Operation {
    const o = this.operations.get(text(id));
    if (!o || o.kind !== kind) throw new AwsError('ResourceNotFoundException', `Could not find request ${text(id)}`);
    return o;
  }

  private readonly ops: Record<string, (input: Json) => Json> = {
    CreateAccountAssignment: (i) => this.start('create', i),
    DeleteAccountAssignment: (i) => this.start('delete', i),
    DescribeAccountAssignmentCreationStatus: (i) => ({ AccountAssignmentCreationStatus: this.assignmentStatus(this.operation(i.AccountAssignmentCreationRequestId, 'create')) }),
    DescribeAccountAssignmentDeletionStatus: (i) => ({ AccountAssignmentDeletionStatus: this.assignmentStatus(this.operation(i.AccountAssignmentDeletionRequestId, 'delete')) }),
    ListAccountAssignments: (i) => {
      this.instance(i.InstanceArn);
      const ps = this.permissionSet(i.PermissionSetArn);
      return {
        AccountAssignments: this.assignmentList
          .filter((a) => a.accountId === i.AccountId && a.permissionSetArn === ps.arn)
          .map((a) => ({ AccountId: a.accountId, PermissionSetArn: a.permissionSetArn, PrincipalType: a.principalType, PrincipalId: a.principalId })),
      };
    },
    ListPermissionSetsProvisionedToAccount: (i) => {
      this.instance(i.InstanceArn);
      return { PermissionSets: this.permissionSets.filter((p) => p.accounts.includes(text(i.AccountId))).map((p) => p.arn) };
    },
    DescribePermissionSet: (i) => {
      this.instance(i.InstanceArn);
      const ps = this.permissionSet(i.PermissionSetArn);
      return { PermissionSet: { Name: ps.name, PermissionSetArn: ps.arn, SessionDuration: ps.sessionDuration, CreatedDate: 1_700_000_000 } };
    },
    GetInlinePolicyForPermissionSet: (i) => ({ InlinePolicy: this.inline.get(this.permissionSet(i.PermissionSetArn).arn) ?? '' }),
    PutInlinePolicyToPermissionSet: (i) => {
      this.inline.set(this.permissionSet(i.PermissionSetArn).arn, text(i.InlinePolicy));
      this.emit('change');
      return {};
    },
    DeleteInlinePolicyFromPermissionSet: (i) => {
      this.inline.delete(this.permissionSet(i.PermissionSetArn).arn);
      this.emit('change');
      return {};
    },
    ProvisionPermissionSet: (i) => {
      const ps = this.permissionSet(i.PermissionSetArn);
      const o: Operation = { requestId: randomUUID(), kind: 'provision', status: 'IN_PROGRESS', created: Date.now(), permissionSetArn: ps.arn, accountId: text(i.TargetId) };
      this.operations.set(o.requestId, o);
      return { PermissionSetProvisioningStatus: this.provisioningStatus(o) };
    },
    DescribePermissionSetProvisioningStatus: (i) => ({ PermissionSetProvisioningStatus: this.provisioningStatus(this.operation(i.ProvisionPermissionSetRequestId, 'provision')) }),
    GetUserId: (i) => {
      const attr = (i.AlternateIdentifier as { UniqueAttribute?: { AttributePath?: string; AttributeValue?: string } } | undefined)?.UniqueAttribute;
      const value = text(attr?.AttributeValue).toLowerCase();
      const u = attr?.AttributePath === 'emails.value' ? this.users.find((x) => x.email.toLowerCase() === value) : this.users.find((x) => x.userName === attr?.AttributeValue);
      if (!u) throw new AwsError('ResourceNotFoundException', 'USER not found.');
      return { IdentityStoreId: this.identityStoreId, UserId: u.userId };
    },
    DescribeUser: (i) => {
      const u = this.user(i.UserId);
      return { IdentityStoreId: this.identityStoreId, UserId: u.userId, UserName: u.userName, DisplayName: u.displayName, Emails: [{ Value: u.email, Type: 'work', Primary: true }], UserStatus: 'ENABLED' };
    },
    IsMemberInGroups: (i) => ({
      Results: (Array.isArray(i.GroupIds) ? i.GroupIds : []).map((g) => ({ GroupId: g as string, MemberId: i.MemberId, MembershipExists: false })),
    }),
    ListGroupMemberships: () => ({ GroupMemberships: [] }),
    DescribeGroup: (i) => {
      throw new AwsError('ResourceNotFoundException', `GROUP not found: ${text(i.GroupId)}`);
    },
  };

  private provisioningStatus(o: Operation): Json {
    return { Status: o.status, RequestId: o.requestId, AccountId: o.accountId, PermissionSetArn: o.permissionSetArn, CreatedDate: Math.floor(o.created / 1000) };
  }
}

function same(a: Assignment, b: Assignment): boolean {
  return a.accountId === b.accountId && a.permissionSetArn === b.permissionSetArn && a.principalType === b.principalType && a.principalId === b.principalId;
}
