/**
 * RTP fixed header (RFC 3550 §5.1), parsed as a view over the received bytes and written into a
 * buffer the sender reuses for every packet.
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                           timestamp                           |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |           synchronization source (SSRC) identifier            |
 *    +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 *    |            contributing source (CSRC) identifiers             |
 *    |                             ....                              |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { err, ok, type ParseError, type Result } from '../../../../base/result.ts';
import type { ErrorCode } from '../../../../base/error-codes.ts';

export const RTP_HEADER_BYTES = 12;

/** Header fields and where the payload sits in the buffer it was parsed from (no copy). */
export interface RtpView {
  version: number;
  padding: boolean;
  extension: boolean;
  csrcCount: number;
  marker: boolean;
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  /** Header extension profile (the first 16 bits of the extension), when `extension`. */
  extensionProfile: number | undefined;
  /** Bytes of header: fixed part, CSRC list and header extension. */
  headerLength: number;
  payloadOffset: number;
  payloadLength: number;
  /** Padding octets at the end (counted in the last octet), when `padding`. */
  paddingLength: number;
}

export function emptyRtpView(): RtpView {
  return {
    version: 0,
    padding: false,
    extension: false,
    csrcCount: 0,
    marker: false,
    payloadType: 0,
    sequenceNumber: 0,
    timestamp: 0,
    ssrc: 0,
    extensionProfile: undefined,
    headerLength: 0,
    payloadOffset: 0,
    payloadLength: 0,
    paddingLength: 0,
  };
}

const fail = (code: ErrorCode, message: string, field: string): { ok: false; error: ParseError } =>
  err({ code, message, field });

/**
 * Parse an RTP packet. `into` is filled and returned so a receive loop can reuse one view.
 * RTCP that arrives on the RTP port (RFC 5761 multiplexing, PT 64–95 with the marker bit) is
 * reported as an error: callers count it and move on.
 */
export function parseRtp(buf: Uint8Array, into: RtpView = emptyRtpView()): Result<RtpView> {
  if (buf.length < RTP_HEADER_BYTES)
    return fail(
      'EDGE_ERR_RTP_TRUNCATED',
      `${buf.length} bytes is shorter than the 12-byte RTP header`,
      'header',
    );
  const b0 = buf[0] ?? 0;
  const b1 = buf[1] ?? 0;
  // RFC 3550 §5.1 "version (V): 2 bits. This field identifies the version of RTP. The version
  // defined by this specification is two (2)."
  const version = b0 >> 6;
  if (version !== 2) return fail('EDGE_ERR_RTP_VERSION', `RTP version ${version}, expected 2`, 'V');
  const payloadType = b1 & 0x7f;
  // RFC 5761 §4: payload types 72–76 (with the marker bit: 200–204) would collide with RTCP
  // SR/RR/SDES/BYE/APP; a packet there is RTCP, not RTP.
  if (payloadType >= 72 && payloadType <= 76)
    return fail('EDGE_ERR_RTP_RTCP', `payload type ${payloadType} is RTCP (RFC 5761 §4)`, 'PT');
  // RFC 3550 §5.1 "CSRC count (CC): 4 bits. The CSRC count contains the number of CSRC identifiers
  // that follow the fixed header."
  const csrcCount = b0 & 0x0f;
  let offset = RTP_HEADER_BYTES + 4 * csrcCount;
  if (buf.length < offset)
    return fail('EDGE_ERR_RTP_TRUNCATED', `CSRC list of ${csrcCount} runs past the end`, 'CC');
  // RFC 3550 §5.3.1: "If the X bit in the RTP header is one, a variable-length header extension
  // MUST be appended to the RTP header, following the CSRC list if present. The header extension
  // contains a 16-bit length field that counts the number of 32-bit words in the extension,
  // excluding the four-octet extension header".
  const extension = (b0 & 0x10) !== 0;
  let extensionProfile: number | undefined;
  if (extension) {
    if (buf.length < offset + 4)
      return fail('EDGE_ERR_RTP_TRUNCATED', 'header extension runs past the end', 'X');
    extensionProfile = ((buf[offset] ?? 0) << 8) | (buf[offset + 1] ?? 0);
    const words = ((buf[offset + 2] ?? 0) << 8) | (buf[offset + 3] ?? 0);
    offset += 4 + 4 * words;
    if (buf.length < offset)
      return fail('EDGE_ERR_RTP_TRUNCATED', `header extension of ${words} words runs past the end`, 'X');
  }
  // RFC 3550 §5.1 "padding (P): 1 bit. If the padding bit is set, the packet contains one or more
  // additional padding octets at the end which are not part of the payload. The last octet of the
  // padding contains a count of how many padding octets should be ignored, including itself."
  const padding = (b0 & 0x20) !== 0;
  let paddingLength = 0;
  if (padding) {
    paddingLength = buf[buf.length - 1] ?? 0;
    if (paddingLength === 0 || offset + paddingLength > buf.length) {
      return fail('EDGE_ERR_RTP_PADDING', `padding count ${paddingLength} does not fit the packet`, 'P');
    }
  }
  into.version = version;
  into.padding = padding;
  into.extension = extension;
  into.csrcCount = csrcCount;
  into.marker = (b1 & 0x80) !== 0;
  into.payloadType = payloadType;
  into.sequenceNumber = ((buf[2] ?? 0) << 8) | (buf[3] ?? 0);
  into.timestamp = readU32(buf, 4);
  into.ssrc = readU32(buf, 8);
  into.extensionProfile = extensionProfile;
  into.headerLength = offset;
  into.payloadOffset = offset;
  into.payloadLength = buf.length - offset - paddingLength;
  into.paddingLength = paddingLength;
  return ok(into);
}

function readU32(buf: Uint8Array, at: number): number {
  return (
    (((buf[at] ?? 0) << 24) >>> 0) +
    (((buf[at + 1] ?? 0) << 16) | ((buf[at + 2] ?? 0) << 8) | (buf[at + 3] ?? 0))
  );
}

function writeU32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = (v >>> 24) & 0xff;
  buf[at + 1] = (v >>> 16) & 0xff;
  buf[at + 2] = (v >>> 8) & 0xff;
  buf[at + 3] = v & 0xff;
}

export interface RtpHeaderFields {
  marker: boolean;
  payloadType: number;
  /** Modulo 2^16. */
  sequenceNumber: number;
  /** Modulo 2^32. */
  timestamp: number;
  ssrc: number;
}

/**
 * Write a 12-byte fixed header (V=2, no padding, no extension, no CSRC) at the start of `buf`,
 * which the sender allocated once with room for header and payload. Returns the header length.
 */
export function writeRtpHeader(buf: Uint8Array, h: RtpHeaderFields): number {
  if (buf.length < RTP_HEADER_BYTES) throw new RangeError('buffer too small for an RTP header');
  buf[0] = 0x80;
  buf[1] = (h.marker ? 0x80 : 0) | (h.payloadType & 0x7f);
  buf[2] = (h.sequenceNumber >>> 8) & 0xff;
  buf[3] = h.sequenceNumber & 0xff;
  writeU32(buf, 4, h.timestamp >>> 0);
  writeU32(buf, 8, h.ssrc >>> 0);
  return RTP_HEADER_BYTES;
}

/** Overwrite the SSRC of a packet in place (the rest stays bit-exact). */
export function rewriteSsrc(buf: Uint8Array, ssrc: number): void {
  writeU32(buf, 8, ssrc >>> 0);
}
