import { scrub } from '../../log.ts';

/** The ✓/✗ list `breakglass doctor` prints: one line per check, a one-line fix under each ✗. */
export class Report {
  private failed = 0;
  private count = 0;
  private readonly lines: string[] = [];

  constructor(private readonly out: NodeJS.WritableStream) {}

  /** True when nothing failed or was left unchecked. */
  get passed(): boolean {
    return this.failed === 0;
  }

  get failures(): number {
    return this.failed;
  }

  /** Checks reported so far (each ✓, ✗, ⚠ and – line). */
  get checks(): number {
    return this.count;
  }

  /** Everything printed so far (for the summary and tests). */
  get text(): string {
    return this.lines.join('\n');
  }

  ok(what: string): void {
    this.count += 1;
    this.print(`✓ ${what}`);
  }

  /** A failed check and what to do about it; several fixes print one per line. */
  fail(what: string, fix: string | string[]): void {
    this.failed += 1;
    this.count += 1;
    this.print(`✗ ${what}`);
    for (const f of Array.isArray(fix) ? fix : [fix]) this.print(`    fix: ${f}`);
  }

  /** Worth knowing, not a failure. */
  warn(what: string, note: string): void {
    this.count += 1;
    this.print(`⚠ ${what}`);
    this.print(`    note: ${note}`);
  }

  /** A check that could not run because one it depends on failed: not a pass. */
  skip(what: string, why: string): void {
    this.failed += 1;
    this.count += 1;
    this.print(`– ${what}: not checked (${why})`);
  }

  private print(line: string): void {
    // Nothing secret is ever put in a line, and scrub() blanks anything token-shaped that slips in.
    const safe = scrub(line);
    this.lines.push(safe);
    this.out.write(`${safe}\n`);
  }
}

/** An error as one short line: AWS and Slack errors carry a name and a message; fetch puts the reason in `cause`. */
export function describeError(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  const message = (e.message ?? String(err)).split('\n')[0] ?? '';
  const name = e.name && e.name !== 'Error' && !message.includes(e.name) ? `${e.name}: ` : '';
  const why = e.cause?.code ?? e.cause?.message;
  const cause = why && !message.includes(why) ? ` (${why})` : '';
  return `${name}${message}${cause}`.slice(0, 300);
}
