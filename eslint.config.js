// ESLint flat config: typescript-eslint with type-checked rules over every TypeScript file, and the
// layer rule of DESIGN §3 (see `layers` below).
import { readdirSync } from 'node:fs';
import { join, posix } from 'node:path';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/*
 * The layer rule (DESIGN §3): lower layers never import upper ones, so each layer can be read,
 * tested and replaced with only what is below it in mind. Ranks, low to high:
 *
 *   base/                         below everything: only base/ and node builtins
 *   gateway/src/core, config      only base/
 *   gateway/src/store
 *   gateway/src/sip, pstn, media  the protocol stacks: independent of each other (they meet in call/)
 *   gateway/src/call
 *   gateway/src/services, routing, failover, ivr, acd, recording, sync   the apps (may use each other)
 *   gateway/src/api
 *   gateway/src/*.ts              the wiring: may import anything, imported by nothing
 *
 * drivers/ import only drivers/ and base/ (never the gateway: what both need lives in base/). Of
 * the gateway only pstn/ reaches the cards, and only through the driver API (drivers/api/), never a
 * family's internals. Tests and scripts are exempt.
 *
 * The patterns are regular expressions on the import path as written ('../call/leg.ts'), so
 * they see static imports and re-exports; gateway/test/architecture/layers.test.ts checks the same
 * rule exactly on the resolved import graph (`import()` included), checks that there is no import
 * cycle, and checks that these patterns and `layerExceptions` agree with it.
 */
const gatewayRanks = {
  core: 1,
  config: 1,
  store: 2,
  sip: 3,
  pstn: 3,
  media: 3,
  call: 4,
  services: 5,
  routing: 5,
  failover: 5,
  ivr: 5,
  acd: 5,
  recording: 5,
  sync: 5,
  api: 6,
};
const appRank = 5;
/** The wiring: every top-level file of gateway/src (main.ts, build-gateway.ts, …). */
const wiring = readdirSync(join(import.meta.dirname, 'gateway/src'), { withFileTypes: true })
  .filter((e) => e.isFile() && e.name.endsWith('.ts'))
  .map((e) => e.name);

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** 'a/, b/ and c/' */
const list = (folders) => {
  const names = folders.map((f) => `${f}/`);
  return names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
};

/** The start of a pattern that lets the exact import paths in `allowed` through. */
const except = (allowed) => (allowed.length > 0 ? `^(?!(?:${allowed.map(escape).join('|')})$)` : '^');

/**
 * A pattern on the import path as written that matches a path into one of `folders`
 * ('../call/leg.ts', '../../call/sip-leg/x.ts'; `api` is never drivers/api), except the exact
 * paths in `allowed`.
 */
function into(folders, allowed) {
  return `${except(allowed)}(?:.*/)?(?<!drivers/)(?:${folders.join('|')})/`;
}

/** The imports `layer` may not use; `allowed` are exact import paths let through. */
function restrictionsOf(layer, allowed = []) {
  if (layer === 'base') {
    return [
      {
        regex: into(['gateway', 'drivers', 'scripts'], allowed),
        message: 'base/ is below everything: it imports only base/ and node builtins (DESIGN §3).',
      },
      {
        regex: '^(?!node:|\\.)',
        message: 'base/ imports only node builtins, no packages: the gateway and every driver build on it.',
      },
    ];
  }
  if (layer === 'drivers') {
    return [
      {
        regex: into(['gateway'], allowed),
        message: 'drivers/ import only drivers/ and base/: what they share with the gateway lives in base/.',
      },
    ];
  }
  const rank = gatewayRanks[layer];
  const folders = Object.keys(gatewayRanks);
  const above = folders.filter((f) => gatewayRanks[f] > rank);
  const beside = folders.filter((f) => f !== layer && gatewayRanks[f] === rank && rank !== appRank);
  const below = folders.filter((f) => gatewayRanks[f] < rank);
  const peers = rank === appRank ? folders.filter((f) => gatewayRanks[f] === rank) : [layer];
  const patterns = [];
  if (above.length > 0) {
    patterns.push({
      regex: into(above, allowed),
      message: `gateway/src/${layer} may import only ${list([...peers, ...below, 'base'])}: lower layers never import upper ones (DESIGN §3).`,
    });
  }
  if (beside.length > 0) {
    patterns.push({
      regex: into(beside, allowed),
      message: `${list([layer, ...beside])} are independent layers of one rank: what two of them share goes below both.`,
    });
  }
  patterns.push(
    layer === 'pstn'
      ? {
          regex: `${except(allowed)}(?:.*/)?drivers/(?!api/)`,
          message:
            'pstn codes against the driver API (drivers/api/), never a family or the registry of families.',
        }
      : {
          regex: into(['drivers'], allowed),
          message: 'only gateway/src/pstn reaches the cards, through the driver API (drivers/api/).',
        },
    {
      regex: `${except(allowed)}(?:\\.\\./)+(?:${wiring.map(escape).join('|')})$`,
      message: 'the top-level files of gateway/src are the wiring: no layer imports them.',
    },
  );
  return patterns;
}

