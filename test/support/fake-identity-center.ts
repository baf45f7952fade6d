/**
 * A loopback fake of AWS IAM Identity Center for tests: `sso-admin` (X-Amz-Target
 * `SWBExternalService.*`) and `identitystore` (`AWSIdentityStore.*`) over the AWS JSON 1.1
 * protocol, so the real AWS SDK v3 clients run against it unmodified (only `endpoint` differs).
 *
 * What it reproduces, and where each behaviour comes from:
 * - Wire format: POST /, `Content-Type: application/x-amz-json-1.1`, operation named by
 *   `X-Amz-Target`, `x-amzn-RequestId` on every response, timestamps as epoch seconds (numbers).
 *   Errors are `{"__type":"<Name>","message":"..."}`; the SDK strips any `namespace#` prefix.
 * - HTTP statuses: the API reference lists HTTP 400 for every client error of these services
 *   (Throttling, Conflict, ResourceNotFound, Validation, AccessDenied, ServiceQuotaExceeded) and
 *   500 for InternalServerException, even though the Smithy model says 429/409/404. Real
 *   sso-admin throttles were seen by SDK users as `httpStatusCode: 400`.
 * - Quotas (IAM Identity Center user guide, "throttle limits"): the Identity Center APIs share a
 *   collective 20 TPS; CreateAccountAssignment allows at most 15 outstanding async calls; the
 *   Identity Store APIs have their own collective 20 TPS. Past the outstanding limit AWS answers
 *   ThrottlingException "There are too many requests processing. Please try again later.";
 *   past the rate, ThrottlingException "Rate exceeded".
 * - Account assignments are asynchronous: Create/Delete answer IN_PROGRESS with a RequestId and
 *   the status turns SUCCEEDED or FAILED (with FailureReason) later; only then does
 *   ListAccountAssignments change. A principal missing from the directory fails the operation
 *   with "Received a 404 status error: the USER assignee <id> was not found in directory <id>".
 * - Unsigned requests: 403 MissingAuthenticationTokenException; a malformed SigV4 header:
 *   400 IncompleteSignatureException (signatures are not verified).
 * - Addition, inline policies and provisioning (see "inline policies and provisioning" below for
 *   the sources of each limit and message): a permission set's inline policy is changed by
 *   Put/DeleteInlinePolicy but reaches an account only through a SUCCEEDED ProvisionPermissionSet
 *   (or the first provisioning an account assignment causes), so `effectivePolicy()` can lag
 *   GetInlinePolicyForPermissionSet, exactly as the "Update needed" state does in AWS.
 * - Addition, sessions: `issueSession()`/`sessionAllowed()` model role sessions in an account and
 *   evaluate the Deny statements the user guide documents for revoking them ("Revoke active IAM
 *   role sessions created by permission sets"). Deleting an assignment does not end a session.
 *
 * State changes are applied lazily (on the next request or accessor) from the injected clock,
 * so there are no timers to clean up and a fake clock drives it deterministically.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { mulberry32, TokenBucket } from './pacing.ts';

export interface FakeUser {
  userId: string;
  userName: string;
  email: string;
  displayName?: string;
  /** Addition: DescribeUser's UserStatus (default ENABLED). */
  disabled?: boolean;
}

/** Addition: groups, so GROUP assignments can succeed (unknown groups fail like unknown users). */
export interface FakeGroup {
  groupId: string;
  displayName: string;
  /** Addition: user ids of its members (IsMemberInGroups). */
  members?: string[];
}

export interface FakePermissionSet {
  arn: string;
  name: string;
  /** ISO-8601 duration, default PT1H. */
  sessionDuration?: string;
  /** Account ids the permission set is already provisioned to. */
  provisionedTo?: string[];
  /** Addition: returned by DescribePermissionSet. */
  description?: string;
  /**
   * Addition: the permission set's inline policy (JSON text). It is also what is in force in the
   * `provisionedTo` accounts. Checked like PutInlinePolicyToPermissionSet checks it.
   */
  inlinePolicy?: string;
}

export interface FakeIdentityCenterOptions {
  instanceArn: string;
  identityStoreId: string;
  users?: FakeUser[];
  permissionSets?: FakePermissionSet[];
  /** How long a creation/deletion stays IN_PROGRESS (default 200). */
  statusDelayMs?: number;
  /** Collective sso-admin throttle (default 20); token bucket refilled continuously over 1 s. */
  requestsPerSecond?: number;
  /** Outstanding (IN_PROGRESS) CreateAccountAssignment calls allowed (default 15). */
  maxOutstandingCreations?: number;
  /** Seed of the PRNG used for random fault injection (default 1). */
  seed?: number;
  // ---- additions ----
  /** Groups known to the identity store. */
  groups?: FakeGroup[];
  /** Collective identitystore throttle (default 20, as documented). */
  identityStoreRequestsPerSecond?: number;
  /** OwnerAccountId reported by ListInstances (default 000000000000). */
  ownerAccountId?: string;
  /** Page size used when a List call gives no MaxResults (default 100). */
  defaultMaxResults?: number;
  /**
   * Enforce the documented id formats (instance/permission-set ARNs, 12-digit account ids,
   * Identity Store ids) on requests and on the fixtures given here (default true). A fixture
   * that AWS could never return makes start() throw, so a test cannot pass on impossible data.
   */
  strictIdFormats?: boolean;
  /** Clock in epoch milliseconds (default Date.now); drives status changes and throttling. */
  now?: () => number;
}

export interface FaultPlan {
  /** Probability a call gets ThrottlingException (HTTP 400). */
  throttleRate?: number;
  /** Probability of InternalServerException (HTTP 500). */
  serverErrorRate?: number;
  /** Added latency per call. */
  latencyMs?: number;
  /** Limit faults to these operation names (default all). */
  operations?: string[];
  /** Inject at most this many faults, then answer normally (default unlimited). */
  limit?: number;
}

export interface RecordedCall {
  service: 'sso-admin' | 'identitystore';
  operation: string;
  input: Record<string, unknown>;
  at: number;
  status: number;
  errorType?: string;
}

type PrincipalType = 'USER' | 'GROUP';
type OperationStatus = 'IN_PROGRESS' | 'SUCCEEDED' | 'FAILED';
type Service = RecordedCall['service'];
type Json = Record<string, unknown>;

export interface FakeAssignment {
  accountId: string;
  permissionSetArn: string;
  principalType: PrincipalType;
  principalId: string;
}

/** Addition: one ProvisionPermissionSet call as the fake accepted it. */
export interface FakeProvisioning {
  requestId: string;
  permissionSetArn: string;
  targetType: ProvisioningTargetType;
  /** Accounts it targeted, fixed when it was accepted (ALL_PROVISIONED_ACCOUNTS expands here). */
  accounts: string[];
  status: OperationStatus;
  failureReason?: string;
  createdAt: number;
}

/** Addition: a role session in an account, as `issueSession` returns it. */
export interface FakeSession {
  sessionId: string;
  userId: string;
  permissionSetArn: string;
  accountId: string;
  /** aws:TokenIssueTime of the session, epoch milliseconds. */
  issuedAt: number;
  /** When the permission set's session duration runs out, epoch milliseconds. */
  expiresAt: number;
}

/** Addition: a condition in a Deny statement that the fake cannot evaluate (so it never matches). */
export interface UnsupportedCondition {
  permissionSetArn: string;
  /** Where the policy sits: the permission set itself, or the account it is in force in. */
  where: 'permission set' | `account ${string}`;
  sid?: string;
  operator: string;
  key?: string;
  reason: string;
}

type ProvisioningTargetType = 'AWS_ACCOUNT' | 'ALL_PROVISIONED_ACCOUNTS';

interface ProvisioningOperation {
  kind: 'provision';
  requestId: string;
  seq: number;
  permissionSetArn: string;
  targetType: ProvisioningTargetType;
  accounts: string[];
  /** The inline policy (and its version) when the provisioning started: what it will put in force. */
  policy: string | undefined;
  version: number;
  status: OperationStatus;
  failureReason?: string;
  forcedFailure?: string;
  createdAt: number;
  dueAt: number;
}

/** What was in force in one account for one permission set from `at` on. */
interface EffectiveRecord {
  at: number;
  policy: string | undefined;
  version: number;
}

interface AsyncOperation {
  kind: 'create' | 'delete';
  requestId: string;
  seq: number;
  assignment: FakeAssignment;
  status: OperationStatus;
  failureReason?: string;
  /** Failure decided when the call was accepted (failNextCreations/failNextDeletions). */
  forcedFailure?: string;
  createdAt: number;
  dueAt: number;
}

/** An error answered on the wire. */
class AwsError extends Error {
  constructor(
    readonly type: string,
    readonly status: number,
    message: string,
    readonly extra: Json = {},
  ) {
    super(message);
  }
}

