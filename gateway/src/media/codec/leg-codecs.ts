/**
 * What a leg processor needs to know of a leg's negotiation: which payload types carry µ-law,
 * A-law and RFC 4733 telephone-events, and how to turn a G.711 payload into linear samples
 * without allocating.
 */
import { alawToLinear, ulawToLinear } from '../../../../base/signal/g711.ts';

export interface LegPayloadMap {
  pcmu: number;
  pcma: number;
  telephoneEvent: number;
}

export type PayloadKind = 'pcmu' | 'pcma' | 'telephone-event' | 'other';

export const NO_PAYLOAD_TYPES: LegPayloadMap = { pcmu: -1, pcma: -1, telephoneEvent: -1 };

export function payloadKind(map: LegPayloadMap, pt: number): PayloadKind {
  // RFC 3551 §6: 0 and 8 are static; a leg that did not negotiate them by number still uses them.
  if (pt === map.telephoneEvent) return 'telephone-event';
  if (pt === map.pcmu) return 'pcmu';
  if (pt === map.pcma) return 'pcma';
  return 'other';
}

const ULAW = new Int16Array(256);
const ALAW = new Int16Array(256);
for (let c = 0; c < 256; c++) {
  ULAW[c] = ulawToLinear(c);
  ALAW[c] = alawToLinear(c);
}

/** Decode `length` G.711 octets of `src` from `offset` into `out` from `at`; returns samples written. */
export function decodeInto(
  law: 'pcmu' | 'pcma',
  src: Uint8Array,
  offset: number,
  length: number,
  out: Int16Array,
  at: number,
): number {
  const table = law === 'pcmu' ? ULAW : ALAW;
  const n = Math.min(length, out.length - at);
  for (let i = 0; i < n; i++) out[at + i] = table[src[offset + i] ?? 0] ?? 0;
  return n;
}
