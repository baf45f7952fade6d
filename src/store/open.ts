import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Logger } from 'pino';
import { ConfigError } from '../config/errors.ts';
import type { Env } from '../config/env.ts';
import { documentClient, ensureTable, type Database } from './dynamo.ts';
import { startEmbeddedStore } from './embedded.ts';
import { OutboxStore } from './outbox.ts';

export type { Database } from './dynamo.ts';

export const EMBEDDED_TABLE = 'breakglass';

/**
 * BREAKGLASS_TABLE set: that DynamoDB table (created if missing). Unset: the
 * same code against an embedded dynalite persisted in BREAKGLASS_DATA_DIR,
 * reachable only by this machine's owner (see ./embedded.ts).
 */
export async function openDatabase(env: Env, log: Logger): Promise<Database> {
  if (env.table) {
    const raw = new DynamoDBClient({ maxAttempts: 8 });
    warnUnusable(log, env.table, await ensureTable(raw, env.table));
    return seeChainHead({ raw, doc: documentClient(raw), table: env.table, close: () => Promise.resolve(raw.destroy()) });
  }
  let embedded;
  try {
    // Also writes running.json: the CLI reaches the store through this process while it runs (one process owns the files).
    embedded = await startEmbeddedStore(env.dataDir);
  } catch (err) {
    throw new ConfigError([
      `BREAKGLASS_DATA_DIR: cannot open the embedded store in ${env.dataDir} (${(err as Error).message}); is another breakglass process using it?`,
    ]);
  }
  log.info({ event: 'store.embedded', dataDir: env.dataDir }, 'no BREAKGLASS_TABLE: using the embedded store');
  const raw = embedded.client();
  const db: Database = {
    raw,
    doc: documentClient(raw),
    table: EMBEDDED_TABLE,
    close: async () => {
      raw.destroy();
      await embedded.close();
    },
  };
  try {
    warnUnusable(log, EMBEDDED_TABLE, await ensureTable(raw, EMBEDDED_TABLE));
    return await seeChainHead(db);
  } catch (err) {
    await db.close();
    throw err;
  }
}

/**
 * Reads the audit chain's head once, so that the events this process queues carry it as their
 * floor (./chain-floor.ts) from the first one on: with a floor of 0, appending each of them would
 * read the whole chain (a `revoke-all` queues one per request).
 */
export async function seeChainHead(db: Database): Promise<Database> {
  await new OutboxStore(db).chainHead();
  return db;
}

/**
 * The bot runs on a table that lacks an index it knows (one made before the index existed):
 * everything works but what reads that index, which is only the App Home's request history
 * (the due and outbox indexes exist since the first release).
 */
function warnUnusable(log: Logger, table: string, indexes: string[]): void {
  if (indexes.length === 0) return;
  log.warn(
    { event: 'store.index_unusable', table, indexes },
    `table ${table} has no usable index ${indexes.join(', ')}: the App Home shows no request history until it has (deploy the bot stack again; README "App Home")`,
  );
}