// Patterns as documented in the IAM Identity Center / Identity Store API references.
const PATTERNS = {
  instanceArn: /^arn:aws(-[a-z]{1,5}){0,3}:sso:::instance\/(sso)?ins-[a-zA-Z0-9-.]{16}$/,
  permissionSetArn:
    /^arn:aws(-[a-z]{1,5}){0,3}:sso:::permissionSet\/(sso)?ins-[a-zA-Z0-9-.]{16}\/ps-[a-zA-Z0-9-./]{16}$/,
  accountId: /^\d{12}$/,
  principalId:
    /^([0-9a-f]{10}-|)[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}$/,
  requestId: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  identityStoreId: /^(d-[0-9a-f]{10}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/,
} as const;

// The same patterns as the API reference prints them, for Coral-style validation messages.
const PATTERN_TEXT: Record<keyof typeof PATTERNS, string> = {
  instanceArn: 'arn:aws(-[a-z]{1,5}){0,3}:sso:::instance/(sso)?ins-[a-zA-Z0-9-.]{16}',
  permissionSetArn:
    'arn:aws(-[a-z]{1,5}){0,3}:sso:::permissionSet/(sso)?ins-[a-zA-Z0-9-.]{16}/ps-[a-zA-Z0-9-./]{16}',
  accountId: '\\d{12}',
  principalId:
    '([0-9a-f]{10}-|)[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}',
  requestId: '\\b[0-9a-f]{8}\\b-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-\\b[0-9a-f]{12}\\b',
  identityStoreId: 'd-[0-9a-f]{10}$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}',
};

const PRINCIPAL_TYPES = ['USER', 'GROUP'] as const;
const STATUS_VALUES = ['IN_PROGRESS', 'FAILED', 'SUCCEEDED'] as const;
const PROVISIONING_STATUSES = [
  'LATEST_PERMISSION_SET_PROVISIONED',
  'LATEST_PERMISSION_SET_NOT_PROVISIONED',
] as const;

/** Failure text AWS reports when IAM in the target account refuses the role change. */
const DEFAULT_FAILURE_REASON =
  'Received a 403 status error: Access denied by IAM. Please check your policy, or wait for role propagation to complete.';

// ---- additions: inline policies and provisioning ----
//
// Sources, so the next reader can check them:
// - Shapes and error lists: the IAM Identity Center API reference pages for
//   GetInlinePolicyForPermissionSet, PutInlinePolicyToPermissionSet,
//   DeleteInlinePolicyFromPermissionSet, ProvisionPermissionSet,
//   DescribePermissionSetProvisioningStatus, ListPermissionSetProvisioningStatus and the
//   PermissionSetProvisioningStatus / ...StatusMetadata shapes (and the same model in
//   @aws-sdk/client-sso-admin). Get returns `InlinePolicy`, which the reference notes may be empty
//   for a valid permission set ARN: the fake answers "" when there is none.
// - Size: the user guide's "Quotas and limits in IAM Identity Center" table: "Maximum size of
//   inline policy per permission set: 32,768 bytes. Maximum size of non-whitespace characters in
//   the inline policy per permission set is 10,240 bytes." The 32,768 is also the InlinePolicy
//   length constraint of PutInlinePolicyToPermissionSet. AWS answers the 10,240 one with
//   ValidationException "Current size of the non-whitespace characters present in the
//   InlinePolicy Document is N bytes which has exceeded the maximum limit of 10240 bytes" (as a
//   Terraform user quoted it from PutInlinePolicyToPermissionSet), not ServiceQuotaExceeded.
// - Field constraints answer "Value of input 'inlinePolicy' failed to satisfy constraint: ..."
//   (the pattern form was quoted by a Terraform user; the length form follows it by analogy).
// - A document that is not a policy: ValidationException "Invalid PermissionsPolicy Document"
//   (the message SsoAdmin returned to CloudFormation users). The structural checks follow the IAM
//   JSON policy element reference (Version values, Effect, Action/NotAction, Resource/NotResource,
//   Condition blocks, Sid of A-Z a-z 0-9 and unique in the policy; no Principal in an identity
//   policy).
// - ConflictException "There is a conflicting operation in process." is what ProvisionPermissionSet
//   answers while another operation on the permission set runs (callers match on that text); the
//   fake answers the same for Put/DeleteInlinePolicy of a permission set being provisioned.
// - Effective policy: the user guide ("Custom permissions"): IAM Identity Center creates the
//   inline policy in an account when the permission set is assigned there; the API reference for
//   PutInlinePolicyToPermissionSet: "you will need to call ProvisionPermissionSet after this
//   action to apply the corresponding IAM policy updates to all assigned accounts".
// - Revocation statements: user guide "Use a Deny policy to revoke active user permissions"
//   (StringEquals identitystore:userId) and the IAM guide "Revoke IAM role temporary security
//   credentials" (DateLessThan aws:TokenIssueTime).

const INLINE_POLICY_MAX_LENGTH = 32768;
const INLINE_POLICY_MAX_NON_WHITESPACE_BYTES = 10240;
const INLINE_POLICY_PATTERN = /^[\t\n\r\u0020-\u00FF]+$/;
const INLINE_POLICY_PATTERN_TEXT = '[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+';
const INVALID_POLICY_MESSAGE = 'Invalid PermissionsPolicy Document';
const CONFLICTING_OPERATION_MESSAGE = 'There is a conflicting operation in process.';
const PROVISIONING_TARGET_TYPES = ['AWS_ACCOUNT', 'ALL_PROVISIONED_ACCOUNTS'] as const;

/** Problems with InlinePolicy as the service checks it, in the order it does; undefined when fine. */
function inlinePolicyError(text: string): AwsError | undefined {
  const constraint = (what: string) =>
    new AwsError('ValidationException', 400, `Value of input 'inlinePolicy' failed to satisfy constraint: ${what}`);
  if (text.length < 1) return constraint('Member must have length greater than or equal to 1');
  if (text.length > INLINE_POLICY_MAX_LENGTH) {
    return constraint(`Member must have length less than or equal to ${INLINE_POLICY_MAX_LENGTH}`);
  }
  if (!INLINE_POLICY_PATTERN.test(text)) {
    return constraint(`Member must satisfy regular expression pattern: ${INLINE_POLICY_PATTERN_TEXT}`);
  }
  // IAM does not count whitespace; the quota speaks of bytes, so characters above U+007F (allowed
  // by the pattern) count as their UTF-8 length, which is never less than AWS could count.
  const size = Buffer.byteLength(text.replace(/[\t\n\r ]/g, ''), 'utf8');
  if (size > INLINE_POLICY_MAX_NON_WHITESPACE_BYTES) {
    return new AwsError(
      'ValidationException',
      400,
      `Current size of the non-whitespace characters present in the InlinePolicy Document is ${size} bytes which has exceeded the maximum limit of ${INLINE_POLICY_MAX_NON_WHITESPACE_BYTES} bytes`,
    );
  }
  const problem = policyDocumentProblem(text);
  return problem === undefined ? undefined : new AwsError('ValidationException', 400, INVALID_POLICY_MESSAGE);
}

const isStringOrStrings = (v: unknown): boolean =>
  typeof v === 'string' || (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string'));

const isConditionValue = (v: unknown): boolean => {
  const scalar = (x: unknown) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean';
  return scalar(v) || (Array.isArray(v) && v.length > 0 && v.every(scalar));
};

const STATEMENT_KEYS = new Set(['Sid', 'Effect', 'Action', 'NotAction', 'Resource', 'NotResource', 'Condition']);

/** Why `text` is not an IAM identity policy document, or undefined when it is one. */
function policyDocumentProblem(text: string): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (!isObject(doc)) return 'the document is not a JSON object';
  for (const key of Object.keys(doc)) {
    if (!['Version', 'Id', 'Statement'].includes(key)) return `unknown top-level element ${key}`;
  }
  if (doc.Version !== undefined && doc.Version !== '2012-10-17' && doc.Version !== '2008-10-17') {
    return `Version ${JSON.stringify(doc.Version)} is not 2012-10-17 or 2008-10-17`;
  }
  const statements = statementsOf(doc);
  if (statements === undefined || statements.length === 0) return 'Statement is missing or empty';
  const sids = new Set<string>();
  for (const st of statements) {
    if (!isObject(st)) return 'a statement is not an object';
    for (const key of Object.keys(st)) {
      if (!STATEMENT_KEYS.has(key)) return `statement element ${key} is not allowed in an identity policy`;
    }
    if (st.Sid !== undefined) {
      if (typeof st.Sid !== 'string' || !/^[A-Za-z0-9]*$/.test(st.Sid)) return `Sid ${JSON.stringify(st.Sid)} is not A-Z a-z 0-9`;
      if (sids.has(st.Sid)) return `Sid ${st.Sid} is not unique`;
      sids.add(st.Sid);
    }
    if (st.Effect !== 'Allow' && st.Effect !== 'Deny') return `Effect ${JSON.stringify(st.Effect)} is not Allow or Deny`;
    if ((st.Action === undefined) === (st.NotAction === undefined)) return 'a statement needs exactly one of Action, NotAction';
    if (!isStringOrStrings(st.Action ?? st.NotAction)) return 'Action/NotAction is not a string or a list of strings';
    if ((st.Resource === undefined) === (st.NotResource === undefined)) {
      return 'a statement needs exactly one of Resource, NotResource';
    }
    if (!isStringOrStrings(st.Resource ?? st.NotResource)) return 'Resource/NotResource is not a string or a list of strings';
    if (st.Condition !== undefined) {
      if (!isObject(st.Condition)) return 'Condition is not an object';
      for (const block of Object.values(st.Condition)) {
        if (!isObject(block) || Object.keys(block).length === 0) return 'a Condition operator does not map keys to values';
        if (!Object.values(block).every(isConditionValue)) return 'a Condition value is not a string, number, boolean or list of them';
      }
    }
  }
  return undefined;
}

function statementsOf(doc: Json): unknown[] | undefined {
  if (Array.isArray(doc.Statement)) return doc.Statement as unknown[];
  if (isObject(doc.Statement)) return [doc.Statement];
  return undefined;
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** ISO-8601 duration as Identity Center uses it (PTnHnMnS) in milliseconds; undefined otherwise. */
function durationMs(iso: string): number | undefined {
  const m = /^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$/.exec(iso);
  if (!m || iso === 'PT') return undefined;
  return ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1000;
}

type ConditionVerdict = { kind: 'match' } | { kind: 'no-match' } | { kind: 'unsupported'; operator: string; key?: string; reason: string };

/**
 * Evaluates one statement's Condition against a session, supporting exactly two operator/key
 * pairs: StringEquals identitystore:userId and DateLessThan aws:TokenIssueTime (condition key
 * names are case-insensitive in IAM, operators and values are not). Anything else is unsupported.
 */
function evaluateCondition(condition: unknown, session: { userId: string; issuedAt: number }): ConditionVerdict {
  if (condition === undefined) return { kind: 'match' };
  if (!isObject(condition)) return { kind: 'unsupported', operator: '', reason: 'Condition is not an object' };
  let matches = true;
  for (const [operator, block] of Object.entries(condition)) {
    if (operator !== 'StringEquals' && operator !== 'DateLessThan') {
      return { kind: 'unsupported', operator, reason: 'the fake supports only StringEquals and DateLessThan' };
    }
    if (!isObject(block)) return { kind: 'unsupported', operator, reason: 'the operator does not map keys to values' };
    for (const [key, raw] of Object.entries(block)) {
      const values = Array.isArray(raw) ? (raw as unknown[]) : [raw];
      if (operator === 'StringEquals') {
        if (key.toLowerCase() !== 'identitystore:userid') {
          return { kind: 'unsupported', operator, key, reason: 'StringEquals is supported only on identitystore:userId' };
        }
        if (!values.every((v) => typeof v === 'string')) {
          return { kind: 'unsupported', operator, key, reason: 'a value is not a string' };
        }
        if (!values.includes(session.userId)) matches = false;
      } else {
        if (key.toLowerCase() !== 'aws:tokenissuetime') {
          return { kind: 'unsupported', operator, key, reason: 'DateLessThan is supported only on aws:TokenIssueTime' };
        }
        const instants = values.map((v) => (typeof v === 'string' && ISO_INSTANT.test(v) ? Date.parse(v) : Number.NaN));
        if (instants.some((t) => Number.isNaN(t))) {
          return { kind: 'unsupported', operator, key, reason: 'a value is not an ISO-8601 instant the fake can read' };
        }
        // Several values under one key are ORed, as IAM does.
        if (!instants.some((t) => session.issuedAt < t)) matches = false;
      }
    }
  }
  return matches ? { kind: 'match' } : { kind: 'no-match' };
}

/** Deny statements that deny everything: Action "*" and Resource "*" (alone or in a list). */
function deniesEverything(st: Json): boolean {
  const all = (v: unknown) => v === '*' || (Array.isArray(v) && v.includes('*'));
  return st.Effect === 'Deny' && all(st.Action) && all(st.Resource);
}

interface FieldRule {
  name: string;
  required?: boolean;
  type?: 'string' | 'integer' | 'object';
  /** Only enforced with strictIdFormats. */
  pattern?: keyof typeof PATTERNS;
  enumValues?: readonly string[];
  min?: number;
  max?: number;
}

const INSTANCE_ARN: FieldRule = { name: 'InstanceArn', required: true, pattern: 'instanceArn' };
const MAX_RESULTS: FieldRule = { name: 'MaxResults', type: 'integer', min: 1, max: 100 };
const NEXT_TOKEN: FieldRule = { name: 'NextToken' };
const ASSIGNMENT_FIELDS: FieldRule[] = [
  INSTANCE_ARN,
  { name: 'TargetId', required: true, pattern: 'accountId' },
  { name: 'TargetType', required: true, enumValues: ['AWS_ACCOUNT'] },
  { name: 'PermissionSetArn', required: true, pattern: 'permissionSetArn' },
  { name: 'PrincipalType', required: true, enumValues: PRINCIPAL_TYPES },
  { name: 'PrincipalId', required: true, pattern: 'principalId' },
];

const keyOf = (a: FakeAssignment): string =>
  `${a.accountId}|${a.permissionSetArn}|${a.principalType}|${a.principalId}`;

const lowerFirst = (s: string): string => s.charAt(0).toLowerCase() + s.slice(1);

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function validationError(problems: string[]): AwsError {
  const n = problems.length;
  return new AwsError(
    'ValidationException',
    400,
    `${n} validation error${n === 1 ? '' : 's'} detected: ${problems.join('; ')}`,
  );
}

function throttling(message: string): AwsError {
  return new AwsError('ThrottlingException', 400, message);
}

export class FakeIdentityCenter {
  readonly calls: RecordedCall[] = [];

  private readonly instanceArn: string;
  private readonly identityStoreId: string;
  private readonly ownerAccountId: string;
  private readonly statusDelayMs: number;
  private readonly maxOutstanding: number;
  private readonly defaultMaxResults: number;
  private readonly strict: boolean;
  private readonly now: () => number;
  private readonly startedAt: number;
  private readonly random: () => number;
  private readonly buckets: Record<Service, TokenBucket>;

  private readonly users = new Map<string, FakeUser>();
  private readonly groups = new Map<string, FakeGroup>();
  private readonly permissionSets = new Map<string, FakePermissionSet & { createdAt: number }>();
  private readonly provisioned = new Map<string, Set<string>>();
  /** Assignments that exist (SUCCEEDED), in creation order so pagination is stable. */
  private readonly live = new Map<string, FakeAssignment>();
  private readonly operations: AsyncOperation[] = [];
  private readonly operationsById = new Map<string, AsyncOperation>();
  private seq = 0;
  private highWater = 0;
  private faults: FaultPlan | null = null;
  private readonly creationFailures: string[] = [];
  private readonly deletionFailures: string[] = [];
  // ---- additions: inline policies, provisioning, sessions ----
  /** Each permission set's inline policy; `version` grows with every change. */
  private readonly policies = new Map<string, { policy: string | undefined; version: number }>();
  /** What is in force per `${permissionSetArn}|${accountId}`, oldest first. */
  private readonly effective = new Map<string, EffectiveRecord[]>();
  private readonly provisioningOps: ProvisioningOperation[] = [];
  private readonly provisioningsById = new Map<string, ProvisioningOperation>();
  private readonly provisioningFailures: string[] = [];
  /** When each assignment existed, per keyOf(assignment): [from, to) intervals. */
  private readonly assignmentHistory = new Map<string, Array<{ from: number; to?: number }>>();
  private readonly sessions = new Map<string, FakeSession>();
  private sessionSeq = 0;

  private readonly ssoAdminOps: Record<string, (input: Json) => Json> = {
    CreateAccountAssignment: (i) => this.createAccountAssignment(i),
    DeleteAccountAssignment: (i) => this.deleteAccountAssignment(i),
    DescribeAccountAssignmentCreationStatus: (i) => this.describeStatus(i, 'create'),
    DescribeAccountAssignmentDeletionStatus: (i) => this.describeStatus(i, 'delete'),
    ListAccountAssignmentCreationStatus: (i) => this.listStatus(i, 'create'),
    ListAccountAssignmentDeletionStatus: (i) => this.listStatus(i, 'delete'),
    ListAccountAssignments: (i) => this.listAccountAssignments(i),
    ListAccountAssignmentsForPrincipal: (i) => this.listAccountAssignmentsForPrincipal(i),
    ListInstances: (i) => this.listInstances(i),
    ListPermissionSets: (i) => this.listPermissionSets(i),
    DescribePermissionSet: (i) => this.describePermissionSet(i),
    ListAccountsForProvisionedPermissionSet: (i) => this.listAccountsForProvisionedPermissionSet(i),
    ListPermissionSetsProvisionedToAccount: (i) => this.listPermissionSetsProvisionedToAccount(i),
    // ---- additions ----
    GetInlinePolicyForPermissionSet: (i) => this.getInlinePolicy(i),
    PutInlinePolicyToPermissionSet: (i) => this.putInlinePolicy(i),
    DeleteInlinePolicyFromPermissionSet: (i) => this.deleteInlinePolicy(i),
    ProvisionPermissionSet: (i) => this.provisionPermissionSet(i),
    DescribePermissionSetProvisioningStatus: (i) => this.describeProvisioningStatus(i),
    ListPermissionSetProvisioningStatus: (i) => this.listProvisioningStatus(i),
  };

  private readonly identityStoreOps: Record<string, (input: Json) => Json> = {
    GetUserId: (i) => this.getUserId(i),
    DescribeUser: (i) => this.describeUser(i),
    IsMemberInGroups: (i) => this.isMemberInGroups(i),
    ListGroupMemberships: (i) => this.listGroupMemberships(i),
    DescribeGroup: (i) => this.describeGroup(i),
  };

  private constructor(
    opts: FakeIdentityCenterOptions,
    private readonly server: Server,
    readonly url: string,
  ) {
    this.instanceArn = opts.instanceArn;
    this.identityStoreId = opts.identityStoreId;
    this.ownerAccountId = opts.ownerAccountId ?? '000000000000';
    this.statusDelayMs = opts.statusDelayMs ?? 200;
    this.maxOutstanding = opts.maxOutstandingCreations ?? 15;
    this.defaultMaxResults = opts.defaultMaxResults ?? 100;
    this.strict = opts.strictIdFormats ?? true;
    this.now = opts.now ?? Date.now;
    this.startedAt = this.now();
    this.random = mulberry32(opts.seed ?? 1);
    this.buckets = {
      'sso-admin': new TokenBucket(opts.requestsPerSecond ?? 20, this.now),
      identitystore: new TokenBucket(opts.identityStoreRequestsPerSecond ?? 20, this.now),
    };
    for (const u of opts.users ?? []) this.addUser(u);
    for (const g of opts.groups ?? []) this.addGroup(g);
    for (const ps of opts.permissionSets ?? []) this.addPermissionSet(ps);
  }

  /** Listens on 127.0.0.1 on a random port. */
  static async start(opts: FakeIdentityCenterOptions): Promise<FakeIdentityCenter> {
    // Check fixtures before listening, so a bad one cannot leave a server behind.
    if (opts.strictIdFormats ?? true) FakeIdentityCenter.checkFixtures(opts);
    // Inline policies are checked whatever strictIdFormats says: no AWS account could hold a bad one.
    for (const ps of opts.permissionSets ?? []) {
      if (ps.inlinePolicy !== undefined) FakeIdentityCenter.checkInlinePolicyFixture(ps.arn, ps.inlinePolicy);
    }
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const fake = new FakeIdentityCenter(opts, server, `http://127.0.0.1:${port}`);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      fake.onRequest(req, res).catch((err: unknown) => {
        // A bug in the fake itself: answer as AWS would for an internal failure.
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'application/x-amz-json-1.1' });
          res.end(JSON.stringify({ __type: 'InternalFailure', message: String(err) }));
        }
      });
    });
    return fake;
  }

  // ------------------------------------------------------------------ test-facing API

  callsTo(operation: string): RecordedCall[] {
    return this.calls.filter((c) => c.operation === operation);
  }

  /** Assignments that currently exist (SUCCEEDED and not since deleted). */
  assignments(): FakeAssignment[] {
    this.settle();
    return [...this.live.values()].map((a) => ({ ...a }));
  }

  /** Pre-existing / hand-made access: appears at once, no async operation. */
  addAssignment(a: {
    accountId: string;
    permissionSetArn: string;
    principalId: string;
    principalType?: PrincipalType;
  }): void {
    this.settle();
    const assignment = this.toAssignment(a);
    if (!this.live.has(keyOf(assignment))) this.openAssignment(keyOf(assignment), this.now());
    this.live.set(keyOf(assignment), assignment);
    this.provision(assignment.permissionSetArn, assignment.accountId, this.now());
  }

  removeAssignment(a: {
    accountId: string;
    permissionSetArn: string;
    principalId: string;
    principalType?: PrincipalType;
  }): void {
    this.settle();
    const key = keyOf(this.toAssignment(a));
    if (this.live.delete(key)) this.closeAssignment(key, this.now());
  }

  addUser(u: FakeUser): void {
    if (this.strict) FakeIdentityCenter.checkFixture('FakeUser.userId', u.userId, 'principalId');
    // Identity Store keeps a user's email unique across the store (the Email shape: "must be unique").
    const clash = [...this.users.values()].find((o) => o.userId !== u.userId && o.email.toLowerCase() === u.email.toLowerCase());
    if (clash) throw new Error(`FakeIdentityCenter: email ${u.email} already belongs to ${clash.userId}; Identity Store keeps emails unique`);
    this.users.set(u.userId, { ...u });
  }

  /** Addition: a user deleted from the directory (its assignments then fail to delete, as in AWS). */
  removeUser(userId: string): void {
    this.users.delete(userId);
  }

  /** Addition. */
  addGroup(g: FakeGroup): void {
    if (this.strict) FakeIdentityCenter.checkFixture('FakeGroup.groupId', g.groupId, 'principalId');
    this.groups.set(g.groupId, { ...g });
  }

  /** Addition. */
  addPermissionSet(ps: FakePermissionSet): void {
    if (this.strict) {
      FakeIdentityCenter.checkFixture('FakePermissionSet.arn', ps.arn, 'permissionSetArn');
      for (const acct of ps.provisionedTo ?? []) {
        FakeIdentityCenter.checkFixture('FakePermissionSet.provisionedTo', acct, 'accountId');
      }
    }
    if (ps.inlinePolicy !== undefined) FakeIdentityCenter.checkInlinePolicyFixture(ps.arn, ps.inlinePolicy);
    this.permissionSets.set(ps.arn, { ...ps, createdAt: this.now() });
    this.policies.set(ps.arn, { policy: ps.inlinePolicy, version: 0 });
    for (const acct of ps.provisionedTo ?? []) this.provision(ps.arn, acct, this.now());
  }

  setFaults(plan: FaultPlan | null): void {
    this.faults = plan ? { ...plan } : null;
  }

  /** The next `count` accepted creations end FAILED with `reason`. */
  failNextCreations(count: number, reason: string = DEFAULT_FAILURE_REASON): void {
    for (let i = 0; i < count; i++) this.creationFailures.push(reason);
  }

  /** The next `count` accepted deletions end FAILED with `reason`. */
  failNextDeletions(count: number, reason: string = DEFAULT_FAILURE_REASON): void {
    for (let i = 0; i < count; i++) this.deletionFailures.push(reason);
  }

  /** High-water mark of IN_PROGRESS creations. */
  get maxOutstandingCreationsSeen(): number {
    return this.highWater;
  }

  outstandingCreations(): number {
    this.settle();
    return this.operations.filter((o) => o.kind === 'create' && o.status === 'IN_PROGRESS').length;
  }

  // ---- additions: provisioning ----

  /** The next `count` accepted ProvisionPermissionSet calls end FAILED with `reason`, changing no account. */
  failNextProvisionings(count: number, reason: string = DEFAULT_FAILURE_REASON): void {
    for (let i = 0; i < count; i++) this.provisioningFailures.push(reason);
  }

  /** Every accepted ProvisionPermissionSet, oldest first, with the accounts it targeted. */
  provisionings(): FakeProvisioning[] {
    this.settle();
    return this.provisioningOps.map((o) => ({
      requestId: o.requestId,
      permissionSetArn: o.permissionSetArn,
      targetType: o.targetType,
      accounts: [...o.accounts],
      status: o.status,
      ...(o.failureReason !== undefined ? { failureReason: o.failureReason } : {}),
      createdAt: o.createdAt,
    }));
  }

  /**
   * The inline policy in force in `accountId` for the permission set: the one it had when its last
   * SUCCEEDED provisioning there started (or when it first reached the account through an
   * assignment or a fixture). undefined when none is in force. A Put that was not provisioned
   * since does not show here, as it does not in the account's IAM role.
   */
  effectivePolicy(permissionSetArn: string, accountId: string): string | undefined {
    this.settle();
    return this.effective.get(`${permissionSetArn}|${accountId}`)?.at(-1)?.policy;
  }

  // ---- additions: sessions ----

  /**
   * A role session of `userId` in `accountId` through the permission set, issued at `at` (default:
   * the clock's now; never in the future). Throws unless the user is in the directory, enabled,
   * and held a USER assignment of that permission set in that account at that instant: Identity
   * Center would not have issued it otherwise. (Group membership is not modelled.)
   */
  issueSession(s: { userId: string; permissionSetArn: string; accountId: string; at?: number }): FakeSession {
    this.settle();
    const now = this.now();
    const at = s.at ?? now;
    if (at > now) throw new Error(`FakeIdentityCenter: cannot issue a session in the future (${at} > now ${now}); move the clock`);
    const ps = this.permissionSets.get(s.permissionSetArn);
    if (!ps) throw new Error(`FakeIdentityCenter: no permission set ${s.permissionSetArn}`);
    const user = this.users.get(s.userId);
    if (!user || user.disabled) throw new Error(`FakeIdentityCenter: user ${s.userId} is not an enabled user of the directory`);
    const key = keyOf({ accountId: s.accountId, permissionSetArn: s.permissionSetArn, principalType: 'USER', principalId: s.userId });
    const held = (this.assignmentHistory.get(key) ?? []).some((i) => i.from <= at && (i.to === undefined || at < i.to));
    if (!held) {
      throw new Error(
        `FakeIdentityCenter: ${s.userId} held no assignment of ${s.permissionSetArn} in ${s.accountId} at ${new Date(at).toISOString()}; Identity Center would not issue that session`,
      );
    }
    const duration = durationMs(ps.sessionDuration ?? 'PT1H');
    if (duration === undefined) throw new Error(`FakeIdentityCenter: cannot read session duration ${ps.sessionDuration ?? ''}`);
    const session: FakeSession = {
      sessionId: `session-${++this.sessionSeq}`,
      userId: s.userId,
      permissionSetArn: s.permissionSetArn,
      accountId: s.accountId,
      issuedAt: at,
      expiresAt: at + duration,
    };
    this.sessions.set(session.sessionId, session);
    return { ...session };
  }

  /**
   * Whether the session can still act at `at` (default now; never in the future): false once its
   * session duration has run out, or when the policy in force in its account at `at` has a Deny of
   * Action "*" on Resource "*" whose conditions all hold for it. Only StringEquals on
   * identitystore:userId and DateLessThan on aws:TokenIssueTime are understood; a statement with
   * any other condition never matches here and is listed by unsupportedConditions().
   */
  sessionAllowed(sessionId: string, at?: number): boolean {
    this.settle();
    const session = this.sessions.get(sessionId);
    if (!session) throw new Error(`FakeIdentityCenter: no session ${sessionId}`);
    const now = this.now();
    const t = at ?? now;
    if (t > now) throw new Error(`FakeIdentityCenter: cannot answer for the future (${t} > now ${now}); move the clock`);
    if (t < session.issuedAt) throw new Error(`FakeIdentityCenter: session ${sessionId} was not issued yet at ${t}`);
    if (t >= session.expiresAt) return false;
    const records = this.effective.get(`${session.permissionSetArn}|${session.accountId}`) ?? [];
    const inForce = records.filter((r) => r.at <= t).at(-1)?.policy;
    if (inForce === undefined) return true;
    return !this.denyStatements(inForce).some((st) => evaluateCondition(st.Condition, session).kind === 'match');
  }

  /**
   * Conditions of deny-everything statements that the fake cannot evaluate, in every permission
   * set's inline policy and in every policy in force in an account. A test that relies on
   * sessionAllowed() should expect this to be empty, so it cannot pass on a policy the fake
   * ignores.
   */
  unsupportedConditions(): UnsupportedCondition[] {
    this.settle();
    const found: UnsupportedCondition[] = [];
    const scan = (permissionSetArn: string, where: UnsupportedCondition['where'], policy: string | undefined) => {
      if (policy === undefined) return;
      for (const st of this.denyStatements(policy)) {
        // The user id and instant are irrelevant to whether the fake understands the condition.
        const verdict = evaluateCondition(st.Condition, { userId: '', issuedAt: 0 });
        if (verdict.kind !== 'unsupported') continue;
        found.push({
          permissionSetArn,
          where,
          ...(typeof st.Sid === 'string' ? { sid: st.Sid } : {}),
          operator: verdict.operator,
          ...(verdict.key !== undefined ? { key: verdict.key } : {}),
          reason: verdict.reason,
        });
      }
    };
    for (const [arn, { policy }] of this.policies) scan(arn, 'permission set', policy);
    for (const [key, records] of this.effective) {
      const bar = key.lastIndexOf('|');
      scan(key.slice(0, bar), `account ${key.slice(bar + 1)}`, records.at(-1)?.policy);
    }
    return found;
  }

  close(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.server.close((err) => (err ? reject(err) : resolve()));
      // SDK clients keep connections alive; drop them so close() does not wait on them.
      this.server.closeAllConnections();
    });
  }

  // ------------------------------------------------------------------ HTTP layer

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = this.now();
    const requestId = randomUUID();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');

    const targetHeader = req.headers['x-amz-target'];
    const target = Array.isArray(targetHeader) ? targetHeader[0] : targetHeader;
    const dot = target?.indexOf('.') ?? -1;
    const prefix = target && dot > 0 ? target.slice(0, dot) : undefined;
    const operation = target && dot > 0 ? target.slice(dot + 1) : (target ?? '');
    const service: Service = prefix === 'AWSIdentityStore' ? 'identitystore' : 'sso-admin';

    let input: Json = {};
    let parseError: string | undefined;
    if (raw.trim() !== '') {
      try {
        const parsed: unknown = JSON.parse(raw);
        if (isObject(parsed)) input = parsed;
        else parseError = 'Start of structure or map expected.';
      } catch {
        parseError = 'Unable to parse the request body as JSON.';
      }
    }

    let status = 200;
    let body: Json;
    let errorType: string | undefined;
    let retryAfter = false;
    try {
      body = await this.process(req, service, prefix, operation, input, parseError);
    } catch (err) {
      if (!(err instanceof AwsError)) throw err;
      status = err.status;
      errorType = err.type;
      retryAfter = service === 'identitystore' && err.type === 'ThrottlingException';
      body = this.errorBody(service, err, requestId);
    }

    this.calls.push({
      service,
      operation,
      input,
      at,
      status,
      ...(errorType ? { errorType } : {}),
    });
    const payload = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'content-length': Buffer.byteLength(payload),
      'x-amzn-requestid': requestId,
      ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
      ...(retryAfter ? { 'retry-after': '1' } : {}),
    });
    res.end(payload);
  }

  /** The request pipeline, in the order the real front end applies it. */
  private async process(
    req: IncomingMessage,
    service: Service,
    prefix: string | undefined,
    operation: string,
    input: Json,
    parseError: string | undefined,
  ): Promise<Json> {
    this.checkSignature(req, service);

    const ops =
      prefix === 'SWBExternalService'
        ? this.ssoAdminOps
        : prefix === 'AWSIdentityStore'
          ? this.identityStoreOps
          : undefined;
    const handler = ops && Object.hasOwn(ops, operation) ? ops[operation] : undefined;
    if (req.method !== 'POST' || !handler) {
      throw new AwsError(
        'UnknownOperationException',
        400,
        prefix && ops
          ? `FakeIdentityCenter does not implement ${prefix}.${operation}`
          : 'Unknown operation',
      );
    }

    // Injected faults come first and never touch state (nor the rate bucket).
    const plan = this.faults;
    if (plan && (!plan.operations || plan.operations.includes(operation))) {
      if (plan.latencyMs && plan.latencyMs > 0) await delay(plan.latencyMs);
      const r = this.random();
      const throttleRate = plan.throttleRate ?? 0;
      const spent = plan.limit !== undefined && plan.limit <= 0;
      if (!spent && r < throttleRate + (plan.serverErrorRate ?? 0) && plan.limit !== undefined) plan.limit -= 1;
      if (!spent && r < throttleRate) throw throttling('Rate exceeded');
      if (!spent && r < throttleRate + (plan.serverErrorRate ?? 0)) {
        throw new AwsError(
          'InternalServerException',
          500,
          'The request processing has failed because of an unknown error, exception or failure.',
        );
      }
    }

    if (!this.buckets[service].take()) throw throttling('Rate exceeded');
    if (parseError) throw new AwsError('SerializationException', 400, parseError);

    this.settle();
    return handler(input);
  }

  /** Presence and shape of SigV4 only; the signature value is not verified. */
  private checkSignature(req: IncomingMessage, service: Service): void {
    const auth = req.headers.authorization;
    if (!auth) {
      throw new AwsError('MissingAuthenticationTokenException', 403, 'Missing Authentication Token');
    }
    const m =
      /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/.exec(
        auth,
      );
    if (!m) {
      throw new AwsError(
        'IncompleteSignatureException',
        400,
        `Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters. Authorization=${auth.split(' ')[0] ?? ''}`,
      );
    }
    if (!req.headers['x-amz-date'] && !req.headers.date) {
      throw new AwsError(
        'IncompleteSignatureException',
        400,
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
      );
    }
    const signingName = service === 'sso-admin' ? 'sso' : 'identitystore';
    if (m[4] !== signingName) {
      throw new AwsError(
        'InvalidSignatureException',
        403,
        `Credential should be scoped to correct service: '${signingName}'. `,
      );
    }
  }

  private errorBody(service: Service, err: AwsError, requestId: string): Json {
    // The Identity Store model puts Message and RequestId in its error shapes; sso-admin
    // answers the plain Coral form. The SDK reads `message` or `Message`.
    return service === 'identitystore'
      ? { __type: err.type, Message: err.message, RequestId: requestId, ...err.extra }
      : { __type: err.type, message: err.message, ...err.extra };
  }

  // ------------------------------------------------------------------ state machine

  /** Completes every operation whose time has come, in the order they were due. */
  private settle(): void {
    const t = this.now();
    const due = [
      ...this.operations.filter((o) => o.status === 'IN_PROGRESS' && o.dueAt <= t),
      // Addition: provisionings share the clock and the order.
      ...this.provisioningOps.filter((o) => o.status === 'IN_PROGRESS' && o.dueAt <= t),
    ].sort((a, b) => a.dueAt - b.dueAt || a.seq - b.seq);
    for (const op of due) {
      if (op.kind === 'provision') {
        this.settleProvisioning(op);
        continue;
      }
      const failure = op.forcedFailure ?? this.missingPrincipalReason(op.assignment);
      if (failure) {
        op.status = 'FAILED';
        op.failureReason = failure;
        continue;
      }
      const key = keyOf(op.assignment);
      if (op.kind === 'create') {
        // Re-creating an existing assignment succeeds without duplicating it.
        if (!this.live.has(key)) {
          this.live.set(key, { ...op.assignment });
          this.openAssignment(key, op.dueAt);
        }
        this.provision(op.assignment.permissionSetArn, op.assignment.accountId, op.dueAt);
      } else {
        // Deleting an assignment that does not exist succeeds as well.
        if (this.live.delete(key)) this.closeAssignment(key, op.dueAt);
      }
      op.status = 'SUCCEEDED';
    }
  }

  private missingPrincipalReason(a: FakeAssignment): string | undefined {
    const known = a.principalType === 'USER' ? this.users.has(a.principalId) : this.groups.has(a.principalId);
    return known
      ? undefined
      : `Received a 404 status error: the ${a.principalType} assignee ${a.principalId} was not found in directory ${this.identityStoreId}`;
  }

  /**
   * The permission set reaches the account (its role exists there). Addition: the first time, the
   * permission set's current inline policy comes into force there at `at`; later calls (another
   * assignment of an already provisioned permission set) leave what is in force alone.
   */
  private provision(permissionSetArn: string, accountId: string, at: number): void {
    let accounts = this.provisioned.get(permissionSetArn);
    if (!accounts) this.provisioned.set(permissionSetArn, (accounts = new Set()));
    if (accounts.has(accountId)) return;
    accounts.add(accountId);
    const { policy, version } = this.policyOf(permissionSetArn);
    this.putInForce(permissionSetArn, accountId, { at, policy, version });
  }

  /** Addition: a provisioning that came due; FAILED changes no account. */
  private settleProvisioning(op: ProvisioningOperation): void {
    if (op.forcedFailure !== undefined) {
      op.status = 'FAILED';
      op.failureReason = op.forcedFailure;
      return;
    }
    for (const accountId of op.accounts) {
      let accounts = this.provisioned.get(op.permissionSetArn);
      if (!accounts) this.provisioned.set(op.permissionSetArn, (accounts = new Set()));
      accounts.add(accountId);
      // What is put in force is the policy as it was when the provisioning started.
      this.putInForce(op.permissionSetArn, accountId, { at: op.dueAt, policy: op.policy, version: op.version });
    }
    op.status = 'SUCCEEDED';
  }

  private putInForce(permissionSetArn: string, accountId: string, record: EffectiveRecord): void {
    const key = `${permissionSetArn}|${accountId}`;
    let records = this.effective.get(key);
    if (!records) this.effective.set(key, (records = []));
    records.push(record);
  }

  private openAssignment(key: string, at: number): void {
    let intervals = this.assignmentHistory.get(key);
    if (!intervals) this.assignmentHistory.set(key, (intervals = []));
    intervals.push({ from: at });
  }

  private closeAssignment(key: string, at: number): void {
    const open = this.assignmentHistory.get(key)?.at(-1);
    if (open && open.to === undefined) open.to = at;
  }

  private toAssignment(a: {
    accountId: string;
    permissionSetArn: string;
    principalId: string;
    principalType?: PrincipalType;
  }): FakeAssignment {
    return {
      accountId: a.accountId,
      permissionSetArn: a.permissionSetArn,
      principalType: a.principalType ?? 'USER',
      principalId: a.principalId,
    };
  }

  private startOperation(kind: AsyncOperation['kind'], assignment: FakeAssignment): AsyncOperation {
    const now = this.now();
    const failures = kind === 'create' ? this.creationFailures : this.deletionFailures;
    const forcedFailure = failures.shift();
    const op: AsyncOperation = {
      kind,
      requestId: randomUUID(),
      seq: this.seq++,
      assignment,
      status: 'IN_PROGRESS',
      createdAt: now,
      dueAt: now + this.statusDelayMs,
      ...(forcedFailure !== undefined ? { forcedFailure } : {}),
    };
    this.operations.push(op);
    this.operationsById.set(op.requestId, op);
    return op;
  }

  private statusJson(op: AsyncOperation): Json {
    return {
      Status: op.status,
      RequestId: op.requestId,
      ...(op.failureReason ? { FailureReason: op.failureReason } : {}),
      TargetId: op.assignment.accountId,
      TargetType: 'AWS_ACCOUNT',
      PermissionSetArn: op.assignment.permissionSetArn,
      PrincipalType: op.assignment.principalType,
      PrincipalId: op.assignment.principalId,
      CreatedDate: op.createdAt / 1000,
    };
  }

  // ------------------------------------------------------------------ validation helpers

  private static checkFixtures(opts: FakeIdentityCenterOptions): void {
    FakeIdentityCenter.checkFixture('instanceArn', opts.instanceArn, 'instanceArn');
    FakeIdentityCenter.checkFixture('identityStoreId', opts.identityStoreId, 'identityStoreId');
    if (opts.ownerAccountId !== undefined) FakeIdentityCenter.checkFixture('ownerAccountId', opts.ownerAccountId, 'accountId');
    for (const u of opts.users ?? []) FakeIdentityCenter.checkFixture('FakeUser.userId', u.userId, 'principalId');
    for (const g of opts.groups ?? []) FakeIdentityCenter.checkFixture('FakeGroup.groupId', g.groupId, 'principalId');
    for (const ps of opts.permissionSets ?? []) {
      FakeIdentityCenter.checkFixture('FakePermissionSet.arn', ps.arn, 'permissionSetArn');
      for (const acct of ps.provisionedTo ?? []) {
        FakeIdentityCenter.checkFixture('FakePermissionSet.provisionedTo', acct, 'accountId');
      }
    }
  }

  /** Addition: an inline policy fixture must be one PutInlinePolicyToPermissionSet would accept. */
  private static checkInlinePolicyFixture(arn: string, policy: string): void {
    const err = inlinePolicyError(policy);
    if (err) {
      const why = err.message === INVALID_POLICY_MESSAGE ? `${err.message}: ${policyDocumentProblem(policy) ?? ''}` : err.message;
      throw new Error(`FakeIdentityCenter: FakePermissionSet.inlinePolicy of ${arn} would be refused by AWS (${why})`);
    }
  }

  private static checkFixture(what: string, value: string, pattern: keyof typeof PATTERNS): void {
    if (!PATTERNS[pattern].test(value)) {
      throw new Error(
        `FakeIdentityCenter: ${what} '${value}' is not a value AWS could return (must match ${PATTERN_TEXT[pattern]}); ` +
          `use a realistic id or pass strictIdFormats: false`,
      );
    }
  }

  /** Coral-style member validation; all problems are reported together, as AWS does. */
  private validate(input: Json, rules: FieldRule[]): void {
    const problems: string[] = [];
    for (const rule of rules) {
      const value = input[rule.name];
      const at = `at '${lowerFirst(rule.name)}'`;
      if (value === undefined || value === null) {
        if (rule.required) problems.push(`Value null ${at} failed to satisfy constraint: Member must not be null`);
        continue;
      }
      const type = rule.type ?? 'string';
      const typeOk =
        type === 'string'
          ? typeof value === 'string'
          : type === 'integer'
            ? Number.isInteger(value)
            : isObject(value);
      if (!typeOk) {
        problems.push(`Value '${JSON.stringify(value)}' ${at} failed to satisfy constraint: Member must be of type ${type}`);
        continue;
      }
      if (typeof value === 'string') {
        if (rule.enumValues && !rule.enumValues.includes(value)) {
          problems.push(
            `Value '${value}' ${at} failed to satisfy constraint: Member must satisfy enum value set: [${rule.enumValues.join(', ')}]`,
          );
        } else if (this.strict && rule.pattern && !PATTERNS[rule.pattern].test(value)) {
          problems.push(
            `Value '${value}' ${at} failed to satisfy constraint: Member must satisfy regular expression pattern: ${PATTERN_TEXT[rule.pattern]}`,
          );
        }
      }
      if (typeof value === 'number') {
        if (rule.min !== undefined && value < rule.min) {
          problems.push(`Value '${value}' ${at} failed to satisfy constraint: Member must have value greater than or equal to ${rule.min}`);
        }
        if (rule.max !== undefined && value > rule.max) {
          problems.push(`Value '${value}' ${at} failed to satisfy constraint: Member must have value less than or equal to ${rule.max}`);
        }
      }
    }
    if (problems.length > 0) throw validationError(problems);
  }

  private requireInstance(input: Json): void {
    if (input.InstanceArn !== this.instanceArn) {
      throw new AwsError('ResourceNotFoundException', 400, `Instance ${String(input.InstanceArn)} does not exist.`);
    }
  }

  private requirePermissionSet(arn: unknown): FakePermissionSet & { createdAt: number } {
    const ps = typeof arn === 'string' ? this.permissionSets.get(arn) : undefined;
    if (!ps) throw new AwsError('ResourceNotFoundException', 400, `Could not find PermissionSet with arn ${String(arn)}.`);
    return ps;
  }

  /** Offset pagination with an opaque token bound to the operation it came from. */
  private paginate<T>(operation: string, items: T[], input: Json): { page: T[]; nextToken?: string } {
    let offset = 0;
    if (typeof input.NextToken === 'string') {
      const decoded = this.decodeToken(input.NextToken);
      if (!decoded || decoded.op !== operation) {
        throw new AwsError('ValidationException', 400, 'The NextToken provided is invalid.');
      }
      offset = decoded.offset;
    }
    const size = typeof input.MaxResults === 'number' ? input.MaxResults : this.defaultMaxResults;
    const page = items.slice(offset, offset + size);
    const next = offset + size;
    return next < items.length
      ? { page, nextToken: Buffer.from(JSON.stringify({ op: operation, offset: next })).toString('base64url') }
      : { page };
  }

  private decodeToken(token: string): { op: string; offset: number } | undefined {
    try {
      const v: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
      if (isObject(v) && typeof v.op === 'string' && Number.isInteger(v.offset) && (v.offset as number) >= 0) {
        return { op: v.op, offset: v.offset as number };
      }
    } catch {
      // fall through: not one of ours
    }
    return undefined;
  }

  private withToken(key: string, result: { page: unknown[]; nextToken?: string }): Json {
    return { [key]: result.page, ...(result.nextToken ? { NextToken: result.nextToken } : {}) };
  }

  // ------------------------------------------------------------------ sso-admin operations

  private assignmentFrom(input: Json): FakeAssignment {
    this.validate(input, ASSIGNMENT_FIELDS);
    this.requireInstance(input);
    this.requirePermissionSet(input.PermissionSetArn);
    return {
      accountId: input.TargetId as string,
      permissionSetArn: input.PermissionSetArn as string,
      principalType: input.PrincipalType as PrincipalType,
      principalId: input.PrincipalId as string,
    };
  }

  private assertNoConflict(assignment: FakeAssignment): void {
    const key = keyOf(assignment);
    if (this.operations.some((o) => o.status === 'IN_PROGRESS' && keyOf(o.assignment) === key)) {
      throw new AwsError(
        'ConflictException',
        400,
        'An account assignment operation for this principal, permission set and account is already in progress. Retry after it completes.',
      );
    }
  }

  private createAccountAssignment(input: Json): Json {
    const assignment = this.assignmentFrom(input);
    this.assertNoConflict(assignment);
    if (this.outstandingCreations() >= this.maxOutstanding) {
      // Rejected calls are not outstanding: nothing is recorded as started.
      throw throttling('There are too many requests processing. Please try again later.');
    }
    const op = this.startOperation('create', assignment);
    this.highWater = Math.max(this.highWater, this.outstandingCreations());
    return { AccountAssignmentCreationStatus: this.statusJson(op) };
  }

  private deleteAccountAssignment(input: Json): Json {
    const assignment = this.assignmentFrom(input);
    this.assertNoConflict(assignment);
    const op = this.startOperation('delete', assignment);
    return { AccountAssignmentDeletionStatus: this.statusJson(op) };
  }

  private describeStatus(input: Json, kind: AsyncOperation['kind']): Json {
    const idField = kind === 'create' ? 'AccountAssignmentCreationRequestId' : 'AccountAssignmentDeletionRequestId';
    this.validate(input, [INSTANCE_ARN, { name: idField, required: true, pattern: 'requestId' }]);
    this.requireInstance(input);
    const op = this.operationsById.get(input[idField] as string);
    if (!op || op.kind !== kind) {
      throw new AwsError(
        'ResourceNotFoundException',
        400,
        `Account assignment ${kind === 'create' ? 'creation' : 'deletion'} request ${String(input[idField])} does not exist.`,
      );
    }
    const key = kind === 'create' ? 'AccountAssignmentCreationStatus' : 'AccountAssignmentDeletionStatus';
    return { [key]: this.statusJson(op) };
  }

  private listStatus(input: Json, kind: AsyncOperation['kind']): Json {
    this.validate(input, [INSTANCE_ARN, MAX_RESULTS, NEXT_TOKEN, { name: 'Filter', type: 'object' }]);
    if (isObject(input.Filter)) this.validate(input.Filter, [{ name: 'Status', enumValues: STATUS_VALUES }]);
    this.requireInstance(input);
    const wanted = isObject(input.Filter) ? input.Filter.Status : undefined;
    const items = this.operations
      .filter((o) => o.kind === kind && (wanted === undefined || o.status === wanted))
      .map((o) => ({ Status: o.status, RequestId: o.requestId, CreatedDate: o.createdAt / 1000 }));
    const operation = kind === 'create' ? 'ListAccountAssignmentCreationStatus' : 'ListAccountAssignmentDeletionStatus';
    const key = kind === 'create' ? 'AccountAssignmentsCreationStatus' : 'AccountAssignmentsDeletionStatus';
    return this.withToken(key, this.paginate(operation, items, input));
  }

  private listAccountAssignments(input: Json): Json {
    this.validate(input, [
      INSTANCE_ARN,
      { name: 'AccountId', required: true, pattern: 'accountId' },
      { name: 'PermissionSetArn', required: true, pattern: 'permissionSetArn' },
      MAX_RESULTS,
      NEXT_TOKEN,
    ]);
    this.requireInstance(input);
    this.requirePermissionSet(input.PermissionSetArn);
    const items = [...this.live.values()]
      .filter((a) => a.accountId === input.AccountId && a.permissionSetArn === input.PermissionSetArn)
      .map((a) => ({
        AccountId: a.accountId,
        PermissionSetArn: a.permissionSetArn,
        PrincipalType: a.principalType,
        PrincipalId: a.principalId,
      }));
    return this.withToken('AccountAssignments', this.paginate('ListAccountAssignments', items, input));
  }

  private listAccountAssignmentsForPrincipal(input: Json): Json {
    this.validate(input, [
      INSTANCE_ARN,
      { name: 'PrincipalId', required: true, pattern: 'principalId' },
      { name: 'PrincipalType', required: true, enumValues: PRINCIPAL_TYPES },
      { name: 'Filter', type: 'object' },
      MAX_RESULTS,
      NEXT_TOKEN,
    ]);
    if (isObject(input.Filter)) this.validate(input.Filter, [{ name: 'AccountId', pattern: 'accountId' }]);
    this.requireInstance(input);
    const account = isObject(input.Filter) ? input.Filter.AccountId : undefined;
    const items = [...this.live.values()]
      .filter(
        (a) =>
          a.principalId === input.PrincipalId &&
          a.principalType === input.PrincipalType &&
          (account === undefined || a.accountId === account),
      )
      .map((a) => ({
        AccountId: a.accountId,
        PermissionSetArn: a.permissionSetArn,
        PrincipalId: a.principalId,
        PrincipalType: a.principalType,
      }));
    return this.withToken('AccountAssignments', this.paginate('ListAccountAssignmentsForPrincipal', items, input));
  }

  private listInstances(input: Json): Json {
    this.validate(input, [MAX_RESULTS, NEXT_TOKEN]);
    const instance = {
      InstanceArn: this.instanceArn,
      IdentityStoreId: this.identityStoreId,
      OwnerAccountId: this.ownerAccountId,
      Status: 'ACTIVE',
      CreatedDate: this.startedAt / 1000,
    };
    return this.withToken('Instances', this.paginate('ListInstances', [instance], input));
  }

  private listPermissionSets(input: Json): Json {
    this.validate(input, [INSTANCE_ARN, MAX_RESULTS, NEXT_TOKEN]);
    this.requireInstance(input);
    return this.withToken(
      'PermissionSets',
      this.paginate('ListPermissionSets', [...this.permissionSets.keys()], input),
    );
  }

  private describePermissionSet(input: Json): Json {
    this.validate(input, [INSTANCE_ARN, { name: 'PermissionSetArn', required: true, pattern: 'permissionSetArn' }]);
    this.requireInstance(input);
    const ps = this.requirePermissionSet(input.PermissionSetArn);
    return {
      PermissionSet: {
        Name: ps.name,
        PermissionSetArn: ps.arn,
        ...(ps.description !== undefined ? { Description: ps.description } : {}),
        CreatedDate: ps.createdAt / 1000,
        SessionDuration: ps.sessionDuration ?? 'PT1H',
      },
    };
  }

  private listAccountsForProvisionedPermissionSet(input: Json): Json {
    this.validate(input, [
      INSTANCE_ARN,
      { name: 'PermissionSetArn', required: true, pattern: 'permissionSetArn' },
      { name: 'ProvisioningStatus', enumValues: PROVISIONING_STATUSES },
      MAX_RESULTS,
      NEXT_TOKEN,
    ]);
    this.requireInstance(input);
    this.requirePermissionSet(input.PermissionSetArn);
    // An account is behind ("NOT_PROVISIONED") once the inline policy changed after the version in
    // force there; without inline policy changes every account is up to date.
    const arn = input.PermissionSetArn as string;
    const accounts = [...(this.provisioned.get(arn) ?? [])].filter((acct) =>
      input.ProvisioningStatus === undefined
        ? true
        : this.isLatest(arn, acct) === (input.ProvisioningStatus === 'LATEST_PERMISSION_SET_PROVISIONED'),
    );
    return this.withToken('AccountIds', this.paginate('ListAccountsForProvisionedPermissionSet', accounts, input));
  }

  private listPermissionSetsProvisionedToAccount(input: Json): Json {
    this.validate(input, [
      INSTANCE_ARN,
      { name: 'AccountId', required: true, pattern: 'accountId' },
      { name: 'ProvisioningStatus', enumValues: PROVISIONING_STATUSES },
      MAX_RESULTS,
      NEXT_TOKEN,
    ]);
    this.requireInstance(input);
    const account = input.AccountId as string;
    const arns = [...this.provisioned.entries()]
      .filter(([, accts]) => accts.has(account))
      .map(([arn]) => arn)
      .filter((arn) =>
        input.ProvisioningStatus === undefined
          ? true
          : this.isLatest(arn, account) === (input.ProvisioningStatus === 'LATEST_PERMISSION_SET_PROVISIONED'),
      );
    return this.withToken('PermissionSets', this.paginate('ListPermissionSetsProvisionedToAccount', arns, input));
  }

  // ---- additions: inline policies and provisioning (sources at INLINE_POLICY_MAX_LENGTH) ----

  private permissionSetFrom(input: Json, extra: FieldRule[] = []): string {
    this.validate(input, [INSTANCE_ARN, { name: 'PermissionSetArn', required: true, pattern: 'permissionSetArn' }, ...extra]);
    this.requireInstance(input);
    return this.requirePermissionSet(input.PermissionSetArn).arn;
  }

  /** Provisioning, Put and Delete of a permission set wait for its running provisioning. */
  private assertNotProvisioning(permissionSetArn: string): void {
    if (this.provisioningOps.some((o) => o.status === 'IN_PROGRESS' && o.permissionSetArn === permissionSetArn)) {
      throw new AwsError('ConflictException', 400, CONFLICTING_OPERATION_MESSAGE);
    }
  }

  private policyOf(permissionSetArn: string): { policy: string | undefined; version: number } {
    let state = this.policies.get(permissionSetArn);
    if (!state) this.policies.set(permissionSetArn, (state = { policy: undefined, version: 0 }));
    return state;
  }

  private getInlinePolicy(input: Json): Json {
    const arn = this.permissionSetFrom(input);
    return { InlinePolicy: this.policyOf(arn).policy ?? '' };
  }

  private putInlinePolicy(input: Json): Json {
    const arn = this.permissionSetFrom(input, [{ name: 'InlinePolicy', required: true }]);
    const err = inlinePolicyError(input.InlinePolicy as string);
    if (err) throw err;
    this.assertNotProvisioning(arn);
    const state = this.policyOf(arn);
    state.policy = input.InlinePolicy as string;
    state.version++;
    return {};
  }

  private deleteInlinePolicy(input: Json): Json {
    const arn = this.permissionSetFrom(input);
    this.assertNotProvisioning(arn);
    // Deleting when there is none succeeds and changes nothing (not confirmed against AWS).
    const state = this.policyOf(arn);
    if (state.policy !== undefined) {
      state.policy = undefined;
      state.version++;
    }
    return {};
  }

  private provisionPermissionSet(input: Json): Json {
    const arn = this.permissionSetFrom(input, [
      { name: 'TargetId', pattern: 'accountId' },
      { name: 'TargetType', required: true, enumValues: PROVISIONING_TARGET_TYPES },
    ]);
    const targetType = input.TargetType as ProvisioningTargetType;
    if (targetType === 'AWS_ACCOUNT' && input.TargetId === undefined) {
      // The model marks TargetId optional; an account provisioning cannot go without one.
      throw new AwsError('ValidationException', 400, 'TargetId is required when TargetType is AWS_ACCOUNT.');
    }
    this.assertNotProvisioning(arn);
    const accounts = targetType === 'AWS_ACCOUNT' ? [input.TargetId as string] : [...(this.provisioned.get(arn) ?? [])];
    const now = this.now();
    const { policy, version } = this.policyOf(arn);
    const forcedFailure = this.provisioningFailures.shift();
    const op: ProvisioningOperation = {
      kind: 'provision',
      requestId: randomUUID(),
      seq: this.seq++,
      permissionSetArn: arn,
      targetType,
      accounts,
      policy,
      version,
      status: 'IN_PROGRESS',
      createdAt: now,
      dueAt: now + this.statusDelayMs,
      ...(forcedFailure !== undefined ? { forcedFailure } : {}),
    };
    this.provisioningOps.push(op);
    this.provisioningsById.set(op.requestId, op);
    return { PermissionSetProvisioningStatus: this.provisioningJson(op) };
  }

  private describeProvisioningStatus(input: Json): Json {
    this.validate(input, [INSTANCE_ARN, { name: 'ProvisionPermissionSetRequestId', required: true, pattern: 'requestId' }]);
    this.requireInstance(input);
    const op = this.provisioningsById.get(input.ProvisionPermissionSetRequestId as string);
    if (!op) {
      throw new AwsError(
        'ResourceNotFoundException',
        400,
        `Permission set provisioning request ${String(input.ProvisionPermissionSetRequestId)} does not exist.`,
      );
    }
    return { PermissionSetProvisioningStatus: this.provisioningJson(op) };
  }

  private listProvisioningStatus(input: Json): Json {
    this.validate(input, [INSTANCE_ARN, MAX_RESULTS, NEXT_TOKEN, { name: 'Filter', type: 'object' }]);
    if (isObject(input.Filter)) this.validate(input.Filter, [{ name: 'Status', enumValues: STATUS_VALUES }]);
    this.requireInstance(input);
    const wanted = isObject(input.Filter) ? input.Filter.Status : undefined;
    const items = this.provisioningOps
      .filter((o) => wanted === undefined || o.status === wanted)
      .map((o) => ({ Status: o.status, RequestId: o.requestId, CreatedDate: o.createdAt / 1000 }));
    return this.withToken(
      'PermissionSetsProvisioningStatus',
      this.paginate('ListPermissionSetProvisioningStatus', items, input),
    );
  }

  private provisioningJson(op: ProvisioningOperation): Json {
    return {
      Status: op.status,
      RequestId: op.requestId,
      // Only an account provisioning names its account.
      ...(op.targetType === 'AWS_ACCOUNT' ? { AccountId: op.accounts[0] } : {}),
      PermissionSetArn: op.permissionSetArn,
      ...(op.failureReason ? { FailureReason: op.failureReason } : {}),
      CreatedDate: op.createdAt / 1000,
    };
  }

  /** The account runs the permission set's current inline policy version. */
  private isLatest(permissionSetArn: string, accountId: string): boolean {
    const inForce = this.effective.get(`${permissionSetArn}|${accountId}`)?.at(-1);
    return inForce === undefined || inForce.version === this.policyOf(permissionSetArn).version;
  }

  /** The statements of a stored policy that deny every action on every resource. */
  private denyStatements(policy: string): Json[] {
    // Stored policies passed inlinePolicyError, so they parse and have statements.
    const doc = JSON.parse(policy) as Json;
    return (statementsOf(doc) ?? []).filter((st): st is Json => isObject(st) && deniesEverything(st));
  }

  // ------------------------------------------------------------------ identitystore operations

  private requireIdentityStore(input: Json): void {
    if (input.IdentityStoreId !== this.identityStoreId) {
      throw new AwsError('ResourceNotFoundException', 400, 'IDENTITY_STORE not found.', {
        ResourceType: 'IDENTITY_STORE',
        ResourceId: input.IdentityStoreId,
      });
    }
  }

  private getUserId(input: Json): Json {
    this.validate(input, [
      { name: 'IdentityStoreId', required: true, pattern: 'identityStoreId' },
      { name: 'AlternateIdentifier', required: true, type: 'object' },
    ]);
    const alt = input.AlternateIdentifier as Json;
    const members = Object.keys(alt);
    if (members.length !== 1) {
      throw validationError([
        `Value ${members.length === 0 ? 'null' : `'${members.join(', ')}'`} at 'alternateIdentifier' failed to satisfy constraint: Member must have exactly one member set`,
      ]);
    }
    this.requireIdentityStore(input);

    let user: FakeUser | undefined;
    if (isObject(alt.UniqueAttribute)) {
      const { AttributePath: path, AttributeValue: value } = alt.UniqueAttribute;
      if (typeof path !== 'string' || !['username', 'emails.value'].includes(path.toLowerCase())) {
        throw new AwsError('ValidationException', 400, `The attribute ${String(path)} is not a unique attribute`);
      }
      if (typeof value !== 'string' || value === '') {
        throw new AwsError('ValidationException', 400, `attribute value cannot be empty or null for attribute path ${path}`);
      }
      const users = [...this.users.values()];
      // Email addresses are matched case-insensitively, user names exactly (see report).
      user =
        path.toLowerCase() === 'username'
          ? users.find((u) => u.userName === value)
          : users.find((u) => u.email.toLowerCase() === value.toLowerCase());
    } else if (!isObject(alt.ExternalId)) {
      throw validationError([`Value '${members[0] ?? ''}' at 'alternateIdentifier' failed to satisfy constraint: Unknown member`]);
    }
    // ExternalId never matches: the fake's users carry no external ids.
    if (!user) throw new AwsError('ResourceNotFoundException', 400, 'USER not found.', { ResourceType: 'USER' });
    return { IdentityStoreId: this.identityStoreId, UserId: user.userId };
  }

  /** Addition: IsMemberInGroups (Identity Store API reference): at most 100 group ids, one result per group. */
  private isMemberInGroups(input: Json): Json {
    this.validate(input, [
      { name: 'IdentityStoreId', required: true, pattern: 'identityStoreId' },
      { name: 'MemberId', required: true, type: 'object' },
    ]);
    this.requireIdentityStore(input);
    const userId = (input.MemberId as Json).UserId;
    const groupIds = input.GroupIds;
    if (typeof userId !== 'string') throw validationError(["Value null at 'memberId.userId' failed to satisfy constraint: Member must not be null"]);
    if (!Array.isArray(groupIds) || groupIds.length < 1 || groupIds.length > 100) {
      throw validationError(["Value at 'groupIds' failed to satisfy constraint: Member must have length less than or equal to 100 and greater than or equal to 1"]);
    }
    return {
      Results: groupIds.map((g) => ({ GroupId: g, MemberId: { UserId: userId }, MembershipExists: this.groups.get(String(g))?.members?.includes(userId) ?? false })),
    };
  }

  private requireGroup(groupId: unknown): FakeGroup {
    const group = this.groups.get(String(groupId));
    if (!group) throw new AwsError('ResourceNotFoundException', 400, 'GROUP not found.', { ResourceType: 'GROUP', ResourceId: groupId });
    return group;
  }

  /** Addition: ListGroupMemberships (Identity Store API reference): MaxResults 1–100, one GroupMembership per member. */
  private listGroupMemberships(input: Json): Json {
    this.validate(input, [
      { name: 'IdentityStoreId', required: true, pattern: 'identityStoreId' },
      { name: 'GroupId', required: true, pattern: 'principalId' },
      MAX_RESULTS,
      NEXT_TOKEN,
    ]);
    this.requireIdentityStore(input);
    const group = this.requireGroup(input.GroupId);
    const items = (group.members ?? []).map((userId) => ({
      IdentityStoreId: this.identityStoreId,
      MembershipId: `${group.groupId.slice(0, 10)}-${userId.slice(11)}`,
      GroupId: group.groupId,
      MemberId: { UserId: userId },
    }));
    return this.withToken('GroupMemberships', this.paginate('ListGroupMemberships', items, input));
  }

  /** Addition: DescribeGroup (Identity Store API reference). */
  private describeGroup(input: Json): Json {
    this.validate(input, [
      { name: 'IdentityStoreId', required: true, pattern: 'identityStoreId' },
      { name: 'GroupId', required: true, pattern: 'principalId' },
    ]);
    this.requireIdentityStore(input);
    const group = this.requireGroup(input.GroupId);
    return { IdentityStoreId: this.identityStoreId, GroupId: group.groupId, DisplayName: group.displayName };
  }

  private describeUser(input: Json): Json {
    this.validate(input, [
      { name: 'IdentityStoreId', required: true, pattern: 'identityStoreId' },
      { name: 'UserId', required: true, pattern: 'principalId' },
    ]);
    this.requireIdentityStore(input);
    const user = this.users.get(input.UserId as string);
    if (!user) {
      throw new AwsError('ResourceNotFoundException', 400, 'USER not found.', {
        ResourceType: 'USER',
        ResourceId: input.UserId,
      });
    }
    const displayName = user.displayName ?? user.userName;
    return {
      IdentityStoreId: this.identityStoreId,
      UserId: user.userId,
      UserName: user.userName,
      DisplayName: displayName,
      Name: { Formatted: displayName },
      Emails: [{ Value: user.email, Type: 'work', Primary: true }],
      UserStatus: user.disabled ? 'DISABLED' : 'ENABLED',
    };
  }
}
