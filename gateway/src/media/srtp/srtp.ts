/**
 * SRTP and SRTCP (RFC 3711) with the SDES suites AES_CM_128_HMAC_SHA1_80 and
 * AES_CM_128_HMAC_SHA1_32 (RFC 4568 §6.2): AES counter mode for confidentiality, HMAC-SHA1 for
 * integrity, session keys derived from one master key and salt with the AES-CM PRF.
 *
 * Packets are transformed in place in the caller's buffer, which must have room for the tag
 * (SRTP: +4 or +10 bytes; SRTCP: +14 bytes). No per-packet state is allocated here beyond what
 * `node:crypto` returns (one keystream buffer and one digest per packet); result objects are reused,
 * so a caller reads a result before the next call on the same context.
 *
 *        0                   1                   2                   3
 *      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+<+
 *     |V=2|P|X|  CC   |M|     PT      |       sequence number         | |
 *     |                           timestamp                           | |
 *     |           synchronization source (SSRC) identifier            | |
 *     |                      ....payload...                           | |
 *   +>|               | RTP padding   | RTP pad count |                 | |
 *   | +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+<+
 *   | :                 authentication tag (RECOMMENDED)              : |
 *   +- Encrypted Portion*                      Authenticated Portion ---+
 *                                 (RFC 3711 §3.1, Figure 1, MKI omitted)
 */
import { createCipheriv, createHmac, createSecretKey, type Cipher, type KeyObject } from 'node:crypto';
import { err, type Result } from '../../../../base/result.ts';
import type { ErrorCode } from '../../../../base/error-codes.ts';

export type SrtpSuite = 'AES_CM_128_HMAC_SHA1_80' | 'AES_CM_128_HMAC_SHA1_32';

export interface SrtpSuiteParams {
  masterKeyBytes: number;
  masterSaltBytes: number;
  /** SRTP authentication tag length (n_tag / 8). */
  srtpTagBytes: number;
  /** SRTCP always carries the 80-bit tag, whatever the SRTP tag (RFC 4568 §6.2.2). */
  srtcpTagBytes: number;
}

export const SRTP_SUITES: Readonly<Record<SrtpSuite, SrtpSuiteParams>> = {
  AES_CM_128_HMAC_SHA1_80: { masterKeyBytes: 16, masterSaltBytes: 14, srtpTagBytes: 10, srtcpTagBytes: 10 },
  AES_CM_128_HMAC_SHA1_32: { masterKeyBytes: 16, masterSaltBytes: 14, srtpTagBytes: 4, srtcpTagBytes: 10 },
};

export function isSrtpSuite(name: string): name is SrtpSuite {
  return Object.prototype.hasOwnProperty.call(SRTP_SUITES, name);
}

/** Key derivation labels, RFC 3711 §4.3.1 (SRTP) and §4.3.2 (SRTCP). */
export const SrtpLabel = {
  rtpEncryption: 0x00,
  rtpAuthentication: 0x01,
  rtpSalt: 0x02,
  rtcpEncryption: 0x03,
  rtcpAuthentication: 0x04,
  rtcpSalt: 0x05,
} as const;

/** Why a packet was refused; the caller counts by reason. */
export type SrtpDropReason = 'truncated' | 'auth' | 'replay' | 'replay-old' | 'not-rtp';

export interface SrtpError {
  code: ErrorCode;
  message: string;
  reason: SrtpDropReason;
}

const SESSION_KEY_BYTES = 16;
const SESSION_AUTH_KEY_BYTES = 20;
const SESSION_SALT_BYTES = 14;
const BLOCK = 16;
const RTP_HEADER_BYTES = 12;
const RTCP_HEADER_BYTES = 8;
const SRTCP_INDEX_BYTES = 4;
/** Packets up to this size are transformed without growing the counter scratch. */
const TYPICAL_PACKET_BYTES = 1500;
const REPLAY_WINDOW = 64;
const SEQ_MOD = 0x10000;
const HALF_SEQ = 0x8000;

// ---------------------------------------------------------------------------------------------
// AES-CM and key derivation
// ---------------------------------------------------------------------------------------------

function ecbCipher(key: Uint8Array): Cipher {
  const c = createCipheriv('aes-128-ecb', key, null);
  c.setAutoPadding(false);
  return c;
}

