/**
 * The V8 options the gateway runs with (`npm start`, the benchmarks and the tests start it the
 * same way; a test checks `package.json` says the same).
 *
 * `--max-semi-space-size=4`: V8 sizes the young generation for throughput, semi-spaces growing to
 * 16 MB on 64-bit, in every isolate — the signalling thread and each worker (media, recorder,
 * records). Idle, the gateway held ~40 MB of nursery it never used. Its hot paths reuse their
 * buffers, so a 4 MB semi-space costs nothing measurable: `bench:sip` at 400 calls/s gave 1.558
 * ms CPU per call with the default and 1.538 with this, back to back (docs/benchmarks.md).
 * Process-wide: worker threads inherit it.
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];
