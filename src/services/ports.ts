/**
 * Everything the services and workers need from the world, declared in one place. The bot wires
 * in DynamoDB (src/store), Identity Center (src/aws), Slack (src/slack) and the system clock;
 * unit tests wire in the in-memory versions (test/support/memory.ts), which keep the same
 * conditional-write rules, and run in milliseconds.
 */
import type { HomeView, KnownBlock } from '@slack/types';
import type { Checkpoint, ChainRecord } from '../audit/chain.ts';
import type { TrailEvent } from '../domain/activity.ts';
import type { DomainEvent } from '../domain/events.ts';
import type { AccessRequest, AssignmentTarget, RequestStatus } from '../domain/request.ts';
import type { Principals } from '../domain/policy.ts';
import type { SessionDeny } from '../domain/session-policy.ts';
import type { ReviewReport } from '../domain/review.ts';

// ---------------------------------------------------------------- time

export interface Clock {
  /** The current instant, ISO-8601 UTC. */
  now(): string;
  /** The current instant, epoch milliseconds. */
  ms(): number;
  sleep(ms: number): Promise<void>;
  /** Calls `fn` every `ms` until the returned function is called. */
  every(ms: number, fn: () => void): () => void;
  /** Calls `fn` once, `ms` from now, unless the returned function is called first. */
  after(ms: number, fn: () => void): () => void;
}

// ---------------------------------------------------------------- requests

/** Another writer got there first: re-read and decide again. */
export class ConflictError extends Error {
  constructor(message = 'the request changed under us') {
    super(message);
    this.name = 'ConflictError';
  }
}

export interface Guard {
  status: RequestStatus | readonly RequestStatus[];
  version: number;
}

export interface Changes {
  /** Top-level request fields to replace. */
  set?: Partial<Omit<AccessRequest, 'id' | 'version' | 'createdAt'>>;
  events?: DomainEvent[];
  /** When the sweeper should next look at this request; null: never again. */
  due?: string | null;
  /**
   * The request's lease on slow work (services/lease.ts): taken by the change that starts the work,
   * so no claim follows it, or ended (null). Absent: left as it is, except that write() in
   * services/change.ts ends it with every status change.
   */
  lease?: Lease | null;
}

export interface Lease {
  owner: string;
  until: string;
}

export interface DueItem {
  id: string;
  status: RequestStatus;
  dueAt: string;
}

export interface RequestStorePort {
  /** Stores a new request with its first events; the id is fresh, so this cannot collide. */
  create(request: AccessRequest, events: DomainEvent[], due: string): Promise<void>;
  get(id: string): Promise<AccessRequest | null>;
  /**
   * The one way a request changes: a single conditional update guarded by the expected status
   * and version, that also queues the events it causes. Throws ConflictError when the guard fails.
   */
  update(id: string, guard: Guard | null, changes: Changes, now: string): Promise<AccessRequest>;
  /** Claims slow work on the request until `until` (a lease); null when someone else holds it. */
  claim(id: string, owner: string, status: RequestStatus, now: string, until: string): Promise<AccessRequest | null>;
  release(id: string, owner: string): Promise<void>;
  /** Requests whose next action is due by `until` (every live request when null), oldest first. */
  due(until: string | null, limit?: number): Promise<DueItem[]>;
  /** One requester's live requests on the due index (an index copy, filtered by the table: read them fresh before acting). */
  dueOf(slackUserId: string): Promise<DueItem[]>;
  /**
   * The person's requests, newest first, at most `limit` (the App Home's history); null when the
   * table has no usable requester index (made before it existed, or still building it).
   * Requests stored before the index existed carry no requester key and are never listed.
   */
  ofRequester(slackUserId: string, limit: number): Promise<AccessRequest[] | null>;
  /** Counts a refused attempt beside the request (never growing it); returns this person's count. */
  countRefusal(id: string, slackUserId: string, action: string, at: string): Promise<number>;
  /** Queues events on a request without changing it (no version bump); false when it does not exist. */
  appendEvents(id: string, events: DomainEvent[], now: string): Promise<boolean>;
}