/**
 * Fill `counters` with `blocks` counter blocks IV, IV+1, ... (mod 2^128) for an arbitrary IV.
 * Used by the PRF and the test path; the per-packet path knows the low 16 bits start at zero.
 */
function fillCounters(counters: Buffer, iv: Uint8Array, blocks: number): void {
  const c = Buffer.from(iv);
  for (let b = 0; b < blocks; b++) {
    c.copy(counters, b * BLOCK);
    for (let i = BLOCK - 1; i >= 0; i--) {
      const v = ((c[i] ?? 0) + 1) & 0xff;
      c[i] = v;
      if (v !== 0) break;
    }
  }
}

/**
 * RFC 3711 §4.1.1: "the keystream is generated as E(k, IV) || E(k, IV + 1 mod 2^128) ||
 * E(k, IV + 2 mod 2^128) ...". Returns `length` bytes of keystream.
 */
export function aesCmKeystream(key: Uint8Array, iv: Uint8Array, length: number): Buffer {
  const ecb = ecbCipher(key);
  const blocks = Math.ceil(length / BLOCK);
  const out = Buffer.alloc(blocks * BLOCK);
  // Build counters in chunks: the B.2 vector asks for a megabyte.
  const chunkBlocks = 4096;
  const counters = Buffer.alloc((chunkBlocks + 1) * BLOCK);
  const next = Buffer.from(iv);
  for (let done = 0; done < blocks; done += chunkBlocks) {
    const n = Math.min(chunkBlocks, blocks - done);
    fillCounters(counters, next, n + 1);
    ecb.update(counters.subarray(0, n * BLOCK)).copy(out, done * BLOCK);
    counters.copy(next, 0, n * BLOCK, n * BLOCK + BLOCK);
  }
  return out.subarray(0, length);
}

/**
 * RFC 3711 §4.3.1 key derivation with the AES-CM PRF of §4.3.3.
 *
 * "Let r = index DIV key_derivation_rate (with DIV as defined above). Let key_id = <label> || r.
 * Let x = key_id XOR master_salt, where key_id and master_salt are aligned so that their least
 * significant bits agree (right-alignment)." and §4.3.3: "PRF_n(k_master, x) = AES_CM(k_master,
 * x * 2^16, n)". `index` is the 48-bit packet index (SRTCP: the 31-bit index); with the default
 * key_derivation_rate of zero, r is zero.
 */
export function deriveSessionKey(
  masterKey: Uint8Array,
  masterSalt: Uint8Array,
  label: number,
  lengthBytes: number,
  index = 0,
  keyDerivationRate = 0,
): Buffer {
  // "DIV ... a DIV t = 0 when t = 0" (§4.3.1).
  const r = keyDerivationRate === 0 ? 0 : Math.floor(index / keyDerivationRate);
  const x = Buffer.alloc(BLOCK);
  Buffer.from(masterSalt).copy(x, SESSION_SALT_BYTES - masterSalt.length);
  // key_id = label (8 bits) || r (48 bits), right-aligned against the 112-bit salt: the label
  // lands on salt octet 7, r on octets 8..13; x * 2^16 leaves the last two IV octets zero.
  x[7] = (x[7] ?? 0) ^ (label & 0xff);
  const rHi = Math.floor(r / 0x100000000);
  const rLo = r >>> 0;
  x[8] = (x[8] ?? 0) ^ ((rHi >>> 8) & 0xff);
  x[9] = (x[9] ?? 0) ^ (rHi & 0xff);
  x[10] = (x[10] ?? 0) ^ (rLo >>> 24);
  x[11] = (x[11] ?? 0) ^ ((rLo >>> 16) & 0xff);
  x[12] = (x[12] ?? 0) ^ ((rLo >>> 8) & 0xff);
  x[13] = (x[13] ?? 0) ^ (rLo & 0xff);
  return aesCmKeystream(masterKey, x, lengthBytes);
}

/** The three session keys of one direction-independent half (SRTP or SRTCP). */
interface SessionKeys {
  ecb: Cipher;
  /** A KeyObject saves the HMAC key import on every packet (about 10% of the MAC cost). */
  authKey: KeyObject;
  salt: Buffer;
}

