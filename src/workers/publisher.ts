import type { Logger } from 'pino';
import { GENESIS_HASH, recordHash, signCheckpoint, type ChainKey, type ChainRecord, type Checkpoint } from '../audit/chain.ts';
import type { Policy } from '../domain/policy.ts';
import type { AccessRequest } from '../domain/request.ts';
import type { ChainAnchors } from '../audit/anchors.ts';
import { SlackDeliveryError, type AuditSlack, type Clock, type DeliveryStep, type DriftAlert, type ItemKey, type OutboxItem, type OutboxPort, type QueuedEvent, type SlackText } from '../services/ports.ts';
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
const DELIVERY_LEASE_MS = 30_000;

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
  private lastAppended: ChainRecord | null = null;
  private failures = new Map<string, number>();
  /** When this replica's delivery claim on each item it is delivering runs out (epoch ms). */
  private readonly claims = new Map<string, number>();
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
    await this.chainLoop.idle();
    await this.slackLoop.idle();
  }

  /** Every item with undelivered events, including those waiting out a Slack failure: the chain does not wait. */
  private async chainPass(): Promise<void> {
    let chained = false;
    for (const listed of await this.o.outbox.pending(null)) {
      if (!listed.outbox.some((e) => !e.done?.chain)) continue;
      // The index is eventually consistent: decide on a consistent read of the item.
      const item = await this.o.outbox.read(listed.key);
      if (item?.outbox.some((e) => !e.done?.chain)) {
        await this.chainAll(item);
        chained = true;
      }
    }
    // What was just recorded can now go to Slack.
    if (chained && !this.stopped) this.slackLoop.kick();
    if (await this.checkpoint(false)) this.chainLoop.kick();
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
    for (const item of await this.o.outbox.pending(new Date(this.now()).toISOString())) await this.deliverItem(item.key);
  }

  private async deliverItem(key: ItemKey): Promise<void> {
    // Not in the record yet (a consistent read: the index may lag): the chain loop gets to it
    // first and kicks this loop again, so no claim is written for nothing.
    if (!(await this.o.outbox.read(key))?.outbox[0]?.done?.chain) return;
    if (!(await this.claimDelivery(key))) return;
    try {
      await this.deliverEvents(key);
    } finally {
      this.claims.delete(keyId(key));
      await this.o.outbox.releaseDelivery(key, this.o.owner);
    }
  }

  /**
   * Holds the item's delivery claim for at least two thirds of a lease: claimed afresh only when
   * less than that is left, so the steps of one delivery pass share one claim write rather than
   * renewing it before each Slack call.
   */
  private async claimDelivery(key: ItemKey): Promise<boolean> {
    const now = this.now();
    const id = keyId(key);
    const held = this.claims.get(id);
    if (held !== undefined && held - now > (DELIVERY_LEASE_MS * 2) / 3) return true;
    const until = now + DELIVERY_LEASE_MS;
    const claimed = await this.o.outbox.claimDelivery(key, this.o.owner, new Date(now).toISOString(), new Date(until).toISOString());
    if (claimed) this.claims.set(id, until);
    else this.claims.delete(id);
    return claimed;
  }

  private async deliverEvents(key: ItemKey): Promise<void> {
    for (;;) {
      const fresh = await this.o.outbox.read(key);
      const event = fresh?.outbox[0];
      // An event goes to Slack only once it is in the record; the chain loop gets to it first.
      if (!fresh || !event || !event.done?.chain) return;
      if (this.now() < this.slackPausedUntil) {
        await this.o.outbox.defer(key, new Date(this.slackPausedUntil).toISOString());
        return;
      }
      try {
        await this.slackAll(fresh, event);
      } catch (err) {
        await this.deferAfterFailure(key, err);
        return;
      }
      this.failures.delete(keyId(key));
      await this.o.outbox.pop(key, event.id, fresh.outbox.length === 1);
    }
  }

  /** Every queued event of the item goes into the chain in order, before any Slack work, so Slack trouble never delays the record. */
  private async chainAll(item: OutboxItem): Promise<void> {
    for (let i = 0; i < item.outbox.length; i++) {
      const event = item.outbox[i];
      if (!event || event.done?.chain) continue;
      if (!(await this.appendToChain(item.key, i, event))) return;
    }
  }

  /**
   * Appends one event exactly once, even with replicas racing: its position
   * is reserved on the event first (conditional on the reservation we read),
   * so a crash after the write is recognised and nobody appends it twice.
   */
  private async appendToChain(key: ItemKey, at: number, first: QueuedEvent): Promise<boolean> {
    let index = at;
    let event = first;
    for (let attempt = 0; attempt < 50; attempt++) {
      if (event.done?.chain) return true;
      const reserved = event.chainSeq ?? null;
      // The last record this process wrote is usually still the head (the conditional put says when not);
      // a reservation is only ever judged against a fresh head.
      const head = reserved === null && attempt === 0 && this.lastAppended ? this.lastAppended : await this.o.outbox.chainHead();
      const seq = (head?.seq ?? 0) + 1;
      if (head?.keyId && !this.o.chainKey) {
        // Unsigned records after signed ones would read as a rewrite: the event waits (nothing is lost) for a process that holds the key.
        this.o.log.warn({ event: 'audit.needs_key', eventId: event.id }, 'the audit chain is signed and BREAKGLASS_AUDIT_KEY is not set here; the event waits for the bot');
        return false;
      }
      if (reserved !== null && reserved < seq) {
        // The reserved position is filled: by this event (a replica or an earlier crash got there), or by another one.
        const existing = await this.o.outbox.chainRecord(reserved);
        if (existing?.eventId === event.id) return this.markChained(key, index, event.id);
      }
      // Reservations only move up, past positions known to hold other events, so the event can land in one place only.
      if (reserved === seq || (await this.o.outbox.reserveSeq(key, index, event.id, seq, reserved))) {
        const signer = this.o.chainKey ?? null;
        const base = {
          seq,
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
          this.lastAppended = record;
          if (event.type !== 'audit.checkpoint') this.sinceCheckpoint++;
          this.o.log.info(
            { event: event.type, at: event.at, requestId: event.requestId, actor: event.actor, details: event.details, seq, hash: record.hash },
            `audit ${event.type}`,
          );
          return this.markChained(key, index, event.id);
        }
      }
      // Someone else moved first (another event took the position, another replica is appending this one,
      // or a delivered event left the front and this one moved down): look again.
      this.lastAppended = null;
      const found = await this.locate(key, event.id);
      if (!found) return false;
      ({ index, event } = found);
    }
    throw new Error('could not append to the audit chain after 50 attempts');
  }

  /** Where the event is in its item's outbox now: events leave only from the front (delivered), so it can only have moved down. */
  private async locate(key: ItemKey, eventId: string): Promise<{ index: number; event: QueuedEvent } | null> {
    const outbox = (await this.o.outbox.read(key))?.outbox ?? [];
    const index = outbox.findIndex((e) => e.id === eventId);
    const event = outbox[index];
    return event ? { index, event } : null;
  }

  /** Marks the event as in the chain, wherever it has moved to meanwhile (gone: it was delivered, so it was marked). */
  private async markChained(key: ItemKey, index: number, eventId: string): Promise<boolean> {
    if (await this.o.outbox.markDone(key, index, eventId, 'chain')) return true;
    const found = await this.locate(key, eventId);
    return found ? this.o.outbox.markDone(key, found.index, eventId, 'chain') : true;
  }

  private async slackAll(item: OutboxItem, event: QueuedEvent): Promise<void> {
    const request = event.requestId && !item.key.pk.startsWith('REVIEW#') ? toRequest(item.item) : null;
    for (const step of slackSteps(event, request)) {
      if (event.done?.[step]) continue;
      if (!(await this.claimDelivery(item.key))) throw new Error('lost the delivery claim to another replica');
      // A post that was started before but never recorded may have landed: say so on the repeat.
      const repeat = event.tried?.[step] === true;
      if (isPost(step) && !repeat) await this.o.outbox.markTried(item.key, event.id, step);
      try {
        const extra = await this.deliverStep(step, item, event, request, repeat);
        await this.o.outbox.markDone(item.key, 0, event.id, step, extra ?? undefined);
      } catch (err) {
        if (err instanceof SlackDeliveryError && err.refused && isPost(step)) await this.o.outbox.clearTried(item.key, event.id, step);
        if (err instanceof SlackDeliveryError && err.permanent) {
          this.o.log.warn({ event: 'audit.slack_skipped', step, eventId: event.id, error: err.message }, 'Slack will not accept this delivery; skipped');
          await this.o.outbox.markDone(item.key, 0, event.id, step);
          continue;
        }
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
  ): Promise<{ path: string[]; value: unknown } | null> {
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
          await this.o.outbox.setPath(item.key, ['slack', 'auditThread'], thread);
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

  private async deferAfterFailure(key: ItemKey, err: unknown): Promise<void> {
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
    await this.o.outbox.defer(key, new Date(this.now() + waitMs).toISOString());
  }
}

const keyId = (k: ItemKey) => `${k.pk}/${k.sk}`;

/** The full session activity report (stored on the request) for its event; null for any other event. */
function activityReport(request: AccessRequest, event: QueuedEvent, forRequester: boolean): SlackText | null {
  const a = request.activity;
  if (event.type !== 'activity.reported' || !a?.report || !a.digest) return null;
  return activityReportMessage(request, a.report, a.digest, { forRequester });
}
