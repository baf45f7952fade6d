import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { HEALTH_PROBE, TASK_CPU, TASK_MEMORY_MIB } from '../../infra/lib/bot-stack.ts';
import { readBotConfig } from '../../infra/lib/config.ts';

const read = (file: string): string => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');

describe('manifest.yml', () => {
  const manifest = parse(read('manifest.yml')) as {
    features: Record<string, unknown> & { slash_commands: Record<string, unknown>[] };
    oauth_config: { scopes: Record<string, string[]> };
    settings: Record<string, unknown>;
  };

  it('asks for exactly the bot scopes the code uses, and no user scopes', () => {
    expect(manifest.oauth_config.scopes).toEqual({
      bot: ['commands', 'chat:write', 'im:write', 'users:read', 'users:read.email', 'usergroups:read'],
    });
  });

  it('runs in Socket Mode with the command, interactivity, the App Home (both tabs) and its opening event', () => {
    expect(manifest.settings).toEqual({
      event_subscriptions: { bot_events: ['app_home_opened'] },
      interactivity: { is_enabled: true },
      org_deploy_enabled: false,
      socket_mode_enabled: true,
      token_rotation_enabled: false,
    });
    expect(manifest.features.slash_commands).toEqual([
      expect.objectContaining({ command: '/breakglass', description: expect.any(String), usage_hint: expect.any(String) }),
    ]);
    expect(manifest.features.slash_commands[0]).not.toHaveProperty('url');
    expect(manifest.features.app_home).toEqual({ home_tab_enabled: true, messages_tab_enabled: true, messages_tab_read_only_enabled: false });
    expect(manifest.features.bot_user).toMatchObject({ display_name: 'breakglass' });
  });

  it('says how to switch to HTTP mode', () => {
    const text = read('manifest.yml');
    expect(text).toContain('socket_mode_enabled: false');
    // The command, interactivity and the events each need the URL.
    expect(text.match(/https:\/\/HOST\/slack\/events/g)?.length).toBeGreaterThanOrEqual(3);
    expect(text).toContain('event_subscriptions.request_url: https://HOST/slack/events');
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const instructions = dockerfile
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'));
  const finalStage = instructions.slice(instructions.findLastIndex((line) => line.startsWith('FROM ')));

  it('builds in stages from a slim Debian Node 22 (LTS) image, compiled, with production dependencies only at run time', () => {
    const image = /^ARG NODE_IMAGE=node:(\d+)-(\w+)-slim$/m.exec(dockerfile);
    expect(image, 'NODE_IMAGE is an official node:<major>-<debian>-slim image').not.toBeNull();
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
    expect(Number(image?.[1])).toBe(22);
    expect(Number(image?.[1])).toBeGreaterThanOrEqual(Number(/>=\s*(\d+)/.exec(engines)?.[1]));
    expect(instructions.filter((line) => line.startsWith('FROM '))).toEqual(['FROM ${NODE_IMAGE} AS deps', 'FROM ${NODE_IMAGE} AS build', 'FROM ${NODE_IMAGE}']);
    expect(instructions.find((line) => line.startsWith('RUN npm ci'))).toMatch(/npm ci --omit=dev --ignore-scripts/);
    expect(instructions).toContain('RUN npm run build');
    // npm run build bundles the bot with scripts/bundle.js.
    expect(instructions).toContain('COPY scripts ./scripts');
    expect(finalStage.some((line) => line.startsWith('RUN '))).toBe(false);
    // The runtime stage carries dist/ from the build and production node_modules, never the sources.
    expect(finalStage).toContain('COPY --from=build /app/dist ./dist');
    expect(finalStage).toContain('COPY --from=deps /app/node_modules ./node_modules');
    expect(finalStage.filter((line) => /^COPY .*\bsrc\b/.test(line))).toEqual([]);
  });

  it('runs as a non-root user, probes /healthz like the ECS task, and starts like npm start', () => {
    expect(finalStage.filter((line) => line.startsWith('USER '))).toEqual(['USER node']);
    // Exec form: the JSON array after the last CMD keyword of the line.
    const execForm = (line: string | undefined): unknown => JSON.parse(line?.slice(line.lastIndexOf('CMD [') + 4) ?? 'null');
    expect(execForm(finalStage.find((line) => line.startsWith('HEALTHCHECK ')))).toEqual(['node', '-e', HEALTH_PROBE]);
    const start = (JSON.parse(read('package.json')) as { scripts: { start: string } }).scripts.start;
    expect(finalStage.at(-1)).toMatch(/^CMD \[/);
    expect(execForm(finalStage.at(-1))).toEqual(start.split(' '));
  });
});

describe('.dockerignore', () => {
  it('allowlists the build context so secrets and local data never reach the image', () => {
    const lines = read('.dockerignore').split('\n').filter((line) => line !== '' && !line.startsWith('#'));
    expect(lines[0]).toBe('*');
    expect(lines.filter((line) => line.startsWith('!')).sort()).toEqual(
      ['!bin', '!scripts', '!breakglass.yml', '!manifest.yml', '!package-lock.json', '!package.json', '!src', '!tsconfig.json', '!tsconfig.build.json'].sort(),
    );
  });
});

describe("README's cost table", () => {
  const rows = read('README.md').split('\n');
  const row = (item: string): string => rows.find((line) => line.startsWith(`| ${item}`)) ?? '';

  it('prices the task size and count the bot stack deploys, at the prices it states', () => {
    const tasks = readBotConfig(() => undefined).desiredCount;
    const [vcpu, gib] = [TASK_CPU / 1024, TASK_MEMORY_MIB / 1024];
    const fargate = row('Fargate');
    expect(fargate).toContain(`| Fargate: ${tasks} tasks × ${vcpu} vCPU, ${gib} GiB |`);
    const prices = /x86_64: \$([\d.]+) per vCPU-hour \+ \$([\d.]+) per GB-hour; arm64: \$([\d.]+) \+ \$([\d.]+)/.exec(fargate)?.slice(1).map(Number);
    expect(prices).toHaveLength(4);
    const [x86Cpu = 0, x86Gb = 0, armCpu = 0, armGb = 0] = prices ?? [];
    const monthly = (perVcpu: number, perGb: number): string => (tasks * 730 * (vcpu * perVcpu + gib * perGb)).toFixed(2);
    expect(fargate).toContain(`| $${monthly(x86Cpu, x86Gb)} | $${monthly(armCpu, armGb)} |`);
  });
});
