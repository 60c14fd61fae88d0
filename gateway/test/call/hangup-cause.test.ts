import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  causeOfSipStatus,
  HANGUP_CAUSES,
  q850OfCause,
  sipStatusOfCause,
} from '../../src/call/hangup-cause.ts';

describe('hangup causes (Q.850 ↔ SIP, RFC 3398)', () => {
  test('RFC 3398 §7.2.4.1: the SIP status of each ISUP cause', () => {
    const table: Array<[Parameters<typeof sipStatusOfCause>[0], number, number]> = [
      ['unallocated-number', 1, 404],
      ['no-route-to-destination', 3, 404],
      ['user-busy', 17, 486],
      ['no-user-response', 18, 408],
      ['no-answer', 19, 480],
      ['call-rejected', 21, 403],
      ['number-changed', 22, 410],
      ['destination-out-of-order', 27, 502],
      ['invalid-number-format', 28, 484],
      ['facility-rejected', 29, 501],
      ['normal-unspecified', 31, 480],
      ['no-circuit-available', 34, 503],
      ['network-out-of-order', 38, 503],
      ['temporary-failure', 41, 503],
      ['switching-equipment-congestion', 42, 503],
      ['bearer-capability-not-available', 58, 503],
      ['incompatible-destination', 88, 488],
      ['recovery-on-timer-expiry', 102, 504],
      ['interworking', 127, 500],
    ];
    for (const [cause, q850, status] of table) {
      assert.equal(q850OfCause(cause), q850, cause);
      assert.equal(sipStatusOfCause(cause), status, cause);
    }
  });

  test('RFC 3398 §8.2.6.1: the cause of each SIP final status', () => {
    const table: Array<[number, string]> = [
      [200, 'normal-clearing'],
      [400, 'temporary-failure'],
      [403, 'call-rejected'],
      [404, 'unallocated-number'],
      [408, 'recovery-on-timer-expiry'],
      [410, 'number-changed'],
      [480, 'no-user-response'],
      [484, 'invalid-number-format'],
      [486, 'user-busy'],
      [487, 'originator-cancel'],
      [488, 'incompatible-destination'],
      [501, 'facility-rejected'],
      [502, 'network-out-of-order'],
      [503, 'temporary-failure'],
      [600, 'user-busy'],
      [603, 'call-rejected'],
      [604, 'unallocated-number'],
      [606, 'incompatible-destination'],
      // Unlisted statuses fall back by class.
      [415, 'interworking'],
      [580, 'temporary-failure'],
      [699, 'normal-unspecified'],
    ];
    for (const [status, cause] of table) assert.equal(causeOfSipStatus(status), cause, String(status));
  });

  test('every cause maps to a final status', () => {
    for (const [cause, e] of Object.entries(HANGUP_CAUSES)) {
      assert.ok(e.sipStatus >= 200 && e.sipStatus < 700, cause);
    }
  });
});
