/**
 * Reason categories: the families of tasks that need the management account itself (AWS's
 * guidance: use it only for tasks that require it). A request names one; a profile may limit the
 * ones it serves; the session's activity report is compared with it. Pure.
 */
export const REASON_CATEGORIES = [
  'account-lifecycle',
  'organization-structure',
  'delegated-administration',
  'billing',
  'identity-center',
  'incident-response',
  'other',
] as const;

export type ReasonCategory = (typeof REASON_CATEGORIES)[number];

/** What people read for each category (in the form, the approval message and reports). */
export const CATEGORY_LABEL: Record<ReasonCategory, string> = {
  'account-lifecycle': 'Account lifecycle (create, invite, close, move accounts)',
  'organization-structure': 'Organization structure and policies (OUs, SCPs, tag and backup policies)',
  'delegated-administration': 'Delegated administrators and trusted access',
  billing: 'Billing and payment',
  'identity-center': 'IAM Identity Center administration',
  'incident-response': 'Incident response',
  other: 'Other',
};

/** A short name for a category in one line of text. */
export const CATEGORY_SHORT: Record<ReasonCategory, string> = {
  'account-lifecycle': 'account lifecycle',
  'organization-structure': 'organization structure and policies',
  'delegated-administration': 'delegated administrators and trusted access',
  billing: 'billing and payment',
  'identity-center': 'Identity Center administration',
  'incident-response': 'incident response',
  other: 'other',
};

export const isReasonCategory = (v: unknown): v is ReasonCategory => typeof v === 'string' && (REASON_CATEGORIES as readonly string[]).includes(v);
