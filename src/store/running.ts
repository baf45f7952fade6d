/**
 * running.json: where a running bot says how to reach its embedded store
 * (endpoint, pid, and this run's secret). The only code that writes, reads or
 * parses the file; the bot writes it, the CLI and doctor read it.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchmodSync, fstatSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';

export const RUNNING_MARKER = 'running.json';

const schema = z.object({
  /** Loopback only: whatever the file says, the secret never leaves the machine. */
  endpoint: z.string().regex(/^http:\/\/127\.0\.0\.1:\d{1,5}$/, 'endpoint must be http://127.0.0.1:<port>'),
  pid: z.number().int().positive(),
  /** 32 random bytes, hex; new at every start. */
  secret: z.string().regex(/^[0-9a-f]{64}$/, 'secret must be 64 hex digits'),
});

export type Running = z.infer<typeof schema>;

export function runningFile(dataDir: string): string {
  return join(dataDir, RUNNING_MARKER);
}

/**
 * running.json exists but must not be trusted (or cannot be read). `problem`
 * says what is wrong, `fix` what the operator should do; the message names the file.
 */
export class UntrustedRunningFile extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`not using ${file}: ${problem}; ${fix}`);
    this.name = 'UntrustedRunningFile';
  }
}

/**
 * Writes running.json so that it is never readable by anyone else, not even
 * for a moment: a new temp file created 0600 (O_EXCL, so never an existing
 * file or a symlink), then renamed over the old one.
 */
export function writeRunning(dataDir: string, running: Running): void {
  const body = JSON.stringify(schema.parse(running));
  const file = runningFile(dataDir);
  const tmp = join(dataDir, `.${RUNNING_MARKER}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, body);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Removes running.json if it still describes this run (a later run's file stays). */
export function removeRunning(dataDir: string, secret: string): void {
  const file = runningFile(dataDir);
  try {
    const current = JSON.parse(readFileSync(file, 'utf8')) as { secret?: unknown };
    if (current.secret !== secret) return;
  } catch {
    return;
  }
  rmSync(file, { force: true });
}

const restartOrDelete = (file: string) => `restart the bot if it is running (it writes the file again, mode 0600, with a new secret); if no bot is running, delete ${file}`;
const deleteThenRestart = (file: string) => `delete ${file}, then restart the bot if it is running (it writes the file again, mode 0600, with a new secret)`;

/**
 * running.json as the CLI may trust it, or null when there is none. Refuses
 * (UntrustedRunningFile) a file that is not a regular file owned by the
 * current user with no group or other permission bits, or that does not parse.
 * It is checked and read through one descriptor, so it cannot be swapped in between.
 */
export function readRunning(dataDir: string): Running | null {
  const file = runningFile(dataDir);
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO in its place must not hang the CLI (no effect on a regular file).
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    if (code === 'ELOOP') throw new UntrustedRunningFile(file, 'it is a symbolic link', deleteThenRestart(file));
    throw new UntrustedRunningFile(file, `it cannot be read (${code ?? (err as Error).message})`, 'run the CLI as the user the bot runs as');
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UntrustedRunningFile(file, 'it is not a regular file', deleteThenRestart(file));
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid) {
      throw new UntrustedRunningFile(file, `it belongs to uid ${st.uid}, not to you (uid ${uid}), so someone else may have written it`, `run the CLI as the user the bot runs as; ${restartOrDelete(file)}`);
    }
    if (uid !== undefined && (st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
      throw new UntrustedRunningFile(file, `it has mode ${mode}: group or others may read or change it, and it holds the embedded store's secret`, restartOrDelete(file));
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(fd, 'utf8'));
    } catch (err) {
      throw new UntrustedRunningFile(file, `it is not JSON (${(err as Error).message})`, restartOrDelete(file));
    }
    const result = schema.safeParse(parsed);
    if (!result.success) {
      throw new UntrustedRunningFile(file, `it is not a running.json this breakglass writes (${result.error.issues.map((i) => `${i.path.join('.') || 'file'}: ${i.message}`).join('; ')})`, restartOrDelete(file));
    }
    return result.data;
  } finally {
    closeSync(fd);
  }
}

/** Whether a process still runs (a bot that was killed leaves its running.json behind). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