function sessionKeys(masterKey: Uint8Array, masterSalt: Uint8Array, rtcp: boolean): SessionKeys {
  const base = rtcp ? SrtpLabel.rtcpEncryption : SrtpLabel.rtpEncryption;
  return {
    ecb: ecbCipher(deriveSessionKey(masterKey, masterSalt, base, SESSION_KEY_BYTES)),
    authKey: createSecretKey(deriveSessionKey(masterKey, masterSalt, base + 1, SESSION_AUTH_KEY_BYTES)),
    salt: deriveSessionKey(masterKey, masterSalt, base + 2, SESSION_SALT_BYTES),
  };
}

// ---------------------------------------------------------------------------------------------
// Per-SSRC state: rollover counter, highest sequence, replay window
// ---------------------------------------------------------------------------------------------

/**
 * Per-SSRC part of the crypto context (RFC 3711 §3.2.1): "a 32-bit unsigned rollover counter
 * (ROC), which records how many times the 16-bit RTP sequence number has been reset to zero after
 * passing through 65,535", "for the receiver only, a 16-bit sequence number s_l, which can be
 * thought of as the highest received RTP sequence number", and the replay list.
 */
interface StreamState {
  ssrc: number;
  roc: number;
  /** s_l: highest sequence number (SRTP) or highest SRTCP index. */
  highest: number;
  /** Replay bitmap relative to the highest index: bit k = index (highest − k) was accepted. */
  maskLo: number;
  maskHi: number;
  packets: number;
}

/** Reused across calls: callers read a result before the next call on the same context. */
interface MutableOk {
  ok: true;
  value: number;
}

const failure = (reason: SrtpDropReason, code: ErrorCode, message: string): { ok: false; error: SrtpError } =>
  Object.freeze(err<SrtpError>(Object.freeze({ code, message, reason })));

const FAIL = {
  truncated: failure('truncated', 'EDGE_ERR_SRTP_TRUNCATED', 'packet shorter than header and tag'),
  notRtp: failure('not-rtp', 'EDGE_ERR_SRTP_NOT_RTP', 'not an RTP version 2 packet'),
  auth: failure('auth', 'EDGE_ERR_SRTP_AUTH', 'authentication tag mismatch'),
  replay: failure('replay', 'EDGE_ERR_SRTP_REPLAY', 'packet index already received'),
  replayOld: failure('replay-old', 'EDGE_ERR_SRTP_REPLAY_OLD', 'packet index behind the replay window'),
} as const;

export interface SrtpContextOptions {
  /** Per-SSRC states kept per direction before the least recently created is dropped. */
  maxStreams?: number;
}

export interface SrtpDump {
  suite: SrtpSuite;
  protectedRtp: number;
  unprotectedRtp: number;
  protectedRtcp: number;
  unprotectedRtcp: number;
  dropped: Record<SrtpDropReason, number>;
  sendStreams: Array<{ ssrc: number; roc: number; highest: number; packets: number }>;
  receiveStreams: Array<{ ssrc: number; roc: number; highest: number; packets: number }>;
}

/**
 * One SRTP crypto context per direction pair of a leg: the master key we send with (ours,
 * offered in our a=crypto) protects, the peer's master key unprotects. Construct one context per
 * key: `new SrtpContext(suite, ourKey, ourSalt)` for the outbound side and another with the peer's
 * key for the inbound side; a context can do both, which is what tests and loopback use.
 */
export class SrtpContext {
  readonly params: SrtpSuiteParams;
  private readonly rtp: SessionKeys;
  private readonly rtcp: SessionKeys;
  private counters = Buffer.alloc(TYPICAL_PACKET_BYTES + BLOCK);
  private readonly rocBytes = Buffer.alloc(4);
  private readonly sendStreams = new Map<number, StreamState>();
  private readonly receiveStreams = new Map<number, StreamState>();
  private readonly rtcpSend = new Map<number, StreamState>();
  private readonly rtcpReceive = new Map<number, StreamState>();
  private readonly maxStreams: number;
  private readonly result: MutableOk = { ok: true, value: 0 };
  private counts = { protectedRtp: 0, unprotectedRtp: 0, protectedRtcp: 0, unprotectedRtcp: 0 };
  private readonly dropped: Record<SrtpDropReason, number> = {
    truncated: 0,
    auth: 0,
    replay: 0,
    'replay-old': 0,
    'not-rtp': 0,
  };

