/**
 * Message framing on a byte stream (TCP, TLS). Sans-I/O: the connection pushes the bytes it reads
 * and acts on the events returned.
 *
 * RFC 3261 §18.3: "In the case of stream-oriented transports such as TCP, the Content-Length
 * header field indicates the size of the body. The Content-Length header field MUST be used with
 * stream oriented transports." §20.14: "If a stream-based protocol (such as TCP) is used as
 * transport, the header field MUST be used."
 *
 * RFC 3261 §7.5: "Implementations processing SIP messages over stream-oriented transports MUST
 * ignore any CRLF appearing before the start-line".
 *
 * RFC 5626 §3.5.1: "When a server receives a double-CRLF sequence between SIP messages on a
 * connection-oriented transport, it MUST immediately respond with a single CRLF over the same
 * connection." — the `ping` event.
 */

export type FrameErrorReason =
  'header-too-large' | 'body-too-large' | 'missing-content-length' | 'bad-content-length';

export type FrameEvent =
  /** One whole message: a view over the received bytes, header section and body. */
  | { type: 'message'; bytes: Buffer }
  | { type: 'ping' }
  /**
   * The stream cannot be framed any further; the connection must answer `status` where it can
   * and close. `headerBytes` is the header section (or as much of it as fits the limit, cut at a
   * line end) for building that answer.
   */
  | { type: 'error'; reason: FrameErrorReason; status: number; headerBytes: Buffer };

export interface StreamFramerDump {
  bufferedBytes: number;
  /** A message was started and is not complete yet. */
  midMessage: boolean;
  failed: boolean;
}

const CR = 0x0d;
const LF = 0x0a;
const headerEnd = Buffer.from('\r\n\r\n', 'latin1');
const contentLengthLine = /\r\n(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)/gi;

export class StreamFramer {
  private buf: Buffer = Buffer.alloc(0);
  /** Where the search for the end of the header section resumes: bytes before it were scanned. */
  private scanFrom = 0;
  private failed = false;

  constructor(private readonly maxMessageBytes: number) {}

  /** Bytes held between reads; never more than `maxMessageBytes` once `push` returns. */
  get bufferedBytes(): number {
    return this.buf.length;
  }

  /** True while part of a message (not only keepalive CRLFs) waits for the rest. */
  get midMessage(): boolean {
    return this.buf.length > 0 && !isCrlfPrefix(this.buf);
  }

  push(chunk: Buffer): FrameEvent[] {
    if (this.failed) return [];
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const events: FrameEvent[] = [];
    for (;;) {
      const ev = this.next();
      if (!ev) break;
      events.push(ev);
      if (ev.type === 'error') {
        this.failed = true;
        this.buf = Buffer.alloc(0);
        break;
      }
    }
    return events;
  }

  dump(): StreamFramerDump {
    return { bufferedBytes: this.buf.length, midMessage: this.midMessage, failed: this.failed };
  }

  private consume(n: number): void {
    this.buf = this.buf.subarray(n);
    this.scanFrom = 0;
  }

  private next(): FrameEvent | undefined {
    // Keepalives and stray CRLFs before a start-line.
    while (this.buf.length >= 2 && this.buf[0] === CR && this.buf[1] === LF) {
      if (this.buf.length >= 4 && this.buf[2] === CR && this.buf[3] === LF) {
        this.consume(4);
        return { type: 'ping' };
      }
      // "\r\n" or "\r\n\r" may still become a double-CRLF ping: wait for the next read.
      if (this.buf.length === 2 || (this.buf.length === 3 && this.buf[2] === CR)) return undefined;
      this.consume(2);
    }
    if (this.buf.length === 0) return undefined;

    const end = this.buf.indexOf(headerEnd, Math.max(0, this.scanFrom - 3));
    if (end < 0) {
      if (this.buf.length > this.maxMessageBytes) {
        return {
          type: 'error',
          reason: 'header-too-large',
          status: 513,
          headerBytes: this.truncatedHeaders(),
        };
      }
      this.scanFrom = this.buf.length;
      return undefined;
    }
    const headerLength = end + 4;
    const headerBytes = this.buf.subarray(0, headerLength);
    if (headerLength > this.maxMessageBytes) {
      return { type: 'error', reason: 'header-too-large', status: 513, headerBytes: this.truncatedHeaders() };
    }

    const length = contentLength(headerBytes);
    if (length === 'missing')
      return { type: 'error', reason: 'missing-content-length', status: 400, headerBytes };
    if (length === 'bad') return { type: 'error', reason: 'bad-content-length', status: 400, headerBytes };
    // RFC 3261 §21.4.11 413 Request Entity Too Large: "the request entity-body is larger than the
    // server is willing or able to process".
    if (headerLength + length > this.maxMessageBytes) {
      return { type: 'error', reason: 'body-too-large', status: 413, headerBytes };
    }
    if (this.buf.length < headerLength + length) {
      this.scanFrom = end;
      return undefined;
    }
    const bytes = this.buf.subarray(0, headerLength + length);
    this.consume(headerLength + length);
    return { type: 'message', bytes };
  }

  /** The header lines that fit the limit, closed with an empty line, for a best-effort answer. */
  private truncatedHeaders(): Buffer {
    const window = this.buf.subarray(0, this.maxMessageBytes);
    const lastLineEnd = window.lastIndexOf('\r\n');
    if (lastLineEnd < 0) return Buffer.alloc(0);
    return Buffer.concat([window.subarray(0, lastLineEnd + 2), Buffer.from('\r\n')]);
  }
}

function isCrlfPrefix(buf: Buffer): boolean {
  for (let i = 0; i < buf.length; i++) if (buf[i] !== (i % 2 === 0 ? CR : LF)) return false;
  return true;
}

/**
 * The body length announced by the header section. Several Content-Length lines that disagree
 * make the framing ambiguous (a request-smuggling vector), so they are refused like a bad value.
 */
function contentLength(headerBytes: Buffer): number | 'missing' | 'bad' {
  const text = headerBytes.toString('latin1');
  let found: number | undefined;
  contentLengthLine.lastIndex = 0;
  for (let m = contentLengthLine.exec(text); m; m = contentLengthLine.exec(text)) {
    const raw = (m[1] ?? '').trim();
    if (!/^\d{1,10}$/.test(raw)) return 'bad';
    const n = Number(raw);
    if (found !== undefined && found !== n) return 'bad';
    found = n;
  }
  return found ?? 'missing';
}
