/**
 * Drives the fake CloudTrail with the real `@aws-sdk/client-cloudtrail`, so what the bot will rely on
 * when it reads a session's activity (paging newest first, one lookup attribute, inclusive time
 * bounds, late delivery, 2 requests per second per Region, typed errors) is proven over the
 * actual protocol.
 */
import {
  CloudTrailClient,
  InvalidEventCategoryException,
  InvalidLookupAttributesException,
  InvalidMaxResultsException,
  InvalidNextTokenException,
  InvalidTimeRangeException,
  LookupEventsCommand,
  ThrottlingException,
  paginateLookupEvents,
  type Event,
  type LookupAttributeKey,
  type LookupEventsCommandInput,
} from '@aws-sdk/client-cloudtrail';
import { afterEach, describe, expect, it } from 'vitest';
import {
  FakeCloudTrail,
  identityCenterSessionEvent,
  type FakeCloudTrailOptions,
  type FakeEventInput,
} from '../support/fake-cloudtrail.ts';

const ACCOUNT = '111111111111';
const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
/** 2026-03-01T12:00:00Z: the grant window in most tests starts here. */
const T0 = Date.UTC(2026, 2, 1, 12, 0, 0);
const MINUTE = 60_000;
/** When each user's session began: one session, so one temporary access key, per user. */
const SESSION_START = T0 - 2 * 60 * MINUTE;

const fakes: FakeCloudTrail[] = [];

async function startFake(overrides: FakeCloudTrailOptions = {}): Promise<FakeCloudTrail> {
  const fake = await FakeCloudTrail.start(overrides);
  fakes.push(fake);
  return fake;
}

afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

const client = (fake: FakeCloudTrail, region = 'us-east-1', maxAttempts?: number) =>
  new CloudTrailClient({
    endpoint: fake.url,
    region,
    credentials: { accessKeyId: 'AKIAFAKEFAKEFAKEFAKE', secretAccessKey: 'fake-secret' },
    ...(maxAttempts ? { maxAttempts } : {}),
  });

/** A call in a session of `user` with the OrgAdmin permission set, seeded as CloudTrail keeps it. */
function sessionEvent(
  at: number,
  opts: {
    user?: string;
    region?: string;
    eventName?: string;
    eventSource?: string;
    readOnly?: boolean;
    errorCode?: string;
    resources?: FakeEventInput['resources'];
    visibleAfterMs?: number;
  } = {},
): FakeEventInput {
  const region = opts.region ?? 'us-east-1';
  const eventName = opts.eventName ?? 'ListAccounts';
  const eventSource = opts.eventSource ?? 'organizations.amazonaws.com';
  const readOnly = opts.readOnly ?? true;
  return {
    region,
    eventTime: at,
    eventName,
    eventSource,
    readOnly,
    ...(opts.errorCode ? { errorCode: opts.errorCode } : {}),
    ...(opts.resources ? { resources: opts.resources } : {}),
    ...(opts.visibleAfterMs !== undefined ? { visibleAfterMs: opts.visibleAfterMs } : {}),
    cloudTrailEvent: identityCenterSessionEvent({
      accountId: ACCOUNT,
      permissionSetName: 'OrgAdmin',
      userName: opts.user ?? ALICE,
      eventTime: at,
      eventName,
      eventSource,
      awsRegion: region,
      readOnly,
      sessionCreatedAt: SESSION_START,
      ...(opts.errorCode ? { errorCode: opts.errorCode } : {}),
    }),
  };
}

/** Catches the rejection so its typed shape can be asserted. */
async function failure(
  p: Promise<unknown>,
): Promise<Error & { $metadata: { httpStatusCode?: number; attempts?: number } }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { $metadata: { httpStatusCode?: number; attempts?: number } };
  }
  throw new Error('expected the call to fail');
}

const names = (events: Event[] | undefined) => (events ?? []).map((e) => e.EventName);
const seconds = (ms: number) => new Date(ms);

