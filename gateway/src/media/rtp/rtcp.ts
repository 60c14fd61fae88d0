/**
 * RTCP (RFC 3550 §6): sender and receiver reports with their report blocks (§6.4), SDES CNAME
 * (§6.5.1) and BYE (§6.6); parsing of compound packets with the validity checks of Appendix A.2,
 * and writers that fill a buffer the caller reuses.
 *
 * RTCP is sent once per report interval per stream (seconds apart), so the parser returns plain
 * objects; the writers allocate nothing.
 */
import { err, ok, type ParseError, type Result } from '../../../../base/result.ts';
import type { ErrorCode } from '../../../../base/error-codes.ts';

/** RFC 3550 §12.1: RTCP packet types. */
export const RtcpPacketType = { SR: 200, RR: 201, SDES: 202, BYE: 203, APP: 204 } as const;

/** RFC 3550 §12.2: SDES item types. */
export const SdesItemType = {
  END: 0,
  CNAME: 1,
  NAME: 2,
  EMAIL: 3,
  PHONE: 4,
  LOC: 5,
  TOOL: 6,
  NOTE: 7,
  PRIV: 8,
} as const;

const HEADER_BYTES = 4;
const SENDER_INFO_BYTES = 20;
const REPORT_BLOCK_BYTES = 24;
/** RFC 3550 §6.4.1: "RC ... A value of zero is valid." — five bits, so at most 31 per packet. */
export const MAX_REPORT_BLOCKS = 31;

/** RFC 3550 §6.4.1 report block: what the reporter received from one source. */
export interface ReportBlock {
  /** SSRC_n (source identifier) of the source this block is about. */
  ssrc: number;
  /** "fraction lost: 8 bits ... expressed as a fixed point number with the binary point at the left edge". */
  fractionLost: number;
  /** "cumulative number of packets lost: 24 bits" — signed: duplicates can make it negative. */
  cumulativeLost: number;
  /** "extended highest sequence number received: 32 bits". */
  extendedHighestSeq: number;
  /** "interarrival jitter: 32 bits", in timestamp units. */
  jitter: number;
  /** "last SR timestamp (LSR): 32 bits": the middle 32 bits of the NTP timestamp of the last SR. */
  lsr: number;
  /** "delay since last SR (DLSR): 32 bits, expressed in units of 1/65536 seconds". */
  dlsr: number;
}

/** RFC 3550 §6.4.1 sender information. */
export interface SenderInfo {
  /** NTP timestamp, most significant word: seconds since 1900-01-01. */
  ntpMsw: number;
  /** NTP timestamp, least significant word: fraction of a second in 1/2^32. */
  ntpLsw: number;
  rtpTimestamp: number;
  /** "sender's packet count: 32 bits". */
  packetCount: number;
  /** "sender's octet count: 32 bits" — payload octets, headers and padding excluded. */
  octetCount: number;
}

export interface SdesChunk {
  ssrc: number;
  cname: string | undefined;
  items: Array<{ type: number; value: string }>;
}

export type RtcpPacket =
  | { type: 'sr'; ssrc: number; sender: SenderInfo; reports: ReportBlock[] }
  | { type: 'rr'; ssrc: number; reports: ReportBlock[] }
  | { type: 'sdes'; chunks: SdesChunk[] }
  | { type: 'bye'; ssrcs: number[]; reason: string | undefined }
  /** APP, RTPFB/PSFB (RFC 4585), XR (RFC 3611) …: framed and skipped. */
  | { type: 'other'; packetType: number; count: number; byteLength: number };

export interface RtcpParseOptions {
  /**
   * RFC 5506 reduced-size RTCP lets a compound start with something other than SR/RR. Off by
   * default: RFC 3550 Appendix A.2 requires SR or RR first.
   */
  allowReducedSize?: boolean;
}

const fail = (code: ErrorCode, message: string, field: string): { ok: false; error: ParseError } =>
  err({ code, message, field });

