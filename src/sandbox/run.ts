/**
 * The sandbox: the unmodified bot, configured (and only configured) to talk to a built-in Slack
 * and a built-in Identity Center on 127.0.0.1, with the embedded store, and a page that shows a
 * small Slack-like workspace. What a person does on the page reaches the bot as signed Slack
 * requests on the same HTTP receiver production uses.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parsePolicy } from '../config/policy-file.ts';
import type { RunningBot } from '../main.ts';
import { SandboxIdentityCenter, type SandboxUser } from './identity-center.ts';
import { SANDBOX_PEOPLE, SANDBOX_POLICY } from './policy.ts';
import { SandboxSlack, type Channel, type Person } from './slack.ts';

export interface SandboxOptions {
  /** The user's own policy file; default: the sandbox's. */
  policyPath?: string;
  /** The page's port on 127.0.0.1 (default 3000; 0: any free port). */
  port?: number;
  /** Where the embedded store and the policy live; default: a fresh temporary folder, removed on stop (the stand-ins forget everything when they stop, so the store must too). */
  dataDir?: string;
  logLevel?: string;
  /** Seconds between sweeps (default 2, so expiries show within seconds). */
  sweepSeconds?: number;
}

export interface RunningSandbox {
  url: string;
  bot: RunningBot;
  slack: SandboxSlack;
  ic: SandboxIdentityCenter;
  stop(): Promise<void>;
}

const OUTSIDER = 'UOLLY';

