import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { documentClient, ensureTable, type Database } from '../../src/store/dynamo.ts';

export interface TestDatabase extends Database {
  endpoint: string;
}

/**
 * dynalite on a random loopback port, in memory, with the bot's table created:
 * a stand-in for a DynamoDB table (BREAKGLASS_TABLE + AWS_ENDPOINT_URL_DYNAMODB),
 * reached by plain SDK clients. The bot's embedded store is src/store/embedded.ts.
 */
export async function startTestDatabase(table = 'breakglass-test'): Promise<TestDatabase> {
  const { default: dynalite } = await import('dynalite');
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const raw = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 2,
  });
  await ensureTable(raw, table);
  return {
    raw,
    doc: documentClient(raw),
    table,
    endpoint,
    close: async () => {
      raw.destroy();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
