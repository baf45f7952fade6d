/**
 * The bot's CloudTrail adapter against the fake over the real protocol: every page, the records'
 * fields the report needs, paced under 2 calls a second per Region also when the SDK retries
 * throttling, and errors that are not throttling surfaced.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CloudTrail } from '../../src/aws/cloudtrail.ts';
import { FakeCloudTrail, identityCenterSessionEvent } from '../support/fake-cloudtrail.ts';

const ACCOUNT = '111111111111';
/** Within the 90 days event history keeps. */
const T0 = Math.floor(Date.now() / 1000) * 1000 - 60 * 60_000;
const saved = { ...process.env };
let fake: FakeCloudTrail;
let trail: CloudTrail;

beforeEach(async () => {
  fake = await FakeCloudTrail.start();
  Object.assign(process.env, { AWS_ENDPOINT_URL_CLOUDTRAIL: fake.url, AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'test-secret' });
  trail = new CloudTrail({ assumeRoleArn: null, callsPerSecond: 2 });
});

afterEach(async () => {
  trail.destroy();
  await fake.close();
  for (const k of ['AWS_ENDPOINT_URL_CLOUDTRAIL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] as const) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

function seed(n: number, region = 'eu-west-1'): void {
  for (let i = 0; i < n; i++) {
    const at = T0 + i * 1000;
    const failed = i === 0;
    fake.addEvent({
      region,
      eventTime: at,
      eventName: 'RunInstances',
      eventSource: 'ec2.amazonaws.com',
      readOnly: false,
      ...(failed ? { errorCode: 'Client.UnauthorizedOperation' } : {}),
      cloudTrailEvent: identityCenterSessionEvent({
        accountId: ACCOUNT,
        permissionSetName: 'OrgAdmin',
        userName: 'rita',
        eventTime: at,
        eventName: 'RunInstances',
        eventSource: 'ec2.amazonaws.com',
        awsRegion: region,
        readOnly: false,
        ...(failed ? { errorCode: 'Client.UnauthorizedOperation' } : {}),
      }),
    });
  }
}

const iso = (ms: number) => new Date(ms).toISOString();

describe('CloudTrail adapter', () => {
  it('reads every page, with the record fields the report needs', async () => {
    seed(120);
    const events = await trail.lookupByUsername('eu-west-1', 'rita', iso(T0), iso(T0 + 10 * 60_000));
    expect(events).toHaveLength(120);
    expect(fake.callsTo('LookupEvents', 'eu-west-1')).toHaveLength(3);
    const first = events.find((e) => e.time === iso(T0));
    expect(first).toMatchObject({ name: 'RunInstances', source: 'ec2.amazonaws.com', region: 'eu-west-1', readOnly: false, errorCode: 'Client.UnauthorizedOperation' });
    expect(first?.principalArn).toMatch(new RegExp(`^arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_OrgAdmin_[0-9a-f]{16}/rita$`));
    expect(await trail.lookupByUsername('eu-west-1', 'sam', iso(T0), iso(T0 + 10 * 60_000))).toEqual([]);
  });

  it('paces every attempt, retries included, under 2 calls a second per Region', async () => {
    seed(120);
    fake.setFaults({ throttleRate: 0.5 });
    // The production rate, 1 a second per replica: two replicas stay under the quota.
    const paced = new CloudTrail({ assumeRoleArn: null });
    try {
      const events = await paced.lookupByUsername('eu-west-1', 'rita', iso(T0), iso(T0 + 10 * 60_000));
      expect(events).toHaveLength(120);
    } finally {
      paced.destroy();
    }
    const calls = fake.callsTo('LookupEvents', 'eu-west-1');
    expect(calls.some((c) => c.errorType === 'ThrottlingException')).toBe(true);
    const at = calls.map((c) => c.at);
    // No two attempts closer than about a second (less some delivery jitter); unpaced SDK retries come within milliseconds.
    for (let i = 1; i < at.length; i++) expect((at[i] ?? 0) - (at[i - 1] ?? 0)).toBeGreaterThanOrEqual(700);
  }, 30_000);

  it('surfaces access denied at once, without retrying it', async () => {
    fake.setFaults({ accessDenied: true });
    await expect(trail.lookupByUsername('us-east-1', 'rita', iso(T0), iso(T0 + 60_000))).rejects.toMatchObject({ name: 'AccessDeniedException' });
    expect(fake.callsTo('LookupEvents')).toHaveLength(1);
  });

  it('gives up when the pass runs out of time, so a slow CloudTrail never holds the sweeper', async () => {
    seed(3);
    fake.setFaults({ latencyMs: 2000 });
    const started = Date.now();
    await expect(trail.lookupByUsername('eu-west-1', 'rita', iso(T0), iso(T0 + 60_000), AbortSignal.timeout(300))).rejects.toThrow(/abort/i);
    expect(Date.now() - started).toBeLessThan(1500);
  });
});
