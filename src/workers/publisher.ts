import type { Logger } from 'pino';
import { GENESIS_HASH, recordHash, signCheckpoint, type ChainKey, type ChainRecord, type Checkpoint } from '../audit/chain.ts';
import type { Policy } from '../domain/policy.ts';
import type { AccessRequest } from '../domain/request.ts';
import type { ChainAnchors } from '../audit/anchors.ts';
import { DELIVERY_LEASE_MS, SlackDeliveryError, type AuditSlack, type ChainedEvent, type Clock, type DeliveredAt, type DeliveryProgress, type DeliveryStep, type DriftAlert, type ItemKey, type OutboxItem, type OutboxPort, type QueuedEvent, type SlackText } from '../services/ports.ts';
import { approvalMessage, approvalThreadReply, approverEmergencyDm, auditParent, auditReply, closedDriftAlert, markRepeat, repliesInApprovalThread, requesterDm, systemAlert } from '../slack/blocks/messages.ts';
import { toRequest } from '../store/requests.ts';
import { activityReportMessage } from '../slack/blocks/activity.ts';
import { toReview } from '../store/reviews.ts';
import { custodianDm, reviewMessage, reviewOverdue, reviewReply } from '../slack/blocks/review.ts';


type Step = Exclude<DeliveryStep, 'chain'>;

const ALERTS = new Set(['audit.checkpoint', 'quorum.unsafe', 'drift.detected', 'drift.revoked', 'drift.resolved', 'revoke_all.started', 'revoke_all.finished', 'freeze.set', 'freeze.lifted']);

/** Events of an access review (on its REVIEW# item): the review message, its thread, custodian DMs. */
function reviewSteps(e: QueuedEvent): Step[] | null {
  switch (e.type) {
    case 'review.started':
      return ['reviewPost', ...e.details.custodians.map((u): Step => `notify:${u}`)];
    case 'review.attested':
    case 'review.completed':
      return ['thread', 'views'];
    case 'review.reminded':
    case 'custodian.confirmed':
      return ['thread'];
    case 'review.overdue':
      return ['shout'];
    default:
      return null;
  }
}

/** Which Slack deliveries each event gets, beyond the chain and the log line. */
function slackSteps(e: QueuedEvent, request: AccessRequest | null): Step[] {
  const review = reviewSteps(e);
  if (review) return review;
  if (!e.requestId || !request) {
    if (e.type === 'drift.revoked' || e.type === 'drift.resolved') return ['shout', 'alertUpdate'];
    return ALERTS.has(e.type) ? ['shout'] : [];
  }
  const steps: Step[] = [];
  if (e.type === 'request.submitted') steps.push('approvalMessage');
  if (repliesInApprovalThread(request, e)) steps.push('approvalThread');
  steps.push('thread', 'dm', 'views');
  if (e.type === 'revoke.failed' || (e.type === 'sessions.retrying' && e.details.attempt >= 3) || e.type === 'emergency.invoked' || e.type === 'emergency.rejected') steps.push('shout');
  // Every approver who may ratify an emergency hears of it directly, one recorded step each.
  if (e.type === 'emergency.invoked') steps.push(...e.details.notified.map((u): Step => `notify:${u}`));
  return steps;
}

/** Slack steps that post a new message (a repeat would show twice); updates are idempotent. */
const POSTS = new Set<DeliveryStep>(['reviewPost', 'approvalMessage', 'approvalThread', 'thread', 'dm', 'shout']);
const isPost = (step: DeliveryStep) => POSTS.has(step) || step.startsWith('notify:');
/**
 * An event the Slack loop could deliver now is chained by it, just before its first post (one
 * pass, no extra write); the chain loop takes over when it has waited this long (Slack slow or
 * another replica holding the claim), so the record never waits on Slack for more than this.
 */
const CHAIN_GRACE_MS = 3000;
/** Delivery progress (and chain positions) kept in memory for events whose record of it could not be written. */
const PROGRESS_KEPT = 1000;

