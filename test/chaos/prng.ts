/**
 * The chaos suite's only source of randomness: a seeded PRNG (mulberry32), so
 * a failing run can be replayed with CHAOS_SEED=<seed> (timing on a busy
 * machine still varies, but every random choice repeats).
 */
export class Random {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error('Random.pick: no items');
    return item;
  }

  /** An independent stream for one actor (so adding draws in one place does not shift another's). */
  fork(label: string): Random {
    let h = this.seed ^ 0x9e3779b9;
    for (const c of label) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193);
    return new Random(h >>> 0);
  }
}

/** CHAOS_SEED (decimal) when set, otherwise a fresh seed; either way it is printed so the run can be replayed. */
export function chaosSeed(env: NodeJS.ProcessEnv = process.env, label = 'chaos'): number {
  const given = env.CHAOS_SEED?.trim();
  let seed: number;
  if (given) {
    seed = Number(given);
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`CHAOS_SEED must be an integer 0..4294967295 (got "${given}")`);
  } else {
    seed = (Date.now() ^ (process.pid << 16) ^ Math.floor(Math.random() * 0xffffffff)) >>> 0;
  }
  process.stderr.write(`[${label}] seed ${seed} (replay with CHAOS_SEED=${seed})\n`);
  return seed;
}
