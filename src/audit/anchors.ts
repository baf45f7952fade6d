import type { Env } from '../config/env.ts';
import type { Database } from '../store/dynamo.ts';
import { CheckpointStore } from '../store/checkpoints.ts';
import { ChainKey } from './chain.ts';

export interface CheckpointOptions {
  store: CheckpointStorePort;
  /** The Object Lock bucket in production; null where there is none. */
  archive: CheckpointArchive | null;
  /** A checkpoint at least every this many records… */
  everyEvents: number;
  /** …and at least this often while records are added. */
  everyMs: number;
}
import type { CheckpointStorePort } from '../services/ports.ts';
import type { CheckpointArchive } from './checkpoint-archive.ts';

/** What makes the audit chain hold against someone who can write the table: its key and its checkpoints. */
export interface ChainAnchors {
  chainKey: ChainKey | null;
  checkpoints: CheckpointOptions;
  /** The bucket's name when checkpoints also go to S3. */
  bucket: string | null;
  close(): void;
}

export async function chainAnchors(env: Env, db: Database, region: string): Promise<ChainAnchors> {
  // The S3 SDK is loaded only with a bucket: it is the largest client, and most set-ups have none.
  const archive = env.checkpointBucket ? new (await import('./checkpoint-archive.ts')).S3CheckpointArchive({ bucket: env.checkpointBucket, region }) : null;
  return {
    chainKey: env.auditKey ? new ChainKey(env.auditKey) : null,
    checkpoints: { store: new CheckpointStore(db), archive, everyEvents: env.checkpointEveryEvents, everyMs: env.checkpointEveryMinutes * 60_000 },
    bucket: env.checkpointBucket,
    close: () => archive?.destroy(),
  };
}