export interface PublisherOptions {
  /** This process, as the holder of delivery claims. */
  owner: string;
  outbox: OutboxPort;
  /** Null: record events in the chain only and leave the Slack deliveries queued (the CLI, when Slack may be down). */
  slack: AuditSlack | null;
  policy: Policy;
  log: Logger;
  clock: Clock;
  /** Signs each record (HMAC) so the chain cannot be recomputed without it; null: plain SHA-256. */
  chainKey?: ChainKey | null;
  /** Where the chain's head is anchored outside the chain, and how often. */
  checkpoints?: ChainAnchors['checkpoints'] | null;
  /** Told of every request change (at its `views` step), to refresh the App Homes it shows on; it must return at once. */
  homes?: { changed(request: AccessRequest): void } | null;
  /** Pause after a failed Slack call, doubled per consecutive failure up to the cap. */
  retryBaseMs?: number;
  retryCapMs?: number;
}

/** Runs `work` when kicked; kicks during a run fold into one more run. */
class Coalesced {
  private running: Promise<void> | null = null;
  private again = false;

  constructor(
    private readonly work: () => Promise<void>,
    private readonly onError: (err: unknown) => void,
  ) {}

  kick(): void {
    this.again = true;
    if (!this.running) this.running = this.drain();
  }

  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  busy(): boolean {
    return this.running !== null;
  }

  /** Runs the work once now, never beside another run of it, and lets its error through (a kick meanwhile runs after). */
  async runExclusive(): Promise<void> {
    while (this.running) await this.running;
    const run = this.work();
    this.running = run
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        this.running = null;
        if (this.again) this.kick();
      });
    await run;
  }

  /** Clears `running` in the same step that sees no kick pending, so a kick can never fall between the two. */
  private async drain(): Promise<void> {
    try {
      while (this.again) {
        this.again = false;
        try {
          await this.work();
        } catch (err) {
          this.onError(err);
        }
      }
    } finally {
      this.running = null;
    }
  }
}

/**
 * Delivers queued events: first to the hash chain (and the JSON log), then
 * to Slack (approval message, audit thread, requester DM). Every step is
 * recorded on the event as it completes, so a crash, a Slack outage or a 429
 * repeats nothing and loses nothing; events of one request go out in order.
 * It runs off the interactive path: listeners only queue.
 */
export class AuditPublisher {
  private stopTimer: (() => void) | null = null;
  private slackPausedUntil = 0;
  private stopped = false;
  private failures = new Map<string, number>();
  /** Events this process knows are in the chain (event id → position) that are still queued. */
  private readonly chained = new Map<string, number>();
  /** Appends in flight, so the two loops never append the same event side by side. */
  private readonly appending = new Map<string, Promise<number | null>>();
  /** The newest stretch of the chain this process has read or written. */
  private readonly recent = new RecentChain(2000);
  /** What this process delivered of events it could not record it for (the write failed): a retry here repeats none of it. */
  private readonly progress = new Map<string, DeliveryProgress>();
  private readonly now: () => number;
  /** Two loops: the record is written at once; Slack, at Slack's pace, must never hold it up. */
  private readonly chainLoop: Coalesced;
  private readonly slackLoop: Coalesced;

  /** Records this process appended since its last checkpoint (checkpoint notes themselves not counted). */
  private sinceCheckpoint = 0;
  private lastCheckpointAt: number;
  /** The newest checkpoint the archive has not taken yet (S3 down): retried at every pass. */
  private unarchived: Checkpoint | null = null;

  constructor(private readonly o: PublisherOptions) {
    this.now = () => o.clock.ms();
    this.lastCheckpointAt = this.now();
    const onError = (err: unknown) => this.o.log.error({ err, event: 'audit.publish_error' }, 'audit publisher pass failed');
    this.chainLoop = new Coalesced(() => this.chainPass(), onError);
    this.slackLoop = new Coalesced(() => this.slackPass(), onError);
  }

