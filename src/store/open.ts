import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Logger } from 'pino';
import type { Env } from '../config/env.ts';
import { documentClient, ensureTable, startEmbeddedStore, type Database } from './dynamo.ts';

export type { Database } from './dynamo.ts';

export const EMBEDDED_TABLE = 'breakglass';

/**
 * BREAKGLASS_TABLE set: that DynamoDB table (created if missing). Unset: the
 * same code against an embedded dynalite persisted in BREAKGLASS_DATA_DIR.
 */
export async function openDatabase(env: Env, log: Logger): Promise<Database> {
  if (env.table) {
    const raw = new DynamoDBClient({ maxAttempts: 8 });
    await ensureTable(raw, env.table);
    return { raw, doc: documentClient(raw), table: env.table, close: async () => raw.destroy() };
  }
  const embedded = await startEmbeddedStore(env.dataDir);
  log.info({ event: 'store.embedded', dataDir: env.dataDir }, 'no BREAKGLASS_TABLE: using the embedded store');
  const raw = new DynamoDBClient({
    endpoint: embedded.endpoint,
    region: 'local',
    credentials: { accessKeyId: 'embedded', secretAccessKey: 'embedded' },
    maxAttempts: 3,
  });
  await ensureTable(raw, EMBEDDED_TABLE);
  return {
    raw,
    doc: documentClient(raw),
    table: EMBEDDED_TABLE,
    close: async () => {
      raw.destroy();
      await embedded.close();
    },
  };
}
