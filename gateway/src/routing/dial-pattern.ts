/**
 * Dial patterns as telephony administrators write them (the Asterisk/FreePBX convention):
 *   X = any digit 0-9, Z = 1-9, N = 2-9, [1-5] or [137] = one digit of a set,
 *   `.` = one or more of anything, `!` = zero or more of anything, other characters literal
 *   (digits, `*`, `#`, `+`). A pattern that starts with `^` is a regular expression instead.
 * Patterns are compiled once per configuration revision; matching is a plain RegExp test.
 */
import { err, ok, type Result } from '../../../base/result.ts';

export interface DialPattern {
  source: string;
  regex: RegExp;
  /** Count of literal leading characters: longer literal prefixes win when several patterns match. */
  specificity: number;
}

export function compileDialPattern(source: string): Result<DialPattern> {
  if (source.length === 0 || source.length > 128) {
    return err({
      code: 'EDGE_ERR_ROUTING_PATTERN',
      message: 'pattern must be 1-128 characters',
      field: 'pattern',
    });
  }
  if (source.startsWith('^')) {
    try {
      return ok({ source, regex: new RegExp(source.endsWith('$') ? source : `${source}$`), specificity: 0 });
    } catch (e) {
      return err({
        code: 'EDGE_ERR_ROUTING_PATTERN',
        message: `invalid regular expression: ${(e as Error).message}`,
        field: 'pattern',
      });
    }
  }
  let re = '^';
  let specificity = 0;
  let literalRun = true;
  for (let i = 0; i < source.length; i++) {
    const c = source.charAt(i);
    switch (c) {
      case 'X':
      case 'x':
        re += '[0-9]';
        literalRun = false;
        break;
      case 'Z':
      case 'z':
        re += '[1-9]';
        literalRun = false;
        break;
      case 'N':
      case 'n':
        re += '[2-9]';
        literalRun = false;
        break;
      case '.':
        re += '.+';
        literalRun = false;
        break;
      case '!':
        re += '.*';
        literalRun = false;
        break;
      case '[': {
        const close = source.indexOf(']', i);
        const set = close > i ? source.slice(i + 1, close) : '';
        if (!/^[0-9*#](-[0-9])?([0-9*#](-[0-9])?)*$/.test(set)) {
          return err({
            code: 'EDGE_ERR_ROUTING_PATTERN',
            message: `bad digit set at position ${i + 1}`,
            field: 'pattern',
          });
        }
        re += `[${set.replace(/[*#]/g, (m) => `\\${m}`)}]`;
        i = close;
        literalRun = false;
        break;
      }
      default:
        if (!/[0-9*#+]/.test(c)) {
          return err({
            code: 'EDGE_ERR_ROUTING_PATTERN',
            message: `unexpected character '${c}' at position ${i + 1}`,
            field: 'pattern',
          });
        }
        re += c === '*' || c === '+' ? `\\${c}` : c;
        if (literalRun) specificity++;
    }
  }
  return ok({ source, regex: new RegExp(`${re}$`), specificity });
}

export function matchesDialPattern(p: DialPattern, digits: string): boolean {
  return p.regex.test(digits);
}