// ---------------------------------------------------------------- assignments

/**
 * What the bot knows about one Identity Center assignment (user × permission set × account):
 * which grants rely on it, whether the user held it before breakglass granted it, and which
 * request is creating it right now.
 */
export interface AssignmentRecord {
  holders: string[];
  /** Set when the assignment existed before any grant relied on it: never delete it. */
  heldBefore: string | null;
  /** A request whose CreateAccountAssignment may have landed without being recorded in holders yet. */
  creating: string | null;
}

export interface AssignmentStorePort {
  get(t: AssignmentTarget): Promise<AssignmentRecord>;
  /** Takes the lock until `until`; null when someone else holds it. */
  lock(t: AssignmentTarget, owner: string, now: string, until: string): Promise<AssignmentRecord | null>;
  /** Moves the lock's end while its owner still holds it; false once someone else has it. */
  renew(t: AssignmentTarget, owner: string, until: string): Promise<boolean>;
  /** Records, under the lock, that `requestId` is about to create the assignment. */
  markCreating(t: AssignmentTarget, owner: string, requestId: string): Promise<boolean>;
  /** Writes the whole record and lets go of the lock; false when the lock was lost. */
  saveAndUnlock(t: AssignmentTarget, owner: string, record: AssignmentRecord): Promise<boolean>;
  /** Lets go of the lock; false when it was not (or no longer) held. */
  unlock(t: AssignmentTarget, owner: string): Promise<boolean>;
}

/** AWS allows 15 account-assignment creations in progress per instance, across every replica. */
export interface CreationSlotsPort {
  /**
   * Takes a free slot for `holder` (or the one it already has); null when all are busy. A holder
   * turned away is woken (its work queued) when this process frees a slot.
   */
  acquire(holder: string, now: string, until: string): Promise<number | null>;
  /** Frees the holder's slot (every slot it may hold when the number is unknown). */
  release(holder: string, slot: number | null): Promise<void>;
}

// ---------------------------------------------------------------- drift and freeze

export type DriftStatus = 'open' | 'revoked' | 'resolved';

/** Access found in Identity Center that no grant backs and the policy does not list. */
export interface DriftAlert {
  id: string;
  status: DriftStatus;
  profileId: string;
  accountId: string;
  permissionSetArn: string;
  instanceArn: string;
  principalType: 'USER' | 'GROUP';
  principalId: string;
  detectedAt: string;
  alertMessage: { channel: string; ts: string } | null;
}

export interface DriftStorePort {
  /** Opens an alert unless one is open for the same access (raised once, however many passes see it). */
  raise(alert: Omit<DriftAlert, 'status' | 'alertMessage'>, event: DomainEvent, now: string): Promise<boolean>;
  /** Closes an open alert; false when it was not open. */
  close(id: string, status: Exclude<DriftStatus, 'open'>, event: DomainEvent, now: string): Promise<boolean>;
  get(id: string): Promise<DriftAlert | null>;
  openIds(profileId: string): Promise<string[]>;
}

/** An operator stopped all granting (revoke-all): who, why and since when. */
export interface Freeze {
  by: string;
  reason: string;
  at: string;
}

export interface FreezePort {
  get(): Promise<Freeze | null>;
  set(freeze: Freeze, event: DomainEvent): Promise<void>;
  /** False when there was no freeze. */
  lift(at: string, event: DomainEvent): Promise<boolean>;
}

// ---------------------------------------------------------------- the outbox and the chain

/** Slack deliveries of one event (and its place in the chain). */
export type DeliveryStep = 'chain' | 'reviewPost' | 'approvalMessage' | 'approvalThread' | 'thread' | 'dm' | 'views' | 'shout' | 'alertUpdate' | `notify:${string}`;

