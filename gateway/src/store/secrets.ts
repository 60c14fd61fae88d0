/**
 * Passwords in the configuration never leave the gateway in clear over the API. Digest
 * authentication (RFC 7616 §3.4.1/§3.4.2) needs the password (or a per-realm, per-algorithm hash
 * of it), so they are kept as written in config.json; what the API shows is a mask, and a masked
 * value sent back means "keep the stored one", so a read-modify-write round trip never erases them.
 */
import { ErrorCodes } from '../core/errors.ts';
import { err, ok, type ParseError, type Result } from '../../../base/result.ts';
import type { Config } from './config-schema.ts';
import type { JsonChange } from './json-diff.ts';

export const PASSWORD_MASK = '********';

/** A deep copy with every `password` string replaced by the mask. */
export function maskSecrets<T>(value: T): T {
  return maskDeep(value) as T;
}

function maskDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(maskDeep);
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v))
      out[k] = k === 'password' && typeof x === 'string' ? PASSWORD_MASK : maskDeep(x);
    return out;
  }
  return v;
}

/** Changes safe to show: a changed password is reported as changed, never with its values. */
export function maskChanges(changes: JsonChange[]): JsonChange[] {
  return changes.map((c) => {
    if (c.path.endsWith('/password')) {
      const masked: JsonChange = { path: c.path, op: c.op };
      if ('from' in c) masked.from = PASSWORD_MASK;
      if ('to' in c) masked.to = PASSWORD_MASK;
      return masked;
    }
    return {
      ...c,
      ...('from' in c ? { from: maskSecrets(c.from) } : {}),
      ...('to' in c ? { to: maskSecrets(c.to) } : {}),
    };
  });
}

/**
 * Replace masked passwords in a submitted document by the stored ones: an extension's by its
 * number, a trunk's by its id. A mask with nothing stored to keep is an error naming its path.
 * The document is otherwise untouched (it is validated afterwards); a copy is returned.
 */
export function unmaskSecrets(doc: unknown, current: Config): Result<unknown, ParseError> {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return ok(doc);
  const copy = structuredClone(doc) as Record<string, unknown>;
  const extensions = copy['extensions'];
  if (Array.isArray(extensions)) {
    for (let i = 0; i < extensions.length; i++) {
      const e: unknown = extensions[i];
      if (!isRecord(e) || e['password'] !== PASSWORD_MASK) continue;
      const stored = current.extensions.find((x) => x.number === e['number']);
      if (!stored) return missing(`/extensions/${i}/password`, `extension ${String(e['number'])}`);
      e['password'] = stored.password;
    }
  }
  const trunks = copy['trunks'];
  if (Array.isArray(trunks)) {
    for (let i = 0; i < trunks.length; i++) {
      const t: unknown = trunks[i];
      if (!isRecord(t)) continue;
      const creds = t['credentials'];
      if (!isRecord(creds) || creds['password'] !== PASSWORD_MASK) continue;
      const stored = current.trunks.find((x) => x.id === t['id'])?.credentials;
      if (!stored) return missing(`/trunks/${i}/credentials/password`, `trunk ${String(t['id'])}`);
      creds['password'] = stored.password;
    }
  }
  return ok(copy);
}

function missing(field: string, owner: string): { ok: false; error: ParseError } {
  return err({
    code: ErrorCodes.CONFIG_INVALID,
    message: `${field} is '${PASSWORD_MASK}' (keep the stored password) but ${owner} has no stored password`,
    field,
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
