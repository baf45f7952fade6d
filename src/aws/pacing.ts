import type { RetryErrorInfo, RetryStrategyV2, RetryToken } from '@smithy/types';

/**
 * Keeps calls under a rate: a token bucket that makes callers wait rather than fail. Urgent
 * callers (a grant's or a revoke's own change) are served before the others (status polls,
 * listings) whenever both wait.
 */
export class RateLimiter {
  private tokens: number;
  private last = Date.now();
  private readonly urgent: Array<() => void> = [];
  private readonly normal: Array<() => void> = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private perSecond: number,
    private burst = perSecond,
  ) {
    this.tokens = burst;
  }

  /** A new rate (and a burst that scales with it), from now on. */
  setRate(perSecond: number): void {
    this.burst = Math.max(1, (this.burst * perSecond) / this.perSecond);
    this.perSecond = perSecond;
    this.tokens = Math.min(this.tokens, this.burst);
  }

  acquire(urgent = false): Promise<void> {
    return new Promise<void>((resolve) => {
      (urgent ? this.urgent : this.normal).push(resolve);
      this.serve();
    });
  }

  private serve(): void {
    if (this.timer) return;
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    while (this.tokens >= 1) {
      const next = this.urgent.shift() ?? this.normal.shift();
      if (!next) return;
      this.tokens -= 1;
      next();
    }
    if (this.urgent.length + this.normal.length === 0) return;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.serve();
      },
      Math.ceil(((1 - this.tokens) / this.perSecond) * 1000),
    );
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Exponential backoff with full jitter, capped. */
export function backoffMs(attempt: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * The SDK's retry hook, with every retry paced like a first call. The SDK's standard strategy
 * waits up to 20 s after a throttle and, once its retry quota is spent (a few hundred failed
 * calls), stops retrying altogether: under sustained throttling a revoke then fails call after
 * call and waits on its own backoff. Here a retry waits a capped, jittered backoff and then the
 * same rate limiter as every other call (urgent: it has waited already), so retries can never
 * storm the service and need no quota.
 */
export class PacedRetryStrategy implements RetryStrategyV2 {
  constructor(
    private readonly pace: RateLimiter,
    private readonly maxAttempts: number,
    private readonly baseMs = 200,
    private readonly capMs = 2_000,
  ) {}

  acquireInitialRetryToken(): Promise<RetryToken> {
    // The caller has paced the first attempt (with its own urgency).
    return Promise.resolve(token(0));
  }

  async refreshRetryTokenForRetry(previous: RetryToken, error: RetryErrorInfo): Promise<RetryToken> {
    const retries = previous.getRetryCount();
    // As the standard strategy: only throttling and transient failures (5xx, timeouts, network) are retried.
    if ((error.errorType !== 'THROTTLING' && error.errorType !== 'TRANSIENT') || retries + 1 >= this.maxAttempts) {
      throw new Error('no retry: the error is not retryable or the attempts are spent');
    }
    await sleep(backoffMs(retries, this.baseMs, this.capMs));
    await this.pace.acquire(true);
    return token(retries + 1);
  }

  recordSuccess(): void {
    // Nothing to account for: pacing, not a quota, bounds the retries.
  }
}

const token = (count: number): RetryToken => ({ getRetryCount: () => count, getRetryDelay: () => 0 });