/** Starts the stand-ins, the bot configured for them, and the page. */
export async function startSandbox(o: SandboxOptions = {}): Promise<RunningSandbox> {
  const dataDir = o.dataDir ? resolve(o.dataDir) : mkdtempSync(join(tmpdir(), 'breakglass-sandbox-'));
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const policyPath = o.policyPath ? resolve(o.policyPath) : join(dataDir, 'policy.yml');
  if (!o.policyPath) writeFileSync(policyPath, SANDBOX_POLICY);
  const policyText = readFileSync(policyPath, 'utf8');
  const policy = parsePolicy(policyText, policyPath).policy;

  // The people: everyone the policy names, one member per Slack user group it names, and an outsider.
  const groups = new Map<string, string[]>();
  const ids = new Set<string>();
  for (const principals of [policy.requesters, policy.approvers, ...policy.profiles.flatMap((p) => (p.requesters ? [p.requesters] : []))]) {
    for (const u of principals.users) ids.add(u);
    for (const g of principals.groups) {
      const members = groups.get(g) ?? [`U${g.replace(/^S/, '')}1`, `U${g.replace(/^S/, '')}2`];
      groups.set(g, members);
      for (const m of members) ids.add(m);
    }
  }
  ids.add(OUTSIDER);
  const people: Person[] = [...ids].map((id) => {
    const known = SANDBOX_PEOPLE[id];
    const name = known?.name ?? id.toLowerCase();
    const role = known?.role ?? [expandsTo(policy.requesters, id, groups) ? 'requester' : '', expandsTo(policy.approvers, id, groups) ? 'approver' : ''].filter(Boolean).join(', ');
    return { id, name, realName: known?.realName ?? name, email: `${name}@sandbox.example`, role: role || 'not in the policy' };
  });
  const channels: Channel[] = [
    { id: policy.channels.approvals, name: 'breakglass-approvals' },
    { id: policy.channels.audit, name: 'breakglass-audit' },
  ];
  const slack = new SandboxSlack(people, channels, groups);

  const users: SandboxUser[] = people.map((p, i) => ({ userId: `9067${String(i).padStart(6, '0')}-5a4d-4b0c-8000-${p.id.toLowerCase().padEnd(12, '0').slice(0, 12).replace(/[^0-9a-f]/g, '0')}`, userName: p.name, displayName: p.realName, email: p.email }));
  const accounts = new Map<string, { name: string; accounts: Set<string> }>();
  for (const p of policy.profiles) {
    const ps = accounts.get(p.permissionSetArn) ?? { name: p.name.replace(/\w+/g, (w) => w.charAt(0).toUpperCase() + w.slice(1)).replace(/\W+/g, ''), accounts: new Set<string>() };
    ps.accounts.add(p.accountId);
    accounts.set(p.permissionSetArn, ps);
  }
  const ic = new SandboxIdentityCenter(
    policy.identityCenter.instanceArn,
    policy.identityCenter.identityStoreId,
    users,
    [...accounts].map(([arn, v]) => ({ arn, name: v.name.slice(0, 32) || 'BreakGlass', sessionDuration: 'PT1H', accounts: [...v.accounts] })),
  );
  const icUrl = await ic.listen();

  const server = createServer((req, res) => void route(req, res));
  const listen = (port: number) =>
    new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen(port, '127.0.0.1', () => ok());
    });
  try {
    await listen(o.port ?? 3000);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    await listen(0);
  }
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  slack.baseUrl = url;

  // The AWS SDK reads its endpoints and credentials from the process environment: the sandbox
  // process is the bot's, so they point at the stand-in here, as they would at AWS.
  for (const k of Object.keys(process.env)) if (k.startsWith('AWS_ENDPOINT_URL')) delete process.env[k];
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIASANDBOX',
    AWS_SECRET_ACCESS_KEY: 'sandbox',
    AWS_ENDPOINT_URL: icUrl,
    AWS_ENDPOINT_URL_SSO_ADMIN: icUrl,
    AWS_ENDPOINT_URL_IDENTITYSTORE: icUrl,
    AWS_ENDPOINT_URL_CLOUDTRAIL: icUrl,
  });
  delete process.env.AWS_PROFILE;
  delete process.env.AWS_SESSION_TOKEN;
  // Only the sandbox's settings: none of the shell's Slack, role or table settings reach the bot.
  const env: NodeJS.ProcessEnv = {
    SLACK_BOT_TOKEN: slack.botToken,
    SLACK_SIGNING_SECRET: slack.signingSecret,
    SLACK_SOCKET_MODE: 'false',
    SLACK_API_URL: `${url}/api/`,
    PORT: '0',
    BREAKGLASS_HOST: '127.0.0.1',
    BREAKGLASS_POLICY: policyPath,
    BREAKGLASS_DATA_DIR: join(dataDir, 'store'),
    BREAKGLASS_SWEEP_SECONDS: String(o.sweepSeconds ?? 2),
    BREAKGLASS_DRIFT_SECONDS: '10',
    LOG_LEVEL: o.logLevel ?? 'error',
  };
  const { startBot } = await import('../main.ts');
  let bot: RunningBot;
  try {
    bot = await startBot(env);
  } catch (err) {
    // E.g. a policy of the user's own that fails the bot's checks: nothing may be left listening.
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await ic.close();
    if (!o.dataDir) rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  slack.eventsUrl = `http://127.0.0.1:${bot.port()}/slack/events`;

  const page = pageDir();
  const streams = new Set<ServerResponse>();
  const notify = () => {
    for (const s of streams) s.write('data: change\n\n');
  };
  slack.on('change', notify);
  ic.on('change', notify);

  const state = () => ({
    people: slack.people,
    channels: slack.channelList(),
    messages: slack.messages,
    ephemerals: slack.ephemerals,
    views: slack.views,
    policy: policyText,
    policyPath: o.policyPath ? policyPath : null,
    identityCenter: {
      instanceArn: ic.instanceArn,
      assignments: ic.assignments().map((a) => ({ ...a, principal: ic.userName(a.principalId) })),
      inlinePolicies: ic.inlinePolicies(),
    },
    profiles: policy.profiles.map((p) => ({ id: p.id, accountId: p.accountId, permissionSetArn: p.permissionSetArn })),
    users: users.map((u) => ({ userId: u.userId, displayName: u.displayName })),
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    try {
      // Loopback only, and only for this page: another site's page (or a rebound DNS name) in the
      // same browser must not drive the sandbox or read it.
      const port = (server.address() as AddressInfo).port;
      if (![`127.0.0.1:${port}`, `localhost:${port}`].includes(req.headers.host ?? '')) return void res.writeHead(421).end('misdirected');
      if (await slack.serve(path, req, res)) return;
      if (req.method === 'GET' && path === '/sandbox/state') return json(res, 200, state());
      if (req.method === 'GET' && path === '/sandbox/events') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.write('data: hello\n\n');
        streams.add(res);
        req.on('close', () => streams.delete(res));
        return;
      }
      if (req.method === 'POST' && path === '/sandbox/act') {
        // JSON only: a cross-site form cannot send it without a CORS preflight, which is never granted.
        if (!(req.headers['content-type'] ?? '').startsWith('application/json')) return json(res, 415, { ok: false, error: 'send JSON' });
        return json(res, 200, await act(JSON.parse(await body(req)) as Act));
      }
      if (req.method === 'GET') {
        const file = { '/': 'index.html', '/app.js': 'app.js', '/style.css': 'style.css' }[path];
        if (file) {
          const type = file.endsWith('.html') ? 'text/html' : file.endsWith('.js') ? 'text/javascript' : 'text/css';
          res.writeHead(200, { 'content-type': `${type}; charset=utf-8`, 'cache-control': 'no-store' });
          res.end(readFileSync(join(page, file)));
          return;
        }
      }
      res.writeHead(404).end('not found');
    } catch (err) {
      json(res, 400, { ok: false, error: (err as Error).message });
    }
  }

  async function act(a: Act): Promise<{ ok: true }> {
    if (!slack.person(a.user)) throw new Error('pick a person');
    if (a.kind === 'command') await slack.command(a.user, a.text ?? '', a.channel);
    else if (a.kind === 'action') await slack.action(a.user, { channel: a.channel, ts: a.ts, viewId: a.viewId, blockId: a.blockId ?? '', actionId: a.actionId ?? '', values: a.values });
    else if (a.kind === 'submit') await slack.submit(a.user, a.viewId ?? '', a.values ?? {});
    else if (a.kind === 'close') await slack.closeView(a.user, a.viewId ?? '');
    else if (a.kind === 'home') await slack.homeOpened(a.user);
    else if (a.kind === 'assign-by-hand') {
      const profile = policy.profiles[0];
      const person = users[people.findIndex((p) => p.id === a.user)];
      if (!profile || !person) throw new Error('nothing to assign');
      ic.assignByHand({ accountId: profile.accountId, permissionSetArn: profile.permissionSetArn, principalType: 'USER', principalId: person.userId });
    } else throw new Error('unknown action');
    return { ok: true };
  }

  return {
    url,
    bot,
    slack,
    ic,
    async stop() {
      for (const s of streams) s.end();
      await bot.stop();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await ic.close();
      if (!o.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

interface Act {
  kind: 'command' | 'action' | 'submit' | 'close' | 'home' | 'assign-by-hand';
  user: string;
  text?: string;
  channel?: string;
  ts?: string;
  viewId?: string;
  blockId?: string;
  actionId?: string;
  values?: Record<string, Record<string, string | null>>;
}

function expandsTo(p: { users: string[]; groups: string[] }, id: string, groups: Map<string, string[]>): boolean {
  return p.users.includes(id) || p.groups.some((g) => groups.get(g)?.includes(id));
}

/** The page's files: next to this module (src/sandbox/page, or the copy `npm run build` puts in dist/sandbox/page), or, in dist/bot.cjs, in dist/sandbox/page. */
function pageDir(): string {
  const here = fileURLToPath(new URL('./page/', import.meta.url));
  return existsSync(here) ? here : fileURLToPath(new URL('./sandbox/page/', import.meta.url));
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The two lines `npm start` prints. */
export function banner(url: string): string {
  return [
    `breakglass sandbox: open ${url} (a built-in Slack and Identity Center; nothing leaves this machine)`,
    'To connect the real Slack and AWS instead, set SLACK_BOT_TOKEN and SLACK_APP_TOKEN (or SLACK_SIGNING_SECRET), BREAKGLASS_POLICY and AWS credentials: README, "Try it".',
  ].join('\n');
}
