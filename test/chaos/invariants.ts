/**
 * The invariants the chaos suite holds the bot to, checked after a run has
 * settled (and, for timing, against what the assignment monitor saw while it
 * ran). Each returns plain-language violations rather than throwing at the
 * first, so one report shows everything that went wrong in a run.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventOf, verifyChain, type ChainRecord } from '../../src/audit/chain.ts';
import type { EventType } from '../../src/domain/events.ts';
import type { AccessRequest } from '../../src/domain/request.ts';
import { auditReply, REPEAT_NOTE } from '../../src/slack/blocks/messages.ts';

/** Drops a reply marked as a repeat when it repeats the reply just before it (or is the only trace of it). */
function withoutMarkedRepeats(replies: string[]): string[] {
  const out: string[] = [];
  for (const r of replies) {
    if (r.endsWith(REPEAT_NOTE)) {
      const base = r.slice(0, -REPEAT_NOTE.length);
      if (out[out.length - 1] !== base) out.push(base);
      continue;
    }
    out.push(r);
  }
  return out;
}
import { AWS_MAX_OUTSTANDING_CREATIONS, type Person, type Rig } from './rig.ts';

export interface Tracked {
  id: string;
  who: Person;
  /** The requester held the assignment before breakglass granted anything (ic.addAssignment). */
  preexisting?: boolean;
}

export interface InvariantOptions {
  /** Sweep interval plus the small bound: how long after expiry (counting only time a bot runs) an assignment may live. */
  allowanceMs: number;
  /** Check the expiry deadline (off when the test itself makes Identity Center fail deletions). */
  deadlines?: boolean;
  /** How many FAILED grants the test caused on purpose (failNextCreations). */
  failedCreationsInjected?: number;
}

export interface RunStats {
  requests: number;
  revoked: number;
  failed: number;
  chainRecords: number;
  createCalls: number;
  deleteCalls: number;
  maxOutstandingCreationsSeen: number;
}

const iso = (t: number) => new Date(t).toISOString();

const ONCE_IF_GRANTED: EventType[] = ['request.submitted', 'request.approved', 'grant.started', 'grant.succeeded', 'revoke.started'];
const ONCE_IF_FAILED: EventType[] = ['request.submitted', 'request.approved', 'grant.started', 'grant.failed'];

export async function readChain(rig: Rig): Promise<ChainRecord[]> {
  const records: ChainRecord[] = [];
  for await (const r of rig.outbox.chain()) records.push(r);
  return records;
}

export function replyText(r: ChainRecord): string {
  return auditReply(eventOf(r));
}

/** Every invariant over the whole run; an empty list means the run was safe. */
export async function checkInvariants(rig: Rig, tracked: Tracked[], o: InvariantOptions): Promise<{ violations: string[]; stats: RunStats }> {
  const v: string[] = [];
  rig.monitor.sample();
  const chain = await readChain(rig);

  // The chain: verifies, and holds each event once.
  const verified = verifyChain(chain.map((record) => ({ record })));
  if (!verified.ok) v.push(`audit chain does not verify: seq ${verified.seq} ${verified.problem}`);
  const seen = new Map<string, number>();
  for (const r of chain) seen.set(r.eventId, (seen.get(r.eventId) ?? 0) + 1);
  for (const [eventId, n] of seen) {
    if (n > 1) {
      const r = chain.find((c) => c.eventId === eventId);
      v.push(`audit event ${eventId} (${r?.type} of ${r?.requestId}) is in the chain ${n} times`);
    }
  }
  const undelivered = await rig.undelivered();
  if (undelivered > 0) v.push(`${undelivered} outbox item(s) still hold undelivered audit events`);

  let revoked = 0;
  let failed = 0;
  for (const t of tracked) {
    const r = await rig.requests.get(t.id);
    if (!r) {
      v.push(`${t.id}: request missing from the store`);
      continue;
    }
    if (r.status === 'REVOKED') revoked++;
    if (r.status === 'FAILED') failed++;
    // Doubled chain records are reported above; judge the request on its distinct events.
    const own = chain.filter((c) => c.requestId === t.id).filter((c, i, all) => all.findIndex((x) => x.eventId === c.eventId) === i);
    v.push(...checkRequest(rig, t, r, own, o));
  }
  if (failed > (o.failedCreationsInjected ?? 0)) {
    v.push(`${failed} grant(s) FAILED but the test made only ${o.failedCreationsInjected ?? 0} creation(s) fail`);
  }

  // Access the bot did not give is never removed.
  for (const p of [rig.holder, rig.bystander]) {
    const gaps = rig.monitor.missing.get(p.principal ?? '') ?? [];
    if (gaps.length > 0) v.push(`pre-existing assignment of ${p.slack} (${p.principal}) was missing at ${gaps.length} sample(s), first at ${iso(gaps[0] ?? 0)}`);
    if (!rig.holds(p.principal)) v.push(`pre-existing assignment of ${p.slack} is gone at the end`);
  }

  const highWater = rig.ic.maxOutstandingCreationsSeen;
  if (highWater > AWS_MAX_OUTSTANDING_CREATIONS) {
    v.push(`${highWater} CreateAccountAssignment operations were outstanding at once (AWS allows ${AWS_MAX_OUTSTANDING_CREATIONS})`);
  }
  for (const f of rig.findings) v.push(`at ${iso(f.at)}: ${f.what}`);

  return {
    violations: v,
    stats: {
      requests: tracked.length,
      revoked,
      failed,
      chainRecords: chain.length,
      createCalls: rig.ic.callsTo('CreateAccountAssignment').filter((c) => c.status === 200).length,
      deleteCalls: rig.ic.callsTo('DeleteAccountAssignment').filter((c) => c.status === 200).length,
      maxOutstandingCreationsSeen: highWater,
    },
  };
}

