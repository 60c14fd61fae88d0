/**
 * A simplified ITU-T G.107 E-model for a G.711 call: transmission rating R from one-way delay,
 * packet loss and jitter, then the G.107 estimate of the conversational MOS.
 *
 *     R = Ro − Is − Id − Ie,eff + A                                   (G.107 §3.1, eq. 3-1)
 *
 * Simplifications, each the usual one for network monitoring:
 * - Ro − Is at the G.107 default parameters: "R = 93.2" for the default values (Table 3), so
 *   R = 93.2 − Id − Ie,eff + A.
 * - Id is its pure-delay term Idd alone (talker and listener echo, Idte and Idle, are taken as
 *   controlled: echo cancellation on every leg); Ta is the one-way delay plus the jitter buffer.
 * - Jitter becomes delay: a receiver's adaptive jitter buffer holds about `jitterBufferFactor` ×
 *   the measured jitter (default 2), which adds to the mouth-to-ear delay.
 * - Loss is random (BurstR = 1) unless the caller knows better.
 */

export interface EModelCodec {
  /** Equipment impairment factor Ie (G.113 Appendix I): 0 for G.711. */
  ie: number;
  /** Packet-loss robustness factor Bpl (G.113 Appendix I). */
  bpl: number;
}

/**
 * G.113 Appendix I, Table I.3: G.711 has Ie = 0; Bpl = 4.3 without packet loss concealment and
 * 25.1 with the G.711 Appendix I PLC.
 */
export const G711_NO_PLC: EModelCodec = { ie: 0, bpl: 4.3 };
export const G711_PLC: EModelCodec = { ie: 0, bpl: 25.1 };

/** G.107 Table 3 defaults give R = 93.2 with no delay, no loss, no codec impairment. */
export const R_DEFAULT = 93.2;

export interface EModelOptions {
  /** Codec impairment; default G.711 with PLC (what phones and this gateway's jitter buffer do). */
  codec?: EModelCodec;
  /** Burst ratio (G.107 §3.6): 1 for random loss, > 1 for bursty loss. */
  burstR?: number;
  /** Advantage factor A (G.107 Table 1): 0 for wired access. */
  advantage?: number;
  /** Jitter buffer size as a multiple of the measured jitter, added to the one-way delay. */
  jitterBufferFactor?: number;
}

export interface EModelInputs {
  /** One-way (mouth-to-ear) network delay in ms: half the RTCP round-trip time, for example. */
  oneWayDelayMs: number;
  /** Packet loss in percent (0..100). */
  packetLossPercent: number;
  /** Interarrival jitter in ms (RFC 3550 A.8, converted). */
  jitterMs?: number;
}

/**
 * G.107 §3.3 (eq. 3-26): the impairment of pure delay, "for Ta ≤ 100 ms: Idd = 0; for Ta > 100 ms:
 * Idd = 25{(1 + X^6)^(1/6) − 3(1 + [X/3]^6)^(1/6) + 2}" with "X = lg(Ta/100) / lg 2".
 */
export function delayImpairment(taMs: number): number {
  if (!(taMs > 100)) return 0;
  const x = Math.log2(taMs / 100);
  return 25 * (Math.pow(1 + Math.pow(x, 6), 1 / 6) - 3 * Math.pow(1 + Math.pow(x / 3, 6), 1 / 6) + 2);
}

/**
 * G.107 §3.5 (eq. 3-29): "Ie,eff = Ie + (95 − Ie) · Ppl / (Ppl/BurstR + Bpl)".
 */
export function effectiveEquipmentImpairment(
  packetLossPercent: number,
  codec: EModelCodec,
  burstR = 1,
): number {
  const ppl = Math.min(100, Math.max(0, packetLossPercent));
  return codec.ie + ((95 - codec.ie) * ppl) / (ppl / burstR + codec.bpl);
}

/** The delay the E-model sees: network one-way delay plus the jitter buffer. */
export function effectiveDelayMs(inputs: EModelInputs, options: EModelOptions = {}): number {
  const jitter = Math.max(0, inputs.jitterMs ?? 0);
  return Math.max(0, inputs.oneWayDelayMs) + (options.jitterBufferFactor ?? 2) * jitter;
}

export function rFactor(inputs: EModelInputs, options: EModelOptions = {}): number {
  const codec = options.codec ?? G711_PLC;
  const id = delayImpairment(effectiveDelayMs(inputs, options));
  const ie = effectiveEquipmentImpairment(inputs.packetLossPercent, codec, options.burstR ?? 1);
  return R_DEFAULT - id - ie + (options.advantage ?? 0);
}

/**
 * G.107 Annex B (eq. B-4): "For R < 0: MOS_CQE = 1; for 0 < R < 100: MOS_CQE = 1 + 0.035 R +
 * R (R − 60)(100 − R) · 7·10^−6; for R > 100: MOS_CQE = 4.5". The cubic dips a hair under 1 for
 * R below about 6.5; it is held at 1 there so the estimate never falls as R rises.
 */
export function mosFromR(r: number): number {
  if (r <= 0) return 1;
  if (r >= 100) return 4.5;
  return Math.max(1, 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6);
}

export function estimateMos(inputs: EModelInputs, options: EModelOptions = {}): number {
  return mosFromR(rFactor(inputs, options));
}
