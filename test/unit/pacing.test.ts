import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/aws/pacing.ts';

describe('the rate limiter', () => {
  it("serves a grant's or revoke's own change before status polls waiting for the same rate", async () => {
    const limiter = new RateLimiter(20, 1);
    const order: string[] = [];
    const take = (name: string, urgent: boolean) => limiter.acquire(urgent).then(() => void order.push(name));
    // The first takes the only token; three polls queue, then a change arrives.
    await take('poll-0', false);
    const waiting = [take('poll-1', false), take('poll-2', false), take('poll-3', false)];
    waiting.push(take('change', true));
    await Promise.all(waiting);
    expect(order).toEqual(['poll-0', 'change', 'poll-1', 'poll-2', 'poll-3']);
  });

  it('keeps to its rate', async () => {
    const limiter = new RateLimiter(20, 1);
    const started = Date.now();
    await Promise.all(Array.from({ length: 5 }, () => limiter.acquire()));
    // One token at once, four more at 20 a second.
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });
});
