/**
 * The periodic access review: who can reach the management account, who may request and approve,
 * what breakglass was used for, and who holds the root credentials. Pure: the service gathers
 * the inputs (src/services/review.ts); this turns them into findings and renders them.
 */
import { DateTime } from 'luxon';
import { expand, type GroupMembers, type Policy, type ReviewPolicy } from './policy.ts';

/** What a review covers: the window of uses and decisions, and the calendar period it belongs to. */
export interface ReviewPeriod {
  /** "2026-12" (monthly) or "2026-Q4" (quarterly): the calendar period the review is held in. */
  label: string;
  /** Uses and decisions from `since` (inclusive) to `until` (exclusive). */
  since: string;
  until: string;
}

/** The calendar period `at` falls in, and the window before `at` a review then covers (one period long). */
export function reviewPeriod(every: ReviewPolicy['every'], at: string): ReviewPeriod {
  const t = DateTime.fromISO(at, { zone: 'utc' });
  const label = every === 'P1M' ? t.toFormat('yyyy-LL') : `${t.year}-Q${t.quarter}`;
  return { label, since: iso(t.minus({ months: every === 'P1M' ? 1 : 3 })), until: iso(t) };
}

/** When the period `at` falls in began, and when the next one begins. */
export function periodBounds(every: ReviewPolicy['every'], at: string): { start: string; next: string } {
  const unit = every === 'P1M' ? 'month' : 'quarter';
  const start = DateTime.fromISO(at, { zone: 'utc' }).startOf(unit);
  return { start: iso(start), next: iso(start.plus({ months: every === 'P1M' ? 1 : 3 })) };
}

const iso = (t: DateTime): string => t.toUTC().toISO() ?? '';

/** Why the policy's reviewers could never complete a review (fewer people than attestations needed); null when they can. */
export function reviewProblem(policy: Policy, groups: GroupMembers): string | null {
  const review = policy.review;
  if (!review) return null;
  const reviewers = expand(review.reviewers, groups).size;
  if (reviewers >= review.approvals) return null;
  return `review needs ${review.approvals} distinct reviewers to attest, but review.reviewers name ${reviewers}; add reviewers or lower review.approvals`;
}

/** Someone in Slack, as the review shows them. */
export interface Person {
  slackUserId: string;
  name: string;
  /** The Slack account is deactivated (or gone). */
  deactivated: boolean;
}

/** One Identity Center assignment on a management account, groups already expanded. */
export interface GatheredAssignment {
  accountId: string;
  permissionSetArn: string;
  permissionSetName: string;
  principalType: 'USER' | 'GROUP';
  principalId: string;
  principalName: string;
  /** A group's members (Identity Store user ids and names); empty for a user. */
  members: { userId: string; name: string }[];
}

/** A breakglass grant in force while the review was gathered. */
export interface ActiveGrant {
  requestId: string;
  accountId: string;
  permissionSetArn: string;
  principalId: string;
  requester: string;
  expiresAt: string | null;
}

/** Standing access the policy lists, resolved to an Identity Store user or group id. */
export interface ListedStanding {
  profileId: string;
  accountId: string;
  permissionSetArn: string;
  principalId: string;
}

/** Who may request and approve one profile, Slack user groups expanded. */
export interface ProfileAccess {
  profileId: string;
  profileName: string;
  requesters: string[];
  approvers: string[];
}

/** A grant that began in the period, from the audit chain. */
export interface PeriodUse {
  requestId: string;
  profileId: string;
  kind: 'access' | 'emergency' | 'extension';
  requester: string;
  approvers: string[];
  justification: string;
  duration: string;
  grantedAt: string;
  /** When the access ended, if it did within the record read. */
  endedAt: string | null;
  /** What its session activity report flagged (workloads by event name, a reason category not matched); null: no report yet. */
  activity: { flagged: string[]; category: string; complete: boolean } | null;
}

export interface ReviewInputs {
  id: string;
  period: ReviewPeriod;
  startedAt: string;
  startedBy: string | null;
  policy: { every: ReviewPolicy['every']; approvals: number; reviewers: string[] };
  assignments: GatheredAssignment[];
  standing: ListedStanding[];
  grants: ActiveGrant[];
  profiles: ProfileAccess[];
  /** Everyone named anywhere in the review. */
  people: Person[];
  /** Slack ids of everyone who approved or denied something in the period. */
  deciders: string[];
  uses: PeriodUse[];
  custodians: { item: string; holders: string[] }[];
}