  constructor(
    readonly suite: SrtpSuite,
    masterKey: Uint8Array,
    masterSalt: Uint8Array,
    options: SrtpContextOptions = {},
  ) {
    this.params = SRTP_SUITES[suite];
    if (
      masterKey.length !== this.params.masterKeyBytes ||
      masterSalt.length !== this.params.masterSaltBytes
    ) {
      throw new RangeError(`${suite} needs a 16-byte master key and a 14-byte master salt`);
    }
    this.rtp = sessionKeys(masterKey, masterSalt, false);
    this.rtcp = sessionKeys(masterKey, masterSalt, true);
    this.maxStreams = options.maxStreams ?? 16;
  }

  /** Bytes an SRTP packet grows by; the caller's buffer needs this much room after `len`. */
  get rtpOverhead(): number {
    return this.params.srtpTagBytes;
  }

  /** Bytes an SRTCP packet grows by (E flag and index, then the tag). */
  get rtcpOverhead(): number {
    return SRTCP_INDEX_BYTES + this.params.srtcpTagBytes;
  }

  /**
   * Protect the RTP packet in `buf[0, len)` in place and append the tag. Returns the SRTP length,
   * or 0 when the bytes are not an RTP header this can protect (the caller counts and drops).
   * Throws RangeError only when `buf` has no room for the tag (a sizing bug, not input).
   */
  protect(buf: Buffer, len: number): number {
    const headerLength = rtpHeaderLength(buf, len);
    if (headerLength < 0) return 0;
    const tagBytes = this.params.srtpTagBytes;
    if (buf.length < len + tagBytes) {
      throw new RangeError(`buffer of ${buf.length} has no room for a ${tagBytes}-byte tag after ${len}`);
    }
    const seq = (buf[2]! << 8) | buf[3]!;
    const ssrc = buf.readUInt32BE(8);
    const s = this.stream(this.sendStreams, ssrc, seq);
    // RFC 3711 §3.3.1: "each time the RTP sequence number, SEQ, wraps modulo 2^16, the sender side
    // part of the crypto context increments ROC". A relay forwards reordered packets as they come,
    // so the sender estimates the index the same way a receiver does (Appendix A) instead of
    // assuming every packet is newer than the last.
    const v = estimateRoc(s, seq);
    const roc = v < 0 ? 0 : v;
    this.crypt(this.rtp, buf, headerLength, len, ssrc, roc * SEQ_MOD + seq);
    this.tag(this.rtp.authKey, buf, len, roc, buf, len, tagBytes);
    advance(s, v, seq);
    s.packets++;
    this.counts.protectedRtp++;
    return len + tagBytes;
  }

  /**
   * Authenticate, replay-check and decrypt the SRTP packet in `buf[0, len)` in place. Returns the
   * RTP length (tag removed) or the reason it was refused. The returned object is reused.
   */
  unprotect(buf: Buffer, len: number): Result<number, SrtpError> {
    const tagBytes = this.params.srtpTagBytes;
    if (len < RTP_HEADER_BYTES + tagBytes) return this.drop(FAIL.truncated);
    const rtpLen = len - tagBytes;
    const headerLength = rtpHeaderLength(buf, rtpLen);
    if (headerLength < 0) return this.drop(FAIL.notRtp);
    const seq = (buf[2]! << 8) | buf[3]!;
    const ssrc = buf.readUInt32BE(8);
    // RFC 3711 §3.3.1: "the receiver SHOULD use the sequence number of the first received SRTP
    // packet as s_l"; a stream's state is kept only once a packet of it authenticates, so packets
    // with invented SSRCs cost a MAC each and no memory.
    const known = this.receiveStreams.get(ssrc);
    const s = known ?? freshState(ssrc, seq);
    const v = estimateRoc(s, seq);
    // A guess below zero is a packet from before the first one we accepted.
    if (v < 0) return this.drop(FAIL.replayOld);
    const index = v * SEQ_MOD + seq;
    // RFC 3711 §3.3.2 replay check: an index already in the Replay List, or left of the window,
    // is discarded. Checked before the MAC because it is cheaper; recorded only after it.
    if (known) {
      const replay = replayCheck(s, index);
      if (replay) return this.drop(replay);
    }
    // RFC 3711 §3.3 step 5: "If the result is "AUTHENTICATION FAILURE" (see Section 4.2), the packet
    // MUST be discarded from further processing and the event MAY be logged."
    if (!this.verify(this.rtp.authKey, buf, rtpLen, v, tagBytes)) return this.drop(FAIL.auth);
    this.crypt(this.rtp, buf, headerLength, rtpLen, ssrc, index);
    // Step 6: "Update the rollover counter and highest sequence number, s_l, in the cryptographic
    // context ... using the packet index estimated in step 2. If replay protection is provided,
    // also update the Replay List".
    if (!known) this.remember(this.receiveStreams, s);
    replayUpdate(s, index);
    advance(s, v, seq);
    s.packets++;
    this.counts.unprotectedRtp++;
    this.result.value = rtpLen;
    return this.result;
  }

