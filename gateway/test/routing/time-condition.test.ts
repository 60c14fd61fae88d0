import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  localTime,
  timeConditionState,
  type TimeCondition,
  type TimeConditionState,
  type Weekday,
} from '../../src/routing/time-condition.ts';

const weekdaysOnly: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri'];
const office = (timeZone: string, extra: Partial<TimeCondition> = {}): TimeCondition => ({
  id: 'office',
  timeZone,
  hours: [{ days: weekdaysOnly, from: '09:00', to: '18:00' }],
  holidays: [],
  ...extra,
});
const at = (iso: string) => Date.parse(iso);

describe('time conditions are read in their own time zone', () => {
  // 2026-03-02 is a Monday. Shanghai is UTC+8 all year; New York moves to UTC-4 on 2026-03-08.
  const cases: Array<[string, string, string, TimeConditionState]> = [
    ['Shanghai Monday 09:00 opens', 'Asia/Shanghai', '2026-03-02T01:00:00Z', 'open'],
    ['Shanghai Monday 08:59 is still closed', 'Asia/Shanghai', '2026-03-02T00:59:00Z', 'closed'],
    ['Shanghai Monday 18:00 has closed (end exclusive)', 'Asia/Shanghai', '2026-03-02T10:00:00Z', 'closed'],
    [
      'Shanghai Monday 07:30 is closed though UTC is still Sunday',
      'Asia/Shanghai',
      '2026-03-01T23:30:00Z',
      'closed',
    ],
    ['Shanghai Monday 10:00 is open', 'Asia/Shanghai', '2026-03-02T02:00:00Z', 'open'],
    ['Shanghai Friday 17:59 is open', 'Asia/Shanghai', '2026-03-06T09:59:00Z', 'open'],
    ['Shanghai Saturday 10:00 is closed', 'Asia/Shanghai', '2026-03-07T02:00:00Z', 'closed'],
    [
      'the same instant in New York is Sunday 20:00: closed',
      'America/New_York',
      '2026-03-02T01:00:00Z',
      'closed',
    ],
    ['New York Monday 09:00 EST opens', 'America/New_York', '2026-03-02T14:00:00Z', 'open'],
    [
      'New York Monday 09:00 EDT opens (daylight saving honoured)',
      'America/New_York',
      '2026-03-09T13:00:00Z',
      'open',
    ],
    ['New York Monday 08:30 EDT is closed', 'America/New_York', '2026-03-09T12:30:00Z', 'closed'],
    ['UTC zone Monday 09:00', 'UTC', '2026-03-02T09:00:00Z', 'open'],
  ];
  for (const [rule, zone, iso, expected] of cases) {
    test(`${rule} → ${expected}`, () => {
      assert.equal(timeConditionState(office(zone), at(iso)), expected);
    });
  }
});

describe('periods that cross midnight belong to the day they start', () => {
  const overnight = office('Asia/Shanghai', {
    hours: [
      { days: ['fri'], from: '22:00', to: '06:00' },
      { days: ['sat'], from: '12:00', to: '24:00' },
    ],
  });
  // Shanghai local times; 2026-03-06 is a Friday.
  const cases: Array<[string, string, TimeConditionState]> = [
    ['Friday 21:59', '2026-03-06T13:59:00Z', 'closed'],
    ['Friday 22:00', '2026-03-06T14:00:00Z', 'open'],
    ['Friday 23:59', '2026-03-06T15:59:00Z', 'open'],
    ['Saturday 00:00', '2026-03-06T16:00:00Z', 'open'],
    ['Saturday 05:59', '2026-03-06T21:59:00Z', 'open'],
    ['Saturday 06:00', '2026-03-06T22:00:00Z', 'closed'],
    ['Friday 05:00 (Thursday night is not listed)', '2026-03-05T21:00:00Z', 'closed'],
    ['Saturday 23:59 (until 24:00)', '2026-03-07T15:59:00Z', 'open'],
    ['Sunday 00:00 (24:00 is the end of Saturday)', '2026-03-07T16:00:00Z', 'closed'],
  ];
  for (const [when, iso, expected] of cases) {
    test(`${when} → ${expected}`, () => assert.equal(timeConditionState(overnight, at(iso)), expected));
  }
});

describe('holidays close whole local days', () => {
  const allDay = (zone: string) =>
    office(zone, {
      hours: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], from: '00:00', to: '24:00' }],
      holidays: ['2026-10-01'],
    });
  const cases: Array<[string, string, string, TimeConditionState]> = [
    ['National Day 10:00 Shanghai', 'Asia/Shanghai', '2026-10-01T02:00:00Z', 'closed'],
    [
      'National Day 00:30 Shanghai (still 30 September in UTC)',
      'Asia/Shanghai',
      '2026-09-30T16:30:00Z',
      'closed',
    ],
    ['30 September 23:59 Shanghai', 'Asia/Shanghai', '2026-09-30T15:59:00Z', 'open'],
    ['the same instant read in UTC is 30 September', 'UTC', '2026-09-30T16:30:00Z', 'open'],
    ['2 October Shanghai', 'Asia/Shanghai', '2026-10-02T02:00:00Z', 'open'],
  ];
  for (const [rule, zone, iso, expected] of cases) {
    test(`${rule} → ${expected}`, () => assert.equal(timeConditionState(allDay(zone), at(iso)), expected));
  }
});

describe('weekday names', () => {
  const days: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
  days.forEach((day, i) => {
    // 2026-03-02 (Monday) + i days, 12:00 Shanghai.
    const iso = `2026-03-0${2 + i}T04:00:00Z`;
    test(`'${day}' is ${iso.slice(0, 10)} in Shanghai and only that day opens`, () => {
      assert.equal(localTime(at(iso), 'Asia/Shanghai')?.weekday, day);
      for (const other of days) {
        const tc = office('Asia/Shanghai', { hours: [{ days: [other], from: '00:00', to: '24:00' }] });
        assert.equal(timeConditionState(tc, at(iso)), other === day ? 'open' : 'closed', other);
      }
    });
  });
});

test('an unknown time zone reads as closed, never as open', () => {
  assert.equal(timeConditionState(office('Mars/Olympus'), at('2026-03-02T01:00:00Z')), 'closed');
});
