import type { Logger } from 'pino';
import type { ServiceContext } from '../services/context.ts';
import { checkDrift } from '../services/drift.ts';
import { Periodic } from './periodic.ts';

/** Every BREAKGLASS_DRIFT_SECONDS, compares Identity Center with what breakglass granted. */
export class DriftWatcher extends Periodic {
  constructor(ctx: ServiceContext, intervalMs: number, log: Logger) {
    super(ctx.clock, intervalMs, () =>
      checkDrift(ctx).then(
        (p) => {
          if (p.raised + p.revoked + p.resolved > 0) log.warn({ event: 'drift.pass', ...p }, 'drift found');
        },
        (err: unknown) => log.error({ err, event: 'drift.error' }, 'drift check failed'),
      ),
    );
  }
}