  /**
   * Protect the compound RTCP packet in `buf[0, len)`: encrypt all but the first 8 octets, append
   * E||SRTCP index and the tag (RFC 3711 §3.4). Returns the SRTCP length, or 0 when `len` is
   * shorter than an RTCP header.
   */
  protectRtcp(buf: Buffer, len: number): number {
    if (len < RTCP_HEADER_BYTES) return 0;
    const tagBytes = this.params.srtcpTagBytes;
    if (buf.length < len + SRTCP_INDEX_BYTES + tagBytes) {
      throw new RangeError(`buffer of ${buf.length} has no room for the SRTCP trailer after ${len}`);
    }
    const ssrc = buf.readUInt32BE(4);
    let s = this.rtcpSend.get(ssrc);
    if (!s) {
      s = freshState(ssrc, 0);
      s.highest = -1;
      this.remember(this.rtcpSend, s);
    }
    // RFC 3711 §3.4: "SRTCP index: 31 bits. The index is explicitly included in SRTCP ... The
    // SRTCP index is a 31-bit counter for the SRTCP packet. The index MUST be set to zero before the
    // first SRTCP packet is sent, and MUST be incremented by one, modulo 2^31, after each SRTCP
    // packet is sent."
    const index = (s.highest + 1) % 0x80000000;
    s.highest = index;
    this.crypt(this.rtcp, buf, RTCP_HEADER_BYTES, len, ssrc, index);
    // "E-flag: 1 bit, REQUIRED. The E-flag indicates if the current SRTCP packet is encrypted or
    // unencrypted."
    buf.writeUInt32BE((0x80000000 | index) >>> 0, len);
    const authLen = len + SRTCP_INDEX_BYTES;
    this.tag(this.rtcp.authKey, buf, authLen, -1, buf, authLen, tagBytes);
    s.packets++;
    this.counts.protectedRtcp++;
    return authLen + tagBytes;
  }

  /** Authenticate, replay-check and decrypt an SRTCP packet in place; returns the RTCP length. */
  unprotectRtcp(buf: Buffer, len: number): Result<number, SrtpError> {
    const tagBytes = this.params.srtcpTagBytes;
    if (len < RTCP_HEADER_BYTES + SRTCP_INDEX_BYTES + tagBytes) return this.drop(FAIL.truncated);
    if (buf[0]! >> 6 !== 2) return this.drop(FAIL.notRtp);
    const authLen = len - tagBytes;
    const rtcpLen = authLen - SRTCP_INDEX_BYTES;
    const word = buf.readUInt32BE(rtcpLen);
    const encrypted = (word & 0x80000000) !== 0;
    const index = word & 0x7fffffff;
    const ssrc = buf.readUInt32BE(4);
    const known = this.rtcpReceive.get(ssrc);
    const s = known ?? freshState(ssrc, index);
    if (known) {
      const replay = replayCheck(s, index);
      if (replay) return this.drop(replay);
    }
    // RFC 3711 §3.4: the SRTCP tag covers the header, the encrypted portion, the E-flag and the
    // SRTCP index (the authenticated portion of Figure 2); SRTCP has no ROC to append.
    if (!this.verify(this.rtcp.authKey, buf, authLen, -1, tagBytes)) return this.drop(FAIL.auth);
    if (encrypted) this.crypt(this.rtcp, buf, RTCP_HEADER_BYTES, rtcpLen, ssrc, index);
    if (!known) this.remember(this.rtcpReceive, s);
    replayUpdate(s, index);
    // SRTCP carries its index explicitly: the highest index is the window's top (ROC stays 0).
    if (index > s.highest) s.highest = index;
    s.packets++;
    this.counts.unprotectedRtcp++;
    this.result.value = rtcpLen;
    return this.result;
  }

