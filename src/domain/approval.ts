import { humanInstant } from './duration.ts';
import { kindOf, type AccessRequest, type Approval, type Denial, type RuleSnapshot } from './request.ts';

export type ApprovalRejection =
  | { kind: 'self'; message: string }
  | { kind: 'ineligible'; message: string }
  | { kind: 'not_pending'; message: string }
  | { kind: 'expired'; message: string }
  | { kind: 'duplicate'; message: string };

export type ApprovalOutcome =
  | { ok: true; approvals: Approval[]; tally: Tally; quorumReached: boolean; counts: boolean }
  | { ok: false; rejection: ApprovalRejection };

/** The rules a request is decided under; requests stored before rules existed have one rule of `approvalsRequired`. */
export function rulesOf(r: Pick<AccessRequest, 'rules' | 'approvalsRequired'>): RuleSnapshot[] {
  return r.rules ?? [{ count: r.approvalsRequired, label: 'approvers' }];
}

const rulesOfApproval = (a: Approval): number[] => a.rules ?? [0];

/** Who counts toward which rule: each person toward one rule at most, as many rules met as possible. */
export interface Tally {
  /** Per rule, the people counted toward it. */
  perRule: string[][];
  counted: number;
  required: number;
  met: boolean;
}

/**
 * Matches people to rule places (a rule of count n has n places; a person fills one place of a
 * rule they qualify for) so that as many places as possible are filled: Kuhn's augmenting paths.
 * A person in two rules' pools is moved to the other rule when that lets someone else fill theirs.
 */
export function tally(rules: readonly { count: number }[], people: readonly { id: string; rules: readonly number[] }[]): Tally {
  const places: number[] = [];
  rules.forEach((rule, i) => {
    for (let n = 0; n < rule.count; n++) places.push(i);
  });
  const holder: (number | null)[] = places.map(() => null);
  const tryPerson = (p: number, seen: boolean[]): boolean => {
    const person = people[p];
    if (!person) return false;
    for (let s = 0; s < places.length; s++) {
      if (seen[s] || !person.rules.includes(places[s] ?? -1)) continue;
      seen[s] = true;
      const current = holder[s];
      if (current === null || current === undefined || tryPerson(current, seen)) {
        holder[s] = p;
        return true;
      }
    }
    return false;
  };
  people.forEach((_p, i) => tryPerson(i, places.map(() => false)));
  const perRule: string[][] = rules.map(() => []);
  holder.forEach((p, s) => {
    const id = p === null || p === undefined ? undefined : people[p]?.id;
    const rule = places[s];
    if (id !== undefined && rule !== undefined) perRule[rule]?.push(id);
  });
  const counted = holder.filter((h) => h !== null).length;
  return { perRule, counted, required: places.length, met: counted === places.length };
}

/** The request's approvals as they count now. */
export function tallyOf(r: Pick<AccessRequest, 'rules' | 'approvalsRequired' | 'approvals'>): Tally {
  return tally(
    rulesOf(r),
    r.approvals.map((a) => ({ id: a.slackUserId, rules: rulesOfApproval(a) })),
  );
}

/** Whether approvals are taken now: a pending request before its timeout, or an emergency grant not yet ratified or rejected. */
export function openForDecisions(request: AccessRequest, at: string): ApprovalRejection | null {
  if (kindOf(request) === 'emergency') {
    const e = request.emergency;
    if (!e || e.ratifiedAt || e.rejected || !['APPROVED', 'GRANTING', 'ACTIVE'].includes(request.status)) {
      const state = e?.ratifiedAt ? 'ratified' : e?.rejected ? 'rejected' : request.status.toLowerCase();
      return { kind: 'not_pending', message: `This emergency access is no longer waiting for ratification (it is ${state}).` };
    }
    if (at >= e.ratifyBy) {
      return { kind: 'expired', message: `The time to ratify this emergency access ended at ${humanInstant(e.ratifyBy, 'UTC')}; it is being revoked.` };
    }
    return null;
  }
  if (request.status !== 'PENDING') {
    return { kind: 'not_pending', message: `This request is no longer waiting for a decision (it is ${request.status.toLowerCase()}).` };
  }
  if (at >= request.pendingUntil) return expired(request);
  return null;
}

/**
 * Counts one approval. Eligibility is decided by the caller at click time: `eligibleRules` are
 * the rules this person may count toward now (none: not an approver of this request). The
 * requester never counts, the same person counts once however often they click, and someone
 * who denied cannot also approve.
 */
export function evaluateApproval(request: AccessRequest, approverSlackId: string, eligibleRules: readonly number[], at: string): ApprovalOutcome {
  const closed = openForDecisions(request, at);
  if (closed) return { ok: false, rejection: closed };
  if (approverSlackId === request.requester.slackUserId) {
    return { ok: false, rejection: { kind: 'self', message: 'You cannot approve your own request.' } };
  }
  if (eligibleRules.length === 0) {
    return {
      ok: false,
      rejection: { kind: 'ineligible', message: 'You are not an approver for this request, so your approval was not counted. (Just added to an approver group? Slack is asked again within seconds; try once more.)' },
    };
  }
  if (request.approvals.some((a) => a.slackUserId === approverSlackId)) {
    return { ok: false, rejection: { kind: 'duplicate', message: 'You have already approved this request; it counts once.' } };
  }
  if ((request.denials ?? []).some((d) => d.slackUserId === approverSlackId)) {
    return { ok: false, rejection: { kind: 'duplicate', message: 'You denied this request; your denial stands.' } };
  }
  const before = tallyOf(request);
  const approvals = [...request.approvals, { slackUserId: approverSlackId, at, rules: [...eligibleRules] }];
  const after = tallyOf({ ...request, approvals });
  return { ok: true, approvals, tally: after, quorumReached: after.met, counts: after.counted > before.counted };
}

export type DenyOutcome = { ok: true; denials: Denial[]; final: boolean; approvals: Approval[] } | { ok: false; rejection: ApprovalRejection };

/** The pending timeout is part of every decision: a click after it never counts, however late the sweeper is. */
function expired(request: AccessRequest): ApprovalRejection {
  return { kind: 'expired', message: `This request expired at ${humanInstant(request.pendingUntil, 'UTC')} without enough approvals; nothing you do now counts. The requester can ask again.` };
}

/**
 * Counts one denial. `denialsRequired` distinct denials end the request (an emergency: one). A
 * person who approved and now denies withdraws their approval.
 */
export function evaluateDenial(request: AccessRequest, approverSlackId: string, eligible: boolean, at: string, reason: string): DenyOutcome {
  const closed = openForDecisions(request, at);
  if (closed) return { ok: false, rejection: closed };
  if (approverSlackId === request.requester.slackUserId) {
    return { ok: false, rejection: { kind: 'self', message: 'You cannot decide your own request; use /breakglass cancel to withdraw it.' } };
  }
  if (!eligible) {
    return { ok: false, rejection: { kind: 'ineligible', message: 'Only approvers of this request can deny it.' } };
  }
  const earlier = request.denials ?? [];
  if (earlier.some((d) => d.slackUserId === approverSlackId)) {
    return { ok: false, rejection: { kind: 'duplicate', message: 'You have already denied this request; it counts once.' } };
  }
  const denials = [...earlier, { slackUserId: approverSlackId, at, reason }];
  const required = kindOf(request) === 'emergency' ? 1 : (request.denialsRequired ?? 1);
  return { ok: true, denials, final: denials.length >= required, approvals: request.approvals.filter((a) => a.slackUserId !== approverSlackId) };
}
