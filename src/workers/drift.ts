import type { Logger } from 'pino';
import type { ServiceContext } from '../services/context.ts';
import { checkDrift } from '../services/drift.ts';

/** Every BREAKGLASS_DRIFT_SECONDS, compares Identity Center with what breakglass granted. */
export class DriftWatcher {
  private stopTimer: (() => void) | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.stopTimer = this.ctx.clock.every(this.intervalMs, () => void this.pass());
    void this.pass();
  }

  async stop(): Promise<void> {
    this.stopTimer?.();
    this.stopTimer = null;
    await this.running;
  }

  pass(): Promise<void> {
    if (this.running) return this.running;
    this.running = checkDrift(this.ctx)
      .then((p) => {
        if (p.raised + p.revoked + p.resolved > 0) this.log.warn({ event: 'drift.pass', ...p }, 'drift found');
      })
      .catch((err: unknown) => this.log.error({ err, event: 'drift.error' }, 'drift check failed'))
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }
}
