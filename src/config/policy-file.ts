import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { isMap, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { Duration } from 'luxon';
import * as z from 'zod';
import { REASON_CATEGORIES } from '../domain/categories.ts';
import { parseDuration } from '../domain/duration.ts';
import type { Policy } from '../domain/policy.ts';
import { ConfigError } from './errors.ts';

const slackUser = z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'a Slack user id looks like U0123ABCD');
const slackGroup = z.string().regex(/^S[A-Z0-9]{2,}$/, 'a Slack user group id looks like S0123ABCD');
const slackChannel = z.string().regex(/^[CG][A-Z0-9]{2,}$/, 'a Slack channel id looks like C0123ABCD');
const isoDuration = z.string().refine((v) => parseDuration(v) !== null, {
  message: 'must be a positive ISO-8601 duration such as PT15M or PT1H',
});

const principals = z.strictObject({
  users: z.array(slackUser).default([]),
  groups: z.array(slackGroup).default([]),
});
const somePrincipals = principals.refine((p) => p.users.length + p.groups.length > 0, { message: 'name at least one user or group' });

const rule = z.strictObject({
  count: z.number().int().min(1, 'a rule needs at least one approval').max(10),
  from: somePrincipals,
  name: z.string().min(1).max(40).optional(),
});

const emergency = z.strictObject({
  maxDuration: isoDuration,
  ratifyWithin: isoDuration,
  perDay: z.number().int().min(1).max(10).default(1),
  requireTicket: z.boolean().default(true),
});

const ms = (iso: string) => parseDuration(iso)?.as('milliseconds') ?? 0;

const profile = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'profile ids are lower-case letters, digits, - and _ (at most 64)'),
  name: z.string().min(1).max(60),
  accountId: z
    .string({ error: (iss) => (iss.input === undefined ? 'required' : 'an AWS account id is 12 digits, quoted in YAML so leading zeros survive: "011111111111"') })
    .regex(/^\d{12}$/, 'an AWS account id is 12 digits, quoted in YAML: "111111111111"'),
  permissionSetArn: z
    .string()
    .regex(/^arn:aws[\w-]*:sso:::permissionSet\/ssoins-[a-f0-9]{16}\/ps-[a-f0-9]{16}$/, 'a permission set ARN looks like arn:aws:sso:::permissionSet/ssoins-…/ps-…'),
  durations: z.array(isoDuration).min(1, 'offer at least one duration'),
  approvals: z.union([z.number().int().min(1, 'at least one approval').max(10), z.array(rule).min(1, 'give at least one rule').max(5, 'at most 5 rules')], {
    error: (iss) => (iss.code === 'invalid_union' ? 'approvals is a number (1 to 10) or a list of rules such as - { count: 1, from: { groups: [S0123ABCD] } }' : undefined),
  }),
  requesters: somePrincipals.optional(),
  denials: z.number().int().min(1).max(10).default(1),
  maxTotal: isoDuration.optional(),
  requireTicket: z.boolean().default(false),
  endSessions: z.boolean().default(true),
  emergency: emergency.optional(),
  reasons: z
    .array(z.enum(REASON_CATEGORIES, { error: `a reason category is one of ${REASON_CATEGORIES.join(', ')}` }))
    .min(1, 'name at least one category, or leave reasons out to accept any')
    .optional(),
});

const awsRegion = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'an AWS Region looks like us-east-1');

const activityReport = z.strictObject({
  enabled: z.boolean().default(true),
  delay: isoDuration.default('PT20M'),
  regions: z.array(awsRegion).default(['us-east-1']),
});

const review = z.strictObject({
  every: z.enum(['P1M', 'P3M'], { error: 'a review runs every P1M (monthly) or P3M (quarterly)' }),
  reviewers: somePrincipals,
  approvals: z.number().int().min(1).max(10).default(2),
});

const custodian = z.strictObject({
  item: z.string().min(1).max(200),
  holders: z.array(slackUser).default([]),
});

