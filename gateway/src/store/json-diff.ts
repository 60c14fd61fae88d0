/**
 * Structural difference of two JSON documents as a list of changes addressed by JSON pointers
 * (RFC 6901), in the vocabulary of JSON Patch (RFC 6902): `add`, `remove`, `replace`.
 *
 * Arrays are compared position by position, and a longer or shorter array yields trailing adds or
 * removes (removes listed from the end, so applying them in order stays valid). Configuration
 * arrays are short, and a technician reads "/extensions/3/password replaced" more easily than the
 * output of a minimal edit script.
 */
export interface JsonChange {
  path: string;
  op: 'add' | 'remove' | 'replace';
  from?: unknown;
  to?: unknown;
}

export function diffJson(a: unknown, b: unknown, path = ''): JsonChange[] {
  const out: JsonChange[] = [];
  walk(a, b, path, out);
  return out;
}

function walk(a: unknown, b: unknown, path: string, out: JsonChange[]): void {
  if (Array.isArray(a) && Array.isArray(b)) {
    const common = Math.min(a.length, b.length);
    for (let i = 0; i < common; i++) walk(a[i], b[i], `${path}/${i}`, out);
    for (let i = common; i < b.length; i++) out.push({ path: `${path}/${i}`, op: 'add', to: b[i] });
    for (let i = a.length - 1; i >= common; i--) out.push({ path: `${path}/${i}`, op: 'remove', from: a[i] });
    return;
  }
  if (isObject(a) && isObject(b)) {
    for (const key of Object.keys(a)) {
      const p = `${path}/${escape(key)}`;
      if (!(key in b)) out.push({ path: p, op: 'remove', from: a[key] });
      else walk(a[key], b[key], p, out);
    }
    for (const key of Object.keys(b)) {
      if (!(key in a)) out.push({ path: `${path}/${escape(key)}`, op: 'add', to: b[key] });
    }
    return;
  }
  if (!Object.is(a, b)) out.push({ path, op: 'replace', from: a, to: b });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function escape(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}