/** An event as it waits in an item's outbox, with what has been done with it so far. */
export type QueuedEvent = DomainEvent & {
  id: string;
  at: string;
  /**
   * A chain position at or below which the event cannot be: the head this process had seen when
   * it queued the event. Whoever appends the event first looks for it above this, so an append
   * whose answer was lost (a crash, a timeout) is recognised and never repeated.
   */
  chainFloor?: number;
  /** Delivery steps already done (`chain` with `chainSeq`: where it is in the chain), so a retry repeats none of them. */
  done?: Partial<Record<DeliveryStep, boolean>>;
  /** Where the event is in the chain, recorded with done.chain (on events queued before chainFloor existed: the one position reserved for it). */
  chainSeq?: number;
  /** Slack posts started but not known to have landed: a retry marks its post as a possible repeat. */
  tried?: Partial<Record<DeliveryStep, boolean>>;
};

export interface ItemKey {
  pk: string;
  sk: string;
}

/** An item (a request, a drift alert, the system item) with events not yet delivered. */
export interface OutboxItem {
  key: ItemKey;
  outbox: QueuedEvent[];
  item: Record<string, unknown>;
}

/** A value stored on the item where a delivery put something (the approval message's ts…). */
export interface DeliveredAt {
  path: string[];
  value: unknown;
}

/** What a delivery pass learnt about the item's head event before it had to stop (Slack failed). */
export interface DeliveryProgress {
  eventId: string;
  /** Steps that are done (delivered, or skipped for good). */
  done: DeliveryStep[];
  /** Posts that may have landed (Slack's answer was lost): their retry says it may be a repeat. */
  tried: DeliveryStep[];
  stored: DeliveredAt[];
}

/**
 * How long a delivery claim lasts (the writer that queues a request's events claims them for as
 * long). It is renewed before a Slack call when less than two thirds are left, so a call (10 s
 * timeout, src/slack/web.ts) never outlives it; short, because after a crash the replica's
 * undelivered events wait this long before another replica delivers them.
 */
export const DELIVERY_LEASE_MS = 15_000;

/** Who claimed an item's delivery before a claim replaced it. */
export interface PreviousClaim {
  owner: string | null;
  until: string | null;
}

export interface OutboxPort {
  /** Items with undelivered events whose next attempt is due by `now` (all of them when null), oldest first. */
  pending(now: string | null, limit?: number): Promise<OutboxItem[]>;
  read(key: ItemKey): Promise<OutboxItem | null>;
  /** Queues events that belong to no request (configuration, alerts). */
  appendSystem(events: DomainEvent[], now: string): Promise<void>;
  /**
   * Takes (or renews) the right to deliver an item's events to Slack until `until`, unless another
   * owner's claim is still running; null then. Returns the claim it replaced: another owner's
   * claim that ran out means that owner stopped mid-delivery, so its last post may have landed.
   */
  claim(key: ItemKey, owner: string, now: string, until: string): Promise<PreviousClaim | null>;
  /** Lets go of a claim (only ours). */
  release(key: ItemKey, owner: string): Promise<void>;
  /**
   * Drops the delivered head event in one write, storing where its deliveries went; with its last
   * event the item leaves the outbox and the claim is let go. False when the head is not that event.
   */
  delivered(key: ItemKey, eventId: string, stored: DeliveredAt[], last: boolean): Promise<boolean>;
  /**
   * Records, in one write, how far the head event got, which events are in the chain, and when
   * to try again; lets go of our claim. False when the head is not that event.
   */
  stopped(key: ItemKey, owner: string, progress: DeliveryProgress | null, chained: ChainedEvent[], retryAt: string): Promise<boolean>;
  /** Records where events are in the chain (one write); false when an event moved (look again). */
  markChained(key: ItemKey, chained: ChainedEvent[]): Promise<boolean>;
  /** Puts off the item's next attempt. */
  defer(key: ItemKey, until: string): Promise<void>;
  chainHead(): Promise<ChainRecord | null>;
  /** The records from `seq` (inclusive) to the head, read consistently. */
  chainFrom(seq: number): Promise<ChainRecord[]>;
  /** Appends at record.seq; false when the position is taken. */
  putChainRecord(record: ChainRecord): Promise<boolean>;
  /** The chain in order. */
  chain(): AsyncIterable<ChainRecord>;
}

/** An event at `index` of its item's outbox, in the chain at `seq`. */
export interface ChainedEvent {
  index: number;
  eventId: string;
  seq: number;
}

