/** The Slack ids operators and outside checks rely on (docs/architecture.md, "Slack surface"). Keep them stable. */
export const COMMAND = '/breakglass';
export const REQUEST_VIEW = 'breakglass_request';
export const DENY_VIEW = 'breakglass_deny';
export const ACTION_APPROVE = 'approve';
export const ACTION_DENY = 'deny';
export const ACTION_END_ACCESS = 'end_access';
export const BLOCK_PROFILE = 'profile';
export const BLOCK_DURATION = 'duration';
export const BLOCK_JUSTIFICATION = 'justification';
export const BLOCK_TICKET = 'ticket';
/** The reason category (static_select); required only for profiles with `reasons`. */
export const BLOCK_CATEGORY = 'category';
export const BLOCK_REASON = 'reason';
export const ACTION_DRIFT_REVOKE = 'drift_revoke';
export const ACTION_EXTEND = 'extend';
export const EXTEND_VIEW = 'breakglass_extend';
export const EMERGENCY_VIEW = 'breakglass_emergency';
/** On the App Home: opens the request modal (REQUEST_VIEW). */
export const ACTION_REQUEST_ACCESS = 'request_access';
/** On the access review in the audit channel: value = the review id; opens ATTEST_VIEW. */
export const ACTION_ATTEST = 'attest';
export const ATTEST_VIEW = 'breakglass_attest';
/** The attest form's optional note. */
export const BLOCK_NOTE = 'note';
/** In a custodian's DM: value = `<review id>|<custodian index>`. */
export const ACTION_CUSTODIAN_CONFIRM = 'custodian_confirm';
