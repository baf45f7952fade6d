import { describe, expect, it } from 'vitest';
import { GroupMembership } from '../../src/slack/web.ts';

/** A group directory whose reads are counted and can be made to fail, on a clock the test moves. */
function setup() {
  let now = 0;
  const members = new Map<string, string[]>([
    ['S1', ['UA']],
    ['S2', ['UB']],
  ]);
  let failing: Error | null = null;
  const reads: string[] = [];
  const stale: string[] = [];
  const m = new GroupMembership(
    async (g) => {
      reads.push(g);
      await Promise.resolve();
      if (failing) throw failing;
      return members.get(g) ?? [];
    },
    { maxAgeMs: 5_000, missRefreshMs: 10_000, staleLimitMs: 300_000, now: () => now },
    (g) => stale.push(g),
  );
  return { m, reads, stale, members, tick: (ms: number) => (now += ms), fail: (e: Error | null) => (failing = e) };
}

describe('group membership cache', () => {
  it('answers repeated misses from the cache, re-reading at most once per 10 s across all groups', async () => {
    const { m, reads, tick } = setup();
    for (let i = 0; i < 50; i++) expect(await m.has('S1', 'UX')).toBe(false);
    expect(reads).toEqual(['S1']);
    tick(10_001);
    expect(await m.has('S1', 'UX')).toBe(false);
    expect(await m.has('S2', 'UX')).toBe(false);
    // S2 had never been read: it is read once; a miss in it does not buy another read of anything.
    expect(reads).toEqual(['S1', 'S1', 'S2']);
  });

  it('sees someone just added after the miss interval', async () => {
    const { m, members, tick } = setup();
    expect(await m.has('S1', 'UNEW')).toBe(false);
    members.set('S1', ['UA', 'UNEW']);
    expect(await m.has('S1', 'UNEW')).toBe(false);
    tick(10_001);
    expect(await m.has('S1', 'UNEW')).toBe(true);
  });

  it('re-reads a "yes" older than 5 s, so someone removed loses the right within seconds', async () => {
    const { m, members, reads, tick } = setup();
    expect(await m.has('S1', 'UA')).toBe(true);
    tick(4_000);
    expect(await m.has('S1', 'UA')).toBe(true);
    expect(reads).toHaveLength(1);
    members.set('S1', []);
    tick(1_001);
    expect(await m.has('S1', 'UA')).toBe(false);
  });

  it('shares one read among concurrent checks of a group', async () => {
    const { m, reads } = setup();
    await Promise.all(Array.from({ length: 20 }, () => m.has('S1', 'UA')));
    expect(reads).toEqual(['S1']);
  });

  it('answers from a copy up to 5 minutes old when Slack refuses a read, and fails after that', async () => {
    const { m, tick, fail, stale } = setup();
    expect(await m.has('S1', 'UA')).toBe(true);
    fail(new Error('ratelimited'));
    tick(60_000);
    expect(await m.has('S1', 'UA')).toBe(true);
    expect(stale).toEqual(['S1']);
    tick(300_000);
    await expect(m.has('S1', 'UA')).rejects.toThrow('ratelimited');
  });
});
