/**
 * The RTP port pool: pairs of UDP sockets bound on the gateway's media address, taken from the
 * configured range (`--rtp-ports LO-HI`).
 *
 * RFC 3550 §11: "For UDP and similar protocols, RTP SHOULD use an even destination port number
 * and the corresponding RTCP stream SHOULD use the next higher (odd) destination port number."
 * Every pair is therefore an even RTP port and the odd port above it. A port that fails to bind
 * (another process holds it) is skipped for this allocation and tried again later. The pool is
 * bounded by the range: when no pair is free the caller answers 503.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { Logger } from '../core/log.ts';
import { err, ok, type Result } from '../core/result.ts';

export interface RtpPortPoolOptions {
  /** The address media sockets bind to (the gateway's host). */
  host: string;
  /** Inclusive range; RTP takes even ports, RTCP the odd one above. */
  lo: number;
  hi: number;
  logger: Logger;
}

/** One bound RTP/RTCP socket pair. `release()` closes both and returns the port to the pool. */
export interface RtpPortPair {
  readonly host: string;
  readonly rtpPort: number;
  readonly rtcpPort: number;
  readonly rtp: Socket;
  readonly rtcp: Socket;
  release(): void;
}

export interface RtpPortPoolDump {
  host: string;
  range: { lo: number; hi: number };
  capacity: number;
  inUse: number[];
  free: number;
  bindFailures: number;
}

export type AllocateError = {
  code: 'EDGE_ERR_MEDIA_PORTS_EXHAUSTED' | 'EDGE_ERR_MEDIA_POOL_CLOSED';
  message: string;
};

export class RtpPortPool {
  /** Even ports not in use, least recently released last (a released port is not reused at once). */
  private readonly free: number[] = [];
  private readonly inUse = new Map<number, RtpPortPair>();
  private bindFailures = 0;
  private closed = false;

  constructor(private readonly opts: RtpPortPoolOptions) {
    const first = opts.lo % 2 === 0 ? opts.lo : opts.lo + 1;
    for (let p = first; p + 1 <= opts.hi; p += 2) this.free.push(p);
  }

  get capacity(): number {
    return this.free.length + this.inUse.size;
  }

  get available(): number {
    return this.free.length;
  }

  /** Bind a pair from the pool; fails only when every free pair was tried (or the pool is closed). */
  async allocate(): Promise<Result<RtpPortPair, AllocateError>> {
    const skipped: number[] = [];
    try {
      for (;;) {
        if (this.closed)
          return err({ code: 'EDGE_ERR_MEDIA_POOL_CLOSED', message: 'media port pool is closed' });
        const port = this.free.shift();
        if (port === undefined) {
          return err({
            code: 'EDGE_ERR_MEDIA_PORTS_EXHAUSTED',
            message: `no free RTP port pair in ${this.opts.lo}-${this.opts.hi}`,
          });
        }
        const bound = await this.bindPair(port);
        if (bound) {
          if (this.closed) {
            closeQuietly(bound.rtp);
            closeQuietly(bound.rtcp);
            this.free.push(port);
            continue;
          }
          const pair = this.makePair(port, bound.rtp, bound.rtcp);
          this.inUse.set(port, pair);
          return ok(pair);
        }
        this.bindFailures++;
        skipped.push(port);
      }
    } finally {
      // Ports held by someone else go to the back of the queue: they may be free next time.
      this.free.push(...skipped);
    }
  }

  private makePair(port: number, rtp: Socket, rtcp: Socket): RtpPortPair {
    let released = false;
    return {
      host: this.opts.host,
      rtpPort: port,
      rtcpPort: port + 1,
      rtp,
      rtcp,
      release: () => {
        if (released) return;
        released = true;
        closeQuietly(rtp);
        closeQuietly(rtcp);
        this.inUse.delete(port);
        if (!this.closed) this.free.push(port);
      },
    };
  }

  private async bindPair(port: number): Promise<{ rtp: Socket; rtcp: Socket } | undefined> {
    const rtp = await this.bindOne(port);
    if (!rtp) return undefined;
    const rtcp = await this.bindOne(port + 1);
    if (!rtcp) {
      closeQuietly(rtp);
      return undefined;
    }
    return { rtp, rtcp };
  }

  private bindOne(port: number): Promise<Socket | undefined> {
    return new Promise((resolve) => {
      const family = this.opts.host.includes(':') ? 'udp6' : 'udp4';
      const s = createSocket({ type: family });
      let settled = false;
      s.on('error', (e) => {
        if (!settled) {
          settled = true;
          closeQuietly(s);
          resolve(undefined);
          return;
        }
        // After bind, a send error (ICMP port unreachable surfaces on some systems) must not
        // crash the process; the session sees silence and carries on.
        this.opts.logger.debug({ err: e, port }, 'media socket error');
      });
      s.bind(port, this.opts.host, () => {
        settled = true;
        resolve(s);
      });
    });
  }

  dump(): RtpPortPoolDump {
    return {
      host: this.opts.host,
      range: { lo: this.opts.lo, hi: this.opts.hi },
      capacity: this.capacity,
      inUse: [...this.inUse.keys()].sort((a, b) => a - b),
      free: this.free.length,
      bindFailures: this.bindFailures,
    };
  }

  /** Close every socket still held; later allocations fail. */
  close(): void {
    this.closed = true;
    for (const pair of [...this.inUse.values()]) pair.release();
  }
}

function closeQuietly(s: Socket): void {
  try {
    s.close();
  } catch {
    // already closed
  }
}
