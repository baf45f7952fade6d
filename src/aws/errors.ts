import { isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';

/**
 * Whether an AWS failure is the kind that passes by itself (throttling, a 5xx, a network error or
 * timeout), by the SDK's own classification. A revoke retries those within seconds; an error that
 * needs a person (access denied, a validation error) backs off further.
 */
export function isTemporary(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as Parameters<typeof isTransientError>[0];
  return isThrottlingError(e) || isTransientError(e) || isServerError(e);
}
