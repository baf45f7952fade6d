/**
 * The session activity report: what a grant's sessions did, read from CloudTrail after the grant
 * ended, judged against what the management account is for. Pure: the events come in, a report
 * goes out.
 */
import { Duration } from 'luxon';
import type { ReasonCategory } from './categories.ts';
import { humanDuration } from './duration.ts';

/** One CloudTrail management event, as the report needs it. */
export interface TrailEvent {
  eventId: string;
  /** ISO-8601 UTC. */
  time: string;
  /** e.g. organizations.amazonaws.com */
  source: string;
  name: string;
  region: string;
  readOnly: boolean;
  errorCode: string | null;
  /** userIdentity.arn of the record (null when it has none). */
  principalArn: string | null;
}

/** CloudTrail delivers an event to its event history up to about 15 minutes after the call. */
export const DELIVERY_LAG_MS = 15 * 60_000;
/** Write calls kept on the request item (its 400 KB limit); the count of the rest is kept. */
export const MAX_STORED_WRITES = 300;

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Whether a record was made in the user's session of the permission set in the account: Identity
 * Center sessions are the role `AWSReservedSSO_<permission set name>_<16 hex>` assumed with the
 * user name as the session name. LookupEvents filters by Username only, which other roles' sessions
 * of the same name share.
 */
export function isSessionOf(arn: string | null, accountId: string, permissionSetName: string, userName: string): boolean {
  if (!arn) return false;
  const re = new RegExp(`^arn:aws[a-z-]*:sts::${escapeRegExp(accountId)}:assumed-role/AWSReservedSSO_${escapeRegExp(permissionSetName)}_[0-9a-f]{16}/${escapeRegExp(userName)}$`);
  return re.test(arn);
}

/** Lambda and some others carry their API version in the event name (CreateFunction20150331, UpdateFunctionCode20150331v2). */
export const baseEventName = (name: string): string => name.replace(/\d{8}(v\d+)?$/, '');

const ORGANIZATIONS = 'organizations.amazonaws.com';

/**
 * Calls that only the management account can make (AWS Organizations User Guide, "Best practices
 * for the management account" and the Organizations API reference), by reason category.
 */
const ORGANIZATIONS_CALLS: Record<string, ReasonCategory> = {
  CreateAccount: 'account-lifecycle',
  CreateGovCloudAccount: 'account-lifecycle',
  CloseAccount: 'account-lifecycle',
  InviteAccountToOrganization: 'account-lifecycle',
  CancelHandshake: 'account-lifecycle',
  MoveAccount: 'account-lifecycle',
  RemoveAccountFromOrganization: 'account-lifecycle',
  CreateOrganizationalUnit: 'organization-structure',
  UpdateOrganizationalUnit: 'organization-structure',
  DeleteOrganizationalUnit: 'organization-structure',
  CreatePolicy: 'organization-structure',
  UpdatePolicy: 'organization-structure',
  DeletePolicy: 'organization-structure',
  AttachPolicy: 'organization-structure',
  DetachPolicy: 'organization-structure',
  EnablePolicyType: 'organization-structure',
  DisablePolicyType: 'organization-structure',
  EnableAllFeatures: 'organization-structure',
  PutResourcePolicy: 'organization-structure',
  DeleteResourcePolicy: 'organization-structure',
  TagResource: 'organization-structure',
  UntagResource: 'organization-structure',
  RegisterDelegatedAdministrator: 'delegated-administration',
  DeregisterDelegatedAdministrator: 'delegated-administration',
  EnableAWSServiceAccess: 'delegated-administration',
  DisableAWSServiceAccess: 'delegated-administration',
};

/** Services managed from the management account for the whole organization. */
const SOURCE_CATEGORY: Record<string, ReasonCategory> = {
  'billing.amazonaws.com': 'billing',
  'billingconsole.amazonaws.com': 'billing',
  'ce.amazonaws.com': 'billing',
  'payments.amazonaws.com': 'billing',
  'tax.amazonaws.com': 'billing',
  'invoicing.amazonaws.com': 'billing',
  'cur.amazonaws.com': 'billing',
  // Alternate contacts and Regions of member accounts are set from the management account.
  'account.amazonaws.com': 'billing',
  'sso.amazonaws.com': 'identity-center',
  'sso-directory.amazonaws.com': 'identity-center',
  'identitystore.amazonaws.com': 'identity-center',
};

/** Services' own "make this account the delegated administrator" calls, made from the management account. */
const DELEGATION_CALL = /^(Enable|Disable)OrganizationAdminAccount$|^(Enable|Disable)DelegatedAdminAccount$|^(Associate|Disassociate)AdminAccount$/;