export type FindingKind = 'assignment' | 'requester' | 'approver' | 'use' | 'custodian';

/**
 * One line of the review. `status` is what the reviewer judges: for an assignment, standing
 * (listed in the policy), grant (a breakglass grant in force) or unexplained (neither).
 */
export interface Finding {
  kind: FindingKind;
  /** What the finding is about, in words ("111111111111 OrgAdmin: USER rita"). */
  subject: string;
  status: string;
  /** Everything else a reviewer needs, in words. */
  detail: string;
  /** Needs a reviewer's attention: unexplained access, a deactivated account, an idle approver, a single custodian. */
  flagged: boolean;
}

export interface ReviewReport {
  id: string;
  period: ReviewPeriod;
  startedAt: string;
  startedBy: string | null;
  approvals: number;
  reviewers: string[];
  findings: Finding[];
}

/** Custodian items need at least this many active holders, so no item relies on one individual. */
export const MIN_CUSTODIANS = 2;

/** The findings of a review, in a stable order: assignments, requesters, approvers, uses, custodians. */
export function buildReview(input: ReviewInputs): ReviewReport {
  const people = new Map(input.people.map((p) => [p.slackUserId, p]));
  const who = (id: string): string => {
    const p = people.get(id);
    return p ? `${p.name} (${id})${p.deactivated ? ' [deactivated]' : ''}` : id;
  };
  const inactive = (id: string) => people.get(id)?.deactivated ?? false;
  const findings: Finding[] = [];

  const sorted = [...input.assignments].sort((a, b) =>
    `${a.accountId} ${a.permissionSetName} ${a.principalType} ${a.principalName}`.localeCompare(`${b.accountId} ${b.permissionSetName} ${b.principalType} ${b.principalName}`),
  );
  for (const a of sorted) {
    const same = (x: { accountId: string; permissionSetArn: string; principalId: string }) =>
      x.accountId === a.accountId && x.permissionSetArn === a.permissionSetArn && x.principalId === a.principalId;
    const standing = input.standing.filter(same);
    const grants = input.grants.filter(same);
    const status = standing.length > 0 ? 'standing' : grants.length > 0 ? 'grant' : 'unexplained';
    const why =
      status === 'standing'
        ? `standing access listed in the policy (profile ${[...new Set(standing.map((s) => s.profileId))].join(', ')})`
        : status === 'grant'
          ? grants.map((g) => `breakglass grant ${g.requestId} of ${who(g.requester)}, ends ${g.expiresAt ?? 'when revoked'}`).join('; ')
          : 'neither standing access listed in the policy nor a breakglass grant';
    const base = `${a.accountId} ${a.permissionSetName}`;
    findings.push({
      kind: 'assignment',
      subject: `${base}: ${a.principalType} ${a.principalName} (${a.principalId})`,
      status,
      detail: `${why}; permission set ${a.permissionSetArn}${a.principalType === 'GROUP' ? `; ${a.members.length} member${a.members.length === 1 ? '' : 's'}` : ''}`,
      flagged: status === 'unexplained',
    });
    for (const m of a.members) {
      findings.push({
        kind: 'assignment',
        subject: `${base}: USER ${m.name} (${m.userId}) through GROUP ${a.principalName}`,
        status,
        detail: `member of group ${a.principalName} (${a.principalId}); ${why}`,
        flagged: status === 'unexplained',
      });
    }
  }

  const deciders = new Set(input.deciders);
  for (const p of input.profiles) {
    for (const id of [...p.requesters].sort()) {
      findings.push({ kind: 'requester', subject: `${p.profileId}: ${who(id)}`, status: inactive(id) ? 'deactivated' : 'active', detail: `may request ${p.profileName}`, flagged: inactive(id) });
    }
    for (const id of [...p.approvers].sort()) {
      const idle = !deciders.has(id);
      const status = inactive(id) ? 'deactivated' : idle ? 'no decisions' : 'active';
      findings.push({
        kind: 'approver',
        subject: `${p.profileId}: ${who(id)}`,
        status,
        detail: `may approve ${p.profileName}; ${idle ? 'decided nothing' : 'decided'} between ${input.period.since} and ${input.period.until}`,
        flagged: status !== 'active',
      });
    }
  }

  for (const u of [...input.uses].sort((a, b) => a.grantedAt.localeCompare(b.grantedAt))) {
    const a = u.activity;
    const activity = !a
      ? 'activity: no report yet'
      : `activity: ${a.flagged.length > 0 ? `flagged ${a.flagged.join(', ')}` : 'nothing flagged'}; reason category ${a.category}${a.complete ? '' : '; report incomplete'}`;
    findings.push({
      kind: 'use',
      subject: `${u.requestId} ${u.profileId}: ${who(u.requester)}`,
      status: u.kind,
      detail: `granted ${u.grantedAt} for ${u.duration}${u.endedAt ? `, ended ${u.endedAt}` : ''}; approvers: ${u.approvers.length > 0 ? u.approvers.map(who).join(', ') : 'none'}; justification: ${u.justification}; ${activity}`,
      flagged: u.kind === 'emergency' || (a !== null && (a.flagged.length > 0 || a.category === 'not-matched')),
    });
  }

  for (const c of input.custodians) {
    const active = c.holders.filter((h) => !inactive(h));
    const single = active.length < MIN_CUSTODIANS;
    findings.push({
      kind: 'custodian',
      subject: c.item,
      status: active.length === 0 ? 'no active holder' : single ? 'single holder' : 'ok',
      detail: `holders: ${c.holders.length > 0 ? c.holders.map(who).join(', ') : 'none'}${single ? `; relies on ${active.length === 0 ? 'nobody active' : 'one individual'}, needs at least ${MIN_CUSTODIANS} active holders` : ''}`,
      flagged: single,
    });
  }

  return { id: input.id, period: input.period, startedAt: input.startedAt, startedBy: input.startedBy, approvals: input.policy.approvals, reviewers: input.policy.reviewers, findings };
}

