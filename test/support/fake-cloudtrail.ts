/**
 * A loopback fake of AWS CloudTrail's `LookupEvents` (event history) for tests, over the AWS JSON 1.1
 * protocol, so the real `@aws-sdk/client-cloudtrail` runs against it unmodified (only `endpoint`
 * differs). One server serves every Region: it reads the Region from the SigV4 credential scope, as
 * the real per-Region endpoints are told apart by host, and keeps events, pagination tokens and the
 * rate limit per Region.
 *
 * What it reproduces, and where each behaviour comes from:
 * - Wire format: POST /, `Content-Type: application/x-amz-json-1.1`, operation named by
 *   `X-Amz-Target`. The API reference and botocore give the target prefix
 *   `com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101`; AWS SDK for JavaScript v3 sends the
 *   Smithy service name alone (`CloudTrail_20131101.LookupEvents`). Both are accepted, as the real
 *   endpoint must. `x-amzn-RequestId` on every response. Timestamps are epoch seconds (numbers).
 * - Request (API reference, LookupEvents): `LookupAttributes` ("Currently the list can contain only
 *   one item"), `StartTime`/`EndTime` ("only events that occur after or at" / "before or at" the
 *   time: both bounds inclusive; start after end is an error), `EventCategory` (only `insight`;
 *   without it Insights events are not returned), `MaxResults` ("Possible values are 1 through 50.
 *   The default is 50"), `NextToken` ("must be passed in with the same parameters that were
 *   specified in the original call").
 * - Attribute keys (LookupAttributeKey enum; the user guide says "Value names are case
 *   sensitive"): AccessKeyId, EventId, EventName, EventSource, ReadOnly, ResourceName,
 *   ResourceType, Username. AttributeValue is at most 2000 characters, where `_`, `` ` ``, `,` and
 *   `\n` count twice (the LookupAttribute shape's documentation).
 * - Response: `Events` "sorted by time. The most recent event is listed first", each
 *   `{EventId, EventName, ReadOnly, AccessKeyId, EventTime, EventSource, Username, Resources,
 *   CloudTrailEvent}` with `ReadOnly` a string and `CloudTrailEvent` the record as a JSON string;
 *   `NextToken` only when more results remain.
 * - `Username` for a session of an assumed role is the role session name (the AWS CLI example of
 *   lookup-events shows `"Username": "my-session-name"` for an AssumedRole record; for the root user
 *   it shows `"root"`), which for an IAM Identity Center session is the user's user name.
 * - Retention: "You can look up events that occurred in a Region within the last 90 days". The
 *   default StartTime is the oldest retained event, the default EndTime now.
 * - Errors (the operation's Errors section and the Smithy model: all HTTP 400, member `Message`):
 *   InvalidLookupAttributesException, InvalidTimeRangeException, InvalidMaxResultsException,
 *   InvalidNextTokenException, InvalidEventCategoryException. The message texts are not documented
 *   and are the fake's own.
 * - Rate: "limited to two per second, per account, per Region. If this limit is exceeded, a
 *   throttling error occurs." A token bucket per Region, 2 tokens per second, burst 2 (the burst is
 *   not documented). The answer is `ThrottlingException` "Rate exceeded" with HTTP 400, as the
 *   Common Errors page lists it; the Smithy model's own CloudTrail ThrottlingException says 429, so
 *   `throttleStatus` can switch to it.
 * - Delivery: events reach event history minutes after the call ("typically ... within an average of
 *   about 5 minutes", historically quoted as up to 15). An event is invisible until `visibleAfterMs`
 *   after its eventTime, by the fake's clock.
 * - Global services: since November 2021 "events created by CloudFront, IAM, and AWS STS are recorded
 *   in ... us-east-1" (user guide, Viewing CloudTrail events with the AWS CLI). An IAM or CloudFront
 *   event seeded in another Region is refused, so a test cannot find one where AWS never puts it.
 *   (STS regional endpoints record in their own Region, so STS is not checked.)
 * - Unsigned requests: 403 MissingAuthenticationTokenException; a malformed SigV4 header:
 *   400 IncompleteSignatureException; a scope for another service: 403 InvalidSignatureException
 *   (signatures themselves are not verified).
 *
 * Visibility and rate are computed from the injected clock on each request, so there are no timers
 * and a fake clock drives it deterministically.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { mulberry32, TokenBucket } from './pacing.ts';

type Json = Record<string, unknown>;

export const LOOKUP_ATTRIBUTE_KEYS = [
  'EventId',
  'EventName',
  'ReadOnly',
  'Username',
  'ResourceType',
  'ResourceName',
  'EventSource',
  'AccessKeyId',
] as const;
export type LookupAttributeKey = (typeof LOOKUP_ATTRIBUTE_KEYS)[number];

/** The X-Amz-Target prefixes the endpoint answers to (see the header comment). */
const TARGET_PREFIXES = ['com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101', 'CloudTrail_20131101'];
const SIGNING_NAME = 'cloudtrail';
const RETENTION_MS = 90 * 24 * 60 * 60 * 1000;
const MAX_ATTRIBUTE_VALUE_LENGTH = 2000;
/** Event sources CloudTrail records only in us-east-1. */
const US_EAST_1_ONLY_SOURCES = new Set(['iam.amazonaws.com', 'cloudfront.amazonaws.com']);
/** Services whose API is reached on one global host. */
const GLOBAL_HOST_SOURCES = new Set(['iam.amazonaws.com', 'cloudfront.amazonaws.com', 'organizations.amazonaws.com']);

