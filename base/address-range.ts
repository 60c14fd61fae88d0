/**
 * Address ranges in CIDR notation (RFC 4632 §3.1 for IPv4, RFC 4291 §2.3 for IPv6): `10.0.0.0/8`,
 * `192.0.2.7` (a single host), `2001:db8::/32`. An IPv4-mapped IPv6 address (`::ffff:192.0.2.7`,
 * RFC 4291 §2.5.5.2), as a dual-stack socket reports IPv4 peers, matches the IPv4 range.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { err, ok, type Result } from './result.ts';

export interface AddressRange {
  /** As written (for messages and the API). */
  readonly text: string;
  readonly family: 4 | 6;
  /** The network's bytes and how many leading bits must match. */
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

function v4Bytes(a: string): Uint8Array {
  return Uint8Array.from(a.split('.').map(Number));
}

function v6Bytes(a: string): Uint8Array | undefined {
  let text = a;
  // A trailing dotted quad (`::ffff:192.0.2.7`) is two groups.
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad?.[1]) {
    const b = v4Bytes(quad[1]);
    text = `${text.slice(0, quad.index)}${(((b[0] ?? 0) << 8) | (b[1] ?? 0)).toString(16)}:${(((b[2] ?? 0) << 8) | (b[3] ?? 0)).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const fill = 8 - head.length - tail.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? fill : 0).fill('0'), ...tail];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const g = Number.parseInt(groups[i] ?? '', 16);
    if (!Number.isInteger(g) || g < 0 || g > 0xffff) return undefined;
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  }
  return out;
}

/** The address as bytes, IPv4-mapped IPv6 as IPv4; undefined when it is no IP address. */
function addressBytes(address: string): { family: 4 | 6; bytes: Uint8Array } | undefined {
  const a = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  if (isIPv4(a)) return { family: 4, bytes: v4Bytes(a) };
  if (!isIPv6(a)) return undefined;
  const bytes = v6Bytes(a);
  if (!bytes) return undefined;
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped ? { family: 4, bytes: bytes.slice(12) } : { family: 6, bytes };
}

export function parseAddressRange(text: string): Result<AddressRange> {
  const [addr = '', prefixText, extra] = text.trim().split('/');
  const parsed = addressBytes(addr);
  const bad = (why: string) =>
    err({ code: 'EDGE_ERR_CONFIG_INVALID' as const, message: `'${text}': ${why}` });
  if (!parsed || extra !== undefined) return bad('not an IP address or CIDR range');
  const max = parsed.family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText))
    return bad('the prefix length is not a number');
  if (prefix > max) return bad(`the prefix length is above ${max}`);
  return ok({ text: text.trim(), family: parsed.family, bytes: parsed.bytes, prefix });
}

/** Whether `address` is inside `range`. */
export function rangeContains(range: AddressRange, address: string): boolean {
  const a = addressBytes(address);
  if (!a || a.family !== range.family) return false;
  let bits = range.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((a.bytes[i] ?? 0) & mask) !== ((range.bytes[i] ?? 0) & mask)) return false;
  }
  return true;
}

/**
 * The text of an IP address as the sockets report it: IPv4 dotted (IPv4-mapped too), IPv6 in
 * the RFC 5952 §4 form (lowercase, no leading zeros, the longest run of two or more zero groups
 * as `::`). Undefined for no address.
 */
export function canonicalAddress(address: string): string | undefined {
  const a = addressBytes(address);
  if (!a) return undefined;
  if (a.family === 4) return [...a.bytes].join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((a.bytes[i] ?? 0) << 8) | (a.bytes[i + 1] ?? 0));
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len && j - i >= 2) best = { at: i, len: j - i };
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.at < 0) return hex.join(':');
  return `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.len).join(':')}`;
}