// ---------------------------------------------------------------- ending sessions

/** What breakglass has denied in one permission set's inline policy, per Identity Store user id. */
export interface SessionDenyRecord {
  denies: Record<string, SessionDeny>;
}

/**
 * One record per permission set with its lock: edits of the permission set's inline policy are
 * read-modify-write on one document, so they are serialised across replicas.
 */
export interface SessionDenyStorePort {
  /**
   * Asks for `userId`'s sessions issued before `instant` to be denied in `accountId` (a newer
   * instant already asked for stays). Whoever holds the lock next writes every such wish at once.
   */
  want(permissionSetArn: string, userId: string, instant: string, accountId: string): Promise<void>;
  /** Every wish asked for, per user: the newest instant and the accounts. */
  wanted(permissionSetArn: string): Promise<Record<string, { instant: string; accounts: string[] }>>;
  /** The record as it stands, without taking the lock. */
  get(permissionSetArn: string): Promise<SessionDenyRecord>;
  lock(permissionSetArn: string, owner: string, now: string, until: string): Promise<SessionDenyRecord | null>;
  renew(permissionSetArn: string, owner: string, until: string): Promise<boolean>;
  /** Writes the record and lets go; `pruneAt`: when its earliest denial may be removed (null: none left). False when the lock was lost. */
  saveAndUnlock(permissionSetArn: string, owner: string, record: SessionDenyRecord, pruneAt: string | null): Promise<boolean>;
  unlock(permissionSetArn: string, owner: string): Promise<boolean>;
  /** Permission sets with a denial whose time to go has come. */
  due(now: string): Promise<string[]>;
}

/** How often a person used emergency access to a profile. */
export interface EmergencyUsePort {
  /**
   * Records a use at `now` unless `limit` uses fall within the `windowMs` before it; null when
   * recorded, else the uses that stand in the way (oldest first).
   */
  take(slackUserId: string, profileId: string, now: string, windowMs: number, limit: number): Promise<string[] | null>;
}

export interface CheckpointStorePort {
  /** Stores one; a checkpoint of the same record already there is kept. */
  put(cp: Checkpoint): Promise<void>;
  newest(): Promise<Checkpoint | null>;
}

// ---------------------------------------------------------------- the App Home

/** Someone who opened the App Home, and the note answering their last click there. */
export interface HomeVisitor {
  slackUserId: string;
  openedAt: string;
  note: { text: string; at: string } | null;
}

/** Who has opened the App Home (so only their homes are kept current), in the table so every replica knows. */
/** The replicas running now (each renews its own entry), to share the account's Identity Center budget. */
export interface ReplicasPort {
  /** This replica runs until `until` unless it beats again. */
  beat(owner: string, until: string): Promise<void>;
  /** How many replicas run at `now`. */
  live(now: string): Promise<number>;
}

export interface HomeVisitorsPort {
  /** The person opened their home: remembered, and the note of their last click there cleared. */
  opened(slackUserId: string, at: string): Promise<void>;
  /** Leaves a note at the top of the person's home: what their click there came to. */
  note(slackUserId: string, text: string, at: string): Promise<void>;
  get(slackUserId: string): Promise<HomeVisitor | null>;
  /** Everyone who opened it at `since` or later. */
  since(since: string): Promise<string[]>;
}

// ---------------------------------------------------------------- Identity Center and Slack

export type OperationState = 'IN_PROGRESS' | 'SUCCEEDED' | 'FAILED';
export interface OperationStatus {
  state: OperationState;
  failureReason: string | null;
}

export interface ListedAssignment {
  principalType: 'USER' | 'GROUP';
  principalId: string;
}

/** The Identity Center user a Slack account maps to, as approvers are shown it. */
export interface IdentityUser {
  userId: string;
  userName: string;
  displayName: string | null;
  /** The user's email that matched (Identity Center's spelling). */
  email: string;
  disabled: boolean;
}

