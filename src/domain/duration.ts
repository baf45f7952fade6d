import { DateTime, Duration, Settings } from 'luxon';

// Dates people read are the same whatever the server's locale (with LANG=de_DE, Berlin's zone read
// "MEZ" instead of "GMT+1"). Luxon then never asks Intl for the system's locale either, ~20 ms of start-up.
Settings.defaultLocale = 'en-US';

/** Parses an ISO-8601 duration; null when it does not parse or is not positive. */
export function parseDuration(iso: string): Duration | null {
  const d = Duration.fromISO(iso);
  if (!d.isValid || d.as('milliseconds') <= 0) return null;
  return d;
}

/** "1 hour 30 minutes", "20 seconds": what people read. */
export function humanDuration(iso: string): string {
  const d = parseDuration(iso);
  if (!d) return iso;
  const parts = d.shiftTo('days', 'hours', 'minutes', 'seconds').toObject();
  const words: string[] = [];
  for (const unit of ['days', 'hours', 'minutes', 'seconds'] as const) {
    const n = Math.round(parts[unit] ?? 0);
    if (n > 0) words.push(`${n} ${n === 1 ? unit.slice(0, -1) : unit}`);
  }
  return words.length > 0 ? words.join(' ') : iso;
}

export function addDuration(isoInstant: string, isoDuration: string): string {
  return toIso(DateTime.fromISO(isoInstant, { zone: 'utc' }).plus(Duration.fromISO(isoDuration)));
}

export function toIso(dt: DateTime): string {
  const iso = dt.toUTC().toISO();
  if (!iso) throw new Error('invalid instant');
  return iso;
}

/** An instant as people read it: their own zone first, UTC after. */
export function humanInstant(isoInstant: string, zone: string): string {
  const utc = DateTime.fromISO(isoInstant, { zone: 'utc' });
  const local = utc.setZone(zone);
  const fmt = 'ccc d LLL yyyy, HH:mm:ss';
  const utcText = `${utc.toFormat(fmt)} UTC`;
  if (!local.isValid || local.offset === 0) return utcText;
  return `${local.toFormat(fmt)} ${local.offsetNameShort ?? zone} (${utcText})`;
}

/** "in 9 minutes", "2 hours ago": how far `isoInstant` is from `nowIso`, as people say it. */
export function humanRelative(isoInstant: string, nowIso: string): string {
  const at = DateTime.fromISO(isoInstant, { zone: 'utc' });
  return at.toRelative({ base: DateTime.fromISO(nowIso, { zone: 'utc' }), locale: 'en' }) ?? isoInstant;
}
