/** What the loopback fakes share: a seeded PRNG for fault injection and the token bucket AWS's rate limits behave like. */

/** Small seeded PRNG (mulberry32), so injected faults and interleavings replay identically for a given seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `rate` tokens a second, a burst of `rate`; Infinity disables it. A clock that moves back refills nothing. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly now: () => number,
  ) {
    this.tokens = rate;
    this.last = now();
  }

  take(): boolean {
    if (!Number.isFinite(this.rate)) return true;
    const t = this.now();
    this.tokens = Math.min(this.rate, this.tokens + (Math.max(0, t - this.last) / 1000) * this.rate);
    this.last = Math.max(this.last, t);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
