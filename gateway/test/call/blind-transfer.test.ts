import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseReferTo, sipfrag } from '../../src/call/blind-transfer.ts';

describe('Refer-To of a blind transfer (RFC 3515 §2.1, §2.4.1)', () => {
  const cases: Array<{ name: string; values: string[]; status?: number; user?: string }> = [
    { name: 'name-addr with a number', values: ['<sip:1003@edgeline.local>'], user: '1003' },
    { name: 'addr-spec with a number', values: ['sip:95551234@edgeline.local'], user: '95551234' },
    { name: 'display name', values: ['"Desk" <sip:1003@edgeline.local;user=phone>'], user: '1003' },
    { name: 'no Refer-To', values: [], status: 400 },
    { name: 'two Refer-To values', values: ['<sip:1@a>', '<sip:2@a>'], status: 400 },
    { name: 'tel URI', values: ['<tel:+861012345>'], status: 416 },
    {
      name: 'Replaces: attended transfer is not done (RFC 3891)',
      values: ['<sip:1003@edgeline.local?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>'],
      status: 501,
    },
    { name: 'method param other than INVITE', values: ['<sip:1003@edgeline.local;method=BYE>'], status: 603 },
    { name: 'user part that is not a number', values: ['<sip:alice@example.com>'], status: 404 },
  ];
  for (const c of cases)
    test(`${c.name} → ${c.status ?? 'accepted'}`, () => {
      const r = parseReferTo(c.values);
      if (c.status === undefined) {
        assert.ok(r.ok, JSON.stringify(r));
        assert.equal(r.value.user, c.user);
      } else {
        assert.ok(!r.ok);
        assert.equal(r.status, c.status);
      }
    });
});

test('MUST carry the status line as message/sipfrag (RFC 3420, RFC 3515 §2.4.5)', () => {
  assert.equal(sipfrag(100, 'Trying').toString(), 'SIP/2.0 100 Trying\r\n');
});
