import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeIdentityCenter } from '../support/fake-identity-center.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { eventually, IDENTITY_STORE, INSTANCE_ARN, PEOPLE, PERMISSION_SET, ACCOUNT, policyYaml, SIGNING_SECRET, BOT_TOKEN, APPROVALS, AUDIT } from '../support/harness.ts';
import { SlackDriver } from '../support/slack-driver.ts';
import { buildDist, startArgs } from '../support/build.ts';

/** The bot as operators run it: `npm start`'s command (compiled, from dist/) in its own process, configured only by environment. */
const ROOT = new URL('../../', import.meta.url).pathname;
const children: ChildProcess[] = [];
const cleanups: Array<() => Promise<void>> = [];
beforeAll(() => {
  buildDist();
}, 120_000);
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  for (const f of cleanups.splice(0)) await f();
});

function startProcess(env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, startArgs(), {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** `npx breakglass …` as an operator runs it. */
function runBin(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, ['bin/breakglass.js', ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out, err })));
}

describe('the bot process', () => {
  it('in production, refuses to start without Slack settings, saying what to set', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bg-proc-'));
    const p = startProcess({ NODE_ENV: 'production', BREAKGLASS_DATA_DIR: join(dir, 'data') });
    expect(await p.exited).toBe(2);
    expect(p.output()).toContain('SLACK_BOT_TOKEN is not set');
    expect(p.output()).toContain('SLACK_APP_TOKEN is not set');
    expect(p.output()).not.toContain('sandbox');
  });

  it('never runs `breakglass sandbox` with NODE_ENV=production', async () => {
    const r = await runBin(['sandbox', '--port', '0'], { NODE_ENV: 'production' });
    expect(r.code).toBe(2);
    expect(r.err).toContain('the sandbox never runs with NODE_ENV=production');
  });

  it('with any SLACK_* setting, validates strictly instead of falling back to the sandbox', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bg-proc-'));
    const p = startProcess({ SLACK_SOCKET_MODE: 'false', BREAKGLASS_DATA_DIR: join(dir, 'data') });
    expect(await p.exited).toBe(2);
    expect(p.output()).toContain('SLACK_BOT_TOKEN is not set');
    expect(p.output()).toContain('SLACK_SIGNING_SECRET is not set');
    expect(p.output()).not.toContain('sandbox');
  });

  it('with no Slack settings outside production, opens the sandbox on 127.0.0.1 and says how to connect the real Slack', async () => {
    const p = startProcess({ PORT: '0' });
    await eventually(() => p.output().includes('To connect the real Slack'), 30_000, () => p.output());
    const lines = p.output().split('\n').filter((l) => l.startsWith('breakglass sandbox') || l.startsWith('To connect'));
    expect(lines).toHaveLength(2);
    const port = Number(/http:\/\/127\.0\.0\.1:(\d+)/.exec(lines[0] ?? '')?.[1]);
    expect(port).toBeGreaterThan(0);
    const page = await fetch(`http://127.0.0.1:${port}/`);
    expect(await page.text()).toContain('breakglass sandbox');
    const state = (await (await fetch(`http://127.0.0.1:${port}/sandbox/state`)).json()) as { people: unknown[] };
    expect(state.people.length).toBeGreaterThanOrEqual(5);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('runs a whole lifecycle over HTTP with the embedded store, then stops cleanly on SIGTERM', async () => {
    const ic = await FakeIdentityCenter.start({
      instanceArn: INSTANCE_ARN,
      identityStoreId: IDENTITY_STORE,
      users: [{ userId: PEOPLE.requester.principal, userName: 'rita', email: PEOPLE.requester.email }],
      permissionSets: [{ arn: PERMISSION_SET, name: 'OrgAdmin', provisionedTo: [ACCOUNT] }],
    });
    const slack = await FakeSlack.start({
      users: [
        { id: PEOPLE.requester.slack, name: 'rita', email: PEOPLE.requester.email, tz: 'Asia/Tokyo' },
        { id: PEOPLE.approver1.slack, name: 'ann' },
        { id: PEOPLE.approver2.slack, name: 'bob' },
        { id: PEOPLE.approver3.slack, name: 'cat' },
        { id: PEOPLE.approver4.slack, name: 'dan' },
        { id: PEOPLE.second.slack, name: 'sam' },
        { id: PEOPLE.nobody.slack, name: 'ghost' },
      ],
      usergroups: [{ id: 'SAPPROVERS', handle: 'approvers', users: [PEOPLE.approver3.slack, PEOPLE.approver4.slack] }],
      channels: [
        { id: APPROVALS, name: 'approvals', members: ['UBOT'] },
        { id: AUDIT, name: 'audit', members: ['UBOT'] },
      ],
      botToken: BOT_TOKEN,
    });
    cleanups.push(async () => {
      await slack.close();
      await ic.close();
    });
    const dir = mkdtempSync(join(tmpdir(), 'bg-proc-'));
    writeFileSync(join(dir, 'breakglass.yml'), policyYaml({ durations: ['PT3S'] }));
    // PORT=0 and the port read from the start line: a port picked free beforehand can be taken by the
    // bot's own embedded store (it listens on an ephemeral port) before Bolt binds it (EADDRINUSE, seen in CI).
    const p = startProcess({
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_SOCKET_MODE: 'false',
      SLACK_API_URL: slack.apiUrl,
      PORT: '0',
      BREAKGLASS_POLICY: join(dir, 'breakglass.yml'),
      BREAKGLASS_DATA_DIR: join(dir, 'data'),
      BREAKGLASS_SWEEP_SECONDS: '1',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIDTEST',
      AWS_SECRET_ACCESS_KEY: 'secret',
      AWS_ENDPOINT_URL_SSO_ADMIN: ic.url,
      AWS_ENDPOINT_URL_IDENTITYSTORE: ic.url,
    });
    const started = () => /"event":"bot\.started"[^\n]*"port":(\d+)/.exec(p.output())?.[1];
    await eventually(() => started() !== undefined, 20_000, () => `the bot never said it started: ${p.output()}`);
    const port = Number(started());
    // The bundle ran from the code cache the build made with npm start's flags (V8 refuses a cache made with others).
    expect(/"event":"bot\.started"[^\n]*"codeCache":"(\w+)"/.exec(p.output())?.[1]).toBe('used');
    await eventually(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.ok, 5_000, () => `healthz never answered: ${p.output()}`);
    const driver = new SlackDriver({ slack, signingSecret: SIGNING_SECRET, eventsUrl: `http://127.0.0.1:${port}/slack/events`, transport: 'http' });
    await driver.slashCommand(PEOPLE.requester.slack);
    const view = await slack.waitFor(() => slack.views().find((v) => v.view?.callback_id === 'breakglass_request'));
    const sub = await driver.viewSubmission(PEOPLE.requester.slack, view.id, {
      profile: { profile: 'org-admin' },
      duration: { duration: 'PT3S' },
      justification: { justification: 'Rotating the organization root credentials' },
      ticket: { ticket: null },
    });
    expect(sub.body).toBeUndefined();
    const message = await slack.waitFor(() => slack.messages(APPROVALS)[0], 5000);
    const requestId = /req_[0-9a-z]+/.exec(JSON.stringify(message.blocks))?.[0] ?? '';
    for (const approver of [PEOPLE.approver1.slack, PEOPLE.approver3.slack]) {
      expect(ic.callsTo('CreateAccountAssignment')).toHaveLength(0);
      await driver.blockAction(approver, { actionId: 'approve', value: requestId, message: { channel: message.channel, ts: message.ts } });
    }
    await eventually(() => ic.assignments().length === 1, 10_000);
    expect(ic.callsTo('CreateAccountAssignment')).toHaveLength(1);
    await eventually(() => ic.assignments().length === 0, 15_000, () => p.output());
    await slack.waitFor(() => slack.dmsTo(PEOPLE.requester.slack).find((m) => (m.text ?? '').includes('has ended')), 5000);
    const grantDm = slack.dmsTo(PEOPLE.requester.slack).find((m) => JSON.stringify(m.blocks).includes('end_access'));
    expect(JSON.stringify(grantDm?.blocks)).toContain('GMT+9');
    // The CLI reaches the embedded store through the running bot, then opens the files itself once it has stopped.
    const cliEnv = { BREAKGLASS_DATA_DIR: join(dir, 'data'), BREAKGLASS_POLICY: join(dir, 'breakglass.yml') };
    const whileRunning = await runBin(['audit', 'verify'], cliEnv);
    expect(whileRunning.code, whileRunning.err).toBe(0);
    expect(whileRunning.err).toContain('the running bot');
    // Only the bot's user may read its store: the folder 0700, running.json and LevelDB's files 0600.
    const dataDir = join(dir, 'data');
    expect((statSync(dataDir).mode & 0o777).toString(8)).toBe('700');
    const files = readdirSync(dataDir);
    expect(files).toContain('running.json');
    for (const f of files) expect({ f, mode: (statSync(join(dataDir, f)).mode & 0o777).toString(8) }).toEqual({ f, mode: '600' });
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    const afterStop = await runBin(['audit', 'export'], cliEnv);
    expect(afterStop.code, afterStop.err).toBe(0);
    expect(afterStop.err).toContain('the embedded store');
    const types = afterStop.out.trim().split('\n').map((l) => (JSON.parse(l) as { type: string }).type);
    expect(types).toEqual(expect.arrayContaining(['config.loaded', 'request.submitted', 'grant.succeeded', 'revoke.succeeded']));
    expect(p.output()).not.toContain(BOT_TOKEN);
    expect(p.output()).not.toContain(SIGNING_SECRET);
    for (const line of p.output().split('\n').filter((l) => l.startsWith('{'))) expect(() => JSON.parse(line)).not.toThrow();
  });
});