  start(intervalMs: number): void {
    this.stopTimer = this.o.clock.every(intervalMs, () => this.kick());
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopTimer?.();
    this.stopTimer = null;
    await this.idle();
    // Anchor where the chain stands as this process leaves it.
    await this.checkpoint(true).catch((err: unknown) => this.o.log.error({ err, event: 'audit.checkpoint_failed' }, 'could not write the closing checkpoint'));
  }

  /** Deliver soon; concurrent kicks fold into one more pass. */
  kick(): void {
    if (this.stopped) return;
    this.chainLoop.kick();
    this.slackLoop.kick();
  }

  /** Resolves when every queued event that can be delivered now has been. */
  async idle(): Promise<void> {
    // Each loop may kick the other (a Slack pass that chained events kicks the chain loop for its checkpoint).
    while (this.chainLoop.busy() || this.slackLoop.busy()) {
      await this.chainLoop.idle();
      await this.slackLoop.idle();
    }
  }

  /**
   * Every item with events not known to be in the chain, except those the Slack loop is about to
   * deliver (it chains them first): the record never waits on Slack for longer than CHAIN_GRACE_MS.
   */
  private async chainPass(): Promise<void> {
    for (const listed of await this.o.outbox.pending(null)) {
      if (!listed.outbox.some((e) => this.knownSeq(e) === undefined) || this.deliveringSoon(listed)) continue;
      // The index is eventually consistent: decide on a consistent read of the item.
      const item = await this.o.outbox.read(listed.key);
      if (item) await this.chainAll(item);
    }
    // The checkpoint's note is an event like any other: delivered (and chained) by the Slack loop, or here.
    if (await this.checkpoint(false)) this.kick();
  }

  /** The Slack loop of this process will deliver the item's events now, so it chains them itself. */
  private deliveringSoon(listed: OutboxItem): boolean {
    const now = this.now();
    const it = listed.item;
    if (!this.o.slack || now < this.slackPausedUntil || typeof it.outboxAt !== 'string' || Date.parse(it.outboxAt) > now) return false;
    return listed.outbox.every((e) => this.knownSeq(e) !== undefined || now - Date.parse(e.at) < CHAIN_GRACE_MS);
  }

  /**
   * Anchors the chain's head outside the chain when enough records or time went by since the
   * last checkpoint: in the table, in the archive (S3 Object Lock) when there is one, and in the
   * audit channel (its note goes through the chain like any event). True when a note was queued.
   */
  private async checkpoint(closing: boolean): Promise<boolean> {
    const c = this.o.checkpoints;
    if (!c) return false;
    const now = this.now();
    const due = this.sinceCheckpoint >= c.everyEvents || (this.sinceCheckpoint > 0 && (closing || now - this.lastCheckpointAt >= c.everyMs));
    let queued = false;
    if (due) {
      const head = await this.o.outbox.chainHead();
      if (!head) return false;
      const cp = signCheckpoint(head.seq, head.hash, new Date(now).toISOString(), this.o.chainKey ?? null);
      await c.store.put(cp);
      this.sinceCheckpoint = 0;
      this.lastCheckpointAt = now;
      this.unarchived = cp;
      if (!closing) {
        await this.o.outbox.appendSystem(
          [{ type: 'audit.checkpoint', requestId: null, actor: null, details: { seq: cp.seq, hash: cp.hash, keyId: cp.keyId, archived: c.archive !== null } }],
          cp.at,
        );
        queued = true;
      }
    }
    const pending = this.unarchived;
    if (c.archive && pending) {
      try {
        await c.archive.put(pending);
        if (this.unarchived === pending) this.unarchived = null;
      } catch (err) {
        this.o.log.error({ err, event: 'audit.archive_failed', seq: pending.seq }, 'could not store the checkpoint in the archive; retrying');
      }
    }
    return queued;
  }

  /** One full pass: the chain, then the Slack deliveries that are due; never beside the loops' own passes (a post could go out twice). */
  async runOnce(): Promise<void> {
    await this.chainLoop.runExclusive();
    await this.slackLoop.runExclusive();
  }

