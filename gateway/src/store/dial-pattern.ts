/**
 * Dial patterns as written in route configuration, compiled to an anchored RegExp.
 *
 * The notation is the one PBX technicians know from Asterisk extension patterns (without the
 * leading underscore): `X` any digit 0-9, `Z` 1-9, `N` 2-9, `[15-7]` one of a set, `.` one or more
 * of anything, `!` zero or more of anything, `-` ignored (readability, `NXX-XXXX`); digits, `*`,
 * `#` and `+` stand for themselves. A pattern starting with `^` is taken as a regular expression.
 */
import { err, ok, type Result, type ParseError } from '../core/result.ts';

export function compileDialPattern(pattern: string): Result<RegExp, ParseError> {
  if (pattern.startsWith('^')) {
    try {
      return ok(new RegExp(pattern));
    } catch (e) {
      return err({ code: 'BAD_PATTERN', message: `is not a valid regular expression (${(e as Error).message})` });
    }
  }
  let out = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charAt(i);
    switch (c) {
      case 'X':
      case 'x':
        out += '[0-9]';
        break;
      case 'Z':
      case 'z':
        out += '[1-9]';
        break;
      case 'N':
      case 'n':
        out += '[2-9]';
        break;
      case '.':
        out += '.+';
        break;
      case '!':
        out += '.*';
        break;
      case '-':
        break;
      case '*':
      case '#':
      case '+':
        out += '\\' + c;
        break;
      case '[': {
        const close = pattern.indexOf(']', i + 1);
        if (close < 0) return err({ code: 'BAD_PATTERN', message: `has an unclosed '[' at offset ${i}` });
        const set = pattern.slice(i + 1, close);
        if (!/^(?:[0-9*#](?:-[0-9])?)+$/.test(set)) {
          return err({ code: 'BAD_PATTERN', message: `has an invalid set '[${set}]' at offset ${i}` });
        }
        out += '[' + set.replace(/[*#]/g, '\\$&') + ']';
        i = close;
        break;
      }
      default:
        if (c >= '0' && c <= '9') {
          out += c;
          break;
        }
        return err({ code: 'BAD_PATTERN', message: `has an invalid character '${c}' at offset ${i}` });
    }
  }
  return ok(new RegExp(out + '$'));
}