  dump(): SrtpDump {
    const list = (m: Map<number, StreamState>): SrtpDump['sendStreams'] =>
      [...m.values()].map((s) => ({ ssrc: s.ssrc, roc: s.roc, highest: s.highest, packets: s.packets }));
    return {
      suite: this.suite,
      ...this.counts,
      dropped: { ...this.dropped },
      sendStreams: list(this.sendStreams),
      receiveStreams: list(this.receiveStreams),
    };
  }

  close(): void {
    this.sendStreams.clear();
    this.receiveStreams.clear();
    this.rtcpSend.clear();
    this.rtcpReceive.clear();
  }

  private drop(f: { ok: false; error: SrtpError }): { ok: false; error: SrtpError } {
    this.dropped[f.error.reason]++;
    return f;
  }

  private stream(map: Map<number, StreamState>, ssrc: number, seq: number): StreamState {
    let s = map.get(ssrc);
    if (!s) {
      s = freshState(ssrc, seq);
      this.remember(map, s);
    }
    return s;
  }

  private remember(map: Map<number, StreamState>, s: StreamState): void {
    if (map.size >= this.maxStreams) {
      const oldest = map.keys().next();
      if (!oldest.done) map.delete(oldest.value);
    }
    map.set(s.ssrc, s);
  }

  /**
   * XOR `buf[from, to)` with the AES-CM keystream of packet `index` of `ssrc`.
   * RFC 3711 §4.1.1: "IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16)". The last two IV octets
   * are zero, so block b of the keystream is E(k, IV with b in its last two octets).
   */
  private crypt(keys: SessionKeys, buf: Buffer, from: number, to: number, ssrc: number, index: number): void {
    const n = to - from;
    if (n <= 0) return;
    const blocks = (n + BLOCK - 1) >>> 4;
    if (blocks << 4 > this.counters.length) this.counters = Buffer.alloc(blocks << 4);
    const ctr = this.counters;
    const salt = keys.salt;
    const hi = Math.floor(index / 0x100000000);
    const lo = index >>> 0;
    ctr[0] = salt[0]!;
    ctr[1] = salt[1]!;
    ctr[2] = salt[2]!;
    ctr[3] = salt[3]!;
    ctr[4] = salt[4]! ^ (ssrc >>> 24);
    ctr[5] = salt[5]! ^ ((ssrc >>> 16) & 0xff);
    ctr[6] = salt[6]! ^ ((ssrc >>> 8) & 0xff);
    ctr[7] = salt[7]! ^ (ssrc & 0xff);
    ctr[8] = salt[8]! ^ ((hi >>> 8) & 0xff);
    ctr[9] = salt[9]! ^ (hi & 0xff);
    ctr[10] = salt[10]! ^ (lo >>> 24);
    ctr[11] = salt[11]! ^ ((lo >>> 16) & 0xff);
    ctr[12] = salt[12]! ^ ((lo >>> 8) & 0xff);
    ctr[13] = salt[13]! ^ (lo & 0xff);
    ctr[14] = 0;
    ctr[15] = 0;
    for (let b = 1; b < blocks; b++) {
      const at = b << 4;
      ctr.copy(ctr, at, 0, 14);
      ctr[at + 14] = b >>> 8;
      ctr[at + 15] = b & 0xff;
    }
    const ks = keys.ecb.update(ctr.subarray(0, blocks << 4));
    for (let i = 0; i < n; i++) buf[from + i] = buf[from + i]! ^ ks[i]!;
  }

  /**
   * RFC 3711 §4.2: "M = Authenticated Portion || ROC" for SRTP (roc ≥ 0); SRTCP authenticates the
   * packet alone (roc < 0). "the output tag ... SHALL be the n_tag left-most bits of the 160-bit
   * output" of HMAC-SHA1.
   */
  private tag(
    key: KeyObject,
    buf: Buffer,
    len: number,
    roc: number,
    out: Buffer,
    at: number,
    tagBytes: number,
  ): void {
    const mac = createHmac('sha1', key).update(buf.subarray(0, len));
    if (roc >= 0) {
      this.rocBytes.writeUInt32BE(roc >>> 0, 0);
      mac.update(this.rocBytes);
    }
    mac.digest().copy(out, at, 0, tagBytes);
  }

