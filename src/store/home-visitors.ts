import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { HomeVisitor, HomeVisitorsPort } from '../services/ports.ts';
import { queryPages, type Database } from './dynamo.ts';
import { HOME_PARTITION, homeVisitorKey } from './keys.ts';

export function toHomeVisitor(item: Record<string, unknown>): HomeVisitor {
  const note = item.note as { text?: unknown; at?: unknown } | undefined;
  return {
    slackUserId: String(item.slackUserId),
    openedAt: String(item.openedAt),
    note: note ? { text: String(note.text), at: String(note.at) } : null,
  };
}

/**
 * One item per person who opened the App Home, in one partition: the refresher reads it once per
 * pass (a Query, never a Scan) and keeps only the homes of recent visitors current.
 */
export class HomeVisitorStore implements HomeVisitorsPort {
  constructor(private readonly db: Database) {}

  async opened(slackUserId: string, at: string): Promise<void> {
    await this.db.doc.send(
      new UpdateCommand({
        TableName: this.db.table,
        Key: homeVisitorKey(slackUserId),
        UpdateExpression: 'SET slackUserId = :u, openedAt = :at REMOVE note',
        ExpressionAttributeValues: { ':u': slackUserId, ':at': at },
      }),
    );
  }

  async note(slackUserId: string, text: string, at: string): Promise<void> {
    await this.db.doc.send(
      new UpdateCommand({
        TableName: this.db.table,
        Key: homeVisitorKey(slackUserId),
        UpdateExpression: 'SET slackUserId = :u, openedAt = if_not_exists(openedAt, :at), note = :n',
        ExpressionAttributeValues: { ':u': slackUserId, ':at': at, ':n': { text, at } },
      }),
    );
  }

  async get(slackUserId: string): Promise<HomeVisitor | null> {
    const out = await this.db.doc.send(new GetCommand({ TableName: this.db.table, Key: homeVisitorKey(slackUserId), ConsistentRead: true }));
    return out.Item ? toHomeVisitor(out.Item) : null;
  }

  async since(since: string): Promise<string[]> {
    const ids: string[] = [];
    for await (const page of queryPages(this.db, {
      KeyConditionExpression: 'pk = :p',
      FilterExpression: 'openedAt >= :since',
      ExpressionAttributeValues: { ':p': HOME_PARTITION, ':since': since },
      ProjectionExpression: 'slackUserId',
    })) {
      for (const it of page) ids.push(String(it.slackUserId));
    }
    return ids;
  }
}