function filesOf(layer) {
  if (layer === 'base') return { files: ['base/**/*.ts'], ignores: ['base/test/**'] };
  if (layer === 'drivers') return { files: ['drivers/**/*.ts'], ignores: ['drivers/test/**'] };
  return { files: [`gateway/src/${layer}/**/*.ts`] };
}

function layerOfFile(file) {
  if (file.startsWith('base/')) return 'base';
  if (file.startsWith('drivers/')) return 'drivers';
  return /^gateway\/src\/([^/]+)\//.exec(file)[1];
}

const layers = ['base', 'drivers', ...Object.keys(gatewayRanks)].map((layer) => ({
  name: `layers/${layer}`,
  ...filesOf(layer),
  rules: { 'no-restricted-imports': ['error', { patterns: restrictionsOf(layer) }] },
}));

/*
 * Known exceptions: upward imports that exist today, each allowed for one file and one target
 * only. Remove an entry with the import it names; layers.test.ts fails while an entry names an
 * import that no longer exists, so this list only shrinks.
 */
export const layerExceptions = [
  {
    // The B2BUA reads routing's Destination/RoutingTable types. Removed when the route result
    // types are call/'s own (routing produces them, call/ consumes them).
    file: 'gateway/src/call/b2bua.ts',
    targets: ['gateway/src/routing/sip-routing.ts'],
  },
  {
    // Ring-group attempts are built from routing's Destination/RingGroupPlan types. Removed with
    // the b2bua.ts entry: the route result types become call/'s own.
    file: 'gateway/src/call/ring-group-targets.ts',
    targets: ['gateway/src/routing/sip-routing.ts'],
  },
  {
    // The media engine is typed by call/'s ports (MediaHook, MediaParty, CallMediaQuality).
    // Removed when those types live in media/ and call/ imports them from there.
    file: 'gateway/src/media/engine/engine.ts',
    targets: ['gateway/src/call/ports.ts'],
  },
  {
    // The PSTN service opens the drivers itself and hunts ports with routing's selection.
    // Removed when pstn/ keeps line and span signalling over drivers/api/ only, the wiring opens
    // the drivers, and hunting is pstn/'s own.
    file: 'gateway/src/pstn/pstn-service.ts',
    targets: ['drivers/index.ts', 'drivers/sim/central-office.ts', 'gateway/src/routing/hunt.ts'],
  },
  {
    // Port groups as route targets (`@pstn:<group>`, the B2BUA's trunk types) and the routing of
    // calls from a line. Removed when this file moves to routing/, which may import both.
    file: 'gateway/src/pstn/pstn-trunk.ts',
    targets: [
      'gateway/src/call/b2bua.ts',
      'gateway/src/routing/pstn-routing.ts',
      'gateway/src/routing/ring-group.ts',
      'gateway/src/routing/sip-routing.ts',
    ],
  },
  {
    // Configuration validation runs routing's own checks (dial patterns, PSTN routes and loops),
    // so that a saved configuration is one routing can use. Removed when validateConfig takes the
    // routing checks from the wiring (build-gateway.ts hands them to the ConfigStore).
    file: 'gateway/src/store/config-validate.ts',
    targets: ['gateway/src/routing/dial-pattern.ts', 'gateway/src/routing/route-checks.ts'],
  },
  {
    // CDR rows are typed by call/'s LegRecord, InteractionRecord and CdrSink. Removed when those
    // types live in store/ (the records database owns its row types; call/ fills them).
    file: 'gateway/src/store/cdr-writer.ts',
    targets: ['gateway/src/call/ports.ts'],
  },
];

/** The layer's restrictions for `file`, with exactly `targets` (repository paths) let through. */
function relaxed({ file, targets }) {
  const allowed = targets.map((t) => {
    const spec = posix.relative(posix.dirname(file), t);
    return spec.startsWith('.') ? spec : `./${spec}`;
  });
  return {
    name: `layers/exception ${file}`,
    files: [file],
    rules: { 'no-restricted-imports': ['error', { patterns: restrictionsOf(layerOfFile(file), allowed) }] },
  };
}

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', 'dist/**', 'admin-ui/dist/**', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      // node:test's describe/test return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['describe', 'test', 'it', 'suite', 'before', 'after', 'beforeEach', 'afterEach'],
            },
          ],
        },
      ],
    },
  },
  ...layers,
  ...layerExceptions.map(relaxed),
);
