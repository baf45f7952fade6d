import type { KnownBlock } from '@slack/types';
import { DateTime } from 'luxon';
import { completenessLine, type ActivityReport, type CategoryOutcome, type WriteCall } from '../../domain/activity.ts';
import { CATEGORY_SHORT } from '../../domain/categories.ts';
import { humanInstant } from '../../domain/duration.ts';
import type { AccessRequest } from '../../domain/request.ts';
import type { SlackText } from '../../services/ports.ts';
import { escapeMrkdwn, mrkdwn } from '../text.ts';

/** Slack allows 50 blocks a message and 3000 characters a section: lists are packed and cut below both. */
const MAX_BLOCKS = 45;
const SECTION_CHARS = 2900;

const t = (v: string) => escapeMrkdwn(v);
const clock = (iso: string) => DateTime.fromISO(iso, { zone: 'utc' }).toFormat('HH:mm:ss');
const service = (source: string) => source.replace(/\.amazonaws\.com$/, '');

export function categoryLine(c: CategoryOutcome): string {
  switch (c.outcome) {
    case 'no-category':
      return 'no reason category was given';
    case 'not-compared':
      return `*${CATEGORY_SHORT[c.given]}* names no particular calls, so the work was not compared with it`;
    case 'matched':
      return `:white_check_mark: matched *${CATEGORY_SHORT[c.given]}*`;
    case 'no-writes':
      return `no change of the kind *${CATEGORY_SHORT[c.given]}* covers was made`;
    case 'not-matched': {
      const why = [...(c.found.filter((f) => f !== c.given).length > 0 ? [`writes belong to ${c.found.filter((f) => f !== c.given).map((f) => CATEGORY_SHORT[f]).join(', ')}`] : []), ...(c.workloads ? ['workloads were created'] : [])];
      return `:warning: did not match *${CATEGORY_SHORT[c.given]}*: ${why.join('; ')}`;
    }
  }
}

function writeLine(w: WriteCall): string {
  const mark = w.mark === 'flagged' ? ' — :rotating_light: *flagged: workload*' : w.mark === 'expected' && w.category ? ` — expected (${CATEGORY_SHORT[w.category]})` : '';
  return `\`${clock(w.time)}\` *${t(w.name)}* ${t(service(w.source))} ${t(w.region)}${w.errorCode ? ` — error \`${t(w.errorCode)}\`` : ''}${mark}`;
}

/** Lines packed into sections of at most SECTION_CHARS, within `maxBlocks`; the lines left out are counted. */
function pack(lines: string[], maxBlocks: number): { blocks: KnownBlock[]; left: number } {
  const blocks: KnownBlock[] = [];
  let current = '';
  let used = 0;
  for (const line of lines) {
    const next = current ? `${current}\n${line}` : line;
    if (next.length <= SECTION_CHARS) {
      current = next;
      used++;
      continue;
    }
    if (blocks.length + 1 >= maxBlocks) break;
    blocks.push({ type: 'section', text: mrkdwn(current) });
    current = line.slice(0, SECTION_CHARS);
    used++;
  }
  if (current) blocks.push({ type: 'section', text: mrkdwn(current) });
  return { blocks, left: lines.length - used };
}

/** The report as the audit thread (and the requester's DM) shows it. */
export function activityReportMessage(r: AccessRequest, report: ActivityReport, digest: string, o: { forRequester: boolean }): SlackText {
  const title = o.forRequester ? `:mag: *Session activity report* of your breakglass access \`${r.id}\` to *${t(r.profileName)}*` : ':mag: *Session activity report*';
  const until = report.window.endsAt === 'removal' ? 'the assignment was removed and its sessions ended' : 'its sessions expired (they were not ended with the assignment)';
  const head = [
    title,
    `*Window:* ${humanInstant(report.window.start, 'UTC')} → ${humanInstant(report.window.end, 'UTC')}, until ${until}`,
    `*Regions searched:* ${report.regions.map(t).join(', ')}`,
    `*Completeness:* ${t(completenessLine(report))}`,
    `*Reason category:* ${categoryLine(report.category)}`,
  ].join('\n');
  const services = report.byService.length === 0 ? 'no calls' : report.byService.map((s) => `${t(s.service)} ${s.calls}${s.writes > 0 ? ` (${s.writes} write${s.writes === 1 ? '' : 's'})` : ''}`).join(' · ');
  const flagged = report.writes.filter((w) => w.mark === 'flagged');
  const blocks: KnownBlock[] = [
    { type: 'section', text: mrkdwn(head) },
    { type: 'section', text: mrkdwn(`*Calls by service* (${report.calls}): ${services}`) },
  ];
  if (flagged.length > 0) {
    blocks.push({
      type: 'section',
      text: mrkdwn(`:rotating_light: *Flagged: ${flagged.length} call${flagged.length === 1 ? '' : 's'} that create or run workloads, which do not belong in the management account:* ${flagged.map((w) => `${t(w.name)} (${t(service(w.source))}, ${t(w.region)}, ${clock(w.time)})`).join(', ')}`),
    });
  }
  blocks.push({ type: 'section', text: mrkdwn(`*Expected management-account work:* ${report.expected} call${report.expected === 1 ? '' : 's'} only the management account can make`) });
  const total = report.writes.length + report.omittedWrites;
  blocks.push({ type: 'section', text: mrkdwn(`*Write calls* (${total}, oldest first):${total === 0 ? ' none' : ''}`) });
  const footer: KnownBlock = { type: 'context', elements: [{ type: 'mrkdwn', text: `Report digest (SHA-256, in the audit record): \`${digest}\`` }] };
  const packed = pack(report.writes.map(writeLine), MAX_BLOCKS - blocks.length - 2);
  blocks.push(...packed.blocks);
  const more = packed.left + report.omittedWrites;
  if (more > 0) blocks.push({ type: 'section', text: mrkdwn(`…and ${more} more write call${more === 1 ? '' : 's'} not shown`) });
  blocks.push(footer);
  const summary = `Session activity report for ${r.id}: ${report.calls} calls, ${total} writes, ${report.expected} expected, ${flagged.length} flagged${report.complete ? '' : ' (incomplete)'}`;
  return { text: summary, blocks };
}
