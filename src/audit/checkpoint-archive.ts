import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';

/**
 * The audit chain's head as of some moment, kept outside the table so that rewriting the table
 * cannot also rewrite what was already anchored. `keyId` and `mac` are both set when the
 * checkpoint is signed, both null when it is not.
 */
export interface Checkpoint {
  seq: number;
  hash: string;
  at: string;
  keyId: string | null;
  mac: string | null;
}

export interface CheckpointArchive {
  /** Stores a checkpoint; never overwrites or deletes. */
  put(cp: Checkpoint): Promise<void>;
  /** The checkpoint with the highest seq, or null when there is none. */
  newest(): Promise<Checkpoint | null>;
}

export const CHECKPOINT_PREFIX = 'checkpoints/';
/** Largest seq a key can hold (12 digits). */
export const MAX_CHECKPOINT_SEQ = 999_999_999_999;
/** A checkpoint is ~250 bytes; anything far larger under the prefix is not one of ours. */
const MAX_CHECKPOINT_BYTES = 64 * 1024;
/** ListObjectsV2 may answer an empty but truncated page; how many of those newest() follows. */
const MAX_EMPTY_PAGES = 10;

const checkpointSchema = z
  .strictObject({
    seq: z.number().int().min(0).max(MAX_CHECKPOINT_SEQ),
    hash: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'),
    at: z.iso.datetime({ offset: true }),
    keyId: z.string().min(1).nullable(),
    mac: z.string().min(1).nullable(),
  })
  .refine((cp) => (cp.keyId === null) === (cp.mac === null), { message: 'keyId and mac must both be set or both be null' });

/**
 * Keys count down from the largest seq, so S3's UTF-8 binary listing order puts the newest
 * checkpoint first and one ListObjectsV2 with MaxKeys 1 finds it however many there are.
 */
export function checkpointKey(seq: number): string {
  if (!Number.isSafeInteger(seq) || seq < 0 || seq > MAX_CHECKPOINT_SEQ) {
    throw new RangeError(`checkpoint seq must be an integer from 0 to ${MAX_CHECKPOINT_SEQ} (got ${seq})`);
  }
  return `${CHECKPOINT_PREFIX}${String(MAX_CHECKPOINT_SEQ - seq).padStart(12, '0')}.json`;
}

/** Something went wrong with the archive itself: a malformed object, a missing bucket, a refused write. */
export class CheckpointArchiveError extends Error {
  override readonly name: string = 'CheckpointArchiveError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The bot's credentials may write checkpoints but not read them back (by design in production). */
export class ArchiveUnreadable extends CheckpointArchiveError {
  override readonly name = 'ArchiveUnreadable';
  constructor(
    readonly bucket: string,
    options?: { cause?: unknown },
  ) {
    super(`s3://${bucket}: the checkpoint bucket is write-only for the bot; run audit verify with credentials that may read it`, options);
  }
}

export interface S3CheckpointArchiveOptions {
  bucket: string;
  region: string;
  /** A client to use instead of one built from the SDK's environment (not destroyed by destroy()). */
  client?: S3Client;
}

/**
 * Checkpoints as objects in an S3 bucket with Object Lock (compliance-mode default retention,
 * versioning on): once written, a version cannot be changed or removed until its retention ends.
 */
export class S3CheckpointArchive implements CheckpointArchive {
  private readonly client: S3Client;
  private readonly ownsClient: boolean;
  private readonly bucket: string;

  constructor(opts: S3CheckpointArchiveOptions) {
    this.bucket = opts.bucket;
    this.ownsClient = !opts.client;
    this.client =
      opts.client ??
      new S3Client({
        region: opts.region,
        // A bucket with default retention refuses uploads without Content-MD5 or an x-amz-checksum-*
        // header. The SDK's default (WHEN_SUPPORTED) sends a CRC32, but AWS_REQUEST_CHECKSUM_CALCULATION
        // or the shared config can lower it to WHEN_REQUIRED, which sends none for PutObject.
        requestChecksumCalculation: 'WHEN_SUPPORTED',
        // Real S3 gets virtual-hosted addressing; only a local endpoint (AWS_ENDPOINT_URL_S3) needs paths.
        ...(endpointOverridden() ? { forcePathStyle: true } : {}),
      });
  }

