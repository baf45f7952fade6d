import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Env } from '../config/env.ts';
import { documentClient, type Database } from '../store/dynamo.ts';
import { embeddedClient, EMBEDDED_TABLE, openDatabase, RUNNING_MARKER } from '../store/open.ts';

/** Whether a process still runs (the running bot's marker may be left by one that was killed). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The store as the CLI sees it: the DynamoDB table when BREAKGLASS_TABLE is
 * set; otherwise the embedded store, reached through the running bot when
 * there is one (it owns the files), or opened directly when the bot is stopped.
 */
export async function openStoreForCli(env: Env, log: Logger): Promise<{ db: Database; via: string }> {
  if (env.table) return { db: await openDatabase(env, log), via: `table ${env.table}` };
  const marker = join(env.dataDir, RUNNING_MARKER);
  if (existsSync(marker)) {
    const { endpoint, pid } = JSON.parse(readFileSync(marker, 'utf8')) as { endpoint: string; pid: number };
    if (alive(pid)) {
      const raw = embeddedClient(endpoint);
      return { db: { raw, doc: documentClient(raw), table: EMBEDDED_TABLE, close: async () => raw.destroy() }, via: `the running bot (pid ${pid})` };
    }
  }
  if (!existsSync(env.dataDir)) {
    throw new Error(`no breakglass data in ${env.dataDir}: set BREAKGLASS_DATA_DIR (or BREAKGLASS_TABLE) as the bot has it`);
  }
  return { db: await openDatabase(env, log), via: `the embedded store in ${env.dataDir}` };
}
