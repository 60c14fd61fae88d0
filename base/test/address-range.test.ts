/** CIDR ranges (RFC 4632 §3.1, RFC 4291 §2.3) and the socket form of addresses (RFC 5952 §4). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalAddress, parseAddressRange, rangeContains } from '../address-range.ts';

function range(text: string) {
  const r = parseAddressRange(text);
  assert.ok(r.ok, text);
  return r.value;
}

void describe('address ranges', () => {
  void test('IPv4 ranges, hosts and the prefix edge', () => {
    const lan = range('192.168.10.0/23');
    assert.ok(rangeContains(lan, '192.168.10.1'));
    assert.ok(rangeContains(lan, '192.168.11.254'));
    assert.ok(!rangeContains(lan, '192.168.12.1'));
    assert.ok(rangeContains(range('10.0.0.7'), '10.0.0.7'), 'a bare address is a /32');
    assert.ok(!rangeContains(range('10.0.0.7'), '10.0.0.8'));
    assert.ok(rangeContains(range('0.0.0.0/0'), '203.0.113.9'));
  });

  void test('IPv6 ranges; an IPv4-mapped address matches its IPv4 range', () => {
    const doc = range('2001:db8::/32');
    assert.ok(rangeContains(doc, '2001:db8:1::5'));
    assert.ok(!rangeContains(doc, '2001:db9::1'));
    assert.ok(rangeContains(range('::1'), '::1'));
    assert.ok(rangeContains(range('127.0.0.0/8'), '::ffff:127.0.0.2'));
    assert.ok(!rangeContains(range('127.0.0.0/8'), '::2'), 'an IPv6 address is no IPv4 one');
  });

  void test('what is not a range is refused with the reason', () => {
    for (const bad of [
      '',
      'example.com',
      '10.0.0.1/33',
      '10.0.0.1/a',
      '1.2.3.4/8/9',
      '2001:db8::/129',
      '1:2:3',
    ]) {
      const r = parseAddressRange(bad);
      assert.equal(r.ok, false, bad);
      if (!r.ok) assert.match(r.error.message, /'.*':/);
    }
  });

  void test('addresses in the form sockets report them', () => {
    assert.equal(canonicalAddress('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(canonicalAddress('2001:0db8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
    assert.equal(canonicalAddress('2001:db8:0:1:0:0:0:1'), '2001:db8:0:1::1', 'the longest zero run');
    assert.equal(canonicalAddress('[::1]'), '::1');
    assert.equal(canonicalAddress('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2:3:4:5:6');
    assert.equal(canonicalAddress('not-an-ip'), undefined);
  });
});
