/**
 * Slack mrkdwn escaping for text people typed: with &, < and > escaped,
 * "<!channel>", "<@U123>" and "<https://x|click>" show as typed and ping or
 * link nobody (Slack's documented escaping for message text).
 */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A user-typed value inside a quote block; long text is cut to fit Block Kit's 3000-character section limit. */
export function quoteUserText(text: string, max = 2800): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return escapeMrkdwn(cut)
    .split('\n')
    .map((line) => `>${line}`)
    .join('\n');
}

export const mention = (userId: string) => `<@${userId}>`;

/** "<@a>, <@b> and 3 more": people mentioned, and how many others were left out to keep the message short. */
export function mentions(userIds: readonly string[], more = 0): string {
  const listed = userIds.map(mention).join(', ');
  if (more <= 0) return listed;
  return listed ? `${listed} and ${more} more` : `${more} people`;
}

export function plain(text: string, max = 75): { type: 'plain_text'; text: string; emoji: boolean } {
  return { type: 'plain_text', text: text.length > max ? `${text.slice(0, max - 1)}…` : text, emoji: true };
}

export function mrkdwn(text: string): { type: 'mrkdwn'; text: string } {
  return { type: 'mrkdwn', text: text.length > 3000 ? `${text.slice(0, 2999)}…` : text };
}