describe('FakeCloudTrail LookupEvents with the real SDK client', () => {
  it('answers over the wire as CloudTrail does: typed times, string ReadOnly, the record as JSON', async () => {
    const clock = T0 + 10 * MINUTE;
    const fake = await startFake({ now: () => clock });
    const seeded = fake.addEvent(
      sessionEvent(T0 + 1234, {
        eventName: 'CreateUser',
        eventSource: 'iam.amazonaws.com',
        readOnly: false,
        resources: [{ ResourceType: 'AWS::IAM::User', ResourceName: 'mallory' }],
      }),
    );

    const out = await client(fake).send(new LookupEventsCommand({}));
    expect(out.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(out.NextToken).toBeUndefined();
    expect(out.Events).toHaveLength(1);
    const event = out.Events?.[0];
    expect(event).toMatchObject({
      EventId: seeded.eventId,
      EventName: 'CreateUser',
      EventSource: 'iam.amazonaws.com',
      ReadOnly: 'false',
      Username: ALICE,
      Resources: [{ ResourceType: 'AWS::IAM::User', ResourceName: 'mallory' }],
    });
    // CloudTrail keeps whole seconds; the SDK turns epoch seconds into a Date.
    expect(event?.EventTime).toEqual(new Date(Math.floor((T0 + 1234) / 1000) * 1000));
    expect(event?.AccessKeyId).toMatch(/^ASIA[A-Z2-7]{16}$/);

    const record = JSON.parse(event?.CloudTrailEvent ?? '{}');
    expect(record).toMatchObject({
      eventVersion: '1.10',
      eventName: 'CreateUser',
      eventSource: 'iam.amazonaws.com',
      awsRegion: 'us-east-1',
      eventTime: '2026-03-01T12:00:01Z',
      readOnly: false,
      eventType: 'AwsApiCall',
      managementEvent: true,
      recipientAccountId: ACCOUNT,
      eventID: seeded.eventId,
      userIdentity: {
        type: 'AssumedRole',
        accountId: ACCOUNT,
        accessKeyId: event?.AccessKeyId,
        sessionContext: {
          sessionIssuer: { type: 'Role', accountId: ACCOUNT },
          attributes: { mfaAuthenticated: 'false' },
        },
      },
    });
    expect(record.userIdentity.arn).toMatch(
      /^arn:aws:sts::111111111111:assumed-role\/AWSReservedSSO_OrgAdmin_[0-9a-f]{16}\/alice@example\.com$/,
    );
    expect(record.userIdentity.principalId).toMatch(/^AROA[A-Z2-7]{17}:alice@example\.com$/);
    expect(record.userIdentity.sessionContext.sessionIssuer.arn).toMatch(
      /^arn:aws:iam::111111111111:role\/aws-reserved\/sso\.amazonaws\.com\/AWSReservedSSO_OrgAdmin_[0-9a-f]{16}$/,
    );
    expect(record.userIdentity.sessionContext.sessionIssuer.userName).toBe(
      record.userIdentity.arn.split('/')[1],
    );

    // The SDK names the operation by the Smithy service name; the Region comes from the SigV4 scope.
    expect(fake.callsTo('LookupEvents')).toEqual([
      expect.objectContaining({ region: 'us-east-1', target: 'CloudTrail_20131101.LookupEvents', status: 200, returned: 1 }),
    ]);
  });

  it('pages 120 events newest first, 50 at a time, when paced to 2 requests per second', async () => {
    let clock = T0 + 3 * 60 * MINUTE;
    const fake = await startFake({ now: () => clock });
    for (let i = 0; i < 120; i++) fake.addEvent(sessionEvent(T0 + i * 1000, { eventName: `Call${i}` }));
    const lookup = client(fake);

    const pages: Event[][] = [];
    let token: string | undefined;
    do {
      const out = await lookup.send(
        new LookupEventsCommand({
          StartTime: seconds(T0),
          EndTime: seconds(T0 + 2 * 60 * MINUTE),
          MaxResults: 50,
          ...(token ? { NextToken: token } : {}),
        }),
      );
      pages.push(out.Events ?? []);
      token = out.NextToken;
      clock += 500; // the bot's pacing: one request per 500 ms per Region
    } while (token);

    expect(pages.map((p) => p.length)).toEqual([50, 50, 20]);
    const all = pages.flat();
    expect(names(all)).toEqual(Array.from({ length: 120 }, (_, i) => `Call${119 - i}`));
    expect(new Set(all.map((e) => e.EventId)).size).toBe(120);
    const times = all.map((e) => e.EventTime?.getTime() ?? 0);
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(fake.callsTo('LookupEvents').map((c) => c.status)).toEqual([200, 200, 200]);
  });

  it('defaults MaxResults to 50 and works with the SDK paginator when unthrottled', async () => {
    const clock = T0 + 3 * 60 * MINUTE;
    const fake = await startFake({ now: () => clock, requestsPerSecond: Infinity });
    for (let i = 0; i < 120; i++) fake.addEvent(sessionEvent(T0 + i * 1000));
    const lookup = client(fake);

    const first = await lookup.send(new LookupEventsCommand({}));
    expect(first.Events).toHaveLength(50);
    expect(first.NextToken).toEqual(expect.any(String));

    const sizes: number[] = [];
    for await (const page of paginateLookupEvents({ client: lookup, pageSize: 50 }, {})) {
      sizes.push(page.Events?.length ?? 0);
    }
    expect(sizes).toEqual([50, 50, 20]);
  });

  it('filters by Username: the Identity Center session name', async () => {
    let clock = T0 + 60 * MINUTE;
    const fake = await startFake({ now: () => clock });
    for (let i = 0; i < 5; i++) fake.addEvent(sessionEvent(T0 + i * 1000, { user: ALICE, eventName: `Alice${i}` }));
    for (let i = 0; i < 3; i++) fake.addEvent(sessionEvent(T0 + i * 1000 + 500, { user: BOB, eventName: `Bob${i}` }));
    const lookup = client(fake);

    const alice = await lookup.send(
      new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'Username', AttributeValue: ALICE }] }),
    );
    expect(names(alice.Events)).toEqual(['Alice4', 'Alice3', 'Alice2', 'Alice1', 'Alice0']);
    expect(alice.Events?.every((e) => e.Username === ALICE)).toBe(true);

    // Exact and case-sensitive: neither another case nor a prefix matches.
    for (const value of ['Alice@example.com', 'alice']) {
      clock += 500;
      const none = await lookup.send(
        new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'Username', AttributeValue: value }] }),
      );
      expect(none.Events).toEqual([]);
    }
  });

  it('filters by every documented key, exactly', async () => {
    let clock = T0 + 60 * MINUTE;
    const fake = await startFake({ now: () => clock, requestsPerSecond: Infinity });
    const read = fake.addEvent(sessionEvent(T0, { eventName: 'DescribeOrganization' }));
    const write = fake.addEvent(
      sessionEvent(T0 + 1000, {
        eventName: 'CreateUser',
        eventSource: 'iam.amazonaws.com',
        readOnly: false,
        resources: [{ ResourceType: 'AWS::IAM::User', ResourceName: 'mallory' }],
      }),
    );
    const denied = fake.addEvent(
      sessionEvent(T0 + 2000, {
        eventName: 'DeleteTrail',
        eventSource: 'cloudtrail.amazonaws.com',
        readOnly: false,
        errorCode: 'AccessDenied',
        user: BOB,
      }),
    );
    const lookup = client(fake);
    const by = async (key: LookupAttributeKey, value: string) => {
      clock += 500;
      const out = await lookup.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: key, AttributeValue: value }] }));
      return names(out.Events);
    };

    expect(await by('EventId', write.eventId)).toEqual(['CreateUser']);
    expect(await by('EventName', 'DescribeOrganization')).toEqual(['DescribeOrganization']);
    expect(await by('EventSource', 'iam.amazonaws.com')).toEqual(['CreateUser']);
    expect(await by('ReadOnly', 'false')).toEqual(['DeleteTrail', 'CreateUser']);
    expect(await by('ReadOnly', 'true')).toEqual(['DescribeOrganization']);
    expect(await by('ResourceType', 'AWS::IAM::User')).toEqual(['CreateUser']);
    expect(await by('ResourceName', 'mallory')).toEqual(['CreateUser']);
    expect(await by('AccessKeyId', read.accessKeyId ?? '')).toEqual(['CreateUser', 'DescribeOrganization']);
    expect(await by('AccessKeyId', denied.accessKeyId ?? '')).toEqual(['DeleteTrail']);

    // The error is inside the record, where CloudTrail keeps it.
    const out = await lookup.send(
      new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'DeleteTrail' }] }),
    );
    expect(JSON.parse(out.Events?.[0]?.CloudTrailEvent ?? '{}')).toMatchObject({ errorCode: 'AccessDenied', responseElements: null });
  });

  it('treats StartTime and EndTime as inclusive bounds and keeps 90 days', async () => {
    let clock = T0 + 60 * MINUTE;
    const fake = await startFake({ now: () => clock, requestsPerSecond: Infinity });
    const start = T0;
    const end = T0 + 30 * MINUTE;
    fake.addEvent(sessionEvent(start - 1000, { eventName: 'Before' }));
    fake.addEvent(sessionEvent(start, { eventName: 'AtStart' }));
    fake.addEvent(sessionEvent(start + 10 * MINUTE, { eventName: 'Inside' }));
    fake.addEvent(sessionEvent(end, { eventName: 'AtEnd' }));
    fake.addEvent(sessionEvent(end + 1000, { eventName: 'After' }));
    const lookup = client(fake);

    const window = await lookup.send(new LookupEventsCommand({ StartTime: seconds(start), EndTime: seconds(end) }));
    expect(names(window.Events)).toEqual(['AtEnd', 'Inside', 'AtStart']);

    // A one-second window on an event's own second finds it.
    const exact = await lookup.send(new LookupEventsCommand({ StartTime: seconds(start), EndTime: seconds(start) }));
    expect(names(exact.Events)).toEqual(['AtStart']);

    const open = await lookup.send(new LookupEventsCommand({ StartTime: seconds(end) }));
    expect(names(open.Events)).toEqual(['After', 'AtEnd']);

    // Past 90 days the events are gone from event history.
    clock = start + 90 * 24 * 60 * MINUTE + 5 * MINUTE;
    const later = await lookup.send(new LookupEventsCommand({}));
    expect(names(later.Events)).toEqual(['After', 'AtEnd', 'Inside']);
  });

  it('hides an event until it has been delivered, minutes after the call', async () => {
    let clock = T0;
    const fake = await startFake({ now: () => clock, visibleAfterMs: 15 * MINUTE, requestsPerSecond: Infinity });
    fake.addEvent(sessionEvent(T0 - 20 * MINUTE, { eventName: 'Early' }));
    fake.addEvent(sessionEvent(T0 - 5 * MINUTE, { eventName: 'Recent' }));
    fake.addEvent(sessionEvent(T0 - 5 * MINUTE, { eventName: 'Prompt', visibleAfterMs: 0 }));
    const lookup = client(fake);
    const window = { StartTime: seconds(T0 - 60 * MINUTE), EndTime: seconds(T0 + 60 * MINUTE) };

    expect(names((await lookup.send(new LookupEventsCommand(window))).Events)).toEqual(['Prompt', 'Early']);

    clock += 10 * MINUTE - 1000; // one second short of 15 minutes after 'Recent'
    expect(names((await lookup.send(new LookupEventsCommand(window))).Events)).toEqual(['Prompt', 'Early']);

    clock += 1000;
    // Same second: the one recorded later is listed first.
    expect(names((await lookup.send(new LookupEventsCommand(window))).Events)).toEqual(['Prompt', 'Recent', 'Early']);
    expect(fake.eventsIn('us-east-1')).toHaveLength(3);
  });

  it('throttles a hammering caller with ThrottlingException after the SDK retries, per Region', async () => {
    const clock = T0; // frozen: no token comes back while the SDK backs off
    const fake = await startFake({ now: () => clock });
    fake.addEvent(sessionEvent(T0 - MINUTE));
    const lookup = client(fake); // default retry strategy: 3 attempts

    const results = await Promise.allSettled(Array.from({ length: 8 }, () => lookup.send(new LookupEventsCommand({}))));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const throttled = results
      .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      .map((r) => r.reason as ThrottlingException);
    expect(ok).toHaveLength(2); // the burst of 2
    expect(throttled).toHaveLength(6);
    for (const err of throttled) {
      expect(err).toBeInstanceOf(ThrottlingException);
      expect(err.name).toBe('ThrottlingException');
      expect(err.message).toBe('Rate exceeded');
      expect(err.$metadata.httpStatusCode).toBe(400);
      expect(err.$metadata.attempts).toBe(3);
    }
    const calls = fake.callsTo('LookupEvents', 'us-east-1');
    expect(calls).toHaveLength(2 + 6 * 3);
    expect(calls.filter((c) => c.errorType === 'ThrottlingException')).toHaveLength(18);

    // Another Region has its own 2 per second.
    await expect(client(fake, 'eu-west-1').send(new LookupEventsCommand({}))).resolves.toBeDefined();
  });

  it('never throttles a caller paced to 2 requests per second', async () => {
    let clock = T0;
    const fake = await startFake({ now: () => clock });
    const lookup = client(fake, 'us-east-1', 1); // no retries: any throttle would fail the test
    for (let i = 0; i < 12; i++) {
      const out = await lookup.send(new LookupEventsCommand({}));
      expect(out.$metadata.attempts).toBe(1);
      clock += 500;
    }
    // Two back to back are fine too (the burst), the third in the same instant is not.
    await lookup.send(new LookupEventsCommand({}));
    await lookup.send(new LookupEventsCommand({}));
    const third = await failure(lookup.send(new LookupEventsCommand({})));
    expect(third).toBeInstanceOf(ThrottlingException);
    expect(fake.callsTo().filter((c) => c.status === 200)).toHaveLength(14);
  });

  it('can answer throttling with HTTP 429, as the Smithy model has it, and the SDK still retries it', async () => {
    const clock = T0;
    const fake = await startFake({ now: () => clock, throttleStatus: 429 });
    const lookup = client(fake, 'us-east-1', 2);
    await lookup.send(new LookupEventsCommand({}));
    await lookup.send(new LookupEventsCommand({}));
    const err = await failure(lookup.send(new LookupEventsCommand({})));
    expect(err).toBeInstanceOf(ThrottlingException);
    expect(err.$metadata).toMatchObject({ httpStatusCode: 429, attempts: 2 });
  });

  it('injects throttles and server errors that the SDK retries and then surfaces', async () => {
    const fake = await startFake({ requestsPerSecond: Infinity });
    const lookup = client(fake, 'us-east-1', 2);

    fake.setFaults({ throttleRate: 1 });
    const throttled = await failure(lookup.send(new LookupEventsCommand({})));
    expect(throttled).toBeInstanceOf(ThrottlingException);
    expect(throttled.$metadata.attempts).toBe(2);

    fake.setFaults({ serverErrorRate: 1 });
    const broken = await failure(lookup.send(new LookupEventsCommand({})));
    expect(broken.name).toBe('InternalFailure');
    expect(broken.$metadata).toMatchObject({ httpStatusCode: 500, attempts: 2 });

    fake.setFaults({ throttleRate: 1, regions: ['eu-west-1'] });
    await expect(lookup.send(new LookupEventsCommand({}))).resolves.toBeDefined();
    fake.setFaults(null);
    expect(fake.callsTo().map((c) => c.status)).toEqual([400, 400, 500, 500, 200]);
  });

  it('rejects what the API reference rejects, with its typed errors (HTTP 400)', async () => {
    let clock = T0;
    const fake = await startFake({ now: () => clock, requestsPerSecond: Infinity });
    for (let i = 0; i < 3; i++) fake.addEvent(sessionEvent(T0 - MINUTE - i * 1000));
    const lookup = client(fake, 'us-east-1', 1);
    const expectError = async (input: LookupEventsCommandInput, type: new (...args: never[]) => Error) => {
      const err = await failure(lookup.send(new LookupEventsCommand(input)));
      expect(err).toBeInstanceOf(type);
      expect(err.$metadata.httpStatusCode).toBe(400);
      expect(err.message).not.toBe('');
      return err;
    };

    await expectError(
      {
        LookupAttributes: [
          { AttributeKey: 'Username', AttributeValue: ALICE },
          { AttributeKey: 'EventName', AttributeValue: 'ListAccounts' },
        ],
      },
      InvalidLookupAttributesException,
    );
    await expectError(
      { LookupAttributes: [{ AttributeKey: 'UserName' as 'Username', AttributeValue: ALICE }] },
      InvalidLookupAttributesException,
    );
    await expectError({ LookupAttributes: [{ AttributeKey: 'Username', AttributeValue: '' }] }, InvalidLookupAttributesException);
    // 1000 underscores count as 2000 characters and pass; one more does not.
    await lookup.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'Username', AttributeValue: '_'.repeat(1000) }] }));
    await expectError(
      { LookupAttributes: [{ AttributeKey: 'Username', AttributeValue: `${'_'.repeat(1000)}a` }] },
      InvalidLookupAttributesException,
    );
    await expectError({ StartTime: seconds(T0), EndTime: seconds(T0 - 1000) }, InvalidTimeRangeException);
    await expectError({ MaxResults: 0 }, InvalidMaxResultsException);
    await expectError({ MaxResults: 51 }, InvalidMaxResultsException);
    await expectError({ EventCategory: 'management' as 'insight' }, InvalidEventCategoryException);
    await expectError({ NextToken: 'not-a-token' }, InvalidNextTokenException);

    // A token is good only with the parameters it was issued for (MaxResults may change).
    const first = await lookup.send(new LookupEventsCommand({ MaxResults: 1, StartTime: seconds(T0 - 60 * MINUTE) }));
    const token = first.NextToken;
    expect(token).toEqual(expect.any(String));
    await expectError({ MaxResults: 1, NextToken: token }, InvalidNextTokenException);
    await expectError(
      {
        MaxResults: 1,
        NextToken: token,
        StartTime: seconds(T0 - 60 * MINUTE),
        LookupAttributes: [{ AttributeKey: 'Username', AttributeValue: ALICE }],
      },
      InvalidNextTokenException,
    );
    clock += 1000;
    const second = await lookup.send(new LookupEventsCommand({ MaxResults: 5, NextToken: token, StartTime: seconds(T0 - 60 * MINUTE) }));
    expect(second.Events).toHaveLength(2);
    expect(second.NextToken).toBeUndefined();
  });

  it('keeps each Region to itself: events, tokens and rate', async () => {
    const clock = T0 + 60 * MINUTE;
    const fake = await startFake({ now: () => clock, requestsPerSecond: Infinity });
    for (let i = 0; i < 3; i++) fake.addEvent(sessionEvent(T0 + i * 1000, { region: 'us-east-1', eventName: `Virginia${i}` }));
    fake.addEvent(sessionEvent(T0, { region: 'eu-west-1', eventName: 'RunInstances', eventSource: 'ec2.amazonaws.com', readOnly: false }));
    const virginia = client(fake, 'us-east-1');
    const ireland = client(fake, 'eu-west-1');
    const oregon = client(fake, 'us-west-2');

    expect(names((await virginia.send(new LookupEventsCommand({}))).Events)).toEqual(['Virginia2', 'Virginia1', 'Virginia0']);
    const irish = (await ireland.send(new LookupEventsCommand({}))).Events;
    expect(names(irish)).toEqual(['RunInstances']);
    expect(JSON.parse(irish?.[0]?.CloudTrailEvent ?? '{}').awsRegion).toBe('eu-west-1');
    expect((await oregon.send(new LookupEventsCommand({}))).Events).toEqual([]);

    const page = await virginia.send(new LookupEventsCommand({ MaxResults: 1 }));
    const err = await failure(ireland.send(new LookupEventsCommand({ MaxResults: 1, NextToken: page.NextToken })));
    expect(err).toBeInstanceOf(InvalidNextTokenException);
    expect(fake.callsTo().map((c) => c.region)).toEqual(['us-east-1', 'eu-west-1', 'us-west-2', 'us-east-1', 'eu-west-1']);
  });

  it('returns Insights events only for EventCategory insight', async () => {
    const clock = T0 + 60 * MINUTE;
    const fake = await startFake({ now: () => clock, requestsPerSecond: Infinity });
    fake.addEvent(sessionEvent(T0, { eventName: 'ListAccounts' }));
    fake.addEvent({
      region: 'us-east-1',
      eventTime: T0 + 1000,
      eventName: 'CreateAccount',
      eventSource: 'organizations.amazonaws.com',
      readOnly: false,
      eventCategory: 'Insight',
      cloudTrailEvent: { eventVersion: '1.08', eventType: 'AwsCloudTrailInsight', eventCategory: 'Insight', recipientAccountId: ACCOUNT },
    });
    const lookup = client(fake);
    expect(names((await lookup.send(new LookupEventsCommand({}))).Events)).toEqual(['ListAccounts']);
    expect(names((await lookup.send(new LookupEventsCommand({ EventCategory: 'insight' }))).Events)).toEqual(['CreateAccount']);
  });

  it('is reached through AWS_ENDPOINT_URL_CLOUDTRAIL as well as the client endpoint', async () => {
    const fake = await startFake({ requestsPerSecond: Infinity });
    const saved = process.env.AWS_ENDPOINT_URL_CLOUDTRAIL;
    process.env.AWS_ENDPOINT_URL_CLOUDTRAIL = fake.url;
    try {
      const viaEnv = new CloudTrailClient({
        region: 'ap-southeast-2',
        credentials: { accessKeyId: 'AKIAFAKEFAKEFAKEFAKE', secretAccessKey: 'fake-secret' },
      });
      await expect(viaEnv.send(new LookupEventsCommand({}))).resolves.toMatchObject({ Events: [] });
    } finally {
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_CLOUDTRAIL;
      else process.env.AWS_ENDPOINT_URL_CLOUDTRAIL = saved;
    }
    expect(fake.callsTo()).toEqual([expect.objectContaining({ region: 'ap-southeast-2', status: 200 })]);
  });

  it('answers the documented target prefix and refuses unsigned or foreign-scoped requests', async () => {
    const fake = await startFake({ requestsPerSecond: Infinity });
    const post = (headers: Record<string, string>) =>
      fetch(fake.url, { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.1', ...headers }, body: '{}' });
    const signed = (service: string) => ({
      authorization:
        `AWS4-HMAC-SHA256 Credential=AKIAFAKEFAKEFAKEFAKE/20260301/eu-central-1/${service}/aws4_request, ` +
        `SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`,
      'x-amz-date': '20260301T120000Z',
    });

    const documented = await post({
      ...signed('cloudtrail'),
      'x-amz-target': 'com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents',
    });
    expect(documented.status).toBe(200);
    expect(await documented.json()).toEqual({ Events: [] });

    const unsigned = await post({ 'x-amz-target': 'CloudTrail_20131101.LookupEvents' });
    expect(unsigned.status).toBe(403);
    expect(await unsigned.json()).toMatchObject({ __type: 'MissingAuthenticationTokenException' });

    const foreign = await post({ ...signed('sso'), 'x-amz-target': 'CloudTrail_20131101.LookupEvents' });
    expect(foreign.status).toBe(403);
    expect(await foreign.json()).toMatchObject({ __type: 'InvalidSignatureException' });

    const other = await post({ ...signed('cloudtrail'), 'x-amz-target': 'CloudTrail_20131101.DescribeTrails' });
    expect(other.status).toBe(400);
    expect(await other.json()).toMatchObject({ __type: 'UnknownOperationException' });
  });

  it('refuses fixtures AWS could not produce', async () => {
    const fake = await startFake();
    expect(() => fake.addEvent({ ...sessionEvent(T0), eventName: 'SomethingElse' })).toThrow(/eventName/);
    expect(() =>
      fake.addEvent(sessionEvent(T0, { region: 'eu-west-1', eventName: 'CreateUser', eventSource: 'iam.amazonaws.com', readOnly: false })),
    ).toThrow(/us-east-1 only/);
    const lenient = await startFake({ strictFixtures: false });
    expect(() => lenient.addEvent({ ...sessionEvent(T0), eventName: 'SomethingElse' })).not.toThrow();
  });
});