export interface IdentityCenterPort {
  findUserIdByEmail(email: string): Promise<string | null>;
  /** The one Identity Store user whose email is `email`, compared case-insensitively, never guessed; null when none. */
  findUserByEmail(email: string): Promise<IdentityUser | null>;
  hasAssignment(t: AssignmentTarget): Promise<boolean>;
  /** Every principal assigned the permission set on the account. */
  listAssignments(instanceArn: string, accountId: string, permissionSetArn: string): Promise<ListedAssignment[]>;
  startCreation(t: AssignmentTarget): Promise<string>;
  creationStatus(instanceArn: string, requestId: string): Promise<OperationStatus>;
  startDeletion(t: AssignmentTarget, principalType?: 'USER' | 'GROUP'): Promise<string>;
  deletionStatus(instanceArn: string, requestId: string): Promise<OperationStatus>;
  /** The permission set's inline policy document ('' when it has none). */
  inlinePolicy(instanceArn: string, permissionSetArn: string): Promise<string>;
  /** Replaces the inline policy; null deletes it. In force in an account only once provisioned there. */
  putInlinePolicy(instanceArn: string, permissionSetArn: string, document: string | null): Promise<void>;
  /** Provisions the permission set to one account (never to all); the provisioning request id. */
  provision(instanceArn: string, permissionSetArn: string, accountId: string): Promise<string>;
  provisioningStatus(instanceArn: string, requestId: string): Promise<OperationStatus>;
  /** The permission set's session duration (ISO-8601), how long a session it issues lasts. */
  sessionDuration(instanceArn: string, permissionSetArn: string): Promise<string>;
  /** The permission set's name: its sessions are the role AWSReservedSSO_<name>_<suffix>. */
  permissionSetName(instanceArn: string, permissionSetArn: string): Promise<string>;
  /** Whether the user is a member of any of the groups. */
  memberOfAny(userId: string, groupIds: string[]): Promise<boolean>;
}

/** CloudTrail event history of the management account (LookupEvents), for session activity reports. */
export interface CloudTrailPort {
  /**
   * Every management event recorded in `region` whose Username is `userName`, from `start` to `end`
   * (both inclusive), all pages. Calls are paced under LookupEvents' 2 a second per Region; an
   * error (access denied, throttling beyond the retries, `signal` aborted) is thrown.
   */
  lookupByUsername(region: string, userName: string, start: string, end: string, signal?: AbortSignal): Promise<TrailEvent[]>;
}

export interface SlackUser {
  id: string;
  name: string;
  email: string | null;
  tz: string;
  deleted: boolean;
  isBot: boolean;
}

/** Who people are, from Slack; eligibility is checked at click time (services/eligibility.ts). */
export interface Directory {
  user(id: string): Promise<SlackUser | null>;
  /** Whether the person is one of `who`: a listed user, or a member of a listed user group now. */
  isIn(id: string, who: Principals): Promise<boolean>;
  /** Everyone `who` names, groups expanded (recent enough to mention people, not to decide). */
  members(who: Principals): Promise<string[]>;
}

/** A Slack delivery that did not happen, and whether it ever can. */
export class SlackDeliveryError extends Error {
  constructor(
    message: string,
    /** Seconds Slack asked us to wait (HTTP 429 Retry-After). */
    readonly retryAfterSeconds: number | null,
    /** Slack will never accept this (e.g. a user who cannot be messaged): skip rather than retry forever. */
    readonly permanent: boolean,
    /** Slack answered with a refusal, so nothing was posted (false for timeouts and network errors: it may have been). */
    readonly refused: boolean,
  ) {
    super(message);
    this.name = 'SlackDeliveryError';
  }
}

/** What the audit publisher needs of Slack. Calls must not retry on their own: the outbox is the retry. */
export interface AuditSlack {
  post(channel: string, message: SlackText & { threadTs?: string }): Promise<string>;
  update(channel: string, ts: string, message: SlackText): Promise<void>;
  dmChannel(userId: string): Promise<string>;
}

/** Publishes a person's App Home (views.publish). Calls must not retry on their own: a 429 surfaces with its Retry-After. */
export interface HomeSlack {
  publish(slackUserId: string, view: HomeView): Promise<void>;
}