  private async slackPass(): Promise<void> {
    if (!this.o.slack) return;
    const appended = this.sinceCheckpoint;
    for (const item of await this.o.outbox.pending(new Date(this.now()).toISOString())) await this.deliverItem(item);
    // The chain loop anchors the chain: it may be time to.
    if (this.sinceCheckpoint !== appended && !this.stopped) this.chainLoop.kick();
  }

  /**
   * Delivers an item's events in order, each in one pass: chained (if it is not yet), posted,
   * then dropped with where its posts went in one write. The delivery claim is usually already
   * ours (the write that queued the events took it); a claim that ran out under another owner
   * means that owner stopped mid-delivery, so the head event's posts say they may be repeats.
   */
  private async deliverItem(listed: OutboxItem): Promise<void> {
    const { key } = listed;
    const claim = { until: 0, inDoubt: false };
    // Claims (or renews) the delivery when less than two thirds of the lease is left; false when another replica holds it.
    const hold = async (): Promise<boolean> => {
      const now = this.now();
      if (claim.until - now >= (DELIVERY_LEASE_MS * 2) / 3) return true;
      const previous = await this.o.outbox.claim(key, this.o.owner, new Date(now).toISOString(), new Date(now + DELIVERY_LEASE_MS).toISOString());
      if (!previous) return false;
      claim.until = now + DELIVERY_LEASE_MS;
      claim.inDoubt ||= previous.owner !== null && previous.owner !== this.o.owner;
      return true;
    };
    for (;;) {
      const fresh = await this.o.outbox.read(key);
      const event = fresh?.outbox[0];
      if (!fresh || !event) return;
      const now = this.now();
      const owner = typeof fresh.item.deliveryOwner === 'string' ? fresh.item.deliveryOwner : null;
      const until = typeof fresh.item.deliveryUntil === 'string' ? Date.parse(fresh.item.deliveryUntil) : 0;
      if (owner !== null && owner !== this.o.owner && until >= now) return;
      if (now < this.slackPausedUntil) {
        await this.endPass(fresh, null, new Date(this.slackPausedUntil).toISOString());
        return;
      }
      // Ours already when the write that queued the events took it.
      if (owner === this.o.owner) claim.until = Math.max(claim.until, until);
      if (!(await hold())) return;
      // The record first, all of the item's events in order: Slack trouble with the head never holds up the rest.
      let chained = true;
      for (const e of fresh.outbox) {
        chained = (await this.ensureChained(key, e)) !== null;
        if (!chained) break;
      }
      if (this.knownSeq(event) === undefined) {
        await this.o.outbox.release(key, this.o.owner);
        return;
      }
      const progress = this.progressOf(event);
      try {
        await this.slackAll(fresh, event, progress, claim.inDoubt, hold);
      } catch (err) {
        // Another replica took the item over (our claim ran out): what we did is theirs to doubt.
        if (err instanceof LostClaim) return;
        await this.endPass(fresh, progress, new Date(this.now() + this.retryWait(key, err)).toISOString());
        return;
      }
      // Only the head event was in doubt: its successors were never started.
      claim.inDoubt = false;
      this.failures.delete(keyId(key));
      // Read again (a read costs less than a conditional write that fails): events queued while
      // this one was posted mean it is not the last.
      const last = fresh.outbox.length === 1 && (await this.o.outbox.read(key))?.outbox.length === 1;
      // Others were queued behind it when read: it cannot be the last (events are only ever appended).
      const dropped = (last && (await this.o.outbox.delivered(key, event.id, progress.stored, true))) || (await this.o.outbox.delivered(key, event.id, progress.stored, false));
      this.forget(event.id);
      if (!dropped || !chained) {
        // Someone else dropped it (our claim ran out), or the next event must wait for a process with the audit key: let go.
        await this.o.outbox.release(key, this.o.owner);
        return;
      }
    }
  }

