import type { Logger } from 'pino';
import { quorumProblems, type GroupMembers, type Policy } from '../domain/policy.ts';
import type { Clock, OutboxPort } from '../services/ports.ts';

/** How often approver groups are re-read and the quorum rule re-checked. */
const QUORUM_RECHECK_MS = 10 * 60_000;

/**
 * Re-reads the policy's Slack user groups now and then: people leave groups, and a pool that
 * met the "no single person required" rule at start-up may not any more. Says so in the audit
 * channel; it never stops the bot (requests already waiting still need their quorum).
 */
export class QuorumWatcher {
  private stopTimer: (() => void) | null = null;

  constructor(
    private readonly o: { policy: Policy; groups: () => Promise<GroupMembers>; outbox: OutboxPort; clock: Clock; log: Logger; eventsQueued: () => void },
  ) {}

  start(): void {
    this.stopTimer = this.o.clock.every(QUORUM_RECHECK_MS, () => void this.check());
  }

  stop(): void {
    this.stopTimer?.();
    this.stopTimer = null;
  }

  async check(): Promise<void> {
    try {
      const problems = quorumProblems(this.o.policy, await this.o.groups()).map((p) => p.message);
      if (problems.length === 0) return;
      this.o.log.error({ event: 'quorum.unsafe', problems }, 'approver pool no longer meets the policy');
      await this.o.outbox.appendSystem([{ type: 'quorum.unsafe', requestId: null, actor: null, details: { problems } }], this.o.clock.now());
      this.o.eventsQueued();
    } catch (err) {
      this.o.log.warn({ err, event: 'quorum.recheck_failed' }, 'could not re-read approver groups');
    }
  }
}
