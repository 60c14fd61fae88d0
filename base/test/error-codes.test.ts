import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES, RESERVED_CODES } from '../error-codes.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const REGISTRY = 'base/error-codes.ts';
const THIS_TEST = 'base/test/error-codes.test.ts';
/** The trees whose `EDGE_ERR_` strings must be registered, their tests included. */
const SCANNED = ['base', 'gateway/src', 'drivers'];
/** Tests may name codes, but a code only tests name is dead. */
const TEST_DIRS = ['base/test/', 'drivers/test/'];

const CODE_SHAPE = /^EDGE_ERR_[A-Z0-9]+(_[A-Z0-9]+)+$/;
const CODE_TOKEN = /EDGE_ERR_[A-Z0-9_]*/g;
/** `'EDGE_ERR_X_' + what`, `` `EDGE_ERR_X_${what}` ``: a code built at run time. */
const BUILT_AFTER = /^(['"`]\s*\+|\$\{)/;

interface SourceFile {
  path: string;
  text: string;
}

function sources(): SourceFile[] {
  const out: SourceFile[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(join(ROOT, dir))) {
      if (name === 'node_modules' || name.startsWith('.')) continue;
      const path = `${dir}/${name}`;
      if (statSync(join(ROOT, path)).isDirectory()) walk(path);
      else if (/\.(ts|tsx|mts|js|mjs)$/.test(name))
        out.push({ path, text: readFileSync(join(ROOT, path), 'utf8') });
    }
  };
  for (const dir of SCANNED) walk(dir);
  return out.filter((f) => f.path !== REGISTRY && f.path !== THIS_TEST);
}

interface Occurrence {
  file: string;
  line: number;
  token: string;
  at: number;
}

function occurrences(f: SourceFile): Occurrence[] {
  const out: Occurrence[] = [];
  for (const m of f.text.matchAll(CODE_TOKEN)) {
    const at = m.index;
    const line = f.text.slice(0, at).split('\n').length;
    out.push({ file: f.path, line, token: m[0], at });
  }
  return out;
}

/**
 * `NAME = { KEY: 'EDGE_ERR_...', ... }` maps (`ErrorCodes`, `DriverErrors`, `PstnErrors`...): an
 * entry there is a use only when `NAME.KEY` is referenced somewhere, otherwise it is a dead alias.
 */
function aliasEntries(f: SourceFile): Map<number, string> {
  const byOffset = new Map<number, string>();
  for (const map of f.text.matchAll(/\bconst (\w+) = \{([^{}]*)\}/g)) {
    const bodyAt = map.index + map[0].indexOf('{') + 1;
    for (const e of (map[2] ?? '').matchAll(/\b(\w+): '(EDGE_ERR_[A-Z0-9_]+)'/g)) {
      byOffset.set(bodyAt + e.index + e[0].indexOf('EDGE_ERR_'), `${map[1]}.${e[1]}`);
    }
  }
  return byOffset;
}

const files = sources();
const registered = new Set<string>(Object.keys(ERROR_CODES));
const isTest = (path: string): boolean => TEST_DIRS.some((d) => path.startsWith(d));

/** The codes the non-test sources use, directly or through a referenced alias. */
function usedCodes(scanned: readonly SourceFile[]): Set<string> {
  const productFiles = scanned.filter((f) => !isTest(f.path));
  const allText = productFiles.map((f) => f.text).join('\n');
  const used = new Set<string>();
  for (const f of productFiles) {
    const aliases = aliasEntries(f);
    for (const o of occurrences(f)) {
      const alias = aliases.get(o.at);
      if (alias === undefined || new RegExp(`\\b${alias.replace('.', '\\.')}\\b`).test(allText))
        used.add(o.token);
    }
  }
  return used;
}

describe('the error-code registry (base/error-codes.ts)', () => {
  test('every code is EDGE_ERR_<AREA>_<WHAT> in capitals, digits and underscores', () => {
    const bad = Object.keys(ERROR_CODES).filter((c) => !CODE_SHAPE.test(c));
    assert.deepEqual(bad, []);
  });

  test('every code has a one-line description of when it is raised', () => {
    const bad = Object.entries(ERROR_CODES)
      .filter(([, d]) => d.trim() === '' || d.includes('\n'))
      .map(([c]) => c);
    assert.deepEqual(bad, []);
  });

  test('every EDGE_ERR_ string in base/, gateway/ and drivers/ is a registered code', () => {
    assert.ok(files.length > 100, `scanned only ${files.length} files from ${ROOT}`);
    const problems: string[] = [];
    for (const f of files) {
      for (const o of occurrences(f)) {
        const after = f.text.slice(o.at + o.token.length, o.at + o.token.length + 3);
        const where = `${o.file}:${o.line}`;
        if (BUILT_AFTER.test(after)) problems.push(`${where}: ${o.token}... is built at run time`);
        // A prefix: `EDGE_ERR_<AREA>_<WHAT>` or `EDGE_ERR_DRIVER_*` in prose, `/^EDGE_ERR_/` in a test.
        else if (o.token.endsWith('_')) continue;
        else if (!registered.has(o.token)) problems.push(`${where}: ${o.token} is not registered`);
      }
    }
    assert.deepEqual(problems, []);
  });

  test('every registered code is raised somewhere, or reserved with a reason', () => {
    const used = usedCodes(files);
    const dead = Object.keys(ERROR_CODES).filter((c) => !used.has(c) && !(c in RESERVED_CODES));
    assert.deepEqual(dead, [], 'unused codes: raise them, list them in RESERVED_CODES, or remove them');
  });

  test('a reserved code has a reason and is not in use', () => {
    const used = usedCodes(files);
    for (const [code, reason] of Object.entries(RESERVED_CODES)) {
      assert.ok(registered.has(code), `${code} is reserved but not registered`);
      assert.ok(reason && reason.trim() !== '', `${code} is reserved without a reason`);
      assert.ok(!used.has(code), `${code} is in use: remove it from RESERVED_CODES`);
    }
  });

  test('an entry of a named-constant map is a use only while its name is referenced', () => {
    const map = [
      'export const FooErrors = {',
      "  USED: 'EDGE_ERR_FOO_USED',",
      "  DEAD: 'EDGE_ERR_FOO_DEAD',",
      '} as const;',
    ].join('\n');
    const scanned: SourceFile[] = [
      { path: 'gateway/src/foo.ts', text: map },
      { path: 'gateway/src/bar.ts', text: "fail(FooErrors.USED);\nconst c = 'EDGE_ERR_FOO_DIRECT';" },
      { path: 'base/test/foo.test.ts', text: "assert.equal(code, 'EDGE_ERR_FOO_TESTED');\nFooErrors.DEAD;" },
    ];
    assert.deepEqual([...usedCodes(scanned)].sort(), ['EDGE_ERR_FOO_DIRECT', 'EDGE_ERR_FOO_USED']);
  });
});