  private verify(key: KeyObject, buf: Buffer, len: number, roc: number, tagBytes: number): boolean {
    const mac = createHmac('sha1', key).update(buf.subarray(0, len));
    if (roc >= 0) {
      this.rocBytes.writeUInt32BE(roc >>> 0, 0);
      mac.update(this.rocBytes);
    }
    const d = mac.digest();
    // Constant-time comparison: the loop always runs the full tag.
    let diff = 0;
    for (let i = 0; i < tagBytes; i++) diff |= d[i]! ^ buf[len + i]!;
    return diff === 0;
  }
}

function freshState(ssrc: number, highest: number): StreamState {
  return { ssrc, roc: 0, highest, maskLo: 0, maskHi: 0, packets: 0 };
}

/**
 * RFC 3711 Appendix A, the estimate of the ROC of a packet with sequence number SEQ:
 *
 *     if (s_l < 2^15)
 *         if (SEQ - s_l > 2^15)  v = ROC - 1
 *         else                   v = ROC
 *     else
 *         if (s_l - 2^15 > SEQ)  v = ROC + 1
 *         else                   v = ROC
 */
export function estimateRoc(s: { roc: number; highest: number }, seq: number): number {
  if (s.highest < HALF_SEQ) return seq - s.highest > HALF_SEQ ? s.roc - 1 : s.roc;
  return s.highest - HALF_SEQ > seq ? s.roc + 1 : s.roc;
}

/** Appendix A: "update s_l and ROC" once the packet is accepted (or sent). */
function advance(s: StreamState, v: number, seq: number): void {
  if (v > s.roc) {
    s.roc = v;
    s.highest = seq;
  } else if (v === s.roc && seq > s.highest) {
    s.highest = seq;
  }
}

/** The index of the newest accepted packet, from the stream's ROC and s_l (SRTCP: roc 0). */
function topIndex(s: StreamState): number {
  return s.roc * SEQ_MOD + s.highest;
}

/**
 * RFC 3711 §3.3.2 replay list as a sliding window over the highest accepted index: an index left
 * of the window, or inside it and already marked, is a replay. The window is 64 packets, the
 * minimum the section requires of every implementation.
 */
function replayCheck(s: StreamState, index: number): { ok: false; error: SrtpError } | undefined {
  const delta = index - topIndex(s);
  if (delta > 0) return undefined;
  const back = -delta;
  if (back >= REPLAY_WINDOW) return FAIL.replayOld;
  const seen = back < 32 ? (s.maskLo >>> back) & 1 : (s.maskHi >>> (back - 32)) & 1;
  return seen ? FAIL.replay : undefined;
}

function replayUpdate(s: StreamState, index: number): void {
  if (s.packets === 0) {
    s.maskLo = 1;
    s.maskHi = 0;
    return;
  }
  const delta = index - topIndex(s);
  if (delta > 0) {
    if (delta >= REPLAY_WINDOW) {
      s.maskLo = 0;
      s.maskHi = 0;
    } else if (delta >= 32) {
      s.maskHi = s.maskLo << (delta - 32);
      s.maskLo = 0;
    } else {
      s.maskHi = (s.maskHi << delta) | (s.maskLo >>> (32 - delta));
      s.maskLo = s.maskLo << delta;
    }
    s.maskLo |= 1;
    return;
  }
  const back = -delta;
  if (back < 32) s.maskLo |= 1 << back;
  else s.maskHi |= 1 << (back - 32);
}

/**
 * Header length of an RTP packet (RFC 3550 §5.1, §5.3.1): fixed part, CSRC list, extension.
 * −1 when the bytes are not version 2 or the header runs past `len`.
 */
function rtpHeaderLength(buf: Buffer, len: number): number {
  if (len < RTP_HEADER_BYTES || len > buf.length) return -1;
  const b0 = buf[0]!;
  if (b0 >> 6 !== 2) return -1;
  let h = RTP_HEADER_BYTES + 4 * (b0 & 0x0f);
  if (b0 & 0x10) {
    if (len < h + 4) return -1;
    h += 4 + 4 * ((buf[h + 2]! << 8) | buf[h + 3]!);
  }
  return h <= len ? h : -1;
}