  /** Ends a delivery pass early in one write: how far the head got, what is in the chain, when to try again; the claim is let go. */
  private async endPass(item: OutboxItem, progress: DeliveryProgress | null, retryAt: string): Promise<void> {
    const chained = this.unmarked(item);
    const event = item.outbox[0];
    const recorded = await this.o.outbox.stopped(item.key, this.o.owner, progress && event ? progress : null, chained, retryAt);
    if (!recorded) {
      await this.o.outbox.defer(item.key, retryAt);
      return;
    }
    for (const c of chained) this.chained.delete(c.eventId);
    if (event) this.progress.delete(event.id);
  }

  private progressOf(event: QueuedEvent): DeliveryProgress {
    let p = this.progress.get(event.id);
    if (!p) {
      p = { eventId: event.id, done: [], tried: [], stored: [] };
      if (this.progress.size >= PROGRESS_KEPT) this.progress.delete(this.progress.keys().next().value as string);
      this.progress.set(event.id, p);
    }
    return p;
  }

  /** Where this process put an event in the chain, kept like progress: forgetting costs only a read (append finds the record). */
  private remember(eventId: string, seq: number): void {
    if (this.chained.size >= PROGRESS_KEPT) this.chained.delete(this.chained.keys().next().value as string);
    this.chained.set(eventId, seq);
  }

  private forget(eventId: string): void {
    this.chained.delete(eventId);
    this.progress.delete(eventId);
  }

  /** Where the event is in the chain, as far as this process knows without asking. */
  private knownSeq(e: QueuedEvent): number | undefined {
    return e.done?.chain ? (e.chainSeq ?? 0) : this.chained.get(e.id);
  }

  /** Events of the item this process chained that the item does not say are chained. */
  private unmarked(item: OutboxItem): ChainedEvent[] {
    return item.outbox.flatMap((e, index) => {
      const seq = this.chained.get(e.id);
      return !e.done?.chain && seq !== undefined ? [{ index, eventId: e.id, seq }] : [];
    });
  }

  /** Every queued event of the item goes into the chain in order, and the item records where (one write). */
  private async chainAll(item: OutboxItem): Promise<void> {
    for (const event of item.outbox) {
      if ((await this.ensureChained(item.key, event)) === null) break;
    }
    let current: OutboxItem | null = item;
    // A delivered event may leave the front meanwhile: the marks go where the events are now.
    for (let attempt = 0; attempt < 5 && current; attempt++) {
      const chained = this.unmarked(current);
      if (chained.length === 0) return;
      if (await this.o.outbox.markChained(current.key, chained)) {
        // The item says so now.
        for (const c of chained) this.chained.delete(c.eventId);
        return;
      }
      current = await this.o.outbox.read(item.key);
    }
  }

  /** The event's position in the chain, appending it if nobody has; null when it must wait (see append). */
  private ensureChained(key: ItemKey, event: QueuedEvent): Promise<number | null> {
    const known = this.knownSeq(event);
    if (known !== undefined) return Promise.resolve(known);
    let appending = this.appending.get(event.id);
    if (!appending) {
      appending = this.append(key, event).finally(() => this.appending.delete(event.id));
      this.appending.set(event.id, appending);
    }
    return appending;
  }