function checkRequest(rig: Rig, t: Tracked, r: AccessRequest, events: ChainRecord[], o: InvariantOptions): string[] {
  const v: string[] = [];
  const id = t.id;
  const principal = t.who.principal ?? '';
  const count = (type: string) => events.filter((e) => e.type === type).length;

  if (r.status !== 'REVOKED' && r.status !== 'FAILED') v.push(`${id}: ended ${r.status}, expected REVOKED (or FAILED)`);

  // Approvals: distinct people, counted once each, exactly the quorum.
  const approvers = r.approvals.map((a) => a.slackUserId);
  if (new Set(approvers).size !== approvers.length) v.push(`${id}: an approver is counted twice: ${approvers.join(', ')}`);
  if (approvers.length !== r.approvalsRequired) v.push(`${id}: ${approvers.length} approvals stored, quorum is ${r.approvalsRequired}`);
  const given = events.filter((e) => e.type === 'approval.given');
  if (given.length !== approvers.length) v.push(`${id}: ${given.length} approval.given events for ${approvers.length} stored approvals`);
  const byApprover = new Map<string, number>();
  for (const e of given) byApprover.set(e.actor?.slackUserId ?? '?', (byApprover.get(e.actor?.slackUserId ?? '?') ?? 0) + 1);
  for (const [who, n] of byApprover) if (n > 1) v.push(`${id}: approval by ${who} recorded ${n} times`);

  // One grant: at most one CreateAccountAssignment Identity Center accepted for this request.
  const creations = rig.successfulCreations(principal).length;
  if (creations > 1) v.push(`${id}: ${creations} CreateAccountAssignment calls succeeded (at most one grant per request)`);
  if (t.preexisting && creations > 0) v.push(`${id}: the user already held the assignment, yet the bot created it ${creations} time(s)`);
  if (!t.preexisting && r.status === 'REVOKED' && creations === 0) v.push(`${id}: REVOKED without the bot ever creating the assignment`);
  if (!t.preexisting && r.grant.alreadyHeld) {
    v.push(`${id}: the bot recorded the access as already held ("${r.grant.alreadyHeld}") though only the bot created it — its revoke will leave it in place`);
  }

  // Each lifecycle event once.
  const once = r.status === 'FAILED' ? ONCE_IF_FAILED : ONCE_IF_GRANTED;
  for (const type of once) if (count(type) !== 1) v.push(`${id}: ${count(type)} × ${type} in the audit chain (expected 1)`);
  if (r.status === 'REVOKED') {
    const done = count('revoke.succeeded') + count('revoke.kept');
    if (done !== 1) v.push(`${id}: ${done} × revoke.succeeded/revoke.kept in the audit chain (expected 1)`);
    if (t.preexisting && count('revoke.kept') !== 1) v.push(`${id}: the pre-existing assignment was not recorded as kept`);
    const ended = count('access.ended');
    if (ended !== (r.revoke?.reason === 'ended' ? 1 : 0)) v.push(`${id}: ${ended} × access.ended for a revoke because "${r.revoke?.reason}"`);
    if (count('grant.failed') > 0) v.push(`${id}: grant.failed in the chain of a request that was granted`);
  }
  if (r.status === 'FAILED') {
    for (const type of ['grant.succeeded', 'revoke.started'] as const) if (count(type) > 0) v.push(`${id}: ${count(type)} × ${type} for a FAILED grant`);
    if (count('revoke.succeeded') > 1) v.push(`${id}: ${count('revoke.succeeded')} × revoke.succeeded (clean-up) for a FAILED grant`);
  }

  // The audit thread shows exactly the (distinct) chained events, once each, in order. The one
  // exception Slack's API leaves: a post started just before a crash, not known to have landed, is
  // posted again marked as a repeat (no idempotency key; no history scope to check). So there is a
  // parent, at most one unmarked; when the first try never reached Slack, the only one is marked.
  const parents = rig.auditParents(id);
  const unmarkedParents = parents.filter((p) => !(p.text ?? '').endsWith(REPEAT_NOTE));
  if (parents.length === 0 || unmarkedParents.length > 1 || parents.length - unmarkedParents.length > 1) {
    v.push(`${id}: ${parents.length} audit thread parents, ${unmarkedParents.length} of them unmarked (expected one, or a marked repeat after a crash)`);
  }
  const replies = withoutMarkedRepeats(parents.flatMap((p) => rig.slack.thread(p.channel, p.ts)).map((m) => m.text ?? ''));
  const expected = events.map(replyText);
  if (JSON.stringify(replies) !== JSON.stringify(expected)) {
    const extra = multisetMinus(replies, expected);
    const missing = multisetMinus(expected, replies);
    v.push(
      `${id}: audit thread has ${replies.length} replies for ${expected.length} chained events` +
        (extra.length > 0 ? `; extra/duplicated: ${JSON.stringify(extra)}` : '') +
        (missing.length > 0 ? `; missing: ${JSON.stringify(missing)}` : '') +
        (extra.length === 0 && missing.length === 0 ? '; same replies, different order' : ''),
    );
  }

  // The time-box starts when access is granted: a grant that landed in Identity Center is recorded promptly.
  const firstSeen = rig.monitor.firstSeen(principal);
  if (!t.preexisting && firstSeen !== null && r.grant.grantedAt && (o.deadlines ?? true)) {
    const recordBy = rig.revokeDeadline(firstSeen, o.allowanceMs);
    const grantedAt = Date.parse(r.grant.grantedAt);
    if (recordBy !== null && grantedAt > recordBy) {
      v.push(
        `${id}: the user held the assignment from ${iso(firstSeen)} but the grant (and its time-box) was only recorded at ${r.grant.grantedAt}, ` +
          `${grantedAt - recordBy} ms after the bound: access lasted ${Math.round((grantedAt - firstSeen) / 1000)} s longer than the approved ${r.duration}`,
      );
    }
  }

  // The assignment: gone in time, gone at the end (unless it was the user's own before).
  if (!t.preexisting) {
    if (rig.holds(principal)) v.push(`${id}: ${principal} still holds the assignment at the end (status ${r.status})`);
    if ((o.deadlines ?? true) && r.grant.expiresAt) {
      const expiresAt = Date.parse(r.grant.expiresAt);
      const deadline = rig.revokeDeadline(expiresAt, o.allowanceMs);
      const late = deadline === null ? [] : (rig.monitor.present.get(principal) ?? []).filter((at) => at > deadline);
      if (deadline !== null && late.length > 0) {
        v.push(
          `${id}: assignment outlived its expiry: expired ${r.grant.expiresAt}, had to be gone by ${iso(deadline)} ` +
            `(${o.allowanceMs} ms of bot up-time after expiry), still held until ${iso(late.at(-1) ?? 0)} (${(late.at(-1) ?? 0) - deadline} ms late)`,
        );
      }
    }
  }
  return v;
}

function multisetMinus(a: string[], b: string[]): string[] {
  const rest = [...b];
  const out: string[] = [];
  for (const x of a) {
    const i = rest.indexOf(x);
    if (i >= 0) rest.splice(i, 1);
    else out.push(x);
  }
  return out;
}

/** A failure message that always carries the seed, the logs and every violation (call rig.dump() first for the artifacts). */
export function describeFailure(label: string, seed: number, rig: Rig, violations: string[], extra = ''): string {
  const text = [
    `[${label}] CHAOS_SEED=${seed}: ${violations.length} invariant violation(s)${extra ? ` (${extra})` : ''}`,
    ...violations.map((x) => `  - ${x}`),
    `  bot logs: ${rig.logs()}; chain, Slack audit channel and Identity Center calls in ${rig.dir}`,
    `  bot up-time: ${rig.timeline.map((i) => `${i.bot} ${iso(i.from)}→${i.to ? iso(i.to) : 'end'}`).join('; ')}`,
  ].join('\n');
  rig.keep = true;
  try {
    writeFileSync(join(rig.dir, 'violations.txt'), `${text}\n`);
  } catch {
    // the message itself carries everything
  }
  return text;
}
