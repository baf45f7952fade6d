/**
 * Ending sessions already issued: the permission set's inline policy gets, per user whose access
 * ended, an explicit Deny of everything for sessions issued before that instant (the mechanism the
 * IAM Identity Center user guide documents for revoking active permission-set sessions). Pure: the
 * policy document in, the policy document out; statements breakglass did not write are kept.
 */
import { createHash } from 'node:crypto';

/** Every statement breakglass writes has a Sid starting so; no other statement is ever touched. */
export const DENY_SID_PREFIX = 'BreakglassRevoked';
/** The one statement that stands in for all of them when the policy would be too large. */
export const COMBINED_SID = `${DENY_SID_PREFIX}All`;

/** One user's sessions to deny: those issued before `instant`. */
export interface SessionDeny {
  instant: string;
  /** The instant plus the permission set's session duration: after it no such session is left, and the statement may go. */
  until: string;
  /** Accounts the denial was provisioned to. */
  accounts: string[];
}

export interface PolicyStatement {
  Sid?: string;
  Effect?: string;
  [key: string]: unknown;
}

export interface PolicyDocument {
  Version?: string;
  Statement: PolicyStatement[];
  [key: string]: unknown;
}

/**
 * Identity Center's limits on a permission set's inline policy ("Quotas and limits in IAM
 * Identity Center"): 32,768 bytes in all, and 10,240 bytes of non-whitespace characters.
 */
export function fitsIdentityCenter(document: string): boolean {
  const encoder = new TextEncoder();
  return encoder.encode(document).length <= 32_768 && encoder.encode(document.replace(/\s/g, '')).length <= 10_240;
}

/** Sids are alphanumeric; a hash keeps the user id out of the name and the name stable per user. */
export function denySid(userId: string): string {
  return `${DENY_SID_PREFIX}${createHash('sha256').update(userId).digest('hex').slice(0, 16)}`;
}

export function isBreakglassStatement(s: PolicyStatement): boolean {
  return typeof s.Sid === 'string' && s.Sid.startsWith(DENY_SID_PREFIX);
}

/** The inline policy as Identity Center returns it ('' when there is none); a single statement object counts as a list of one. */
export function parsePolicy(text: string): PolicyDocument {
  if (text.trim() === '') return { Version: '2012-10-17', Statement: [] };
  const doc = JSON.parse(text) as { Statement?: PolicyStatement | PolicyStatement[] } & Record<string, unknown>;
  const statements = doc.Statement === undefined ? [] : Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement];
  return { ...doc, Statement: statements };
}

function denyStatement(sid: string, users: string | string[], instant: string): PolicyStatement {
  return {
    Sid: sid,
    Effect: 'Deny',
    Action: '*',
    Resource: '*',
    Condition: { StringEquals: { 'identitystore:userId': users }, DateLessThan: { 'aws:TokenIssueTime': instant } },
  };
}

export type MergedPolicy =
  | { ok: true; document: string | null; combined: boolean }
  | { ok: false; problem: string };

/**
 * The inline policy with exactly `denies` as breakglass's statements, every other statement kept
 * as it was. `document` null: nothing is left (the inline policy should be deleted). When one
 * statement per user would not `fit`, a single statement denies every listed user's sessions
 * issued before the newest instant (`combined`: stricter for some users, never looser).
 */
export function mergeDenies(current: string, denies: Record<string, Pick<SessionDeny, 'instant'>>, fits: (document: string) => boolean = fitsIdentityCenter): MergedPolicy {
  const doc = parsePolicy(current);
  const kept = doc.Statement.filter((s) => !isBreakglassStatement(s));
  const users = Object.keys(denies).sort();
  const render = (statements: PolicyStatement[]): string | null =>
    statements.length === 0 ? null : JSON.stringify({ ...doc, Version: doc.Version ?? '2012-10-17', Statement: statements });
  const each = render([...kept, ...users.map((u) => denyStatement(denySid(u), u, denies[u]?.instant ?? ''))]);
  if (each === null || fits(each)) return { ok: true, document: each, combined: false };
  const newest = users.map((u) => denies[u]?.instant ?? '').sort().at(-1) ?? '';
  const one = render([...kept, denyStatement(COMBINED_SID, users, newest)]);
  if (one === null || fits(one)) return { ok: true, document: one, combined: true };
  return { ok: false, problem: "the permission set's own inline policy leaves no room for breakglass's statement within Identity Center's size limits" };
}