  /**
   * Appends one event exactly once, even with replicas racing and answers lost: every append
   * first reads the chain from the event's floor to the head, so it finds the event if anyone
   * (this process before a crash included) appended it, and then writes only at the head's next
   * position, conditionally; positions fill in order, so a record of it cannot appear below that
   * position between the read and the write.
   */
  private async append(key: ItemKey, event: QueuedEvent): Promise<number | null> {
    // Events queued before floors existed: the position reserved for them was the only one they could take.
    const floor = event.chainFloor ?? event.chainSeq ?? 0;
    for (let attempt = 0; attempt < 50; attempt++) {
      // What this process already read of the stretch is history (records never change): only what came after is read again.
      const known = this.recent.from(floor);
      const fresh = await this.o.outbox.chainFrom(known?.at(-1)?.seq ?? floor);
      this.recent.add(fresh);
      const records = [...(known ?? []), ...fresh];
      const found = records.find((r) => r.eventId === event.id);
      if (found) {
        this.remember(event.id, found.seq);
        return found.seq;
      }
      const head = records.at(-1) ?? (await this.o.outbox.chainHead());
      if (head?.keyId && !this.o.chainKey) {
        // Unsigned records after signed ones would read as a rewrite: the event waits (nothing is lost) for a process that holds the key.
        this.o.log.warn({ event: 'audit.needs_key', eventId: event.id }, 'the audit chain is signed and BREAKGLASS_AUDIT_KEY is not set here; the event waits for the bot');
        return null;
      }
      const signer = this.o.chainKey ?? null;
      const base = {
        seq: (head?.seq ?? 0) + 1,
        at: event.at,
        type: event.type,
        requestId: event.requestId,
        actor: event.actor,
        details: event.details,
        eventId: event.id,
        prevHash: head?.hash ?? GENESIS_HASH,
        ...(signer ? { keyId: signer.id } : {}),
      };
      const record: ChainRecord = { ...base, hash: recordHash(base, signer) };
      if (await this.o.outbox.putChainRecord(record)) {
        this.recent.add([record]);
        this.remember(event.id, record.seq);
        if (event.type !== 'audit.checkpoint') this.sinceCheckpoint++;
        this.o.log.info(
          { event: event.type, at: event.at, requestId: event.requestId, actor: event.actor, details: event.details, seq: record.seq, hash: record.hash, item: keyId(key) },
          `audit ${event.type}`,
        );
        return record.seq;
      }
      // Another record took the position: look again.
    }
    throw new Error('could not append to the audit chain after 50 attempts');
  }

  private async slackAll(item: OutboxItem, event: QueuedEvent, progress: DeliveryProgress, inDoubt: boolean, hold: () => Promise<boolean>): Promise<void> {
    // What an earlier try of this process delivered but could not record.
    for (const stored of progress.stored) setAt(item.item, stored);
    const request = event.requestId && !item.key.pk.startsWith('REVIEW#') ? toRequest(item.item) : null;
    for (const step of slackSteps(event, request)) {
      if (event.done?.[step] || progress.done.includes(step)) continue;
      if (!(await hold())) throw new LostClaim();
      // A post that was started before but never recorded may have landed: say so on the repeat.
      const repeat = isPost(step) && (event.tried?.[step] === true || progress.tried.includes(step) || inDoubt);
      try {
        const stored = await this.deliverStep(step, item, event, request, repeat, progress);
        if (stored) progress.stored.push(stored);
        progress.done.push(step);
      } catch (err) {
        if (err instanceof SlackDeliveryError && err.permanent) {
          this.o.log.warn({ event: 'audit.slack_skipped', step, eventId: event.id, error: err.message }, 'Slack will not accept this delivery; skipped');
          progress.done.push(step);
          continue;
        }
        if (isPost(step) && !(err instanceof SlackDeliveryError && err.refused) && !progress.tried.includes(step)) progress.tried.push(step);
        throw err;
      }
    }
  }

