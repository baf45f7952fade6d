import { isTemporary } from '../aws/errors.ts';
import type { Clock, OperationStatus } from './ports.ts';

/** Asks Identity Center for an operation's status with growing pauses until it settles or the deadline (epoch ms) passes. */
export async function pollUntilSettled(clock: Clock, fetch: () => Promise<OperationStatus>, deadlineMs: number): Promise<OperationStatus> {
  let pause = 200;
  for (;;) {
    const status = await fetch();
    if (status.state !== 'IN_PROGRESS' || clock.ms() + pause > deadlineMs) return status;
    await clock.sleep(pause);
    pause = Math.min(pause * 2, 2000);
  }
}

/** Errors worth another try later: AWS's temporary failures (aws/errors.ts), and another operation on the same assignment in flight. */
export function isTransient(err: unknown): boolean {
  return isTemporary(err) || (typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'ConflictException');
}

export function describeError(err: unknown): string {
  const e = err as { name?: string; message?: string };
  return `${e.name ?? 'Error'}: ${e.message ?? String(err)}`.slice(0, 500);
}
