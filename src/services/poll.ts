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

/** Errors worth another try later (AWS throttling or outages that outlasted the SDK's own retries, network trouble). */
export function isTransient(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown; code?: string };
  if (e.$retryable) return true;
  const status = e.$metadata?.httpStatusCode ?? 0;
  if (status >= 500 || status === 429) return true;
  return (
    ['ThrottlingException', 'TooManyRequestsException', 'ConflictException', 'InternalServerException', 'ServiceUnavailableException', 'TimeoutError', 'RequestTimeout'].includes(e.name ?? '') ||
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE'].includes(e.code ?? '')
  );
}

export function describeError(err: unknown): string {
  const e = err as { name?: string; message?: string };
  return `${e.name ?? 'Error'}: ${e.message ?? String(err)}`.slice(0, 500);
}
