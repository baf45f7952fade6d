/** The store check of `breakglass doctor`: the DynamoDB table, or the embedded store. */
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { DescribeTableCommand, DynamoDBClient, type TableDescription } from '@aws-sdk/client-dynamodb';
import type { Env } from '../../config/env.ts';
import { TABLE_DEFINITION } from '../../store/dynamo.ts';
import { reachRunningStore } from '../../store/embedded.ts';
import { INDEX_REQUESTER } from '../../store/keys.ts';
import { EMBEDDED_TABLE } from '../../store/open.ts';
import { runningFile, UntrustedRunningFile } from '../../store/running.ts';
import { awsFix } from './aws.ts';
import { describeError, type Report } from './report.ts';

/**
 * Indexes only the App Home's request history reads. A table made before one existed lacks it
 * (the bot stack's next deploy adds it; an embedded store never gets it): the bot works, without
 * that history, so its absence is a warning.
 */
const HISTORY_INDEXES: ReadonlySet<string> = new Set([INDEX_REQUESTER]);

const keys = (ks: readonly { AttributeName?: string; KeyType?: string }[] | undefined) => (ks ?? []).map((k) => `${k.AttributeName}:${k.KeyType}`).join(',');

/** Indexes of TABLE_DEFINITION that are missing or still building, with what that is (`index "x" is missing`). */
function unready(t: TableDescription): { name: string; problem: string }[] {
  const out: { name: string; problem: string }[] = [];
  for (const want of TABLE_DEFINITION.GlobalSecondaryIndexes) {
    const have = (t.GlobalSecondaryIndexes ?? []).find((i) => i.IndexName === want.IndexName);
    if (!have) out.push({ name: want.IndexName, problem: `index "${want.IndexName}" is missing` });
    else if (keys(have.KeySchema) === keys(want.KeySchema) && have.IndexStatus && have.IndexStatus !== 'ACTIVE') out.push({ name: want.IndexName, problem: `index "${want.IndexName}" is ${have.IndexStatus}` });
  }
  return out;
}

/** What is wrong with the table's layout, compared with TABLE_DEFINITION (empty when nothing); see historyGaps for the history index. */
export function layoutProblems(t: TableDescription): string[] {
  const problems: string[] = [];
  if (keys(t.KeySchema) !== keys(TABLE_DEFINITION.KeySchema)) problems.push(`key schema is ${keys(t.KeySchema) || 'unknown'}, expected ${keys(TABLE_DEFINITION.KeySchema)}`);
  const notReady = unready(t);
  for (const want of TABLE_DEFINITION.GlobalSecondaryIndexes) {
    const have = (t.GlobalSecondaryIndexes ?? []).find((i) => i.IndexName === want.IndexName);
    const gap = notReady.find((u) => u.name === want.IndexName);
    if (gap && !HISTORY_INDEXES.has(want.IndexName)) problems.push(gap.problem);
    else if (have && keys(have.KeySchema) !== keys(want.KeySchema)) problems.push(`index "${want.IndexName}" has keys ${keys(have.KeySchema)}, expected ${keys(want.KeySchema)}`);
  }
  return problems;
}

/** The history indexes the table lacks or is still building (empty when it has them). */
export function historyGaps(t: TableDescription): { name: string; problem: string }[] {
  return unready(t).filter((u) => HISTORY_INDEXES.has(u.name));
}

const NO_HISTORY = 'the App Home shows no request history until it has it (everything else works)';

async function describe(raw: DynamoDBClient, table: string): Promise<TableDescription> {
  const out = await raw.send(new DescribeTableCommand({ TableName: table }));
  return out.Table ?? {};
}

