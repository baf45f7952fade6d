import { pino, type DestinationStream, type Logger } from 'pino';

/** Paths that could carry a secret; pino replaces them before the line is written. */
const REDACT = [
  'token',
  '*.token',
  'headers.authorization',
  '*.headers.authorization',
  'botToken',
  'appToken',
  'signingSecret',
  'auditKey',
  '*.auditKey',
  '*.botToken',
  '*.appToken',
  '*.signingSecret',
  'err.config.headers',
  'err.request.headers',
];

/** Anything that looks like a Slack token or AWS secret is blanked even inside messages. */
const TOKEN_PATTERN = /\b(xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+)\b/g;

export function scrub(text: string): string {
  return text.replace(TOKEN_PATTERN, '[redacted token]');
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** LOG_LEVEL when it names a level, else `fallback` (the CLI must run even with a bad setting; start-up of the bot validates it). */
export function logLevel(source: NodeJS.ProcessEnv, fallback: string): string {
  const level = source.LOG_LEVEL?.trim() ?? '';
  return (LOG_LEVELS as readonly string[]).includes(level) ? level : fallback;
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'breakglass' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
      hooks: {
        logMethod(args, method) {
          method.apply(
            this,
            args.map((a) => (typeof a === 'string' ? scrub(a) : a)) as Parameters<typeof method>,
          );
        },
      },
      serializers: {
        err: (err: unknown) => {
          const e = pino.stdSerializers.err(err as Error);
          return { type: e.type, message: scrub(e.message ?? ''), code: (err as { code?: unknown }).code, stack: e.stack ? scrub(e.stack) : undefined };
        },
      },
    },
    destination,
  );
}
