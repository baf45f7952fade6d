import { GetObjectCommand, ListObjectVersionsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import type { Checkpoint } from './chain.ts';

export type { Checkpoint } from './chain.ts';

/** What `newest()` found. */
export interface NewestCheckpoint {
  checkpoint: Checkpoint;
  /**
   * The current version of the checkpoint's key is a delete marker: someone used a plain
   * DeleteObject on it (no Object Lock bypass needed). The locked version is still there, and is
   * what `checkpoint` holds, but ordinary listings and reads no longer show it. audit verify should
   * say so: "the newest checkpoint was hidden by a delete marker".
   */
  hiddenByDeleteMarker: boolean;
}

export interface CheckpointArchive {
  /** Stores a checkpoint; never overwrites or deletes. */
  put(cp: Checkpoint): Promise<void>;
  /**
   * The checkpoint with the highest seq among every stored version, delete markers
   * notwithstanding, or null when there is none. (A delete marker under a key that holds no
   * version hides nothing and is passed over.) Throws a CheckpointArchiveError naming the key
   * when that seq's key holds versions that are not all the same checkpoint.
   */
  newest(): Promise<NewestCheckpoint | null>;
}

export const CHECKPOINT_PREFIX = 'checkpoints/';
/** Largest seq a key can hold (12 digits). */
export const MAX_CHECKPOINT_SEQ = 999_999_999_999;
/** A checkpoint is ~250 bytes; anything far larger under the prefix is not one of ours. */
const MAX_CHECKPOINT_BYTES = 64 * 1024;
/**
 * ListObjectVersions page size: the newest key's versions and a few older checkpoints' usually
 * fit in one page, and the listing must go past the newest key to know it has all its versions.
 */
const VERSIONS_PAGE_SIZE = 10;
/**
 * How many version-listing pages newest() follows before giving up. More than that many entries
 * ahead of the end of the newest key's versions means delete markers piled onto keys with no
 * version, or one seq rewritten over and over: tampering either way, reported rather than paged through.
 */
const MAX_VERSION_PAGES = 100;

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
 * checkpoint first and the first page of a listing finds it however many there are.
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
    super(
      `s3://${bucket}: the checkpoint bucket is write-only for the bot; run audit verify with credentials that may read it (s3:ListBucketVersions, s3:GetObjectVersion)`,
      options,
    );
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
 *
 * A version can still be hidden: a plain DeleteObject (s3:DeleteObject, no bypass) puts a delete
 * marker on top of it, and ListObjectsV2 and an unversioned GetObject then act as if the key were
 * gone. So newest() reads versions, not current objects: ListObjectVersions, then GetObject with a
 * VersionId. The IAM actions for those are s3:ListBucketVersions (on the bucket) and
 * s3:GetObjectVersion (on `checkpoints/*`), not s3:ListBucket and s3:GetObject. Whoever runs audit
 * verify needs both; the bot's task role has neither (s3:PutObject only), so there newest()
 * throws ArchiveUnreadable.
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

  async newest(): Promise<NewestCheckpoint | null> {
    const listing = `s3://${this.bucket}/${CHECKPOINT_PREFIX}`;
    /** The first key in listing order with a version that is not a delete marker: the highest seq. */
    let key: string | undefined;
    /** Its versions, newest first. */
    const versionIds: string[] = [];
    /** Keys whose current version is a delete marker (seen on any page, as a key's entries may span pages). */
    const hidden = new Set<string>();
    let keyMarker: string | undefined;
    let versionIdMarker: string | undefined;
    for (let page = 1; ; page++) {
      const listed = await this.read('list', () =>
        this.client.send(
          new ListObjectVersionsCommand({ Bucket: this.bucket, Prefix: CHECKPOINT_PREFIX, MaxKeys: VERSIONS_PAGE_SIZE, KeyMarker: keyMarker, VersionIdMarker: versionIdMarker }),
        ),
      );
      for (const marker of listed.DeleteMarkers ?? []) if (marker.IsLatest && marker.Key !== undefined) hidden.add(marker.Key);
      // The SDK splits Version and DeleteMarker entries into two arrays, each still in listing order.
      for (const version of listed.Versions ?? []) {
        if (!version.Key || !version.VersionId) throw new CheckpointArchiveError(`${listing}: the version listing has an entry without a key or version id`);
        key ??= version.Key;
        if (version.Key === key) versionIds.push(version.VersionId);
      }
      if (!listed.IsTruncated) break;
      // Keys come in order and the next markers name the last entry returned: once that is past the
      // newest key, every version of it has been seen.
      if (key !== undefined && listed.NextKeyMarker !== key) break;
      if (!listed.NextKeyMarker || !listed.NextVersionIdMarker) throw new CheckpointArchiveError(`${listing}: the version listing is truncated but names no next key and version`);
      if (page >= MAX_VERSION_PAGES) {
        throw new CheckpointArchiveError(
          key === undefined
            ? `${listing}: no checkpoint version in the first ${MAX_VERSION_PAGES * VERSIONS_PAGE_SIZE} entries of the version listing, only delete markers`
            : `s3://${this.bucket}/${key}: more than ${MAX_VERSION_PAGES * VERSIONS_PAGE_SIZE} versions and delete markers up to and under the newest checkpoint's key`,
        );
      }
      keyMarker = listed.NextKeyMarker;
      versionIdMarker = listed.NextVersionIdMarker;
    }
    if (key === undefined) return null;

    // The bot may write the same checkpoint twice (a retried put); anything else under one seq's key
    // means someone wrote a different checkpoint for a seq that was already anchored.
    const first = versionIds[0] as string;
    const checkpoint = await this.readVersion(key, first);
    for (const versionId of versionIds.slice(1)) {
      const other = await this.readVersion(key, versionId);
      if (!sameCheckpoint(checkpoint, other)) {
        throw new CheckpointArchiveError(
          `s3://${this.bucket}/${key} holds different checkpoints for seq ${checkpoint.seq} (versions ${first} and ${versionId}): someone wrote a second checkpoint under a seq already anchored`,
        );
      }
    }
    return { checkpoint, hiddenByDeleteMarker: hidden.has(key) };
  }

  destroy(): void {
    if (this.ownsClient) this.client.destroy();
  }

  /** One version of a checkpoint object, checked to be a checkpoint that belongs under its key. */
  private async readVersion(key: string, versionId: string): Promise<Checkpoint> {
    const where = `s3://${this.bucket}/${key} (version ${versionId})`;
    const got = await this.read(`read ${where}`, () => this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, VersionId: versionId })));
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

  private async read<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (errorName(err) === 'AccessDenied') throw new ArchiveUnreadable(this.bucket, { cause: err });
      if (errorName(err) === 'NoSuchBucket') throw new CheckpointArchiveError(`checkpoint bucket s3://${this.bucket} does not exist`, { cause: err });
      if (errorName(err) === 'NoSuchVersion' || errorName(err) === 'NoSuchKey') {
        throw new CheckpointArchiveError(`${what}: the version was listed but is gone (deleted since?)`, { cause: err });
      }
      throw new CheckpointArchiveError(`could not ${what === 'list' ? `list s3://${this.bucket}/${CHECKPOINT_PREFIX}` : what}: ${describeError(err)}`, { cause: err });
    }
  }
}

/** Whether the SDK will send S3 requests somewhere other than AWS (it reads the same variables). */
function endpointOverridden(env: NodeJS.ProcessEnv = process.env): boolean {
  const ignore = env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS?.trim().toLowerCase() === 'true';
  return !ignore && Boolean(env.AWS_ENDPOINT_URL_S3?.trim() || env.AWS_ENDPOINT_URL?.trim());
}

function sameCheckpoint(a: Checkpoint, b: Checkpoint): boolean {
  return a.seq === b.seq && a.hash === b.hash && a.at === b.at && a.keyId === b.keyId && a.mac === b.mac;
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
