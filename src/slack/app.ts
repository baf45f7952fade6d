import { createServer, type Server } from 'node:http';
import { App, type CustomRoute } from '@slack/bolt';
import type { Logger } from 'pino';
import type { Env } from '../config/env.ts';
import type { ServiceContext } from '../services/context.ts';
import type { ReviewDeps } from '../services/review.ts';
import { registerApprove } from './actions/approve.ts';
import { registerAttest } from './actions/attest.ts';
import { registerCustodianConfirm } from './actions/custodian-confirm.ts';
import { registerDeny } from './actions/deny.ts';
import { registerDriftRevoke } from './actions/drift-revoke.ts';
import { registerEndAccess } from './actions/end-access.ts';
import { registerExtend } from './actions/extend.ts';
import { registerRequestAccess } from './actions/request-access.ts';
import type { HomeNotes } from './actions/respond.ts';
import { registerBreakglassCommand } from './commands/breakglass.ts';
import { registerHomeOpened, type HomeOpenings } from './events/home-opened.ts';
import { registerSubmissions } from './views/submissions.ts';
import { registerAttestSubmission } from './views/attest.ts';
import { slackLogger } from './web.ts';

export interface Health {
  (): { ok: boolean; detail: Record<string, unknown> };
}

export interface SlackRuntime {
  app: App;
  /** The port /healthz (and, in HTTP mode, /slack/events) listens on. */
  port(): number;
  start(): Promise<void>;
  stop(): Promise<void>;
}

function healthBody(health: Health): { status: number; body: string } {
  const h = health();
  return { status: h.ok ? 200 : 503, body: JSON.stringify({ ok: h.ok, ...h.detail }) };
}

/**
 * The Bolt app: Socket Mode by default, or the HTTP receiver on PORT at
 * /slack/events. /healthz is served on PORT either way. `homes` publishes App Homes
 * (workers/home-refresher.ts): on opening, and with the answer to a click made there. `review`:
 * the access review's stores, for Attest and the custodians' confirmations.
 */
export function createSlackRuntime(env: Env, ctx: ServiceContext, log: Logger, health: Health, homes: HomeNotes & HomeOpenings, review: ReviewDeps): SlackRuntime {
  const logger = slackLogger(log);
  // Set retries explicitly: otherwise the Socket Mode client writes 100 retries into these shared options.
  const clientOptions = {
    ...(env.slack.apiUrl ? { slackApiUrl: env.slack.apiUrl } : {}),
    retryConfig: { retries: 2, factor: 2, minTimeout: 300, maxTimeout: 2000 },
  };
  let httpServer: Server | null = null;
  let boundPort = env.port;

  const healthRoute: CustomRoute = {
    path: '/healthz',
    method: ['GET'],
    handler: (_req, res) => {
      const { status, body } = healthBody(health);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(body);
    },
  };

  const app = env.slack.socketMode
    ? new App({ token: env.slack.botToken, appToken: env.slack.appToken ?? '', socketMode: true, logger, clientOptions })
    : new App({
        token: env.slack.botToken,
        signingSecret: env.slack.signingSecret ?? '',
        logger,
        clientOptions,
        customRoutes: [healthRoute],
        // A port of 0 means "any free port" (tests); Bolt is started on the port we resolve here.
        port: env.port,
      });

  // Listeners keep working after their ack; shutdown waits for them so nothing is cut off mid-write.
  const inFlight = new Set<Promise<void>>();
  app.use(async ({ next }) => {
    const work = next();
    inFlight.add(work);
    try {
      await work;
    } finally {
      inFlight.delete(work);
    }
  });

  registerBreakglassCommand(app, ctx);
  registerApprove(app, ctx, homes);
  registerDeny(app, ctx, homes);
  registerEndAccess(app, ctx, homes);
  registerExtend(app, ctx, homes);
  registerDriftRevoke(app, ctx);
  registerRequestAccess(app, ctx, homes);
  registerSubmissions(app, ctx, homes);
  registerHomeOpened(app, ctx, homes);
  registerAttest(app, review);
  registerAttestSubmission(app, review);
  registerCustodianConfirm(app, review);
  app.error((error) => {
    log.error({ err: error, event: 'slack.listener_error' }, 'a Slack listener failed');
    return Promise.resolve();
  });

  return {
    app,
    port: () => boundPort,
    async start() {
      if (env.slack.socketMode) {
        httpServer = createServer((req, res) => {
          if (req.method === 'GET' && req.url?.split('?')[0] === '/healthz') {
            const { status, body } = healthBody(health);
            res.writeHead(status, { 'content-type': 'application/json' });
            res.end(body);
            return;
          }
          res.writeHead(404).end();
        });
        await new Promise<void>((resolve, reject) => {
          httpServer?.once('error', reject);
          httpServer?.listen(env.port, env.host ?? undefined, () => resolve());
        });
        const address = httpServer.address();
        if (address && typeof address === 'object') boundPort = address.port;
        await app.start();
      } else {
        const server = (await app.start(env.host ? { port: env.port, host: env.host } : env.port)) as Server;
        const address = server.address();
        if (address && typeof address === 'object') boundPort = address.port;
      }
    },
    async stop() {
      await app.stop();
      await Promise.allSettled([...inFlight]);
      if (httpServer) {
        const s = httpServer;
        await new Promise<void>((resolve) => s.close(() => resolve()));
        s.closeAllConnections();
      }
    },
  };
}
