import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Logger } from 'pino';
import { ConfigError } from '../config/errors.ts';
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
  let embedded;
  try {
    embedded = await startEmbeddedStore(env.dataDir);
  } catch (err) {
    throw new ConfigError([
      `BREAKGLASS_DATA_DIR: cannot open the embedded store in ${env.dataDir} (${(err as Error).message}); is another breakglass process using it?`,
    ]);
  }
  log.info({ event: 'store.embedded', dataDir: env.dataDir }, 'no BREAKGLASS_TABLE: using the embedded store');
  const raw = embeddedClient(embedded.endpoint);
  await ensureTable(raw, EMBEDDED_TABLE);
  // The CLI reaches the store through this process while it runs: one process owns the files.
  const marker = join(env.dataDir, RUNNING_MARKER);
  writeFileSync(marker, JSON.stringify({ endpoint: embedded.endpoint, pid: process.pid }));
  return {
    raw,
    doc: documentClient(raw),
    table: EMBEDDED_TABLE,
    close: async () => {
      rmSync(marker, { force: true });
      raw.destroy();
      await embedded.close();
    },
  };
}

/** Where a running bot says how to reach its embedded store. */
export const RUNNING_MARKER = 'running.json';

export function embeddedClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'embedded', secretAccessKey: 'embedded' },
    maxAttempts: 3,
  });
}
