/**
 * An ordered header list with case-insensitive names and compact forms expanded (RFC 3261 §7.3.3).
 * Order matters: Via, Route and Record-Route are processed top-down, and RFC 3261 §7.3.1 allows
 * a header field to be split over several lines or joined with commas with the same meaning.
 */

/** RFC 3261 §7.3.3 compact forms, plus those of RFC 3515 (r), RFC 3892 (b), RFC 4028 (x), RFC 3841 (j, d, a), RFC 3903. */
const compactForms: Record<string, string> = {
  i: 'call-id',
  m: 'contact',
  e: 'content-encoding',
  l: 'content-length',
  c: 'content-type',
  f: 'from',
  s: 'subject',
  k: 'supported',
  t: 'to',
  v: 'via',
  o: 'event',
  u: 'allow-events',
  r: 'refer-to',
  b: 'referred-by',
  x: 'session-expires',
  a: 'accept-contact',
  j: 'reject-contact',
  d: 'request-disposition',
  y: 'identity',
  n: 'identity-info',
};

/** Canonical spellings used when serializing. */
const canonicalSpelling: Record<string, string> = {
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  'www-authenticate': 'WWW-Authenticate',
  'mime-version': 'MIME-Version',
  'p-asserted-identity': 'P-Asserted-Identity',
  'p-preferred-identity': 'P-Preferred-Identity',
  rack: 'RAck',
  rseq: 'RSeq',
  'sip-etag': 'SIP-ETag',
  'sip-if-match': 'SIP-If-Match',
  'min-se': 'Min-SE',
};

/**
 * Every message normalizes and spells the same few dozen names, so both mappings are remembered.
 * Names come from outside, so the memory is bounded: past the limit new names are computed, not kept.
 */
const nameMemoLimit = 1024;
const normalizedNames = new Map<string, string>();
const displayNames = new Map<string, string>();

/** Normalize a header name: lower case, compact forms expanded. */
export function normalizeHeaderName(name: string): string {
  const known = normalizedNames.get(name);
  if (known !== undefined) return known;
  const lower = name.toLowerCase();
  // Own properties only: a header named `constructor` or `toString` is just a header.
  const n = Object.hasOwn(compactForms, lower) ? (compactForms[lower] ?? lower) : lower;
  if (normalizedNames.size < nameMemoLimit) normalizedNames.set(name, n);
  return n;
}

/** The spelling a header name is written with (`call-id` → `Call-ID`, `via` → `Via`). */
export function displayHeaderName(normalized: string): string {
  const known = displayNames.get(normalized);
  if (known !== undefined) return known;
  const spelled = Object.hasOwn(canonicalSpelling, normalized)
    ? (canonicalSpelling[normalized] ?? normalized)
    : normalized.replace(/(^|-)([a-z])/g, (_m, dash: string, ch: string) => dash + ch.toUpperCase());
  if (displayNames.size < nameMemoLimit) displayNames.set(normalized, spelled);
  return spelled;
}

export class SipHeaders {
  /** [normalized name, raw value] in wire order. */
  private readonly list: [string, string][] = [];

  static from(entries: Iterable<[string, string]>): SipHeaders {
    const h = new SipHeaders();
    for (const [n, v] of entries) h.append(n, v);
    return h;
  }

  /** The first value of a header (whole, as received), or undefined. */
  get(name: string): string | undefined {
    const n = normalizeHeaderName(name);
    const list = this.list;
    for (let i = 0; i < list.length; i++) {
      const e = list[i];
      if (e !== undefined && e[0] === n) return e[1];
    }
    return undefined;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** Every header line of that name, in order, NOT split at commas (see `getList`). */
  getLines(name: string): string[] {
    const n = normalizeHeaderName(name);
    const out: string[] = [];
    const list = this.list;
    for (let i = 0; i < list.length; i++) {
      const e = list[i];
      if (e !== undefined && e[0] === n) out.push(e[1]);
    }
    return out;
  }

  /**
   * Every element of a list header (Via, Route, Record-Route, Contact, Allow, Supported, ...) in
   * order, with comma-joined lines split at top-level commas (commas inside quotes or `<...>` do
   * not split). RFC 3261 §7.3.1: "it MUST be possible to combine the multiple header field rows
   * into one "field-name: field-value" pair ... separated by a comma".
   */
  getList(name: string): string[] {
    const out: string[] = [];
    for (const line of this.getLines(name)) for (const part of splitTopLevelCommas(line)) out.push(part);
    return out;
  }

  set(name: string, value: string): this {
    const n = normalizeHeaderName(name);
    const i = this.list.findIndex(([k]) => k === n);
    this.remove(n);
    if (i >= 0 && i <= this.list.length) this.list.splice(i, 0, [n, value]);
    else this.list.push([n, value]);
    return this;
  }

  append(name: string, value: string): this {
    this.list.push([normalizeHeaderName(name), value]);
    return this;
  }

  /** Insert before the first header of that name (or at the end): used to push a Via or Record-Route. */
  prepend(name: string, value: string): this {
    const n = normalizeHeaderName(name);
    const i = this.list.findIndex(([k]) => k === n);
    if (i >= 0) this.list.splice(i, 0, [n, value]);
    else this.list.push([n, value]);
    return this;
  }

  remove(name: string): this {
    const n = normalizeHeaderName(name);
    for (let i = this.list.length - 1; i >= 0; i--) if (this.list[i]?.[0] === n) this.list.splice(i, 1);
    return this;
  }

  /** Remove the first element of a list header (e.g. the top Via), keeping the rest of its line. */
  removeFirst(name: string): string | undefined {
    const n = normalizeHeaderName(name);
    const i = this.list.findIndex(([k]) => k === n);
    if (i < 0) return undefined;
    const entry = this.list[i];
    if (!entry) return undefined;
    const parts = splitTopLevelCommas(entry[1]);
    const first = parts.shift();
    if (parts.length === 0) this.list.splice(i, 1);
    else entry[1] = parts.join(', ');
    return first;
  }

  /**
   * Replace the first line of a header in place (its position kept), e.g. the top Via stamped with
   * `received`. Returns false, changing nothing, when there is no such header.
   */
  replaceFirstLine(name: string, value: string): boolean {
    const n = normalizeHeaderName(name);
    const entry = this.list.find(([k]) => k === n);
    if (!entry) return false;
    entry[1] = value;
    return true;
  }

  entries(): IterableIterator<[string, string]> {
    return this.list[Symbol.iterator]();
  }

  clone(): SipHeaders {
    return SipHeaders.from(this.list);
  }

  get size(): number {
    return this.list.length;
  }
}

/** Split a header value at commas that are not inside a quoted string or angle brackets. */
export function splitTopLevelCommas(value: string): string[] {
  const out: string[] = [];
  let depthAngle = 0;
  let inQuote = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (inQuote) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inQuote = false;
    } else if (c === 0x22) inQuote = true;
    else if (c === 0x3c /* < */) depthAngle++;
    else if (c === 0x3e /* > */) depthAngle = Math.max(0, depthAngle - 1);
    else if (c === 0x2c /* , */ && depthAngle === 0) {
      const part = value.slice(start, i).trim();
      if (part) out.push(part);
      start = i + 1;
    }
  }
  const last = value.slice(start).trim();
  if (last) out.push(last);
  return out;
}