async function checkTable(env: Env & { table: string }, region: string | null, report: Report): Promise<void> {
  const what = `DynamoDB table ${env.table} is reachable`;
  // As src/store/open.ts builds it (region and endpoint from the SDK's environment), but quick to give up.
  const raw = new DynamoDBClient({ maxAttempts: 2, requestHandler: { connectionTimeout: 5_000, requestTimeout: 10_000 } });
  try {
    const t = await describe(raw, env.table);
    const problems = layoutProblems(t);
    if (t.TableStatus && t.TableStatus !== 'ACTIVE') problems.unshift(`table is ${t.TableStatus}`);
    if (problems.length > 0) {
      report.fail(`${what}, but ${problems.join('; ')}`, `the table was not made by breakglass: deploy it from infra/ (bot stack), or point BREAKGLASS_TABLE at a new table name and let the bot create it`);
    } else {
      const gaps = historyGaps(t);
      const usable = TABLE_DEFINITION.GlobalSecondaryIndexes.map((i) => i.IndexName).filter((name) => !gaps.some((g) => g.name === name));
      report.ok(`${what} (${t.TableStatus ?? 'ACTIVE'}, indexes ${usable.join(', ')})`);
      if (gaps.length > 0) {
        report.warn(
          `DynamoDB table ${env.table}: ${gaps.map((g) => g.problem).join('; ')}, so ${NO_HISTORY}`,
          'the table was made before the index existed: deploy the bot stack again (CloudFormation adds it); a table you manage yourself needs it added as README "App Home" shows',
        );
      }
    }
  } catch (err) {
    if ((err as Error).name === 'ResourceNotFoundException') {
      report.fail(`${what}: there is no table ${env.table}${region ? ` in ${region}` : ''}`, 'deploy it from infra/ (bot stack), or check BREAKGLASS_TABLE and AWS_REGION (the bot creates a missing table only if it may dynamodb:CreateTable)');
    } else {
      report.fail(`${what}: ${describeError(err)}`, awsFix(err, { region: region ?? '(from the AWS config)', assumeRoleArn: null, action: `dynamodb:DescribeTable on ${env.table}`, endpointVar: 'AWS_ENDPOINT_URL_DYNAMODB' }));
    }
  } finally {
    raw.destroy();
  }
}

/** The nearest directory that exists at or above `dir`, or null when something in the way is a file. */
function existingAncestor(dir: string): string | null {
  let d = resolve(dir);
  for (;;) {
    if (existsSync(d)) return statSync(d).isDirectory() ? d : null;
    const up = dirname(d);
    if (up === d) return null;
    d = up;
  }
}

/** Writes and removes a file: the only sure test that the bot could write here. */
function writable(dir: string): string | null {
  const probe = join(dir, `.breakglass-doctor-${process.pid}`);
  try {
    writeFileSync(probe, '');
    rmSync(probe, { force: true });
    return null;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? describeError(err);
  }
}

async function checkEmbedded(env: Env, report: Report): Promise<void> {
  const dir = env.dataDir;
  let running;
  try {
    running = await reachRunningStore(dir);
  } catch (err) {
    if (!(err instanceof UntrustedRunningFile)) throw err;
    report.fail(`embedded store of the running bot (${runningFile(dir)}) cannot be trusted: ${err.problem}`, err.fix);
    return;
  }
  if (running) {
    const what = `embedded store of the running bot (pid ${running.pid}, BREAKGLASS_DATA_DIR ${dir}) answers`;
    const { raw } = running;
    try {
      const t = await describe(raw, EMBEDDED_TABLE);
      const problems = layoutProblems(t);
      if (problems.length > 0) report.fail(`${what}, but ${problems.join('; ')}`, `stop the bot, move ${dir} aside and start it again (it creates a fresh store)`);
      else report.ok(what);
      const gaps = historyGaps(t);
      if (problems.length === 0 && gaps.length > 0) {
        report.warn(
          `embedded store: ${gaps.map((g) => g.problem).join('; ')}, so ${NO_HISTORY}`,
          `the store was made before the index existed, and dynalite cannot add an index to a table; a fresh store has it (export the audit record with \`breakglass audit export\`, stop the bot, move ${dir} aside, start it again)`,
        );
      }
    } catch (err) {
      report.fail(`${what}: ${describeError(err)}`, `the bot (pid ${running.pid}) does not answer on ${running.endpoint}: restart it`);
    } finally {
      raw.destroy();
    }
    return;
  }
  const what = `embedded store directory BREAKGLASS_DATA_DIR ${dir} is writable`;
  const base = existingAncestor(dir);
  if (base === null) {
    report.fail(`${what}: a file stands where a directory should be`, 'set BREAKGLASS_DATA_DIR to a directory the bot may write (or BREAKGLASS_TABLE to a DynamoDB table)');
    return;
  }
  const problem = writable(base);
  if (problem) {
    report.fail(`${what}: cannot write to ${base} (${problem})`, `make ${base} writable by the bot's user, or set BREAKGLASS_DATA_DIR to a directory it may write (or BREAKGLASS_TABLE to a DynamoDB table)`);
    return;
  }
  report.ok(base === resolve(dir) ? what : `${what} (it will be created in ${base})`);
}

export async function checkStore(env: Env, region: string | null, report: Report): Promise<void> {
  if (env.table) await checkTable({ ...env, table: env.table }, region, report);
  else await checkEmbedded(env, report);
}
