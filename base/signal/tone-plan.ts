/**
 * Country tone plans: the supervisory tones a caller hears from the exchange (dial, ringback,
 * busy, congestion, call waiting), as plain data. Values follow the national descriptions
 * collected in ITU-T E.180 (Supplement 2) and the regional standards named per plan.
 *
 * Levels are per frequency, in dBm0: a tone of two frequencies at −13 dBm0 has each sine at
 * −13 dBm0. `cadenceMs` alternates on, off, on, off… and repeats; an empty cadence is continuous.
 */
import { ZERO_DBM0_PEAK } from './milliwatt.ts';

/**
 * Peak of a 0 dBm0 sine on the engine's 16-bit linear scale (G.711 µ-law; A-law's is 0.06 dB
 * higher, below any tolerance here).
 */
export const DBM0_REFERENCE_PEAK = ZERO_DBM0_PEAK.pcmu;

export type ToneName = 'dial' | 'ringback' | 'busy' | 'congestion' | 'callWaiting';
export const TONE_NAMES: readonly ToneName[] = ['dial', 'ringback', 'busy', 'congestion', 'callWaiting'];

export interface ToneSpec {
  frequenciesHz: readonly number[];
  levelDbm0: number;
  cadenceMs: readonly number[];
}

export type TonePlanId = 'cn' | 'etsi' | 'nanp';

export interface TonePlan {
  id: TonePlanId;
  name: string;
  tones: Readonly<Record<ToneName, ToneSpec>>;
}

/** China (GB/T 3380 and YD/T national tone descriptions, E.180 Suppl. 2 entry for China). */
export const CHINA_TONE_PLAN: TonePlan = {
  id: 'cn',
  name: 'China',
  tones: {
    dial: { frequenciesHz: [450], levelDbm0: -10, cadenceMs: [] },
    ringback: { frequenciesHz: [450], levelDbm0: -10, cadenceMs: [1000, 4000] },
    busy: { frequenciesHz: [450], levelDbm0: -10, cadenceMs: [350, 350] },
    congestion: { frequenciesHz: [450], levelDbm0: -10, cadenceMs: [700, 700] },
    callWaiting: { frequenciesHz: [450], levelDbm0: -10, cadenceMs: [400, 4000] },
  },
};

/**
 * Europe: the harmonised CEPT/ETSI tones (CEPT T/CS 20-15, ETSI TR 101 041) used by most member
 * states. Several countries keep national variants (the UK's 350+440 Hz dial tone, Germany's
 * 0.48/0.48 busy); they are not modelled: every European country gets the harmonised plan.
 */
export const ETSI_TONE_PLAN: TonePlan = {
  id: 'etsi',
  name: 'Europe (ETSI)',
  tones: {
    dial: { frequenciesHz: [425], levelDbm0: -10, cadenceMs: [] },
    ringback: { frequenciesHz: [425], levelDbm0: -10, cadenceMs: [1000, 4000] },
    busy: { frequenciesHz: [425], levelDbm0: -10, cadenceMs: [500, 500] },
    congestion: { frequenciesHz: [425], levelDbm0: -10, cadenceMs: [250, 250] },
    callWaiting: { frequenciesHz: [425], levelDbm0: -10, cadenceMs: [200, 200, 200, 3000] },
  },
};

/**
 * North America (ANSI T1.401, Telcordia GR-506 "precise tones"): each frequency at its own
 * level; call waiting is one 300 ms burst, repeated here every 10 s.
 */
export const NANP_TONE_PLAN: TonePlan = {
  id: 'nanp',
  name: 'North America',
  tones: {
    dial: { frequenciesHz: [350, 440], levelDbm0: -13, cadenceMs: [] },
    ringback: { frequenciesHz: [440, 480], levelDbm0: -19, cadenceMs: [2000, 4000] },
    busy: { frequenciesHz: [480, 620], levelDbm0: -24, cadenceMs: [500, 500] },
    congestion: { frequenciesHz: [480, 620], levelDbm0: -24, cadenceMs: [250, 250] },
    callWaiting: { frequenciesHz: [440], levelDbm0: -13, cadenceMs: [300, 9700] },
  },
};

/** NANP members with their own ISO code (the plan follows the numbering plan). */
const NANP_COUNTRIES = new Set([
  'US',
  'CA',
  'PR',
  'VI',
  'GU',
  'AS',
  'MP',
  'BS',
  'BB',
  'AI',
  'AG',
  'VG',
  'KY',
  'BM',
  'GD',
  'TC',
  'MS',
  'SX',
  'LC',
  'DM',
  'VC',
  'DO',
  'TT',
  'KN',
  'JM',
]);

/** EU and EEA members, Switzerland, the UK and the other CEPT members that use 425 Hz. */
const ETSI_COUNTRIES = new Set([
  'AT',
  'BE',
  'BG',
  'HR',
  'CY',
  'CZ',
  'DK',
  'EE',
  'FI',
  'FR',
  'DE',
  'GR',
  'HU',
  'IE',
  'IT',
  'LV',
  'LT',
  'LU',
  'MT',
  'NL',
  'PL',
  'PT',
  'RO',
  'SK',
  'SI',
  'ES',
  'SE',
  'IS',
  'LI',
  'NO',
  'CH',
  'GB',
  'MC',
  'SM',
  'AD',
  'VA',
]);

/**
 * The plan for `system.country` (ISO 3166-1 alpha-2). Countries without a plan of their own get
 * the ETSI plan: 425 Hz is the frequency ITU-T E.180 recommends.
 */
export function tonePlanForCountry(country: string): TonePlan {
  const cc = country.toUpperCase();
  if (cc === 'CN') return CHINA_TONE_PLAN;
  if (NANP_COUNTRIES.has(cc)) return NANP_TONE_PLAN;
  if (ETSI_COUNTRIES.has(cc)) return ETSI_TONE_PLAN;
  return ETSI_TONE_PLAN;
}

/** Whether `country` has a plan chosen for it (false: it falls back to ETSI). */
export function hasTonePlan(country: string): boolean {
  const cc = country.toUpperCase();
  return cc === 'CN' || NANP_COUNTRIES.has(cc) || ETSI_COUNTRIES.has(cc);
}