  private async deliverStep(
    step: Step,
    item: OutboxItem,
    event: QueuedEvent,
    request: AccessRequest | null,
    repeat: boolean,
    progress: DeliveryProgress,
  ): Promise<DeliveredAt | null> {
    const mark = (m: SlackText): SlackText => (repeat ? markRepeat(m) : m);
    const { channels } = this.o.policy;
    const slack = this.o.slack;
    if (!slack) return null;
    if (item.key.pk.startsWith('REVIEW#')) return this.deliverReviewStep(slack, step, item, event, mark);
    if (step === 'shout') {
      if (request) {
        const text = `${auditReply(event)} (request \`${request.id}\`)`;
        await slack.post(channels.audit, mark({ text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] }));
        return null;
      }
      const ts = await slack.post(channels.audit, mark(systemAlert(event)));
      return event.type === 'drift.detected' ? { path: ['alertMessage'], value: { channel: channels.audit, ts } } : null;
    }
    if (step === 'alertUpdate') {
      const alert = item.item.alertMessage as { channel: string; ts: string } | null | undefined;
      if (alert) await slack.update(alert.channel, alert.ts, closedDriftAlert(item.item as unknown as DriftAlert, event));
      return null;
    }
    if (!request) return null;
    if (step.startsWith('notify:')) {
      if (event.type !== 'emergency.invoked') return null;
      const channel = await slack.dmChannel(step.slice('notify:'.length));
      await slack.post(channel, mark(approverEmergencyDm(request, event)));
      return null;
    }
    switch (step) {
      case 'approvalMessage': {
        if (request.slack.approvalMessage) return null;
        const ts = await slack.post(channels.approvals, mark(approvalMessage(request)));
        request.slack.approvalMessage = { channel: channels.approvals, ts, ...(repeat ? { repeated: true } : {}) };
        return { path: ['slack', 'approvalMessage'], value: request.slack.approvalMessage };
      }
      case 'approvalThread': {
        // request.submitted, delivered first, posted the approval message; with none (Slack refused it for good) there is no thread to reply in.
        const approval = request.slack.approvalMessage;
        const reply = approval ? approvalThreadReply(request, event) : null;
        if (approval && reply) await slack.post(approval.channel, { ...mark(reply), threadTs: approval.ts });
        return null;
      }
      case 'thread': {
        let thread = request.slack.auditThread;
        if (!thread) {
          const ts = await slack.post(channels.audit, mark(auditParent(request)));
          thread = { channel: channels.audit, ts, ...(repeat ? { repeated: true } : {}) };
          request.slack.auditThread = thread;
          // Recorded with the reply, or with what stopped it: the parent is never posted twice by this pass's retries.
          progress.stored.push({ path: ['slack', 'auditThread'], value: thread });
        }
        const text = auditReply(event);
        const report = activityReport(request, event, false);
        await slack.post(thread.channel, { ...mark(report ?? { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] }), threadTs: thread.ts });
        return null;
      }
      case 'dm': {
        const profile = this.o.policy.profiles.find((p) => p.id === request.profileId);
        const dm = activityReport(request, event, true) ?? requesterDm(request, event, { accessPortalUrl: this.o.policy.identityCenter.accessPortalUrl, endsSessions: profile?.endSessions ?? true, now: new Date(this.now()).toISOString() });
        if (!dm) return null;
        const channel = await slack.dmChannel(request.requester.slackUserId);
        await slack.post(channel, mark(dm));
        return null;
      }
      case 'views': {
        this.homesChanged(request);
        const shown = (where: { repeated?: boolean }, m: SlackText) => (where.repeated ? markRepeat(m) : m);
        const { approvalMessage: approval, auditThread: thread } = request.slack;
        if (approval) await slack.update(approval.channel, approval.ts, shown(approval, approvalMessage(request)));
        if (thread) await slack.update(thread.channel, thread.ts, shown(thread, auditParent(request)));
        return null;
      }
    }
    return null;
  }

  /** An access review's deliveries: the message in the audit channel (kept current), its thread, the custodians' DMs. */
  private async deliverReviewStep(slack: AuditSlack, step: Step, item: OutboxItem, event: QueuedEvent, mark: (m: SlackText) => SlackText): Promise<{ path: string[]; value: unknown } | null> {
    const review = toReview(item.item);
    const audit = this.o.policy.channels.audit;
    if (step === 'reviewPost') {
      if (review.message) return null;
      const ts = await slack.post(audit, mark(reviewMessage(review)));
      return { path: ['message'], value: { channel: audit, ts } };
    }
    if (step === 'shout' && event.type === 'review.overdue') {
      await slack.post(audit, mark(reviewOverdue(event)));
      return null;
    }
    if (step.startsWith('notify:') && event.type === 'review.started') {
      const holder = step.slice('notify:'.length);
      const items = this.o.policy.custodians.flatMap((c, index) => (c.holders.includes(holder) ? [{ index, item: c.item }] : []));
      if (items.length === 0) return null;
      await slack.post(await slack.dmChannel(holder), mark(custodianDm(review.id, items)));
      return null;
    }
    // The thread and the update need the posted message (none when Slack refused it for good).
    if (!review.message) return null;
    if (step === 'thread') {
      const reply = reviewReply(event);
      if (reply) await slack.post(review.message.channel, { ...mark({ text: reply, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: reply } }] }), threadTs: review.message.ts });
    }
    if (step === 'views') await slack.update(review.message.channel, review.message.ts, reviewMessage(review));
    return null;
  }

  /** The homes are derived state, refreshed on their own schedule: nothing there may hold up or fail this delivery. */
  private homesChanged(request: AccessRequest): void {
    try {
      this.o.homes?.changed(request);
    } catch (err) {
      this.o.log.warn({ err, event: 'home.refresh_failed', requestId: request.id }, 'App Homes could not be told of a change');
    }
  }

  /** How long the item waits after a failed Slack call: doubled per consecutive failure, at least what Retry-After says. */
  private retryWait(key: ItemKey, err: unknown): number {
    const id = keyId(key);
    const failures = (this.failures.get(id) ?? 0) + 1;
    this.failures.set(id, failures);
    const base = this.o.retryBaseMs ?? 1000;
    let waitMs = Math.min(this.o.retryCapMs ?? 15_000, base * 2 ** (failures - 1));
    if (err instanceof SlackDeliveryError && err.retryAfterSeconds !== null) {
      waitMs = Math.max(waitMs, err.retryAfterSeconds * 1000);
      this.slackPausedUntil = Math.max(this.slackPausedUntil, this.now() + err.retryAfterSeconds * 1000);
    }
    this.o.log.warn({ event: 'audit.slack_retry', item: id, failures, waitMs, error: (err as Error).message }, 'Slack delivery failed; will retry');
    return waitMs;
  }
}

