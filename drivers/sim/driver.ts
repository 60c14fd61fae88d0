/**
 * The `sim` driver family: `{ family: 'sim', fxo?: 4, e1Spans?: 1, tonePlan?: 'cn' }` opens one
 * simulated card wired to a fresh simulated central office (`card.office`).
 */
import { err, ok, type Result } from '../../base/result.ts';
import {
  CHINA_TONE_PLAN,
  ETSI_TONE_PLAN,
  NANP_TONE_PLAN,
  type TonePlan,
} from '../../base/signal/tone-plan.ts';
import type { DriverConfig, DriverDeps } from '../api/registry.ts';
import { DriverErrors, type Card, type DriverError } from '../api/types.ts';
import { createSimulation } from './sim-card.ts';

const PLANS: Readonly<Record<string, TonePlan>> = {
  cn: CHINA_TONE_PLAN,
  etsi: ETSI_TONE_PLAN,
  nanp: NANP_TONE_PLAN,
};

function count(config: DriverConfig, key: string, dflt: number, max: number): Result<number, DriverError> {
  const v = config[key];
  if (v === undefined) return ok(dflt);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    return err({ code: DriverErrors.BAD_CONFIG, message: `${key} must be an integer 0–${max}`, field: key });
  }
  return ok(v);
}

export function openSimDriver(config: DriverConfig, deps: DriverDeps): Result<Card[], DriverError> {
  const fxo = count(config, 'fxo', 4, 64);
  if (!fxo.ok) return fxo;
  const e1Spans = count(config, 'e1Spans', 1, 16);
  if (!e1Spans.ok) return e1Spans;
  const planId = config['tonePlan'] ?? 'cn';
  const tonePlan = typeof planId === 'string' ? PLANS[planId] : undefined;
  if (!tonePlan) {
    return err({
      code: DriverErrors.BAD_CONFIG,
      message: `tonePlan must be one of ${Object.keys(PLANS).join(', ')}`,
      field: 'tonePlan',
    });
  }
  const id = typeof config['id'] === 'string' ? config['id'] : 'sim0';
  const sim = createSimulation({ id, fxo: fxo.value, e1Spans: e1Spans.value, office: { tonePlan } }, deps);
  return ok([sim.card]);
}
