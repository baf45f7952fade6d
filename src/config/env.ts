import * as z from 'zod';
import { AUDIT_KEY_MIN } from '../audit/chain.ts';
import { ConfigError } from './errors.ts';

export interface Env {
  slack: {
    botToken: string;
    appToken: string | null;
    signingSecret: string | null;
    socketMode: boolean;
    apiUrl: string | null;
  };
  port: number;
  /** The interface the HTTP receiver and /healthz bind to; null: all of them. */
  host: string | null;
  policyPath: string;
  table: string | null;
  dataDir: string;
  sweepSeconds: number;
  driftSeconds: number;
  assumeRoleArn: string | null;
  /** This replica's share of Identity Center's 20 calls a second (all replicas together must stay under it). */
  icCallsPerSecond: number;
  /** Creations in flight across all replicas (AWS allows 15). */
  maxOutstandingCreations: number;
  logLevel: string;
  /** Signs the audit chain (HMAC); null: plain SHA-256, which anyone who can write the table can recompute. */
  auditKey: string | null;
  /** The Object Lock bucket the chain's checkpoints go to; null: the table only. */
  checkpointBucket: string | null;
  checkpointEveryEvents: number;
  checkpointEveryMinutes: number;
}

const optionalText = z
  .string()
  .optional()
  .transform((v) => (v && v.trim() !== '' ? v.trim() : null));

const positive = (name: string, fallback: number, unit: string) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return fallback;
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) {
        ctx.addIssue({ code: 'custom', message: `${name} must be a positive number${unit} (got "${v}")` });
        return z.NEVER;
      }
      return n;
    });

const schema = z.object({
  SLACK_BOT_TOKEN: optionalText,
  SLACK_APP_TOKEN: optionalText,
  SLACK_SIGNING_SECRET: optionalText,
  SLACK_SOCKET_MODE: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return null;
      const t = v.trim().toLowerCase();
      if (t === 'true' || t === '1') return true;
      if (t === 'false' || t === '0') return false;
      ctx.addIssue({ code: 'custom', message: `SLACK_SOCKET_MODE must be "true" or "false" (got "${v}")` });
      return z.NEVER;
    }),
  SLACK_API_URL: optionalText.refine((v) => v === null || /^https?:\/\/.+/.test(v), {
    message: 'SLACK_API_URL must be an http(s) URL such as https://slack.com/api/',
  }),
  PORT: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return 3000;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) {
        ctx.addIssue({ code: 'custom', message: `PORT must be a TCP port number 0-65535 (got "${v}")` });
        return z.NEVER;
      }
      return n;
    }),
  BREAKGLASS_HOST: optionalText,
  BREAKGLASS_POLICY: optionalText,
  BREAKGLASS_TABLE: optionalText,
  BREAKGLASS_DATA_DIR: optionalText,
  BREAKGLASS_SWEEP_SECONDS: positive('BREAKGLASS_SWEEP_SECONDS', 10, ' of seconds'),
  BREAKGLASS_DRIFT_SECONDS: positive('BREAKGLASS_DRIFT_SECONDS', 300, ' of seconds'),
  BREAKGLASS_ASSUME_ROLE_ARN: optionalText.refine((v) => v === null || /^arn:aws[\w-]*:iam::\d{12}:role\/.+/.test(v), {
    message: 'BREAKGLASS_ASSUME_ROLE_ARN must be an IAM role ARN such as arn:aws:iam::111111111111:role/breakglass',
  }),
  BREAKGLASS_IC_CALLS_PER_SECOND: positive('BREAKGLASS_IC_CALLS_PER_SECOND', 18, ' of calls a second'),
  BREAKGLASS_MAX_OUTSTANDING_CREATIONS: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return 15;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 15) {
        ctx.addIssue({ code: 'custom', message: `BREAKGLASS_MAX_OUTSTANDING_CREATIONS must be a whole number from 1 to 15, AWS's limit (got "${v}")` });
        return z.NEVER;
      }
      return n;
    }),
  BREAKGLASS_AUDIT_KEY: optionalText.refine((v) => v === null || v.length >= AUDIT_KEY_MIN, {
    message: `BREAKGLASS_AUDIT_KEY must be at least ${AUDIT_KEY_MIN} characters of secret (the CDK stack generates 64 and injects them from Secrets Manager)`,
  }),
  BREAKGLASS_CHECKPOINT_BUCKET: optionalText.refine((v) => v === null || /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(v), {
    message: 'BREAKGLASS_CHECKPOINT_BUCKET must be an S3 bucket name (the CDK output CheckpointBucketName)',
  }),
  BREAKGLASS_CHECKPOINT_EVENTS: positive('BREAKGLASS_CHECKPOINT_EVENTS', 100, ' of audit records'),
  BREAKGLASS_CHECKPOINT_MINUTES: positive('BREAKGLASS_CHECKPOINT_MINUTES', 10, ' of minutes'),
  LOG_LEVEL: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const level = v && v.trim() !== '' ? v.trim() : 'info';
      if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(level)) {
        ctx.addIssue({ code: 'custom', message: `LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "${v}")` });
        return z.NEVER;
      }
      return level;
    }),
});

