import type { Logger } from 'pino';
import type { Policy } from '../domain/policy.ts';
import type {
  AssignmentStorePort,
  Clock,
  CloudTrailPort,
  CreationSlotsPort,
  Directory,
  DriftStorePort,
  EmergencyUsePort,
  FreezePort,
  IdentityCenterPort,
  OutboxPort,
  RequestStorePort,
  SessionDenyStorePort,
  Signals,
} from './ports.ts';

export interface Timing {
  /** How long a replica may work on one request (or hold an assignment's lock) before others may take over; renewed while work runs. */
  leaseMs: number;
  /** How long one pass waits for Identity Center before handing the request back to the sweeper. */
  pollRoundMs: number;
  /** Longest a grant may stay unconfirmed before it is declared failed (and cleaned up). */
  grantTimeoutMs: number;
  revokeBackoffBaseMs: number;
  revokeBackoffCapMs: number;
  /** Backoff after a failure that passes by itself (throttling, 5xx, a FAILED asynchronous status): access must end within seconds. */
  temporaryBackoffBaseMs: number;
  temporaryBackoffCapMs: number;
  /** Attempts retried within seconds; a failure that outlasts them (an outage) backs off like any other. */
  temporaryAttempts: number;
  /** Failed revoke attempts after which every further failure is shouted. */
  shoutAfterAttempts: number;
  /** Activity report: first retry after a failed read, doubled up to the cap; after this many attempts the report says what could not be read. */
  activityRetryBaseMs: number;
  activityRetryCapMs: number;
  activityAttempts: number;
  /** Longest one pass may read CloudTrail (paced, retried) before it counts as a failed read: a pass never holds the sweeper (or a shutdown) for long. */
  activityReadMs: number;
}

export const DEFAULT_TIMING: Timing = {
  // Short and renewed while work runs: a killed replica's work is taken over within seconds.
  leaseMs: 6_000,
  pollRoundMs: 15_000,
  grantTimeoutMs: 5 * 60_000,
  revokeBackoffBaseMs: 2_000,
  revokeBackoffCapMs: 5 * 60_000,
  temporaryBackoffBaseMs: 1_000,
  temporaryBackoffCapMs: 10_000,
  temporaryAttempts: 12,
  shoutAfterAttempts: 3,
  activityRetryBaseMs: 60_000,
  activityRetryCapMs: 10 * 60_000,
  activityAttempts: 4,
  activityReadMs: 120_000,
};

/** What every service is given: the policy, the ports (see ports.ts), the clock and the log. */
export interface ServiceContext extends Signals {
  policy: Policy;
  requests: RequestStorePort;
  assignments: AssignmentStorePort;
  outbox: OutboxPort;
  slots: CreationSlotsPort;
  drift: DriftStorePort;
  freeze: FreezePort;
  sessionDenies: SessionDenyStorePort;
  emergencyUses: EmergencyUsePort;
  ic: IdentityCenterPort;
  trail: CloudTrailPort;
  directory: Directory;
  clock: Clock;
  log: Logger;
  /** This process, as the owner of leases. */
  owner: string;
  timing: Timing;
}