export interface FakeCloudTrailOptions {
  /** LookupEvents requests per second per Region (default 2, as documented); burst equals the rate. */
  requestsPerSecond?: number;
  /** How long after its eventTime an event becomes visible to LookupEvents (default 0). */
  visibleAfterMs?: number;
  /** HTTP status of ThrottlingException (default 400, the Common Errors page; the model says 429). */
  throttleStatus?: 400 | 429;
  /**
   * Refuse fixtures AWS could not produce: a record that disagrees with the fields beside it,
   * an IAM/CloudFront event outside us-east-1 (default true).
   */
  strictFixtures?: boolean;
  /** Seed of the PRNG used for random fault injection (default 1). */
  seed?: number;
  /** Clock in epoch milliseconds (default Date.now); drives visibility, retention and throttling. */
  now?: () => number;
}

export interface FaultPlan {
  /** Probability a call gets ThrottlingException. */
  throttleRate?: number;
  /** Probability a call gets InternalFailure (HTTP 500). */
  serverErrorRate?: number;
  /** Added latency per call. */
  latencyMs?: number;
  /** Limit faults to these Regions (default all). */
  regions?: string[];
  /**
   * Every call is refused as a caller without `cloudtrail:LookupEvents` is (AccessDeniedException,
   * HTTP 400, the Common Errors page; the message text is the fake's own).
   */
  accessDenied?: boolean;
}

export interface FakeResource {
  ResourceType?: string;
  ResourceName?: string;
}

export interface FakeEventInput {
  region: string;
  /** When the call happened; CloudTrail records whole seconds, so milliseconds are dropped. */
  eventTime: Date | string | number;
  eventName: string;
  eventSource: string;
  /** Default: the record's userIdentity, as CloudTrail derives it (session name, IAM user name, "root"). */
  username?: string;
  /** Default: the record's userIdentity.accessKeyId. */
  accessKeyId?: string;
  readOnly: boolean;
  /** Put into the record as `errorCode` (LookupEvents has no field of its own for it). */
  errorCode?: string;
  /** The lookup-side resources (`Resources` in the response, matched by ResourceType/ResourceName). */
  resources?: FakeResource[];
  /** The full CloudTrail record; missing top-level fields are filled from the fields above. */
  cloudTrailEvent: Json;
  /** Default `Management`; `Insight` events are returned only with EventCategory `insight`. */
  eventCategory?: 'Management' | 'Insight';
  /** Overrides the fake's visibleAfterMs for this event (a straggler). */
  visibleAfterMs?: number;
}

