import type { Logger } from 'pino';
import type { Clock, ReplicasPort } from '../services/ports.ts';
import { Periodic } from './periodic.ts';

/**
 * How often a replica counts the replicas running (a read: a new replica is counted within this),
 * how often it renews its own entry (a write), and how long an entry holds: a dead replica's share
 * returns within BEAT_FOR_MS, and one renewal lost (a failed write) drops nobody from the count.
 */
const COUNT_EVERY_MS = 10_000;
const RENEW_EVERY_MS = 20_000;
const BEAT_FOR_MS = 50_000;

/**
 * Shares the account's Identity Center budget among the replicas running: each says it runs (an
 * item it renews) and paces its calls at the budget divided by how many do. One replica uses the
 * whole budget; two use half each, and the whole again once the other stops or dies.
 */
export class ReplicaBudget extends Periodic {
  private replicas = 1;
  /** When this replica's entry was last renewed (epoch ms); null: not yet. */
  private renewedAt: number | null = null;

  constructor(
    private readonly o: { replicas: ReplicasPort; owner: string; clock: Clock; log: Logger; share: (replicas: number) => void },
  ) {
    super(o.clock, COUNT_EVERY_MS, () => this.beat());
  }

  private async beat(): Promise<void> {
    try {
      const now = this.o.clock.ms();
      if (this.renewedAt === null || now - this.renewedAt >= RENEW_EVERY_MS) {
        await this.o.replicas.beat(this.o.owner, new Date(now + BEAT_FOR_MS).toISOString());
        this.renewedAt = now;
      }
      const replicas = Math.max(1, await this.o.replicas.live(new Date(now).toISOString()));
      if (replicas === this.replicas) return;
      this.replicas = replicas;
      this.o.share(replicas);
      this.o.log.info({ event: 'replicas.changed', replicas }, 'Identity Center budget shared anew');
    } catch (err) {
      // The share stays as it was: with a stale count a replica paces too slowly or, briefly, too fast (AWS throttles; retries are paced).
      this.o.log.warn({ err, event: 'replicas.beat_failed' }, 'could not renew this replica or count the others');
    }
  }

  /** Stops beating and ends this replica's entry, so the others take its share at their next beat. */
  override async stop(): Promise<void> {
    await super.stop();
    await this.o.replicas.beat(this.o.owner, new Date(this.o.clock.ms()).toISOString()).catch(() => undefined);
  }
}
