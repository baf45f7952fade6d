import { createServer, type Server } from 'node:net';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceNotFoundException,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, paginateQuery, UpdateCommand, type QueryCommandInput, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { ConfigError } from '../config/errors.ts';
import { INDEX_DUE, INDEX_OUTBOX, INDEX_REQUESTER } from './keys.ts';

export interface Database {
  doc: DynamoDBDocumentClient;
  raw: DynamoDBClient;
  table: string;
  close(): Promise<void>;
}

/** A conditional single-item update: the item as it is now, or null when the condition did not hold. */
export async function updateIf(db: Database, input: Omit<UpdateCommandInput, 'TableName' | 'ReturnValues'>): Promise<Record<string, unknown> | null> {
  try {
    const out = await db.doc.send(new UpdateCommand({ TableName: db.table, ReturnValues: 'ALL_NEW', ...input }));
    return out.Attributes ?? {};
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException) return null;
    throw err;
  }
}

/** A query's items, a page at a time (the SDK's paginator); stop iterating to stop reading. */
export async function* queryPages(db: Database, input: Omit<QueryCommandInput, 'TableName' | 'ExclusiveStartKey'>): AsyncGenerator<Record<string, unknown>[]> {
  for await (const page of paginateQuery({ client: db.doc }, { TableName: db.table, ...input })) yield page.Items ?? [];
}

export function documentClient(raw: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false } });
}

/** The table layout: one table, three sparse indexes (work that is due, events not yet delivered, each person's requests). */
export const TABLE_DEFINITION = {
  AttributeDefinitions: [
    { AttributeName: 'pk', AttributeType: 'S' },
    { AttributeName: 'sk', AttributeType: 'S' },
    { AttributeName: 'duePk', AttributeType: 'S' },
    { AttributeName: 'dueAt', AttributeType: 'S' },
    { AttributeName: 'outboxPk', AttributeType: 'S' },
    { AttributeName: 'outboxAt', AttributeType: 'S' },
    { AttributeName: 'requesterPk', AttributeType: 'S' },
    { AttributeName: 'requesterAt', AttributeType: 'S' },
  ],
  KeySchema: [
    { AttributeName: 'pk', KeyType: 'HASH' },
    { AttributeName: 'sk', KeyType: 'RANGE' },
  ],
  GlobalSecondaryIndexes: [
    {
      IndexName: INDEX_DUE,
      KeySchema: [
        { AttributeName: 'duePk', KeyType: 'HASH' },
        { AttributeName: 'dueAt', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    },
    {
      IndexName: INDEX_OUTBOX,
      KeySchema: [
        { AttributeName: 'outboxPk', KeyType: 'HASH' },
        { AttributeName: 'outboxAt', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    },
    {
      IndexName: INDEX_REQUESTER,
      KeySchema: [
        { AttributeName: 'requesterPk', KeyType: 'HASH' },
        { AttributeName: 'requesterAt', KeyType: 'RANGE' },
      ],
      // The App Home reads the few newest items itself (consistently): the index only needs to say which.
      Projection: { ProjectionType: 'KEYS_ONLY' },
    },
  ],
  BillingMode: 'PAY_PER_REQUEST',
} as const;

/**
 * Creates the table when it is missing; a missing permission becomes an error that says what to
 * grant. An existing table is not changed: it returns the indexes of TABLE_DEFINITION the table
 * lacks (or has not finished building), for the caller to report. A table made before an index
 * existed gets it from the bot stack's next deploy (CloudFormation adds it); an embedded store
 * never does, because dynalite accepts an UpdateTable that creates an index and ignores it.
 */
export async function ensureTable(raw: DynamoDBClient, table: string): Promise<string[]> {
  try {
    const out = await raw.send(new DescribeTableCommand({ TableName: table }));
    return unusableIndexes(out.Table?.GlobalSecondaryIndexes ?? []);
  } catch (err) {
    if (!(err instanceof ResourceNotFoundException)) throw tableError(err, table, 'dynamodb:DescribeTable');
  }
  try {
    await raw.send(new CreateTableCommand({ TableName: table, ...TABLE_DEFINITION, GlobalSecondaryIndexes: [...TABLE_DEFINITION.GlobalSecondaryIndexes] as never, AttributeDefinitions: [...TABLE_DEFINITION.AttributeDefinitions], KeySchema: [...TABLE_DEFINITION.KeySchema] }));
  } catch (err) {
    if ((err as Error).name !== 'ResourceInUseException') throw tableError(err, table, 'dynamodb:CreateTable');
  }
  await waitUntilTableExists({ client: raw, maxWaitTime: 120, minDelay: 1, maxDelay: 5 }, { TableName: table });
  return [];
}

/** Indexes of TABLE_DEFINITION that are missing or not ACTIVE among `have`. */
export function unusableIndexes(have: readonly { IndexName?: string | undefined; IndexStatus?: string | undefined }[]): string[] {
  return TABLE_DEFINITION.GlobalSecondaryIndexes.map((i) => i.IndexName).filter((name) => {
    const index = have.find((h) => h.IndexName === name);
    return !index || (index.IndexStatus !== undefined && index.IndexStatus !== 'ACTIVE');
  });
}

function tableError(err: unknown, table: string, action: string): Error {
  const e = err as Error;
  if (e.name === 'AccessDeniedException' || e.name === 'UnrecognizedClientException') {
    return new ConfigError([
      `BREAKGLASS_TABLE: table "${table}" is missing or unreadable and this identity may not ${action} (${e.name}); create it (infra/ deploys it) or grant ${action}`,
    ]);
  }
  return e;
}

/** A free loopback port. */
export async function freePort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}