/** An event as stored: what LookupEvents can return. */
export interface FakeTrailEvent {
  region: string;
  seq: number;
  /** Epoch seconds (whole). */
  time: number;
  eventId: string;
  eventName: string;
  eventSource: string;
  username?: string;
  accessKeyId?: string;
  readOnly: boolean;
  resources: FakeResource[];
  record: Json;
  category: 'Management' | 'Insight';
  visibleAtMs: number;
}

export interface RecordedCall {
  /** The Region of the SigV4 scope ('' when the request was not signed). */
  region: string;
  /** The X-Amz-Target header as sent. */
  target: string;
  operation: string;
  input: Json;
  at: number;
  status: number;
  errorType?: string;
  /** Events returned (successful calls only). */
  returned?: number;
}

/** An error answered on the wire. */
class AwsError extends Error {
  constructor(
    readonly type: string,
    readonly status: number,
    message: string,
    /** Front-end errors (throttling, auth) use `message`; CloudTrail's modelled errors use `Message`. */
    readonly memberName: 'message' | 'Message' = 'Message',
  ) {
    super(message);
  }
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** ISO-8601 with whole seconds, as CloudTrail writes eventTime ("2016-01-26T21:42:12Z"). */
const isoSeconds = (sec: number): string => new Date(sec * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

function toEpochSeconds(t: Date | string | number): number {
  const ms = t instanceof Date ? t.getTime() : typeof t === 'number' ? t : Date.parse(t);
  if (!Number.isFinite(ms)) throw new Error(`FakeCloudTrail: eventTime ${String(t)} is not a time`);
  return Math.floor(ms / 1000);
}

/** Length as CloudTrail counts it for AttributeValue: `_`, backtick, `,` and newline count twice. */
const attributeValueLength = (v: string): number => [...v].reduce((n, c) => n + ('_`,\n'.includes(c) ? 2 : 1), 0);

/** The Username CloudTrail shows for a record's userIdentity, where it can be derived. */
export function usernameOf(record: Json): string | undefined {
  const id = record.userIdentity;
  if (!isObject(id)) return undefined;
  switch (id.type) {
    case 'AssumedRole':
    case 'FederatedUser': {
      // The session name: the last segment of arn:aws:sts::<acct>:assumed-role/<role>/<session>.
      const arn = typeof id.arn === 'string' ? id.arn : '';
      const slash = arn.lastIndexOf('/');
      return slash >= 0 ? arn.slice(slash + 1) : undefined;
    }
    case 'IAMUser':
      return typeof id.userName === 'string' ? id.userName : undefined;
    case 'Root':
      return 'root';
    default:
      return typeof id.userName === 'string' ? id.userName : undefined;
  }
}

export interface IdentityCenterSessionEventInput {
  /** The account the session is in (the management account), 12 digits. */
  accountId: string;
  /** Permission set name, as it appears in the role name AWSReservedSSO_<name>_<suffix>. */
  permissionSetName: string;
  /** The Identity Center user name: the role session name, hence LookupEvents' Username. */
  userName: string;
  eventTime: Date | string | number;
  eventName: string;
  eventSource: string;
  awsRegion: string;
  readOnly: boolean;
  /** 16 hex characters (default: derived from account and permission set, stable across calls). */
  roleSuffix?: string;
  /** The role's unique id, AROA + 17 (default: derived like roleSuffix). */
  roleId?: string;
  /** The temporary access key, ASIA + 16 (default: derived from user and role). */
  accessKeyId?: string;
  /** When the session's credentials were issued (default: 5 minutes before eventTime). */
  sessionCreatedAt?: Date | string | number;
  /** Newer Identity Center instances put their Region in the role path (/aws-reserved/sso.amazonaws.com/<region>/). */
  identityCenterRegion?: string;
  /** The call was made from the console (adds sessionCredentialFromConsole). */
  fromConsole?: boolean;
  errorCode?: string;
  errorMessage?: string;
  requestParameters?: Json | null;
  responseElements?: Json | null;
  /** Record-style resources: [{ accountId, type, ARN }]. */
  resources?: Json[];
  sourceIPAddress?: string;
  userAgent?: string;
  eventId?: string;
  requestId?: string;
}

const hexOf = (text: string, n: number): string => createHash('sha256').update(text).digest('hex').slice(0, n);
/** Characters of AWS unique ids (AROA…, ASIA…): base32, A-Z and 2-7. */
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const base32Of = (text: string, n: number): string =>
  [...createHash('sha256').update(text).digest()]
    .slice(0, n)
    .map((b) => BASE32[b % 32])
    .join('');

/**
 * A CloudTrail record of a call made in a session of an IAM Identity Center permission set, as such
 * sessions appear: userIdentity type AssumedRole, the assumed-role ARN
 * `arn:aws:sts::<account>:assumed-role/AWSReservedSSO_<permission set>_<16 hex>/<user name>`, the
 * session issuer the role under the reserved path `/aws-reserved/sso.amazonaws.com/`, credentials
 * `ASIA…`, eventVersion 1.10 with tlsDetails.
 */
export function identityCenterSessionEvent(input: IdentityCenterSessionEventInput): Json {
  const time = toEpochSeconds(input.eventTime);
  const suffix = input.roleSuffix ?? hexOf(`${input.accountId}/${input.permissionSetName}`, 16);
  const roleName = `AWSReservedSSO_${input.permissionSetName}_${suffix}`;
  const roleId = input.roleId ?? `AROA${base32Of(`role/${input.accountId}/${roleName}`, 17)}`;
  const path = `aws-reserved/sso.amazonaws.com/${input.identityCenterRegion ? `${input.identityCenterRegion}/` : ''}`;
  const created =
    input.sessionCreatedAt === undefined ? time - 300 : toEpochSeconds(input.sessionCreatedAt);
  const failed = input.errorCode !== undefined;
  return {
    eventVersion: '1.10',
    userIdentity: {
      type: 'AssumedRole',
      principalId: `${roleId}:${input.userName}`,
      arn: `arn:aws:sts::${input.accountId}:assumed-role/${roleName}/${input.userName}`,
      accountId: input.accountId,
      accessKeyId: input.accessKeyId ?? `ASIA${base32Of(`key/${roleName}/${input.userName}/${created}`, 16)}`,
      sessionContext: {
        sessionIssuer: {
          type: 'Role',
          principalId: roleId,
          arn: `arn:aws:iam::${input.accountId}:role/${path}${roleName}`,
          accountId: input.accountId,
          userName: roleName,
        },
        attributes: { creationDate: isoSeconds(created), mfaAuthenticated: 'false' },
      },
    },
    eventTime: isoSeconds(time),
    eventSource: input.eventSource,
    eventName: input.eventName,
    awsRegion: input.awsRegion,
    sourceIPAddress: input.sourceIPAddress ?? '203.0.113.10',
    userAgent: input.userAgent ?? 'aws-cli/2.17.0 md/awscrt#0.20.11 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.11.9',
    ...(failed ? { errorCode: input.errorCode, errorMessage: input.errorMessage ?? 'Access denied' } : {}),
    requestParameters: input.requestParameters ?? null,
    responseElements: failed ? null : (input.responseElements ?? null),
    requestID: input.requestId ?? randomUUID(),
    eventID: input.eventId ?? randomUUID(),
    readOnly: input.readOnly,
    ...(input.resources ? { resources: input.resources } : {}),
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: input.accountId,
    eventCategory: 'Management',
    tlsDetails: {
      tlsVersion: 'TLSv1.3',
      cipherSuite: 'TLS_AES_128_GCM_SHA256',
      // Global services are called on their global host (iam.amazonaws.com), the others per Region.
      clientProvidedHostHeader: GLOBAL_HOST_SOURCES.has(input.eventSource)
        ? input.eventSource
        : input.eventSource.replace('.amazonaws.com', `.${input.awsRegion}.amazonaws.com`),
    },
    ...(input.fromConsole ? { sessionCredentialFromConsole: 'true' } : {}),
  };
}

/** What a NextToken carries: where the previous page stopped, and what it was a page of. */
interface Cursor {
  v: 1;
  region: string;
  query: string;
  time: number;
  seq: number;
}

interface Query {
  attribute?: { key: LookupAttributeKey; value: string };
  start?: number;
  end?: number;
  insight: boolean;
  maxResults: number;
  cursor?: Cursor;
}

export class FakeCloudTrail {
  readonly calls: RecordedCall[] = [];

  private readonly rate: number;
  private readonly visibleAfterMs: number;
  private readonly throttleStatus: 400 | 429;
  private readonly strict: boolean;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly events = new Map<string, FakeTrailEvent[]>();
  private seq = 0;
  private faults: FaultPlan | null = null;

  private constructor(
    opts: FakeCloudTrailOptions,
    private readonly server: Server,
    readonly url: string,
  ) {
    this.rate = opts.requestsPerSecond ?? 2;
    this.visibleAfterMs = opts.visibleAfterMs ?? 0;
    this.throttleStatus = opts.throttleStatus ?? 400;
    this.strict = opts.strictFixtures ?? true;
    this.now = opts.now ?? Date.now;
    this.random = mulberry32(opts.seed ?? 1);
  }

  /** Listens on 127.0.0.1 on a random port. */
  static async start(opts: FakeCloudTrailOptions = {}): Promise<FakeCloudTrail> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const fake = new FakeCloudTrail(opts, server, `http://127.0.0.1:${port}`);
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

  callsTo(operation = 'LookupEvents', region?: string): RecordedCall[] {
    return this.calls.filter((c) => c.operation === operation && (region === undefined || c.region === region));
  }

  /** Seeds one event; returns it as stored (its EventId, whole-second time, derived Username). */
  addEvent(input: FakeEventInput): FakeTrailEvent {
    const time = toEpochSeconds(input.eventTime);
    const record: Json = { ...input.cloudTrailEvent };
    const expected: Json = {
      eventTime: isoSeconds(time),
      eventName: input.eventName,
      eventSource: input.eventSource,
      awsRegion: input.region,
      readOnly: input.readOnly,
      ...(input.errorCode !== undefined ? { errorCode: input.errorCode } : {}),
    };
    for (const [field, value] of Object.entries(expected)) {
      if (record[field] === undefined) {
        record[field] = value;
      } else if (this.strict && record[field] !== value) {
        throw new Error(
          `FakeCloudTrail: the record's ${field} is ${JSON.stringify(record[field])} but the event says ${JSON.stringify(value)}; ` +
            `AWS returns one event, so they must agree (or pass strictFixtures: false)`,
        );
      }
    }
    if (this.strict && US_EAST_1_ONLY_SOURCES.has(input.eventSource) && input.region !== 'us-east-1') {
      throw new Error(
        `FakeCloudTrail: ${input.eventSource} events are recorded in us-east-1 only, not ${input.region} ` +
          `(or pass strictFixtures: false)`,
      );
    }
    if (typeof record.eventID !== 'string') record.eventID = randomUUID();
    const identity = isObject(record.userIdentity) ? record.userIdentity : {};
    const username = input.username ?? usernameOf(record);
    const accessKeyId =
      input.accessKeyId ?? (typeof identity.accessKeyId === 'string' && identity.accessKeyId !== '' ? identity.accessKeyId : undefined);
    const event: FakeTrailEvent = {
      region: input.region,
      seq: this.seq++,
      time,
      eventId: record.eventID as string,
      eventName: input.eventName,
      eventSource: input.eventSource,
      ...(username !== undefined ? { username } : {}),
      ...(accessKeyId !== undefined ? { accessKeyId } : {}),
      readOnly: input.readOnly,
      resources: (input.resources ?? []).map((r) => ({ ...r })),
      record,
      category: input.eventCategory ?? 'Management',
      visibleAtMs: time * 1000 + (input.visibleAfterMs ?? this.visibleAfterMs),
    };
    let list = this.events.get(input.region);
    if (!list) this.events.set(input.region, (list = []));
    list.push(event);
    return event;
  }

  /** Every seeded event of a Region, visible or not, newest first. */
  eventsIn(region: string): FakeTrailEvent[] {
    return [...(this.events.get(region) ?? [])].sort(newestFirst);
  }

  setFaults(plan: FaultPlan | null): void {
    this.faults = plan ? { ...plan } : null;
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
    const target = (Array.isArray(targetHeader) ? targetHeader[0] : targetHeader) ?? '';
    const dot = target.lastIndexOf('.');
    const prefix = dot > 0 ? target.slice(0, dot) : '';
    const operation = dot > 0 ? target.slice(dot + 1) : target;

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

    let region = '';
    let status = 200;
    let body: Json;
    let errorType: string | undefined;
    try {
      region = this.regionOf(req);
      body = await this.process(req, region, prefix, operation, input, parseError);
    } catch (err) {
      if (!(err instanceof AwsError)) throw err;
      status = err.status;
      errorType = err.type;
      body = { __type: err.type, [err.memberName]: err.message };
    }

    this.calls.push({
      region,
      target,
      operation,
      input,
      at,
      status,
      ...(errorType ? { errorType } : {}),
      ...(Array.isArray(body.Events) ? { returned: body.Events.length } : {}),
    });
    const payload = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'content-length': Buffer.byteLength(payload),
      'x-amzn-requestid': requestId,
    });
    res.end(payload);
  }