function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function putU32(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/**
 * Parse a compound RTCP packet (after SRTCP unprotect, when SRTP is in use). Never throws: a
 * malformed or truncated compound is refused whole, as RFC 3550 Appendix A.2 does.
 */
export function parseRtcp(buf: Uint8Array, options: RtcpParseOptions = {}): Result<RtcpPacket[]> {
  const total = buf.length;
  if (total < HEADER_BYTES + 4)
    return fail('EDGE_ERR_RTCP_TRUNCATED', `${total} bytes is shorter than an RTCP header`, 'header');
  // RFC 3550 §6.1: "the length of the compound packet ... is a multiple of 32 bits".
  if (total % 4 !== 0)
    return fail('EDGE_ERR_RTCP_LENGTH', `compound length ${total} is not a multiple of 4`, 'length');
  const firstType = buf[1]!;
  // Appendix A.2: "The payload type field of the first RTCP packet in a compound packet must be
  // equal to SR or RR." and "The padding bit (P) should be zero for the first packet of a compound
  // RTCP packet because padding should only be applied, if it is needed, to the last packet."
  if (!options.allowReducedSize && firstType !== RtcpPacketType.SR && firstType !== RtcpPacketType.RR)
    return fail('EDGE_ERR_RTCP_FIRST', `compound starts with packet type ${firstType}, not SR or RR`, 'PT');
  const packets: RtcpPacket[] = [];
  let at = 0;
  while (at < total) {
    if (total - at < HEADER_BYTES)
      return fail(
        'EDGE_ERR_RTCP_TRUNCATED',
        `${total - at} trailing bytes after packet ${packets.length}`,
        'header',
      );
    const b0 = buf[at]!;
    // Appendix A.2: "RTP version field must equal 2."
    if (b0 >> 6 !== 2) return fail('EDGE_ERR_RTCP_VERSION', `RTCP version ${b0 >> 6}, expected 2`, 'V');
    const padding = (b0 & 0x20) !== 0;
    const count = b0 & 0x1f;
    const pt = buf[at + 1]!;
    // §6.4.1: "length: 16 bits. The length of this RTCP packet in 32-bit words minus one,
    // including the header and any padding."
    const byteLength = ((((buf[at + 2]! << 8) | buf[at + 3]!) + 1) * 4) >>> 0;
    // Appendix A.2: "The length fields of the individual RTCP packets must add up to the overall
    // length of the compound RTCP packet as received."
    if (at + byteLength > total)
      return fail(
        'EDGE_ERR_RTCP_LENGTH',
        `packet ${packets.length} length ${byteLength} runs past the end`,
        'length',
      );
    let end = at + byteLength;
    if (padding) {
      // §6.4.1: "padding (P): 1 bit. If set, this individual RTCP packet contains some additional
      // padding octets at the end which are not part of the control information but are included
      // in the length field." Only the last packet of a compound may carry it.
      if (end !== total)
        return fail(
          'EDGE_ERR_RTCP_PADDING',
          `padding on packet ${packets.length}, which is not the last`,
          'P',
        );
      const pad = buf[end - 1]!;
      if (pad === 0 || pad > byteLength - HEADER_BYTES)
        return fail('EDGE_ERR_RTCP_PADDING', `padding count ${pad} does not fit the packet`, 'P');
      end -= pad;
    }
    const body = buf.subarray(at, end);
    const parsed = parseOne(pt, count, body);
    if (!parsed.ok) return parsed;
    packets.push(parsed.value);
    at += byteLength;
  }
  return ok(packets);
}

function parseOne(pt: number, count: number, p: Uint8Array): Result<RtcpPacket> {
  switch (pt) {
    case RtcpPacketType.SR: {
      const need = 8 + SENDER_INFO_BYTES + count * REPORT_BLOCK_BYTES;
      if (p.length < need)
        return fail(
          'EDGE_ERR_RTCP_TRUNCATED',
          `SR with ${count} blocks needs ${need} bytes, has ${p.length}`,
          'SR',
        );
      // Anything after the blocks is a profile-specific extension (§6.4.1); ignored.
      return ok({
        type: 'sr',
        ssrc: u32(p, 4),
        sender: {
          ntpMsw: u32(p, 8),
          ntpLsw: u32(p, 12),
          rtpTimestamp: u32(p, 16),
          packetCount: u32(p, 20),
          octetCount: u32(p, 24),
        },
        reports: readBlocks(p, 28, count),
      });
    }
    case RtcpPacketType.RR: {
      const need = 8 + count * REPORT_BLOCK_BYTES;
      if (p.length < need)
        return fail(
          'EDGE_ERR_RTCP_TRUNCATED',
          `RR with ${count} blocks needs ${need} bytes, has ${p.length}`,
          'RR',
        );
      return ok({ type: 'rr', ssrc: u32(p, 4), reports: readBlocks(p, 8, count) });
    }
    case RtcpPacketType.SDES:
      return parseSdes(count, p);
    case RtcpPacketType.BYE: {
      // §6.6: "If a BYE packet is received by a mixer, ... SC ... SSRC/CSRC ... opt. length, reason".
      const need = 4 + 4 * count;
      if (p.length < need)
        return fail('EDGE_ERR_RTCP_TRUNCATED', `BYE with ${count} sources needs ${need} bytes`, 'BYE');
      const ssrcs: number[] = [];
      for (let i = 0; i < count; i++) ssrcs.push(u32(p, 4 + 4 * i));
      let reason: string | undefined;
      if (p.length > need) {
        const n = p[need]!;
        if (need + 1 + n > p.length)
          return fail('EDGE_ERR_RTCP_TRUNCATED', `BYE reason of ${n} bytes runs past the end`, 'BYE');
        reason = utf8.decode(p.subarray(need + 1, need + 1 + n));
      }
      return ok({ type: 'bye', ssrcs, reason });
    }
    default:
      return ok({ type: 'other', packetType: pt, count, byteLength: p.length });
  }
}

function readBlocks(p: Uint8Array, from: number, count: number): ReportBlock[] {
  const blocks: ReportBlock[] = [];
  for (let i = 0; i < count; i++) {
    const at = from + i * REPORT_BLOCK_BYTES;
    const lost24 = (p[at + 5]! << 16) | (p[at + 6]! << 8) | p[at + 7]!;
    blocks.push({
      ssrc: u32(p, at),
      fractionLost: p[at + 4]!,
      // Sign-extend the 24-bit two's-complement count.
      cumulativeLost: lost24 & 0x800000 ? lost24 - 0x1000000 : lost24,
      extendedHighestSeq: u32(p, at + 8),
      jitter: u32(p, at + 12),
      lsr: u32(p, at + 16),
      dlsr: u32(p, at + 20),
    });
  }
  return blocks;
}

/**
 * §6.5: "Each chunk consists of an SSRC/CSRC identifier followed by a list of zero or more items
 * ... Each chunk starts on a 32-bit boundary. ... The list of items in each chunk MUST be
 * terminated by one or more null octets, the first of which is interpreted as an item type of
 * zero to denote the end of the list."
 */
function parseSdes(count: number, p: Uint8Array): Result<RtcpPacket> {
  const chunks: SdesChunk[] = [];
  let at = 4;
  for (let c = 0; c < count; c++) {
    if (at + 4 > p.length) return fail('EDGE_ERR_RTCP_TRUNCATED', `SDES chunk ${c} missing`, 'SDES');
    const chunk: SdesChunk = { ssrc: u32(p, at), cname: undefined, items: [] };
    at += 4;
    for (;;) {
      if (at >= p.length) return fail('EDGE_ERR_RTCP_TRUNCATED', `SDES chunk ${c} not terminated`, 'SDES');
      const type = p[at]!;
      if (type === SdesItemType.END) {
        // Skip the null octets up to the next 32-bit boundary.
        at = (at + 4) & ~3;
        break;
      }
      if (at + 2 > p.length) return fail('EDGE_ERR_RTCP_TRUNCATED', `SDES item in chunk ${c} cut`, 'SDES');
      const len = p[at + 1]!;
      if (at + 2 + len > p.length)
        return fail('EDGE_ERR_RTCP_TRUNCATED', `SDES item of ${len} bytes runs past the end`, 'SDES');
      const value = utf8.decode(p.subarray(at + 2, at + 2 + len));
      chunk.items.push({ type, value });
      if (type === SdesItemType.CNAME && chunk.cname === undefined) chunk.cname = value;
      at += 2 + len;
    }
    chunks.push(chunk);
  }
  return ok({ type: 'sdes', chunks });
}

// ---------------------------------------------------------------------------------------------
// Writers. Each writes at `at` and returns the offset after what it wrote. They throw RangeError
// only when the caller's buffer is too small, a sizing bug rather than input.
// ---------------------------------------------------------------------------------------------

function header(buf: Uint8Array, at: number, count: number, pt: number, byteLength: number): void {
  buf[at] = 0x80 | (count & 0x1f);
  buf[at + 1] = pt;
  const words = byteLength / 4 - 1;
  buf[at + 2] = (words >>> 8) & 0xff;
  buf[at + 3] = words & 0xff;
}

function room(buf: Uint8Array, at: number, n: number): void {
  if (at + n > buf.length)
    throw new RangeError(`RTCP buffer of ${buf.length} too small at ${at} for ${n} bytes`);
}

function writeBlocks(
  buf: Uint8Array,
  at: number,
  blocks: readonly ReportBlock[],
  from: number,
  n: number,
): number {
  for (let i = 0; i < n; i++) {
    const b = blocks[from + i]!;
    putU32(buf, at, b.ssrc);
    // §6.4.1 cumulative lost is a signed 24-bit field: clamp rather than wrap.
    const lost = Math.max(-0x800000, Math.min(0x7fffff, Math.trunc(b.cumulativeLost)));
    putU32(buf, at + 4, ((b.fractionLost & 0xff) << 24) | (lost & 0xffffff));
    putU32(buf, at + 8, b.extendedHighestSeq >>> 0);
    putU32(buf, at + 12, Math.max(0, Math.min(0xffffffff, Math.floor(b.jitter))));
    putU32(buf, at + 16, b.lsr >>> 0);
    putU32(buf, at + 20, b.dlsr >>> 0);
    at += REPORT_BLOCK_BYTES;
  }
  return at;
}

/**
 * Write an SR carrying up to 31 report blocks; further blocks go in RRs that follow, as §6.4.1
 * says: "If there are more than 31 sources, additional RR packets SHOULD follow the SR".
 */
export function writeSenderReport(
  buf: Uint8Array,
  at: number,
  ssrc: number,
  sender: SenderInfo,
  blocks: readonly ReportBlock[] = [],
): number {
  const n = Math.min(blocks.length, MAX_REPORT_BLOCKS);
  const len = 8 + SENDER_INFO_BYTES + n * REPORT_BLOCK_BYTES;
  room(buf, at, len);
  header(buf, at, n, RtcpPacketType.SR, len);
  putU32(buf, at + 4, ssrc);
  putU32(buf, at + 8, sender.ntpMsw);
  putU32(buf, at + 12, sender.ntpLsw);
  putU32(buf, at + 16, sender.rtpTimestamp >>> 0);
  putU32(buf, at + 20, sender.packetCount >>> 0);
  putU32(buf, at + 24, sender.octetCount >>> 0);
  at = writeBlocks(buf, at + 28, blocks, 0, n);
  return n < blocks.length ? writeReceiverReport(buf, at, ssrc, blocks.slice(n)) : at;
}

/** Write one RR per 31 blocks (an empty RR when there are none, as §6.4.2 allows). */
export function writeReceiverReport(
  buf: Uint8Array,
  at: number,
  ssrc: number,
  blocks: readonly ReportBlock[] = [],
): number {
  let from = 0;
  do {
    const n = Math.min(blocks.length - from, MAX_REPORT_BLOCKS);
    const len = 8 + n * REPORT_BLOCK_BYTES;
    room(buf, at, len);
    header(buf, at, n, RtcpPacketType.RR, len);
    putU32(buf, at + 4, ssrc);
    at = writeBlocks(buf, at + 8, blocks, from, n);
    from += n;
  } while (from < blocks.length);
  return at;
}

const utf8Encoder = new TextEncoder();

/**
 * SDES with one chunk carrying CNAME. §6.5.1: "The CNAME item MUST be included in each compound
 * RTCP packet". The item is at most 255 octets (its length field is 8 bits).
 */
export function writeSdesCname(
  buf: Uint8Array,
  at: number,
  ssrc: number,
  cname: string | Uint8Array,
): number {
  const bytes = typeof cname === 'string' ? utf8Encoder.encode(cname) : cname;
  const n = Math.min(bytes.length, 255);
  // header + SSRC + type + length + text + at least one null octet, padded to 32 bits.
  const len = (4 + 4 + 2 + n + 1 + 3) & ~3;
  room(buf, at, len);
  header(buf, at, 1, RtcpPacketType.SDES, len);
  putU32(buf, at + 4, ssrc);
  buf[at + 8] = SdesItemType.CNAME;
  buf[at + 9] = n;
  buf.set(bytes.subarray(0, n), at + 10);
  buf.fill(0, at + 10 + n, at + len);
  return at + len;
}

/** §6.6 BYE for our source(s), with an optional reason ("opt. length ... reason for leaving"). */
export function writeBye(buf: Uint8Array, at: number, ssrcs: readonly number[], reason?: string): number {
  const sc = Math.min(ssrcs.length, 31);
  const text = reason === undefined ? undefined : utf8Encoder.encode(reason).subarray(0, 255);
  const len = (4 + 4 * sc + (text ? 1 + text.length : 0) + 3) & ~3;
  room(buf, at, len);
  header(buf, at, sc, RtcpPacketType.BYE, len);
  for (let i = 0; i < sc; i++) putU32(buf, at + 4 + 4 * i, ssrcs[i]!);
  let p = at + 4 + 4 * sc;
  if (text) {
    buf[p] = text.length;
    buf.set(text, p + 1);
    p += 1 + text.length;
  }
  buf.fill(0, p, at + len);
  return at + len;
}

export interface RtcpReportContent {
  ssrc: number;
  /** Present when we sent RTP since the last report: the compound starts with an SR. */
  sender?: SenderInfo | undefined;
  blocks: readonly ReportBlock[];
  cname: string;
  /** Append a BYE (the stream is ending). */
  bye?: { reason?: string } | undefined;
}

/**
 * A full compound in RFC 3550 §6.1 order: "The first RTCP packet in the compound packet MUST
 * always be a report packet", then SDES with CNAME, then BYE last when leaving ("BYE should be the
 * last packet sent with a given SSRC/CSRC"). Returns the compound's length.
 */
export function writeRtcpCompound(buf: Uint8Array, at: number, r: RtcpReportContent): number {
  const start = at;
  at = r.sender
    ? writeSenderReport(buf, at, r.ssrc, r.sender, r.blocks)
    : writeReceiverReport(buf, at, r.ssrc, r.blocks);
  at = writeSdesCname(buf, at, r.ssrc, r.cname);
  if (r.bye) at = writeBye(buf, at, [r.ssrc], r.bye.reason);
  return at - start;
}

// ---------------------------------------------------------------------------------------------
// NTP time and round-trip time
// ---------------------------------------------------------------------------------------------

/** Seconds from 1900-01-01 (NTP era 0) to 1970-01-01. */
const NTP_UNIX_OFFSET_S = 2208988800;

/** §4: "Wallclock time (absolute date and time) is represented using the timestamp format of the
 * Network Time Protocol (NTP), which is in seconds relative to 0h UTC on 1 January 1900." */
export function ntpFromWallMs(wallMs: number): { msw: number; lsw: number } {
  const s = Math.floor(wallMs / 1000);
  const fracMs = wallMs - s * 1000;
  return { msw: (s + NTP_UNIX_OFFSET_S) >>> 0, lsw: Math.floor((fracMs / 1000) * 0x100000000) >>> 0 };
}

/** The middle 32 bits of an NTP timestamp, the unit of LSR and of RTT arithmetic (1/65536 s). */
export function ntpMiddle32(msw: number, lsw: number): number {
  return (((msw & 0xffff) << 16) | (lsw >>> 16)) >>> 0;
}

/**
 * RFC 3550 §6.4.1: "the source SSRC_r can compute the total round-trip propagation delay to SSRC_n
 * by recording the time A when this reception report block is received. It calculates the total
 * round-trip time A-LSR using the last SR timestamp (LSR) field, and then subtracting this field
 * to leave the round-trip propagation delay as (A - LSR - DLSR)."
 *
 * `arrivalMiddle32` is A in the same 1/65536 s units. Returns milliseconds, or undefined when the
 * block carries no LSR ("If no SR has been received yet, the field is set to zero") or the result
 * is negative (clock step, bogus block).
 */
export function roundTripMs(lsr: number, dlsr: number, arrivalMiddle32: number): number | undefined {
  if (lsr === 0) return undefined;
  const rtt = (arrivalMiddle32 - lsr - dlsr) | 0;
  if (rtt < 0) return undefined;
  return (rtt / 65536) * 1000;
}