const schema = z
  .strictObject({
    identityCenter: z.strictObject({
      instanceArn: z
        .string()
        .regex(/^arn:aws[\w-]*:sso:::instance\/(sso)?ins-[a-zA-Z0-9-.]{16,25}$/, 'an instance ARN looks like arn:aws:sso:::instance/ssoins-0123456789abcdef'),
      identityStoreId: z.string().regex(/^d-[0-9a-f]{10}$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'an identity store id looks like d-0123456789'),
      accessPortalUrl: z.url().optional(),
    }),
    profiles: z.array(profile).min(1, 'define at least one profile'),
    requesters: principals,
    approvers: principals,
    channels: z.strictObject({ approvals: slackChannel, audit: slackChannel }),
    pendingTimeout: isoDuration.default('PT1H'),
    standingAccess: z
      .array(
        z
          .strictObject({ profile: z.string(), userId: z.string().min(1).optional(), email: z.email().optional(), groupId: z.string().min(1).optional() })
          .refine((s) => [s.userId, s.email, s.groupId].filter((v) => v !== undefined).length === 1, {
            message: 'give exactly one of userId, email (Identity Store users) or groupId (an Identity Store group)',
          }),
      )
      .default([]),
    drift: z.enum(['alert', 'revoke']).default('alert'),
    expiryWarning: isoDuration.default('PT10M'),
    reminders: z.strictObject({ every: isoDuration }).optional(),
    escalation: z.strictObject({ after: isoDuration, approvers: somePrincipals }).optional(),
    activityReport: activityReport.default({ enabled: true, delay: 'PT20M', regions: ['us-east-1'] }),
    review: review.optional(),
    custodians: z.array(custodian).default([]),
  })
  .superRefine((p, ctx) => {
    const seen = new Set<string>();
    p.profiles.forEach((prof, i) => {
      if (seen.has(prof.id)) ctx.addIssue({ code: 'custom', path: ['profiles', i, 'id'], message: `duplicate profile id "${prof.id}"` });
      seen.add(prof.id);
      const instanceId = p.identityCenter.instanceArn.split('/')[1];
      if (instanceId && !prof.permissionSetArn.includes(`/${instanceId}/`)) {
        ctx.addIssue({ code: 'custom', path: ['profiles', i, 'permissionSetArn'], message: `permission set is not in instance ${instanceId}` });
      }
      const longest = Math.max(...prof.durations.map(ms));
      if (prof.maxTotal && ms(prof.maxTotal) < longest) {
        ctx.addIssue({ code: 'custom', path: ['profiles', i, 'maxTotal'], message: `maxTotal ${prof.maxTotal} is shorter than the longest duration the profile offers` });
      }
      if (Array.isArray(prof.approvals) && prof.approvals.reduce((n, r) => n + r.count, 0) > 10) {
        ctx.addIssue({ code: 'custom', path: ['profiles', i, 'approvals'], message: 'the rules ask for more than 10 approvals in all' });
      }
      if (prof.emergency && ms(prof.emergency.ratifyWithin) >= ms(prof.emergency.maxDuration)) {
        ctx.addIssue({ code: 'custom', path: ['profiles', i, 'emergency', 'ratifyWithin'], message: 'ratifyWithin must be shorter than maxDuration, or unratified access would simply run out' });
      }
    });
    p.standingAccess.forEach((s, i) => {
      if (!seen.has(s.profile)) ctx.addIssue({ code: 'custom', path: ['standingAccess', i, 'profile'], message: `no profile "${s.profile}"` });
    });
    if (p.requesters.users.length + p.requesters.groups.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['requesters'], message: 'name at least one requester user or group' });
    }
    if (p.approvers.users.length + p.approvers.groups.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['approvers'], message: 'name at least one approver user or group' });
    }
  });

export interface LoadedPolicy {
  policy: Policy;
  /** SHA-256 of the file as read: the audit record says which policy was in force. */
  digest: string;
  path: string;
}

function lineOf(doc: Document, counter: LineCounter, path: readonly PropertyKey[], key?: string): number | null {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n) as unknown[], true) as Node | undefined;
    if (!node || !('range' in node) || !node.range) continue;
    if (key && n === path.length && isMap(node)) {
      const pair = node.items.find((it) => (it.key as { value?: unknown } | null)?.value === key);
      const range = (pair?.key as Node | undefined)?.range;
      if (range) return counter.linePos(range[0]).line;
    }
    return counter.linePos(node.range[0]).line;
  }
  return null;
}

function describePath(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') || '(top level)';
}

export function parsePolicy(text: string, file: string): LoadedPolicy {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => `${file}:${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0]}`),
      `the policy file ${file} is not valid YAML`,
    );
  }
  const raw: unknown = doc.toJS();
  const parsed = schema.safeParse(raw ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.flatMap((issue) => {
      if (issue.code === 'unrecognized_keys') {
        return issue.keys.map((k) => {
          const line = lineOf(doc, counter, issue.path, k);
          return `${file}:${line ?? '?'}: unknown key "${k}" in ${describePath(issue.path)}`;
        });
      }
      const line = lineOf(doc, counter, issue.path);
      return [`${file}:${line ?? '?'}: ${describePath(issue.path)}: ${issue.message}`];
    });
    throw new ConfigError(problems, `the policy file ${file} has problems`);
  }
  return { policy: toPolicy(parsed.data), digest: createHash('sha256').update(text).digest('hex'), path: file };
}

/** The policy as the rest of the code reads it: every default filled in, approvals always as rules. */
function toPolicy(p: z.infer<typeof schema>): Policy {
  return {
    ...p,
    profiles: p.profiles.map((prof) => {
      const rules = typeof prof.approvals === 'number' ? [{ count: prof.approvals, from: null }] : prof.approvals;
      const longest = prof.durations.reduce((a, b) => (ms(b) > ms(a) ? b : a));
      return {
        ...prof,
        approvals: rules.reduce((n, r) => n + r.count, 0),
        rules,
        requesters: prof.requesters ?? null,
        maxTotal: prof.maxTotal ?? Duration.fromMillis(ms(longest) * 2).rescale().toISO(),
        emergency: prof.emergency ?? null,
        reasons: prof.reasons ?? null,
      };
    }),
    reminders: p.reminders ?? null,
    escalation: p.escalation ?? null,
    activityReport: { ...p.activityReport, regions: [...new Set(['us-east-1', ...p.activityReport.regions])] },
    review: p.review ?? null,
  };
}

export function loadPolicy(file: string): LoadedPolicy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError([
      code === 'ENOENT'
        ? `BREAKGLASS_POLICY: no policy file at ${file}; write one (README, "Write the policy") or point BREAKGLASS_POLICY at it`
        : `BREAKGLASS_POLICY: cannot read ${file} (${code ?? String(err)})`,
    ]);
  }
  return parsePolicy(text, file);
}
