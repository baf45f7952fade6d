import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { documentClient, ensureTable, startEmbeddedStore, type Database } from '../../src/store/dynamo.ts';

export interface TestDatabase extends Database {
  endpoint: string;
}

/** dynalite on a random loopback port, in memory, with the bot's table created. */
export async function startTestDatabase(table = 'breakglass-test'): Promise<TestDatabase> {
  const store = await startEmbeddedStore(null);
  const raw = new DynamoDBClient({
    endpoint: store.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 2,
  });
  await ensureTable(raw, table);
  return {
    raw,
    doc: documentClient(raw),
    table,
    endpoint: store.endpoint,
    close: async () => {
      raw.destroy();
      await store.close();
    },
  };
}
