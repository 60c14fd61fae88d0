/**
 * Mutations of the RFC 4475 messages: every one must give a Result, never throw. The generator
 * is seeded, so a failure reproduces.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { createErrorResponse, parseMessage, serializeMessage } from '../../../src/sip/message/index.ts';

const corpus = new URL('../../fixtures/rfc4475', import.meta.url);
const messages = readdirSync(corpus)
  .filter((f) => f.endsWith('.dat'))
  .sort()
  .map((f) => readFileSync(new URL(f, corpus)));

/** mulberry32: small, seeded, good enough to pick mutations. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const interesting = [
  0x00, 0x0d, 0x0a, 0x20, 0x09, 0x22, 0x25, 0x2c, 0x3a, 0x3b, 0x3c, 0x3e, 0x40, 0x5c, 0x5b, 0x5d, 0xff, 0xc3,
];

function mutate(src: Buffer, rnd: () => number): Buffer {
  const pick = (n: number): number => Math.floor(rnd() * n);
  let buf = Buffer.from(src);
  const rounds = 1 + pick(4);
  for (let r = 0; r < rounds; r++) {
    const at = pick(buf.length + 1);
    const byte = rnd() < 0.5 ? (interesting[pick(interesting.length)] ?? 0) : pick(256);
    switch (pick(4)) {
      case 0: // truncation
        buf = buf.subarray(0, at);
        break;
      case 1: // byte flip
        if (at < buf.length) buf[at] = byte;
        break;
      case 2: // insertion
        buf = Buffer.concat([buf.subarray(0, at), Buffer.from([byte]), buf.subarray(at)]);
        break;
      default: // duplication of a slice
        buf = Buffer.concat([buf.subarray(0, at), buf.subarray(pick(buf.length + 1), at), buf.subarray(at)]);
    }
  }
  return buf;
}

void test('2,000 random mutations of the corpus messages always give a Result and never throw', () => {
  const rnd = prng(0x5eed4475);
  let parsed = 0;
  let refused = 0;
  for (let i = 0; i < 2000; i++) {
    const src = messages[i % messages.length];
    assert.ok(src);
    const input = mutate(src, rnd);
    const r = parseMessage(input);
    assert.equal(typeof r.ok, 'boolean');
    if (r.ok) {
      parsed++;
      assert.ok(
        parseMessage(serializeMessage(r.value)).ok,
        'what parsed re-serializes to something that parses',
      );
    } else {
      refused++;
      assert.equal(typeof r.error.message, 'string');
      createErrorResponse(r.error);
    }
  }
  assert.equal(parsed + refused, 2000);
  assert.ok(parsed > 0 && refused > 0);
});
