/**
 * The sandbox in a real browser: Debian's Chromium driven by playwright-core, through the page a
 * newcomer sees after `npm start`. It requests access as the requester, is refused as the
 * outsider, approves as two approvers, watches Identity Center and the audit thread, and
 * makes an assignment outside the bot for the drift watcher to report. It takes the screenshot
 * README opens with: into docs/sandbox.png with UPDATE_SCREENSHOT=1, else into a temporary folder
 * (so a test run leaves the working tree as it found it).
 *
 * Chromium is found at /usr/bin/chromium (CHROMIUM_PATH overrides; `.ci/run` installs it). Outside
 * CI a machine without it skips this file with a message; in CI its absence fails.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX_POLICY } from '../../src/sandbox/policy.ts';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/run.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const present = existsSync(CHROMIUM);
if (!present && !process.env.CI) {
  process.stderr.write(`sandbox.browser.test.ts skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)\n`);
}
const SCREENSHOT = process.env.UPDATE_SCREENSHOT === '1' ? new URL('../../docs/sandbox.png', import.meta.url).pathname : join(mkdtempSync(join(tmpdir(), 'bg-sandbox-shot-')), 'sandbox.png');

describe.skipIf(!present && !process.env.CI)('the sandbox in a browser', () => {
  let sandbox: RunningSandbox;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    if (!present) throw new Error(`CI needs Chromium at ${CHROMIUM}: .ci/run installs the chromium package`);
    const dir = mkdtempSync(join(tmpdir(), 'bg-sandbox-'));
    // The sandbox's own policy with a grant short enough to watch it end.
    const policy = join(dir, 'policy.yml');
    writeFileSync(policy, SANDBOX_POLICY.replace('durations: [PT2M, PT5M]', 'durations: [PT15S, PT2M]').replace('expiryWarning: PT1M', 'expiryWarning: PT5S'));
    sandbox = await startSandbox({ port: 0, policyPath: policy, dataDir: join(dir, 'data'), sweepSeconds: 1 });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await page.goto(sandbox.url);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await sandbox?.stop();
  });

  const as = async (person: string, place: string) => {
    await page.click(`[data-person="${person}"]`);
    await page.click(`[data-place="${place}"]`);
  };

  it('requests, refuses the outsider, approves by quorum, grants, audits and revokes on time', async () => {
    // The requester opens the request modal with the slash command.
    await as('URITA', 'DURITA');
    await page.fill('#box', '/breakglass');
    await page.press('#box', 'Enter');
    const modal = page.locator('.modal[data-modal]');
    await modal.waitFor();
    await modal.locator('select[name="profile"]').selectOption('org-admin');
    await modal.locator('select[name="duration"]').selectOption('PT15S');
    await modal.locator('[name="justification"]').fill('no');
    await modal.locator('[data-submit]').click();
    // The bot's validation error, shown under its input; the modal stays open.
    await expect.poll(() => modal.locator('.input.has-error .error').count(), { timeout: 10_000 }).toBeGreaterThan(0);
    await modal.locator('[name="justification"]').fill('Rotating the organization root credentials after a leak');
    await modal.locator('[data-submit]').click();
    await modal.waitFor({ state: 'detached', timeout: 10_000 });

    // The approvals channel has the request; the outsider's Approve is refused with the bot's words.
    await as('UOLLY', 'CAPPROVALS');
    const approve = page.locator('.msg button:has-text("Approve")').first();
    await approve.waitFor({ timeout: 10_000 });
    await approve.click();
    await page.click('[data-confirm="yes"]');
    await page.locator('.ephemeral', { hasText: 'You are not an approver for this request' }).waitFor({ timeout: 10_000 });

    // Two approvers: the first leaves it one short (the screenshot), the second completes the quorum.
    await as('UANN', 'CAPPROVALS');
    await page.locator('.msg button:has-text("Approve")').first().click();
    await page.click('[data-confirm="yes"]');
    await as('UBOB', 'CAPPROVALS');
    await page.locator('.msg', { hasText: '1 of 2' }).or(page.locator('.msg', { hasText: 'Ann' })).first().waitFor({ timeout: 10_000 });
    await page.screenshot({ path: SCREENSHOT });
    await page.locator('.msg button:has-text("Approve")').first().click();
    await page.click('[data-confirm="yes"]');

    // Identity Center shows the assignment, the audit thread fills.
    const assignment = page.locator('#assignments [data-assignment="Rita Requester"]');
    await assignment.waitFor({ timeout: 20_000 });
    await page.click('[data-place="CAUDIT"]');
    await expect.poll(() => page.locator('#messages .thread .msg').count(), { timeout: 15_000 }).toBeGreaterThanOrEqual(3);

    // At expiry the bot removes it again.
    await assignment.waitFor({ state: 'detached', timeout: 60_000 });
    expect(sandbox.ic.assignments()).toHaveLength(0);

    // An assignment made outside the bot shows in the panel, and the drift watcher reports it.
    await as('UOLLY', 'CAUDIT');
    await page.click('#by-hand');
    await page.locator('#assignments [data-assignment="Olly Outsider"]').waitFor({ timeout: 5000 });
    await page.locator('#messages .msg', { hasText: 'Drift' }).first().waitFor({ timeout: 30_000 });
  }, 150_000);
});
