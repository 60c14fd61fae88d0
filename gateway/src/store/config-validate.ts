/**
 * Validation of a configuration document: the schema first (types, ranges, unknown keys, defaults
 * filled in), then the rules one JSON Schema cannot say (uniqueness, references between sections,
 * pattern syntax). Every problem is reported with the JSON pointer of the bad value.
 */
import { Ajv, type ErrorObject } from 'ajv';
import { ErrorCodes } from '../core/errors.ts';
import { err, ok, type ParseError, type Result } from '../../../base/result.ts';
import { ConfigSchema, type Config } from './config-schema.ts';
// The routing layer's own compiler, so that a pattern accepted here is one routing can use.
import { compileDialPattern } from '../routing/dial-pattern.ts';
import { parseAddressRange } from '../../../base/address-range.ts';
// PSTN ports, groups, ring groups, time conditions and route loops: checked by routing's rules.
import { checkPstnRouting } from '../routing/route-checks.ts';

export interface ConfigProblem {
  /** JSON pointer of the bad value (RFC 6901), e.g. `/trunks/0/members/1/port`. */
  field: string;
  message: string;
}

/** The first problem in `field`/`message`; every problem found in `problems`. */
export interface ConfigError extends ParseError {
  problems: ConfigProblem[];
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, coerceTypes: false });
const validateSchema = ajv.compile<Config>(ConfigSchema);

/**
 * Validate a candidate document. The input is never modified: defaults are filled into a copy,
 * which is what a valid result returns.
 */
export function validateConfig(doc: unknown): Result<Config, ConfigError> {
  let copy: unknown;
  try {
    copy = structuredClone(doc);
  } catch {
    return fail([{ field: '', message: 'must be plain JSON data' }]);
  }
  if (!validateSchema(copy)) return fail((validateSchema.errors ?? []).map(toProblem));
  const problems = checkSemantics(copy);
  if (problems.length > 0) return fail(problems);
  return ok(copy);
}

/** `field` rendered for a sentence: the root is shown as `/`. */
export function describeProblem(p: ConfigProblem): string {
  return `${p.field === '' ? '/' : p.field} ${p.message}`;
}

function fail(problems: ConfigProblem[]): { ok: false; error: ConfigError } {
  const first = problems[0] ?? { field: '', message: 'is invalid' };
  return err({
    code: ErrorCodes.CONFIG_INVALID,
    message: describeProblem(first),
    field: first.field,
    problems,
  });
}

export function pointer(...segments: Array<string | number>): string {
  return segments.map((s) => '/' + String(s).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

function toProblem(e: ErrorObject): ConfigProblem {
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties':
      return {
        field: e.instancePath + pointer(String(params['additionalProperty'])),
        message: 'is not a known setting',
      };
    case 'required':
      return { field: e.instancePath + pointer(String(params['missingProperty'])), message: 'is required' };
    case 'enum':
      return {
        field: e.instancePath,
        message: `must be one of ${(params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
      };
    default:
      return { field: e.instancePath, message: e.message ?? 'is invalid' };
  }
}

function checkSemantics(c: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (field: string, message: string) => problems.push({ field, message });

  const sip = c.sip;
  if (sip.registerMinExpiresS > sip.registerMaxExpiresS) {
    add('/sip/registerMinExpiresS', `must be <= registerMaxExpiresS (${sip.registerMaxExpiresS})`);
  }
  if (
    sip.registerDefaultExpiresS < sip.registerMinExpiresS ||
    sip.registerDefaultExpiresS > sip.registerMaxExpiresS
  ) {
    add('/sip/registerDefaultExpiresS', 'must lie between registerMinExpiresS and registerMaxExpiresS');
  }
  c.security.allow.forEach((a, i) => {
    const r = parseAddressRange(a);
    if (!r.ok) add(pointer('security', 'allow', i), r.error.message);
  });
  // RFC 4028 §4: Session-Expires "MUST be greater than or equal to" the Min-SE.
  if (sip.sessionExpiresS < sip.minSeS) add('/sip/sessionExpiresS', `must be >= minSeS (${sip.minSeS})`);

  const extensions = unique(
    c.extensions,
    (e) => e.number,
    (i) => pointer('extensions', i, 'number'),
    add,
    'extension number',
  );
  unique(
    c.services,
    (s) => s.number,
    (i) => pointer('services', i, 'number'),
    add,
    'service number',
  );
  c.services.forEach((s, i) => {
    if (extensions.has(s.number))
      add(pointer('services', i, 'number'), `${s.number} is also an extension number`);
    if (s.extension !== undefined && s.type !== 'connect')
      add(pointer('services', i, 'extension'), 'only a connect service names an extension');
    if (s.type === 'connect' && s.extension !== undefined && !extensions.has(s.extension))
      add(pointer('services', i, 'extension'), `no extension ${s.extension}`);
  });
  const trunks = unique(
    c.trunks,
    (t) => t.id,
    (i) => pointer('trunks', i, 'id'),
    add,
    'trunk id',
  );

  c.trunks.forEach((t, i) => {
    unique(
      t.members,
      (m) => `${m.transport}:${m.host}:${m.port}`,
      (j) => pointer('trunks', i, 'members', j),
      add,
      'member',
    );
    if (t.register && t.register.retryMinS > t.register.retryMaxS) {
      add(pointer('trunks', i, 'register', 'retryMinS'), `must be <= retryMaxS (${t.register.retryMaxS})`);
    }
    if (t.register?.enabled && !t.credentials) {
      add(pointer('trunks', i, 'credentials'), 'is required when register.enabled is true');
    }
  });

  unique(
    c.routes.outbound,
    (r) => r.id,
    (i) => pointer('routes', 'outbound', i, 'id'),
    add,
    'route id',
  );
  c.routes.outbound.forEach((r, i) => {
    const compiled = compileDialPattern(r.pattern);
    if (!compiled.ok) add(pointer('routes', 'outbound', i, 'pattern'), compiled.error.message);
  });

  unique(
    c.routes.inbound,
    (r) => r.id,
    (i) => pointer('routes', 'inbound', i, 'id'),
    add,
    'route id',
  );
  unique(
    c.routes.inbound,
    (r) =>
      `${r.trunk ?? '*'}\u0000${r.line ?? '*'}\u0000${r.group ?? '*'}\u0000${r.did}\u0000${r.callerId ?? '*'}`,
    (i) => pointer('routes', 'inbound', i, 'did'),
    add,
    'DID on the same trunk',
  );
  c.routes.inbound.forEach((r, i) => {
    if (r.trunk !== undefined && !trunks.has(r.trunk)) {
      add(pointer('routes', 'inbound', i, 'trunk'), `names unknown trunk '${r.trunk}'`);
    }
    const compiled = compileDialPattern(r.did);
    if (!compiled.ok) add(pointer('routes', 'inbound', i, 'did'), compiled.error.message);
  });

  for (const p of checkPstnRouting(c)) add(p.field, p.message);

  return problems;
}

/** Reports every repeat of a key with the index of its first use; returns the set of keys. */
function unique<T>(
  items: readonly T[],
  key: (item: T) => string,
  at: (index: number) => string,
  add: (field: string, message: string) => void,
  what: string,
): Set<string> {
  const first = new Map<string, number>();
  items.forEach((item, i) => {
    const k = key(item);
    const prev = first.get(k);
    if (prev === undefined) first.set(k, i);
    else add(at(i), `duplicates the ${what} at ${at(prev)}`);
  });
  return new Set(first.keys());
}
