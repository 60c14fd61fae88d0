/**
 * The SIP-over-TLS server certificate (RFC 3261 §26.3.1: "TLS ... MUST be supported by proxies,
 * redirect servers and registrars"). The appliance ships without one: on first start it makes a
 * self-signed certificate so `sips:` and `transport=tls` work out of the box, and the installer
 * replaces `<dataDir>/tls/cert.pem` and `key.pem` with a real one later.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generate } from 'selfsigned';

export interface TlsCertificate {
  cert: string;
  key: string;
  /** True when this call created the pair (first start, or files removed). */
  generated: boolean;
}

const validityDays = 3650;

export async function ensureCertificate(dataDir: string): Promise<TlsCertificate> {
  const dir = join(dataDir, 'tls');
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');

  const existing = await readPair(certPath, keyPath);
  if (existing) return { ...existing, generated: false };

  const notBeforeDate = new Date();
  const notAfterDate = new Date(notBeforeDate.getTime() + validityDays * 86_400_000);
  const pems = await generate([{ name: 'commonName', value: 'edgeline' }], {
    keyType: 'rsa',
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });

  await mkdir(dir, { recursive: true, mode: 0o700 });
  // The key goes first so a crash between the two writes leaves no certificate without its key.
  await writeAtomic(keyPath, pems.private, 0o600);
  await writeAtomic(certPath, pems.cert, 0o644);
  return { cert: pems.cert, key: pems.private, generated: true };
}

async function readPair(
  certPath: string,
  keyPath: string,
): Promise<{ cert: string; key: string } | undefined> {
  try {
    const [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
    if (cert.includes('BEGIN CERTIFICATE') && key.includes('PRIVATE KEY')) return { cert, key };
    return undefined;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Write to a temporary file in the same directory, then rename: readers never see half a file. */
async function writeAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, data, { mode, flag: 'wx' });
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