const keyId = (k: ItemKey) => `${k.pk}/${k.sk}`;

/**
 * The newest stretch of the chain a process has read or written, in order and without gaps.
 * Records never change once written, so an append looks here first and reads from the table only
 * what came after (20 events chained at once each read the whole stretch from their floor).
 */
class RecentChain {
  private records: ChainRecord[] = [];

  constructor(private readonly cap: number) {}

  /** The records from `seq` on, when this stretch reaches back that far and holds any; null otherwise. */
  from(seq: number): ChainRecord[] | null {
    const first = this.records[0];
    if (!first || first.seq > Math.max(seq, 1)) return null;
    const tail = this.records.slice(Math.max(0, seq - first.seq));
    return tail.length > 0 ? tail : null;
  }

  /** Adds records read or written, themselves in order and without gaps. */
  add(records: ChainRecord[]): void {
    const first = records[0];
    if (!first) return;
    const have = this.records[0];
    const last = this.records.at(-1);
    if (!have || !last || first.seq < have.seq || first.seq > last.seq + 1) this.records = [...records];
    else for (const r of records) if (r.seq === (this.records.at(-1)?.seq ?? 0) + 1) this.records.push(r);
    if (this.records.length > this.cap) this.records.splice(0, this.records.length - this.cap);
  }
}

class LostClaim extends Error {
  constructor() {
    super('lost the delivery claim to another replica');
  }
}

/** Stores a delivered-at value on an item as read, as the write that records it will. */
function setAt(target: Record<string, unknown>, stored: DeliveredAt): void {
  let at = target;
  for (const p of stored.path.slice(0, -1)) {
    if (typeof at[p] !== 'object' || at[p] === null) at[p] = {};
    at = at[p] as Record<string, unknown>;
  }
  at[stored.path.at(-1) as string] = stored.value;
}

/** The full session activity report (stored on the request) for its event; null for any other event. */
function activityReport(request: AccessRequest, event: QueuedEvent, forRequester: boolean): SlackText | null {
  const a = request.activity;
  if (event.type !== 'activity.reported' || !a?.report || !a.digest) return null;
  return activityReportMessage(request, a.report, a.digest, { forRequester });
}
