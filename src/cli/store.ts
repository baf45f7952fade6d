import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Env } from '../config/env.ts';
import { documentClient, type Database } from '../store/dynamo.ts';
import { reachRunningStore } from '../store/embedded.ts';
import { EMBEDDED_TABLE, openDatabase, seeChainHead } from '../store/open.ts';

/**
 * The store as the CLI sees it: the DynamoDB table when BREAKGLASS_TABLE is
 * set; otherwise the embedded store, reached through the running bot when
 * there is one (it owns the files) and it proves it is the bot that wrote
 * running.json, or opened directly when the bot is stopped.
 */
export async function openStoreForCli(env: Env, log: Logger): Promise<{ db: Database; via: string }> {
  if (env.table) return { db: await openDatabase(env, log), via: `table ${env.table}` };
  const running = await reachRunningStore(env.dataDir);
  if (running) {
    const { raw, pid } = running;
    return { db: await seeChainHead({ raw, doc: documentClient(raw), table: EMBEDDED_TABLE, close: () => Promise.resolve(raw.destroy()) }), via: `the running bot (pid ${pid})` };
  }
  if (!existsSync(env.dataDir)) {
    throw new Error(`no breakglass data in ${env.dataDir}: set BREAKGLASS_DATA_DIR (or BREAKGLASS_TABLE) as the bot has it`);
  }
  return { db: await openDatabase(env, log), via: `the embedded store in ${env.dataDir}` };
}