  /** The request pipeline, in the order the real front end applies it. */
  private async process(
    req: IncomingMessage,
    region: string,
    prefix: string,
    operation: string,
    input: Json,
    parseError: string | undefined,
  ): Promise<Json> {
    if (req.method !== 'POST' || !TARGET_PREFIXES.includes(prefix) || operation !== 'LookupEvents') {
      throw new AwsError(
        'UnknownOperationException',
        400,
        TARGET_PREFIXES.includes(prefix) ? `FakeCloudTrail does not implement ${operation}` : 'Unknown operation',
        'message',
      );
    }

    // Injected faults come first and never touch state (nor the rate bucket).
    const plan = this.faults;
    if (plan && (!plan.regions || plan.regions.includes(region))) {
      if (plan.latencyMs && plan.latencyMs > 0) await delay(plan.latencyMs);
      if (plan.accessDenied) {
        throw new AwsError('AccessDeniedException', 400, 'User is not authorized to perform: cloudtrail:LookupEvents', 'message');
      }
      const r = this.random();
      const throttleRate = plan.throttleRate ?? 0;
      if (r < throttleRate) throw this.throttling();
      if (r < throttleRate + (plan.serverErrorRate ?? 0)) {
        throw new AwsError(
          'InternalFailure',
          500,
          'The request processing has failed because of an unknown error, exception or failure.',
          'message',
        );
      }
    }

    if (!this.bucket(region).take()) throw this.throttling();
    if (parseError) throw new AwsError('SerializationException', 400, parseError, 'message');
    return this.lookupEvents(region, input);
  }