/** An attestation as the report shows it. */
export interface Attestation {
  reviewer: string;
  at: string;
  note: string | null;
}

export type ReportFormat = 'md' | 'csv' | 'json';

const CSV_FIELDS = ['review', 'period', 'kind', 'subject', 'status', 'flagged', 'detail'] as const;

/** RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled; lines end in CRLF. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** The report for auditors: every finding (and every attestation) on its own line in CSV. */
export function renderReport(report: ReviewReport, attestations: Attestation[], completedAt: string | null, format: ReportFormat): string {
  if (format === 'json') return `${JSON.stringify({ ...report, attestations, completedAt }, null, 2)}\n`;
  if (format === 'csv') {
    const rows = report.findings.map((f) => [report.id, report.period.label, f.kind, f.subject, f.status, f.flagged ? 'yes' : 'no', f.detail]);
    for (const a of attestations) rows.push([report.id, report.period.label, 'attestation', a.reviewer, 'attested', 'no', `${a.at}${a.note ? `; note: ${a.note}` : ''}`]);
    return [CSV_FIELDS as readonly string[], ...rows].map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
  }
  const md = (s: string) => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
  const lines = [
    `# Access review ${report.id} (${report.period.label})`,
    '',
    `Started ${report.startedAt}${report.startedBy ? ` by ${report.startedBy}` : ''}; uses and decisions from ${report.period.since} to ${report.period.until}.`,
    `Status: ${completedAt ? `completed ${completedAt}` : `open, ${attestations.length} of ${report.approvals} attestations`}.`,
    '',
  ];
  const titles: Record<FindingKind, string> = {
    assignment: 'Assignments in Identity Center',
    requester: 'Who may request',
    approver: 'Who may approve',
    use: 'Breakglass uses in the period',
    custodian: 'Root-credential custodians',
  };
  for (const kind of Object.keys(titles) as FindingKind[]) {
    const of = report.findings.filter((f) => f.kind === kind);
    lines.push(`## ${titles[kind]}`, '');
    if (of.length === 0) {
      lines.push('None.', '');
      continue;
    }
    lines.push('| | subject | status | detail |', '|---|---|---|---|');
    for (const f of of) lines.push(`| ${f.flagged ? '⚠' : ''} | ${md(f.subject)} | ${md(f.status)} | ${md(f.detail)} |`);
    lines.push('');
  }
  lines.push('## Attestations', '');
  if (attestations.length === 0) lines.push('None yet.');
  for (const a of attestations) lines.push(`- ${a.reviewer} at ${a.at}${a.note ? `: ${md(a.note)}` : ''}`);
  return `${lines.join('\n')}\n`;
}