/** No Slack setting at all and not in production: `npm start` opens the sandbox instead of failing on Slack. */
export function wantsSandbox(source: NodeJS.ProcessEnv): boolean {
  return source.NODE_ENV !== 'production' && !Object.keys(source).some((k) => k.startsWith('SLACK_'));
}

/** Settings that do not need Slack: the CLI uses these. */
export function readEnv(source: NodeJS.ProcessEnv, opts: { requireSlack: boolean } = { requireSlack: true }): Env {
  const parsed = schema.safeParse(source);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => i.message));
  const e = parsed.data;
  const socketMode = e.SLACK_SOCKET_MODE ?? (e.SLACK_APP_TOKEN !== null || e.SLACK_SIGNING_SECRET === null);
  const problems: string[] = [];
  if (opts.requireSlack) {
    if (!e.SLACK_BOT_TOKEN) problems.push('SLACK_BOT_TOKEN is not set: use the bot token (xoxb-…) from the Slack app\'s "OAuth & Permissions" page');
    else if (!e.SLACK_BOT_TOKEN.startsWith('xoxb-')) problems.push('SLACK_BOT_TOKEN must be a bot token starting with xoxb-');
    if (socketMode) {
      if (!e.SLACK_APP_TOKEN) {
        problems.push(
          'SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-…) with connections:write, from "Basic Information"; or set SLACK_SOCKET_MODE=false and SLACK_SIGNING_SECRET to receive requests over HTTP',
        );
      } else if (!e.SLACK_APP_TOKEN.startsWith('xapp-')) problems.push('SLACK_APP_TOKEN must be an app-level token starting with xapp-');
    } else if (!e.SLACK_SIGNING_SECRET) {
      problems.push('SLACK_SIGNING_SECRET is not set: HTTP mode (SLACK_SOCKET_MODE=false) needs the signing secret from the Slack app\'s "Basic Information" page');
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    slack: {
      botToken: e.SLACK_BOT_TOKEN ?? '',
      appToken: e.SLACK_APP_TOKEN,
      signingSecret: e.SLACK_SIGNING_SECRET,
      socketMode,
      apiUrl: e.SLACK_API_URL,
    },
    port: e.PORT,
    host: e.BREAKGLASS_HOST,
    policyPath: e.BREAKGLASS_POLICY ?? './breakglass.yml',
    table: e.BREAKGLASS_TABLE,
    dataDir: e.BREAKGLASS_DATA_DIR ?? './.breakglass',
    sweepSeconds: e.BREAKGLASS_SWEEP_SECONDS,
    driftSeconds: e.BREAKGLASS_DRIFT_SECONDS,
    assumeRoleArn: e.BREAKGLASS_ASSUME_ROLE_ARN,
    icCallsPerSecond: e.BREAKGLASS_IC_CALLS_PER_SECOND,
    maxOutstandingCreations: e.BREAKGLASS_MAX_OUTSTANDING_CREATIONS,
    logLevel: e.LOG_LEVEL,
    auditKey: e.BREAKGLASS_AUDIT_KEY,
    checkpointBucket: e.BREAKGLASS_CHECKPOINT_BUCKET,
    checkpointEveryEvents: e.BREAKGLASS_CHECKPOINT_EVENTS,
    checkpointEveryMinutes: e.BREAKGLASS_CHECKPOINT_MINUTES,
  };
}