  private throttling(): AwsError {
    return new AwsError('ThrottlingException', this.throttleStatus, 'Rate exceeded', 'message');
  }

  private bucket(region: string): TokenBucket {
    let b = this.buckets.get(region);
    if (!b) this.buckets.set(region, (b = new TokenBucket(this.rate, this.now)));
    return b;
  }

  /** Presence and shape of SigV4 only; the Region comes from the credential scope. */
  private regionOf(req: IncomingMessage): string {
    const auth = req.headers.authorization;
    if (!auth) {
      throw new AwsError('MissingAuthenticationTokenException', 403, 'Missing Authentication Token', 'message');
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
        'message',
      );
    }
    if (!req.headers['x-amz-date'] && !req.headers.date) {
      throw new AwsError(
        'IncompleteSignatureException',
        400,
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        'message',
      );
    }
    if (m[4] !== SIGNING_NAME) {
      throw new AwsError(
        'InvalidSignatureException',
        403,
        `Credential should be scoped to correct service: '${SIGNING_NAME}'. `,
        'message',
      );
    }
    return m[3] ?? '';
  }

  // ------------------------------------------------------------------ LookupEvents

  private lookupEvents(region: string, input: Json): Json {
    const query = this.parseQuery(region, input);
    const nowMs = this.now();
    const oldest = Math.ceil((nowMs - RETENTION_MS) / 1000);
    const matches = (this.events.get(region) ?? [])
      .filter(
        (e) =>
          e.visibleAtMs <= nowMs &&
          e.time >= oldest &&
          (query.start === undefined || e.time >= query.start) &&
          (query.end === undefined || e.time <= query.end) &&
          (query.insight ? e.category === 'Insight' : e.category === 'Management') &&
          (!query.attribute || this.matchesAttribute(e, query.attribute.key, query.attribute.value)),
      )
      .sort(newestFirst);
    const cursor = query.cursor;
    const remaining = cursor
      ? matches.filter((e) => e.time < cursor.time || (e.time === cursor.time && e.seq < cursor.seq))
      : matches;
    const page = remaining.slice(0, query.maxResults);
    const last = page.at(-1);
    const more = last !== undefined && remaining.length > page.length;
    return {
      Events: page.map((e) => this.eventJson(e)),
      ...(more ? { NextToken: this.encodeCursor({ v: 1, region, query: fingerprint(input), time: last.time, seq: last.seq }) } : {}),
    };
  }

  private matchesAttribute(e: FakeTrailEvent, key: LookupAttributeKey, value: string): boolean {
    switch (key) {
      case 'EventId':
        return e.eventId === value;
      case 'EventName':
        return e.eventName === value;
      case 'EventSource':
        return e.eventSource === value;
      case 'ReadOnly':
        return String(e.readOnly) === value;
      case 'Username':
        return e.username === value;
      case 'AccessKeyId':
        return e.accessKeyId === value;
      case 'ResourceType':
        return e.resources.some((r) => r.ResourceType === value);
      case 'ResourceName':
        return e.resources.some((r) => r.ResourceName === value);
    }
  }

  private eventJson(e: FakeTrailEvent): Json {
    return {
      EventId: e.eventId,
      EventName: e.eventName,
      ReadOnly: String(e.readOnly),
      ...(e.accessKeyId !== undefined ? { AccessKeyId: e.accessKeyId } : {}),
      EventTime: e.time,
      EventSource: e.eventSource,
      ...(e.username !== undefined ? { Username: e.username } : {}),
      Resources: e.resources.map((r) => ({ ...r })),
      CloudTrailEvent: JSON.stringify(e.record),
    };
  }

  /** Validation, as the operation's error list describes it; the first problem found is answered. */
  private parseQuery(region: string, input: Json): Query {
    const query: Query = { insight: false, maxResults: 50 };

    const attrs = input.LookupAttributes;
    if (attrs !== undefined && attrs !== null) {
      if (!Array.isArray(attrs)) throw serialization('LookupAttributes', 'list');
      if (attrs.length > 1) {
        throw new AwsError(
          'InvalidLookupAttributesException',
          400,
          `Only one lookup attribute can be specified; ${attrs.length} were given.`,
        );
      }
      const attr: unknown = attrs[0];
      if (attr !== undefined) {
        if (!isObject(attr)) throw serialization('LookupAttribute', 'structure');
        const { AttributeKey: key, AttributeValue: value } = attr;
        if (typeof key !== 'string' || !(LOOKUP_ATTRIBUTE_KEYS as readonly string[]).includes(key)) {
          throw new AwsError(
            'InvalidLookupAttributesException',
            400,
            `Invalid AttributeKey ${JSON.stringify(key ?? null)}; valid keys are ${LOOKUP_ATTRIBUTE_KEYS.join(', ')} (case sensitive).`,
          );
        }
        if (typeof value !== 'string' || value === '') {
          throw new AwsError('InvalidLookupAttributesException', 400, `AttributeValue for ${key} must not be empty.`);
        }
        if (attributeValueLength(value) > MAX_ATTRIBUTE_VALUE_LENGTH) {
          throw new AwsError(
            'InvalidLookupAttributesException',
            400,
            `AttributeValue for ${key} exceeds ${MAX_ATTRIBUTE_VALUE_LENGTH} characters.`,
          );
        }
        query.attribute = { key: key as LookupAttributeKey, value };
      }
    }

    for (const field of ['StartTime', 'EndTime'] as const) {
      const v = input[field];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'number' || !Number.isFinite(v)) throw serialization(field, 'timestamp');
      if (field === 'StartTime') query.start = v;
      else query.end = v;
    }
    if (query.start !== undefined && query.end !== undefined && query.start > query.end) {
      throw new AwsError('InvalidTimeRangeException', 400, 'Start time must not be after end time.');
    }

    const max = input.MaxResults;
    if (max !== undefined && max !== null) {
      if (typeof max !== 'number' || !Number.isInteger(max)) throw serialization('MaxResults', 'integer');
      if (max < 1 || max > 50) {
        throw new AwsError('InvalidMaxResultsException', 400, `MaxResults must be between 1 and 50; got ${max}.`);
      }
      query.maxResults = max;
    }

    const category = input.EventCategory;
    if (category !== undefined && category !== null) {
      if (category !== 'insight') {
        throw new AwsError(
          'InvalidEventCategoryException',
          400,
          `Invalid EventCategory ${JSON.stringify(category)}; the only valid value is insight.`,
        );
      }
      query.insight = true;
    }

    const token = input.NextToken;
    if (token !== undefined && token !== null) {
      const cursor = typeof token === 'string' ? this.decodeCursor(token) : undefined;
      if (!cursor || cursor.region !== region || cursor.query !== fingerprint(input)) {
        throw new AwsError(
          'InvalidNextTokenException',
          400,
          'Invalid NextToken: it is malformed, or was issued for a request with different parameters.',
        );
      }
      query.cursor = cursor;
    }
    return query;
  }

  private encodeCursor(c: Cursor): string {
    return Buffer.from(JSON.stringify(c)).toString('base64');
  }

  private decodeCursor(token: string): Cursor | undefined {
    try {
      const v: unknown = JSON.parse(Buffer.from(token, 'base64').toString('utf8'));
      if (
        isObject(v) &&
        v.v === 1 &&
        typeof v.region === 'string' &&
        typeof v.query === 'string' &&
        Number.isInteger(v.time) &&
        Number.isInteger(v.seq)
      ) {
        return v as unknown as Cursor;
      }
    } catch {
      // fall through: not one of ours
    }
    return undefined;
  }
}

const newestFirst = (a: FakeTrailEvent, b: FakeTrailEvent): number => b.time - a.time || b.seq - a.seq;

/** The parameters a NextToken is bound to ("the same parameters as the previous call"); not MaxResults. */
function fingerprint(input: Json): string {
  const { LookupAttributes = null, StartTime = null, EndTime = null, EventCategory = null } = input;
  return createHash('sha256').update(JSON.stringify([LookupAttributes, StartTime, EndTime, EventCategory])).digest('hex');
}

function serialization(member: string, type: string): AwsError {
  return new AwsError('SerializationException', 400, `${member} must be a ${type}.`, 'message');
}
