import type { Logger } from 'pino';
import type { ServiceContext } from '../services/context.ts';
import { checkDrift } from '../services/drift.ts';

/** Every BREAKGLASS_DRIFT_SECONDS, compares Identity Center with what breakglass granted. */
export class DriftWatcher {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.pass(), this.intervalMs);
    this.timer.unref();
    void this.pass();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
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
