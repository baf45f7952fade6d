/**
 * One place that builds what the bot, doctor and the CLI share from the environment: the AWS
 * region, the Identity Center clients (through the management role), the store, the services'
 * context. Nothing here loads Slack's Bolt: the kill switch and the audit commands run without it.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { CloudTrail } from './aws/cloudtrail.ts';
import { IdentityCenter } from './aws/identity-center.ts';
import { systemClock } from './clock.ts';
import type { Env } from './config/env.ts';
import type { Policy } from './domain/policy.ts';
import { DEFAULT_TIMING, type ServiceContext, type Timing } from './services/context.ts';
import { DELIVERY_LEASE_MS, type AccessInventoryPort, type Clock, type Directory, type Signals } from './services/ports.ts';
import { AssignmentStore } from './store/assignments.ts';
import { DriftStore } from './store/drift.ts';
import { EmergencyUses } from './store/emergency-uses.ts';
import type { Database } from './store/dynamo.ts';
import { FreezeStore } from './store/freeze.ts';
import { OutboxStore } from './store/outbox.ts';
import { RequestStore } from './store/requests.ts';
import { SessionDenyStore } from './store/session-denies.ts';
import { CreationSlots } from './store/slots.ts';

/** The AWS region the SDK would use: Identity Center, DynamoDB and the checkpoint bucket share it. */
export function awsRegion(source: NodeJS.ProcessEnv): string {
  return source.AWS_REGION?.trim() || source.AWS_DEFAULT_REGION?.trim() || 'us-east-1';
}

/** Tells the workers about work; they subscribe after the context that calls these is built. */
export class WorkSignals implements Signals {
  private readonly onEvents: Array<() => void> = [];
  private readonly onWork: Array<(id: string) => void> = [];
  private readonly onDue: Array<(id: string, at: string) => void> = [];

  eventsQueued(): void {
    for (const f of this.onEvents) f();
  }

  workQueued(requestId: string): void {
    for (const f of this.onWork) f(requestId);
  }

  workDue(requestId: string, at: string): void {
    for (const f of this.onDue) f(requestId, at);
  }

  whenDue(f: (requestId: string, at: string) => void): void {
    this.onDue.push(f);
  }

  whenEvents(f: () => void): void {
    this.onEvents.push(f);
  }

  whenWork(f: (requestId: string) => void): void {
    this.onWork.push(f);
  }
}

export interface ContextParts {
  env: Env;
  source: NodeJS.ProcessEnv;
  policy: Policy;
  db: Database;
  log: Logger;
  directory: Directory;
  signals: Signals;
  clock?: Clock;
  timing?: Partial<Timing>;
  /** This process delivers events to Slack (the bot): it claims the events it queues, so its publisher posts them without another write. */
  deliversToSlack?: boolean;
}

/** The services' view of the world: the stores on `db`, Identity Center through the management role, Slack's directory. */
export function serviceContext(p: ContextParts): { ctx: ServiceContext; inventory: AccessInventoryPort; shareBudget(replicas: number): void; close(): void } {
  const ic = new IdentityCenter({
    region: awsRegion(p.source),
    identityStoreId: p.policy.identityCenter.identityStoreId,
    assumeRoleArn: p.env.assumeRoleArn,
    callsPerSecond: p.env.icCallsPerSecond,
  });
  const trail = new CloudTrail({ assumeRoleArn: p.env.assumeRoleArn });
  const owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const ctx: ServiceContext = {
    policy: p.policy,
    requests: new RequestStore(p.db, p.deliversToSlack ? { owner, leaseMs: DELIVERY_LEASE_MS } : null),
    assignments: new AssignmentStore(p.db),
    outbox: new OutboxStore(p.db),
    slots: new CreationSlots(p.db, p.env.maxOutstandingCreations, (waiting) => p.signals.workQueued(waiting)),
    drift: new DriftStore(p.db),
    freeze: new FreezeStore(p.db),
    sessionDenies: new SessionDenyStore(p.db),
    emergencyUses: new EmergencyUses(p.db),
    ic,
    trail,
    directory: p.directory,
    clock: p.clock ?? systemClock,
    log: p.log,
    owner,
    timing: { ...DEFAULT_TIMING, ...p.timing },
    eventsQueued: () => p.signals.eventsQueued(),
    workQueued: (id) => p.signals.workQueued(id),
    workDue: (id, at) => p.signals.workDue(id, at),
  };
  return {
    ctx,
    inventory: ic,
    shareBudget: (replicas) => ic.shareBudget(replicas),
    close: () => {
      ic.destroy();
      trail.destroy();
    },
  };
}