/**
 * Calls that create or run workloads. AWS's guidance is that the management account holds no
 * workloads (Organizations User Guide, "Best practices for the management account"); these are
 * the create/run calls of the common compute, storage, database, network and deployment services,
 * by their CloudTrail event source and name.
 */
const WORKLOAD_CALLS: Record<string, readonly string[]> = {
  'ec2.amazonaws.com': ['RunInstances', 'CreateFleet', 'RequestSpotInstances', 'RequestSpotFleet', 'CreateVpc', 'CreateSubnet', 'CreateNatGateway', 'CreateInternetGateway', 'CreateVolume'],
  's3.amazonaws.com': ['CreateBucket'],
  'lambda.amazonaws.com': ['CreateFunction'],
  'rds.amazonaws.com': ['CreateDBInstance', 'CreateDBCluster', 'RestoreDBInstanceFromDBSnapshot', 'RestoreDBClusterFromSnapshot'],
  'cloudformation.amazonaws.com': ['CreateStack'],
  'ecs.amazonaws.com': ['CreateCluster', 'CreateService', 'RunTask'],
  'eks.amazonaws.com': ['CreateCluster', 'CreateNodegroup'],
  'dynamodb.amazonaws.com': ['CreateTable'],
  'elasticloadbalancing.amazonaws.com': ['CreateLoadBalancer'],
  'autoscaling.amazonaws.com': ['CreateAutoScalingGroup'],
  'elasticache.amazonaws.com': ['CreateCacheCluster', 'CreateReplicationGroup'],
  'redshift.amazonaws.com': ['CreateCluster'],
  'es.amazonaws.com': ['CreateDomain', 'CreateElasticsearchDomain'],
  'sagemaker.amazonaws.com': ['CreateNotebookInstance', 'CreateTrainingJob', 'CreateEndpoint'],
  'lightsail.amazonaws.com': ['CreateInstances'],
  'batch.amazonaws.com': ['CreateComputeEnvironment'],
  'elasticbeanstalk.amazonaws.com': ['CreateEnvironment'],
  'apprunner.amazonaws.com': ['CreateService'],
  'states.amazonaws.com': ['CreateStateMachine'],
  'kinesis.amazonaws.com': ['CreateStream'],
  'sqs.amazonaws.com': ['CreateQueue'],
  'sns.amazonaws.com': ['CreateTopic'],
};

export type CallMark = { kind: 'expected'; category: ReasonCategory } | { kind: 'flagged' } | null;

/** Whether a write is management-account work (expected, with its category), a workload (flagged), or neither. */
export function markOf(e: Pick<TrailEvent, 'source' | 'name' | 'readOnly'>): CallMark {
  if (e.readOnly) return null;
  const name = baseEventName(e.name);
  if (WORKLOAD_CALLS[e.source]?.includes(name)) return { kind: 'flagged' };
  // Any other Organizations write is organization-wide work only the management account does.
  if (e.source === ORGANIZATIONS) return { kind: 'expected', category: ORGANIZATIONS_CALLS[name] ?? 'organization-structure' };
  const bySource = SOURCE_CATEGORY[e.source];
  if (bySource) return { kind: 'expected', category: bySource };
  if (DELEGATION_CALL.test(name)) return { kind: 'expected', category: 'delegated-administration' };
  return null;
}

export interface WriteCall {
  time: string;
  name: string;
  source: string;
  region: string;
  errorCode: string | null;
  mark: 'expected' | 'flagged' | null;
  category: ReasonCategory | null;
}

export type CategoryOutcome =
  | { outcome: 'no-category' }
  /** The category names no family of calls (incident response, other): nothing to compare. */
  | { outcome: 'not-compared'; given: ReasonCategory }
  | { outcome: 'matched'; given: ReasonCategory }
  | { outcome: 'not-matched'; given: ReasonCategory; found: ReasonCategory[]; workloads: boolean }
  | { outcome: 'no-writes'; given: ReasonCategory };

export interface ActivityReport {
  window: {
    start: string;
    end: string;
    /** `removal`: the assignment's removal ended the sessions; `session-expiry`: sessions were not ended, so they may have run until they expired. */
    endsAt: 'removal' | 'session-expiry';
  };
  regions: string[];
  /** Regions that could not be read, and why. */
  failed: { region: string; error: string }[];
  readAt: string;
  /** Every Region was read, and late enough that CloudTrail has delivered everything in the window. */
  complete: boolean;
  calls: number;
  byService: { service: string; calls: number; writes: number }[];
  /** Write calls, oldest first (at most MAX_STORED_WRITES; `omittedWrites` counts the rest). */
  writes: WriteCall[];
  omittedWrites: number;
  expected: number;
  /** Event names of the flagged calls, in order, one per call. */
  flagged: string[];
  category: CategoryOutcome;
}

