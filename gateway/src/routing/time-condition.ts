/**
 * Time conditions: business hours and a holiday calendar, read in the condition's own time zone.
 * A branch office in Shanghai served from a data centre on UTC must open at 09:00 Shanghai time,
 * so the wall clock is converted with the IANA zone database (`Intl.DateTimeFormat`) rather than
 * the host's zone. Evaluated per call with the injected wall clock: pure, no timers.
 */
export const weekdays = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof weekdays)[number];

export interface OpenPeriod {
  days: readonly Weekday[];
  /** `HH:MM`; `to` earlier than `from` runs past midnight; `24:00` is the end of the day. */
  from: string;
  to: string;
}

export interface TimeCondition {
  id: string;
  timeZone: string;
  hours: readonly OpenPeriod[];
  /** `YYYY-MM-DD` local dates closed all day. */
  holidays: readonly string[];
}

export type TimeConditionState = 'open' | 'closed';

export interface LocalTime {
  /** `YYYY-MM-DD` in the zone. */
  date: string;
  weekday: Weekday;
  /** Minutes since local midnight, 0..1439. */
  minute: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat | undefined {
  let f = formatters.get(timeZone);
  if (f) return f;
  try {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
  } catch {
    return undefined;
  }
  if (formatters.size > 256) formatters.clear();
  formatters.set(timeZone, f);
  return f;
}

/** Whether the IANA zone name is known to this runtime's zone database. */
export function isKnownTimeZone(timeZone: string): boolean {
  return formatter(timeZone) !== undefined;
}

/** The local date, weekday and minute of `wallMs` in `timeZone`; undefined for an unknown zone. */
export function localTime(wallMs: number, timeZone: string): LocalTime | undefined {
  const f = formatter(timeZone);
  if (!f) return undefined;
  const parts: Record<string, string> = {};
  for (const p of f.formatToParts(new Date(wallMs))) parts[p.type] = p.value;
  const weekday = (parts['weekday'] ?? '').toLowerCase() as Weekday;
  if (!weekdays.includes(weekday)) return undefined;
  return {
    date: `${parts['year']}-${parts['month']}-${parts['day']}`,
    weekday,
    minute: Number(parts['hour']) * 60 + Number(parts['minute']),
  };
}

/** `HH:MM` → minutes since midnight (`24:00` → 1440); NaN when malformed. */
export function clockMinutes(hhmm: string): number {
  const m = /^(\d{2}):(\d{2})$/.exec(hhmm);
  if (!m) return Number.NaN;
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (h === 24 && min === 0) return 1440;
  return h < 24 && min < 60 ? h * 60 + min : Number.NaN;
}

function previousDay(d: Weekday): Weekday {
  return weekdays[(weekdays.indexOf(d) + 6) % 7] ?? d;
}

/**
 * Open when the local time falls in one of the periods and the local date is not a holiday.
 * A period that runs past midnight is split: the evening part belongs to its listed day, the
 * morning part to the day after (Friday 22:00-06:00 is open early Saturday, not early Friday).
 * An unknown zone reads as closed: a misconfigured condition must not route callers to an empty
 * office as if it were open (validation refuses unknown zones before they get here).
 */
export function timeConditionState(tc: TimeCondition, wallMs: number): TimeConditionState {
  const t = localTime(wallMs, tc.timeZone);
  if (!t) return 'closed';
  if (tc.holidays.includes(t.date)) return 'closed';
  for (const p of tc.hours) {
    const from = clockMinutes(p.from);
    const to = clockMinutes(p.to);
    if (Number.isNaN(from) || Number.isNaN(to) || from === to) continue;
    if (from < to) {
      if (p.days.includes(t.weekday) && t.minute >= from && t.minute < to) return 'open';
    } else {
      if (p.days.includes(t.weekday) && t.minute >= from) return 'open';
      if (p.days.includes(previousDay(t.weekday)) && t.minute < to) return 'open';
    }
  }
  return 'closed';
}
