import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkMaxForwards, decrementMaxForwards } from '../../../src/sip/transaction/index.ts';
import { request } from './fixtures.ts';

void describe('Max-Forwards for the B2BUA (RFC 3261 §16.3 step 3, §16.6 step 3)', () => {
  const cases: Array<{ header: string | undefined; want: ReturnType<typeof checkMaxForwards> }> = [
    { header: '70', want: { action: 'forward', remaining: 69 } },
    { header: '1', want: { action: 'forward', remaining: 0 } },
    { header: '0', want: { action: 'reject', status: 483, reason: 'Too Many Hops' } },
    { header: undefined, want: { action: 'forward', remaining: 69 } },
    { header: 'ten', want: { action: 'reject', status: 400, reason: 'Invalid Max-Forwards' } },
    { header: '-1', want: { action: 'reject', status: 400, reason: 'Invalid Max-Forwards' } },
  ];
  for (const { header, want } of cases) {
    void test(`Max-Forwards ${header ?? '(absent)'} → ${want.action === 'forward' ? `forward with ${want.remaining}` : want.status}`, () => {
      const req = request();
      if (header === undefined) req.headers.remove('max-forwards');
      else req.headers.set('max-forwards', header);
      assert.deepEqual(checkMaxForwards(req), want);
    });
  }

  void test('MUST decrement Max-Forwards by one on the relayed copy', () => {
    const inbound = request();
    inbound.headers.set('max-forwards', '12');
    const outbound = request();
    decrementMaxForwards(inbound, outbound);
    assert.equal(outbound.headers.get('max-forwards'), '11');
  });
});
