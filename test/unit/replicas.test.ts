import { describe, expect, it } from 'vitest';
import pino from 'pino';
import type { ReplicasPort } from '../../src/services/ports.ts';
import { ReplicaBudget } from '../../src/workers/replicas.ts';
import { VirtualClock } from '../support/memory.ts';

/** The table's replica entries, in memory. */
class Replicas implements ReplicasPort {
  readonly until = new Map<string, string>();
  /** Who wrote an entry, write by write. */
  readonly beats: string[] = [];
  beat(owner: string, until: string): Promise<void> {
    this.beats.push(owner);
    this.until.set(owner, until);
    return Promise.resolve();
  }
  live(now: string): Promise<number> {
    return Promise.resolve([...this.until.values()].filter((u) => u > now).length);
  }
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe("the replicas' Identity Center budget", () => {
  it('gives one replica the whole budget, two half each, and the whole back when one stops or dies', async () => {
    const clock = new VirtualClock();
    const replicas = new Replicas();
    const shares = { a: [] as number[], b: [] as number[] };
    const budget = (name: 'a' | 'b') => new ReplicaBudget({ replicas, owner: name, clock, log: pino({ level: 'silent' }), share: (n) => void shares[name].push(n) });
    const a = budget('a');
    a.start();
    await a.pass();
    // Alone: the whole budget, which is where it starts (nothing to change).
    expect(shares.a).toEqual([]);
    const b = budget('b');
    b.start();
    await b.pass();
    expect(shares.b).toEqual([2]);
    clock.advance(10_000);
    await settle();
    expect(shares.a).toEqual([2]);
    // b stops: its entry ends at once, a takes the whole budget at its next beat.
    await b.stop();
    clock.advance(10_000);
    await settle();
    expect(shares.a).toEqual([2, 1]);
    // Another replica beats once and dies (never ends its entry): a shares until the entry runs out.
    await replicas.beat('dead', new Date(clock.ms() + 30_000).toISOString());
    clock.advance(10_000);
    await settle();
    expect(shares.a).toEqual([2, 1, 2]);
    for (let i = 0; i < 3; i++) {
      clock.advance(10_000);
      await settle();
    }
    expect(shares.a).toEqual([2, 1, 2, 1]);
    await a.stop();
  });

  it('counts the replicas every 10 s but renews its own entry every 20 s, holding 50 s: a dead replica\'s share returns within 50 s', async () => {
    const clock = new VirtualClock();
    const startedAt = clock.ms();
    const replicas = new Replicas();
    const a = new ReplicaBudget({ replicas, owner: 'a', clock, log: pino({ level: 'silent' }), share: () => undefined });
    a.start();
    await a.pass();
    for (let i = 0; i < 6; i++) {
      clock.advance(10_000);
      await settle();
    }
    // At 0, 20, 40 and 60 s: one write every other count, each holding past the next two renewals.
    expect(replicas.beats).toEqual(['a', 'a', 'a', 'a']);
    expect(replicas.until.get('a')).toBe(new Date(startedAt + 60_000 + 50_000).toISOString());
    await a.stop();
  });
});
