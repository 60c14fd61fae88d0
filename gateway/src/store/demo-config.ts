/**
 * The configuration a new appliance starts with, so that two softphones can register and call
 * each other (and the echo test) straight out of the box: extensions 1001-1008 with passwords
 * demo1001-demo1008 (1008 may monitor the others), *43 echo and *44 milliwatt, *50 a conference
 * room, *45/*46/*47 + extension to listen/whisper/barge, *48 + extension to be connected after a
 * "please hold" prompt, realm edgeline.local, no trunks; a simulated
 * PSTN card whose lines `9` + a number dials out on and whose incoming calls ring 1001.
 */
import type { Result } from '../../../base/result.ts';
import type { Config } from './config-schema.ts';
import type { ConfigError } from './config-validate.ts';
import { validateConfig } from './config-validate.ts';
import type { ConfigStore } from './config-store.ts';

export function demoConfig(): Config {
  const doc = {
    system: { name: 'edgeline', domain: 'edgeline.local', country: 'CN' },
    // The demo challenges with MD5 only: SIPp answers only the first challenge and knows only MD5,
    // and baresip 1.0 (Debian 12) abandons the registration as soon as any challenge names
    // SHA-256. The product default stays RFC 8760's (SHA-256 first, then MD5) for configurations
    // an administrator writes; SHA-256 is one config change away.
    sip: { digestAlgorithms: ['MD5'] },
    extensions: Array.from({ length: 8 }, (_, i) => {
      const number = String(1001 + i);
      // 1008 is the demo supervisor: it may monitor the others' calls (*45/*46/*47 + extension).
      return {
        number,
        displayName: `Ext ${number}`,
        password: `demo${number}`,
        ...(i === 7 ? { monitor: true } : {}),
      };
    }),
    services: [
      { number: '*43', type: 'echo' },
      { number: '*44', type: 'milliwatt' },
      // A conference room of up to 8 parties, and supervisor monitoring dialled as code + extension.
      { number: '*50', type: 'conference', maxParties: 8 },
      { number: '*45', type: 'monitor', mode: 'listen' },
      { number: '*46', type: 'monitor', mode: 'whisper' },
      { number: '*47', type: 'monitor', mode: 'barge' },
      // Answer first, bridge later: "please hold while we connect you", then the extension dialled
      // after the code rings (*481002) and is bridged to the caller.
      { number: '*48', type: 'connect', file: 'prompts/connect-hold.wav' },
    ],
    // The simulated card (4 FXO lines, numbers 5550001-5550004, and one E1 span): `9` + a number
    // goes out over its ports; calls arriving on them ring extension 1001.
    pstn: {
      cards: [{ id: 'sim0', driver: 'sim', fxo: 4, e1Spans: 1 }],
      lines: Array.from({ length: 4 }, (_, i) => ({
        id: `fxo${i + 1}`,
        card: 'sim0',
        port: i + 1,
        number: String(5550001 + i),
      })),
      spans: [{ id: 'e1-1', card: 'sim0', span: 1, number: '55601' }],
      groups: [{ id: 'pstn-out', members: ['fxo1', 'fxo2', 'fxo3', 'fxo4', 'e1-1'], hunt: 'sequential' }],
    },
    routes: {
      outbound: [
        {
          id: 'pstn',
          pattern: '9.',
          strip: 1,
          targets: [{ type: 'group', id: 'pstn-out' }],
          permission: 'local',
        },
      ],
      inbound: [{ id: 'pstn-in', group: 'pstn-out', destination: { type: 'extension', target: '1001' } }],
    },
  };
  const v = validateConfig(doc);
  // The document above is a constant of this program; failing here is a defect caught by tests.
  if (!v.ok) throw new Error(`demo configuration is invalid: ${v.error.message}`);
  return v.value;
}

/**
 * Save the demo configuration as revision 1 when the store was opened without a config.json.
 * Any existing configuration, even an empty one, is left alone. Resolves to whether it seeded.
 */
export async function seedDemoIfFirstStart(store: ConfigStore): Promise<Result<boolean, ConfigError>> {
  if (!store.firstStart || store.currentRevision() !== 0) return { ok: true, value: false };
  const r = await store.apply(demoConfig(), {
    author: 'system',
    comment: 'demo configuration (first start)',
  });
  return r.ok ? { ok: true, value: true } : r;
}
