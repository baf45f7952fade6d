import type * as CloudTrailSdk from '@aws-sdk/client-cloudtrail';
import { ConfiguredRetryStrategy } from '@smithy/core/retry';
import * as z from 'zod';
import type { TrailEvent } from '../domain/activity.ts';
import type { CloudTrailPort } from '../services/ports.ts';
import { managementRoleCredentials } from './identity-center.ts';
import { backoffMs, RateLimiter } from './pacing.ts';

export interface CloudTrailOptions {
  assumeRoleArn: string | null;
  /**
   * LookupEvents calls a second per Region from this replica. AWS allows 2 per account and Region,
   * shared by every replica and tool: the default 1 keeps two replicas under it.
   */
  callsPerSecond?: number;
}

/**
 * A throttle under pacing means another caller shares the account's quota: back off up to 5 s, a
 * few times. A report has time (it waits for CloudTrail's delivery anyway) and retries itself.
 */
export function cloudTrailRetryStrategy(): ConfiguredRetryStrategy {
  return new ConfiguredRetryStrategy(6, (attempt) => backoffMs(attempt, 500, 5_000));
}

/** The part of a CloudTrail record the report reads; the rest is left alone. */
const record = z.object({
  awsRegion: z.string().optional(),
  errorCode: z.string().optional(),
  userIdentity: z.object({ arn: z.string().optional() }).passthrough().optional(),
});

/**
 * CloudTrail's event history (LookupEvents) in the management account, one SDK client per Region.
 * The endpoint is the SDK's own business (AWS_ENDPOINT_URL_CLOUDTRAIL in tests).
 */
export class CloudTrail implements CloudTrailPort {
  private readonly clients = new Map<string, CloudTrailSdk.CloudTrailClient>();
  private readonly pacers = new Map<string, RateLimiter>();

  constructor(private readonly opts: CloudTrailOptions) {}

  async lookupByUsername(region: string, userName: string, start: string, end: string, signal?: AbortSignal): Promise<TrailEvent[]> {
    const { LookupEventsCommand } = await sdk();
    const client = await this.client(region);
    const events: TrailEvent[] = [];
    let token: string | undefined;
    do {
      const out = await client.send(
        new LookupEventsCommand({
          LookupAttributes: [{ AttributeKey: 'Username', AttributeValue: userName }],
          StartTime: new Date(start),
          EndTime: new Date(end),
          MaxResults: 50,
          NextToken: token,
        }),
        signal ? { abortSignal: signal } : {},
      );
      for (const e of out.Events ?? []) {
        const parsed = record.safeParse(safeJson(e.CloudTrailEvent));
        const r = parsed.success ? parsed.data : {};
        events.push({
          eventId: e.EventId ?? '',
          time: (e.EventTime ?? new Date(0)).toISOString(),
          source: e.EventSource ?? '',
          name: e.EventName ?? '',
          region: r.awsRegion ?? region,
          readOnly: e.ReadOnly === 'true',
          errorCode: r.errorCode ?? null,
          principalArn: r.userIdentity?.arn ?? null,
        });
      }
      token = out.NextToken;
    } while (token);
    return events;
  }

  destroy(): void {
    for (const c of this.clients.values()) c.destroy();
  }

  private async client(region: string): Promise<CloudTrailSdk.CloudTrailClient> {
    const { CloudTrailClient } = await sdk();
    let c = this.clients.get(region);
    if (!c) {
      const credentials = managementRoleCredentials(this.opts.assumeRoleArn, 'breakglass-activity');
      c = new CloudTrailClient({ region, retryStrategy: cloudTrailRetryStrategy(), ...(credentials ? { credentials } : {}) });
      // Below the retry middleware (same step, lower priority), so every attempt waits its turn: retries count against the quota too.
      const pace = this.pacer(region);
      c.middlewareStack.add(
        (next) => async (args) => {
          await pace.acquire();
          return next(args);
        },
        { step: 'finalizeRequest', priority: 'low', name: 'breakglassLookupPacing' },
      );
      this.clients.set(region, c);
    }
    return c;
  }

  private pacer(region: string): RateLimiter {
    let p = this.pacers.get(region);
    if (!p) this.pacers.set(region, (p = new RateLimiter(this.opts.callsPerSecond ?? 1, 1)));
    return p;
  }
}

/** Loaded on the first report: only a policy with activity reports ever reads CloudTrail, long after start-up. */
let loading: Promise<typeof CloudTrailSdk> | null = null;
function sdk(): Promise<typeof CloudTrailSdk> {
  return (loading ??= import('@aws-sdk/client-cloudtrail'));
}

function safeJson(text: string | undefined): unknown {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}