export interface ReportInput {
  window: ActivityReport['window'];
  regions: string[];
  failed: ActivityReport['failed'];
  readAt: string;
  /** The session's events only (already filtered), from every Region read. */
  events: TrailEvent[];
  category: ReasonCategory | null;
}

const serviceOf = (source: string) => source.replace(/\.amazonaws\.com$/, '');
const UNCOMPARABLE: readonly ReasonCategory[] = ['incident-response', 'other'];

export function buildReport(i: ReportInput): ActivityReport {
  const start = Date.parse(i.window.start);
  const end = Date.parse(i.window.end);
  // An event id is unique; a global service's event appears once, but a retried page could repeat one.
  const seen = new Set<string>();
  const events = i.events
    .filter((e) => {
      const t = Date.parse(e.time);
      if (t < start || t > end || seen.has(e.eventId)) return false;
      seen.add(e.eventId);
      return true;
    })
    .sort((a, b) => a.time.localeCompare(b.time) || a.eventId.localeCompare(b.eventId));

  const services = new Map<string, { calls: number; writes: number }>();
  const writes: WriteCall[] = [];
  for (const e of events) {
    const s = services.get(serviceOf(e.source)) ?? { calls: 0, writes: 0 };
    s.calls++;
    if (!e.readOnly) s.writes++;
    services.set(serviceOf(e.source), s);
    if (e.readOnly) continue;
    const mark = markOf(e);
    writes.push({ time: e.time, name: e.name, source: e.source, region: e.region, errorCode: e.errorCode, mark: mark?.kind ?? null, category: mark?.kind === 'expected' ? mark.category : null });
  }
  const byService = [...services].map(([service, c]) => ({ service, ...c })).sort((a, b) => b.calls - a.calls || a.service.localeCompare(b.service));
  const lateEnough = Date.parse(i.readAt) - end >= DELIVERY_LAG_MS;
  return {
    window: i.window,
    regions: i.regions,
    failed: i.failed,
    readAt: i.readAt,
    complete: i.failed.length === 0 && lateEnough,
    calls: events.length,
    byService,
    writes: writes.slice(0, MAX_STORED_WRITES),
    omittedWrites: Math.max(0, writes.length - MAX_STORED_WRITES),
    expected: writes.filter((w) => w.mark === 'expected').length,
    flagged: writes.filter((w) => w.mark === 'flagged').map((w) => w.name),
    category: compare(i.category, writes),
  };
}

function compare(given: ReasonCategory | null, writes: WriteCall[]): CategoryOutcome {
  if (!given) return { outcome: 'no-category' };
  if (UNCOMPARABLE.includes(given)) return { outcome: 'not-compared', given };
  // Calls that failed changed nothing: they do not count against (or toward) the stated reason.
  const done = writes.filter((w) => w.errorCode === null);
  const found = [...new Set(done.flatMap((w) => (w.category ? [w.category] : [])))];
  const workloads = done.some((w) => w.mark === 'flagged');
  const others = found.filter((c) => c !== given);
  if (others.length > 0 || workloads) return { outcome: 'not-matched', given, found, workloads };
  return found.includes(given) ? { outcome: 'matched', given } : { outcome: 'no-writes', given };
}

/** "complete", or what keeps it from being so, in a few words. */
export function completenessLine(r: ActivityReport): string {
  const parts: string[] = [];
  if (r.failed.length > 0) {
    const read = r.regions.length - r.failed.length;
    parts.push(`${read} of ${r.regions.length} Regions read (${Math.round((read / Math.max(1, r.regions.length)) * 100)}%); could not read ${r.failed.map((f) => `${f.region} (${f.error})`).join(', ')}`);
  }
  const lagMs = Date.parse(r.readAt) - Date.parse(r.window.end);
  if (lagMs < DELIVERY_LAG_MS) {
    parts.push(`read ${humanDuration(Duration.fromMillis(Math.max(1000, Math.round(lagMs / 1000) * 1000)).toISO())} after the window ended: CloudTrail may deliver events up to 15 minutes late, so some may be missing`);
  }
  return parts.length === 0 ? 'complete' : `incomplete: ${parts.join('; ')}`;
}