/** A message: the fallback text people's notifications show, and its Block Kit blocks. */
export interface SlackText {
  text: string;
  blocks: KnownBlock[];
}

// ---------------------------------------------------------------- signals between workers

/** Services say "there is work"; the workers listen. Nothing reaches another part through the entry point. */
export interface Signals {
  /** Events were queued: deliver them soon. */
  eventsQueued(): void;
  /** A request needs lifecycle work now (grant, revoke): don't wait for the sweep. */
  workQueued(requestId: string): void;
  /** A request's next step was set for `at` (an expiry, a retry): wake for it then rather than at the next sweep. */
  workDue(requestId: string, at: string): void;
}

// ---------------------------------------------------------------- access reviews

/** A periodic access review as stored: its report (a snapshot), attestations and reminders. */
export interface ReviewRecord {
  id: string;
  status: 'open' | 'completed';
  startedAt: string;
  report: ReviewReport;
  /** Per reviewer (Slack id): when they attested and their note. */
  attestations: Record<string, { at: string; note: string | null }>;
  completedAt: string | null;
  /** When reviewers who have not attested are next reminded; null once completed. */
  nextReminderAt: string | null;
  /** Not completed by then: shouted once in the audit channel. */
  overdueAt: string;
  overdueShouted: boolean;
  /** Custodian confirmations: `<item index>:<holder>` → when. */
  confirmations: Record<string, string>;
  /** The review's message in the audit channel, once posted. */
  message: { channel: string; ts: string } | null;
}

export type AttestOutcome = 'attested' | 'completed' | 'already' | 'closed' | 'missing';

/** Reviews in the table: REVIEW#<id>, listed by start under REVIEWS and REVIEWS#<period> (no Scan). */
export interface ReviewStorePort {
  /** Stores a new review with its first event; false when one with this id exists (a scheduled review is started once). */
  create(review: ReviewRecord, event: DomainEvent): Promise<boolean>;
  get(id: string): Promise<ReviewRecord | null>;
  /** The newest reviews (of the period label when given), newest first. */
  latest(limit: number, periodLabel?: string): Promise<ReviewRecord[]>;
  /** Records one attestation (each reviewer once); the one that meets `required` completes the review in the same write. */
  attest(id: string, reviewer: string, note: string | null, at: string, required: number): Promise<AttestOutcome>;
  /** Queues events on a review (a refused attest); false when it does not exist. */
  appendEvents(id: string, events: DomainEvent[], now: string): Promise<boolean>;
  /** Counts a refused attest beside the review; this person's count (0 when there is no such review). */
  countRefusal(id: string, slackUserId: string): Promise<number>;
  /** Moves the next reminder from `seen` to `next` and queues its event; false when another replica did it first. */
  remind(id: string, seen: string, next: string, event: DomainEvent, now: string): Promise<boolean>;
  /** Marks an open review overdue once, with its event; false when already marked or closed. */
  markOverdue(id: string, event: DomainEvent, now: string): Promise<boolean>;
  /** Records a custodian's confirmation once, with its event; false when already confirmed. */
  confirmCustodian(id: string, key: string, event: DomainEvent, now: string): Promise<boolean>;
  /** When scheduled reviews began for this table: set on the first call, the same ever after. */
  scheduleSince(now: string): Promise<string>;
}

/** What the access review reads of Identity Center beyond breakglass's own permission sets. */
export interface AccessInventoryPort {
  /** Every permission set provisioned to the account. */
  permissionSetsOn(instanceArn: string, accountId: string): Promise<string[]>;
  permissionSetName(instanceArn: string, permissionSetArn: string): Promise<string>;
  /** Every principal assigned the permission set on the account. */
  listAssignments(instanceArn: string, accountId: string, permissionSetArn: string): Promise<ListedAssignment[]>;
  /** The group's display name (its id when it has none). */
  groupName(groupId: string): Promise<string>;
  /** The user ids of the group's members. */
  groupMembers(groupId: string): Promise<string[]>;
  /** The user's user name (its id when the user is gone). */
  userName(userId: string): Promise<string>;
}