  async put(cp: Checkpoint): Promise<void> {
    const parsed = checkpointSchema.safeParse(cp);
    if (!parsed.success) throw new CheckpointArchiveError(`refusing to archive an invalid checkpoint: ${describeIssues(parsed.error)}`);
    const { seq, hash, at, keyId, mac } = parsed.data;
    const key = checkpointKey(seq);
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: JSON.stringify({ seq, hash, at, keyId, mac }),
          ContentType: 'application/json',
          // Named on the request too, so the checksum is sent even by an injected client configured
          // WHEN_REQUIRED. Retention comes from the bucket's default: the task role has s3:PutObject only.
          ChecksumAlgorithm: 'CRC32',
        }),
      );
    } catch (err) {
      throw new CheckpointArchiveError(`could not write checkpoint ${seq} to s3://${this.bucket}/${key}: ${describeError(err)}`, { cause: err });
    }
  }

  async newest(): Promise<Checkpoint | null> {
    let key: string | undefined;
    let token: string | undefined;
    for (let page = 0; key === undefined; page++) {
      const listed = await this.read('list', () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: CHECKPOINT_PREFIX, MaxKeys: 1, ContinuationToken: token })),
      );
      key = listed.Contents?.[0]?.Key;
      if (key !== undefined) break;
      if (!listed.IsTruncated || !listed.NextContinuationToken) return null;
      if (page + 1 >= MAX_EMPTY_PAGES) throw new CheckpointArchiveError(`s3://${this.bucket}/${CHECKPOINT_PREFIX}: ${MAX_EMPTY_PAGES} empty listing pages in a row`);
      token = listed.NextContinuationToken;
    }
    const where = `s3://${this.bucket}/${key}`;
    const got = await this.read(`read ${where}`, () => this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key })));
    if (got.ContentLength !== undefined && got.ContentLength > MAX_CHECKPOINT_BYTES) {
      got.Body?.transformToWebStream().cancel().catch(() => undefined);
      throw new CheckpointArchiveError(`${where} is not a checkpoint: ${got.ContentLength} bytes`);
    }
    const text = (await got.Body?.transformToString('utf8')) ?? '';
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new CheckpointArchiveError(`${where} is not a checkpoint: not JSON`);
    }
    const parsed = checkpointSchema.safeParse(json);
    if (!parsed.success) throw new CheckpointArchiveError(`${where} is not a checkpoint: ${describeIssues(parsed.error)}`);
    if (checkpointKey(parsed.data.seq) !== key) {
      throw new CheckpointArchiveError(`${where} holds checkpoint ${parsed.data.seq}, which belongs at ${checkpointKey(parsed.data.seq)}`);
    }
    return parsed.data;
  }

  destroy(): void {
    if (this.ownsClient) this.client.destroy();
  }

  private async read<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (errorName(err) === 'AccessDenied') throw new ArchiveUnreadable(this.bucket, { cause: err });
      if (errorName(err) === 'NoSuchBucket') throw new CheckpointArchiveError(`checkpoint bucket s3://${this.bucket} does not exist`, { cause: err });
      if (errorName(err) === 'NoSuchKey') throw new CheckpointArchiveError(`${what}: the object was listed but is gone (deleted since?)`, { cause: err });
      throw new CheckpointArchiveError(`could not ${what === 'list' ? `list s3://${this.bucket}/${CHECKPOINT_PREFIX}` : what}: ${describeError(err)}`, { cause: err });
    }
  }
}

/** Whether the SDK will send S3 requests somewhere other than AWS (it reads the same variables). */
function endpointOverridden(env: NodeJS.ProcessEnv = process.env): boolean {
  const ignore = env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS?.trim().toLowerCase() === 'true';
  return !ignore && Boolean(env.AWS_ENDPOINT_URL_S3?.trim() || env.AWS_ENDPOINT_URL?.trim());
}

function errorName(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.name && err.name !== 'Error' && !err.message.startsWith(err.name) ? `${err.name}: ${err.message}` : err.message;
}

function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
}
