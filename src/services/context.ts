import type { Logger } from 'pino';
import type { IdentityCenterPort } from '../aws/identity-center.ts';
import type { Policy } from '../domain/policy.ts';
import type { AssignmentStore } from '../store/assignments.ts';
import type { DriftStore } from '../store/drift.ts';
import type { FreezeStore } from '../store/freeze.ts';
import type { OutboxStore } from '../store/outbox.ts';
import type { RequestStore } from '../store/requests.ts';
import type { CreationSlots } from '../store/slots.ts';

export interface SlackUser {
  id: string;
  name: string;
  email: string | null;
  tz: string;
  deleted: boolean;
  isBot: boolean;
}

/** Who people are, from Slack; membership is read fresh so it is checked at click time. */
export interface Directory {
  user(id: string): Promise<SlackUser | null>;
  isApprover(id: string): Promise<boolean>;
  isRequester(id: string): Promise<boolean>;
}

export interface Timing {
  /** How long a replica may work on one request before others may take over. */
  leaseMs: number;
  /** How long one pass waits for Identity Center before handing the request back to the sweeper. */
  pollRoundMs: number;
  /** Longest a grant may stay unconfirmed before it is declared failed (and cleaned up). */
  grantTimeoutMs: number;
  revokeBackoffBaseMs: number;
  revokeBackoffCapMs: number;
  /** Failed revoke attempts after which every further failure is shouted. */
  shoutAfterAttempts: number;
}

export const DEFAULT_TIMING: Timing = {
  // Short and renewed while work runs: a killed replica's work is taken over within seconds.
  leaseMs: 6_000,
  pollRoundMs: 15_000,
  grantTimeoutMs: 5 * 60_000,
  revokeBackoffBaseMs: 2_000,
  revokeBackoffCapMs: 5 * 60_000,
  shoutAfterAttempts: 3,
};

export interface ServiceContext {
  policy: Policy;
  requests: RequestStore;
  assignments: AssignmentStore;
  outbox: OutboxStore;
  slots: CreationSlots;
  drift: DriftStore;
  freeze: FreezeStore;
  ic: IdentityCenterPort;
  directory: Directory;
  /** The current instant, ISO-8601 UTC. */
  now(): string;
  log: Logger;
  /** This process, as the owner of leases. */
  owner: string;
  timing: Timing;
  /** Something was written to an outbox: deliver it soon. */
  eventsQueued(): void;
  /** A request needs lifecycle work now (grant, revoke): don't wait for the sweep. */
  workQueued(requestId: string): void;
}
