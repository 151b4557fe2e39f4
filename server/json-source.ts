/**
 * JSON text with the line and column of its values, for error messages about files people edit
 * (config.json). V8's JSON.parse says where it failed only for some errors, and differently from
 * one Node version to the next (Node 20: `Unexpected token '}', "{"a":}" is not valid JSON`, no
 * position; Node 22 adds a line and column), and never where a parsed value came from. This
 * scanner checks the grammar of RFC 8259 itself, so it accepts exactly what JSON.parse accepts and
 * its errors are the same everywhere; the values still come from JSON.parse.
 */

/** A JSON value's place: keys of objects and indexes of arrays from the document down. */
export type JsonPath = readonly (string | number)[];

/** 1-based, as editors and compilers print them; columns count UTF-16 code units. */
export interface TextPosition {
  readonly line: number;
  readonly column: number;
}

export class JsonSyntaxError extends Error {
  constructor(
    /** What was expected and what was found, without the position. */
    readonly detail: string,
    readonly position: TextPosition,
  ) {
    super(`${position.line}:${position.column}: ${detail}`);
    this.name = 'JsonSyntaxError';
  }
}

export interface JsonSource {
  readonly value: unknown;
  /** Where the value at `path` starts, or (`key`) the key naming it; undefined if the text has none. */
  position(path: JsonPath, of?: 'value' | 'key'): TextPosition | undefined;
}

/**
 * Paths deeper than this keep no position. Config fields nest at most 4 deep (input[0].shape[1]);
 * a path's record costs its depth, so recording every level of a 100,000-deep array would be
 * quadratic in the file's size.
 */
const LOCATED_DEPTH = 4;

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const ESCAPES = '"\\/bfnrt';
const HEX4 = /[0-9A-Fa-f]{4}/y;

/** Parses `text` as JSON, or throws a JsonSyntaxError at the first character that is not. */
export function parseJsonSource(text: string): JsonSource {
  const values = new Map<string, number>();
  const keys = new Map<string, number>();
  const path: (string | number)[] = [];
  // One entry per open container: true for an array.
  const open: boolean[] = [];
  let i = 0;

  const fail = (expected: string, at = i): never => {
    const found = at >= text.length ? 'the end of the file' : shown(text.charCodeAt(at));
    throw new JsonSyntaxError(`expected ${expected}, found ${found}`, positionOf(text, at));
  };
  const skipSpace = (): void => {
    for (let c = text.charCodeAt(i); c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;)
      c = text.charCodeAt(++i);
  };
  const record = (into: Map<string, number>, at: number): void => {
    if (path.length <= LOCATED_DEPTH) into.set(JSON.stringify(path), at);
  };
  const string = (): void => {
    i++;
    for (;;) {
      const c = text.charCodeAt(i);
      if (Number.isNaN(c)) fail(`'"' closing the string`);
      if (c === 0x22) return void i++;
      if (c < 0x20) fail('a character of a string (control characters only as escapes, e.g. \\n)');
      if (c === 0x5c) {
        const e = text[i + 1] ?? '';
        if (e === 'u') {
          HEX4.lastIndex = i + 2;
          if (!HEX4.test(text)) fail('4 hexadecimal digits after \\u', i + 2);
          i += 6;
        } else if (e !== '' && ESCAPES.includes(e)) i += 2;
        else fail('an escape: \\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX', i + 1);
      } else i++;
    }
  };
  // After '{' or ',' in an object: a key, then ':'.
  const key = (orClose: boolean): void => {
    skipSpace();
    if (text[i] !== '"')
      fail(orClose ? `a property name in double quotes or '}'` : 'a property name in double quotes');
    const start = i;
    string();
    path.push(JSON.parse(text.slice(start, i)) as string);
    record(keys, start);
    skipSpace();
    if (text[i] !== ':') fail(`':' after the property name`);
    i++;
  };

  for (;;) {
    // A value starts here.
    skipSpace();
    record(values, i);
    const c = text[i];
    if (c === '{' || c === '[') {
      i++;
      skipSpace();
      if (text[i] !== (c === '{' ? '}' : ']')) {
        open.push(c === '[');
        if (c === '{') key(true);
        else path.push(0);
        continue;
      }
      i++;
    } else if (c === '"') string();
    else if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) {
      NUMBER.lastIndex = i;
      if (!NUMBER.test(text)) fail('a number');
      i = NUMBER.lastIndex;
    } else {
      const literal = ['true', 'false', 'null'].find((l) => text.startsWith(l, i));
      if (!literal) fail('a value');
      i += literal!.length;
    }
    // A value ended: close the containers it ends, up to one that goes on.
    for (;;) {
      skipSpace();
      if (open.length === 0) {
        if (i < text.length) fail('the end of the file after the document');
        return {
          value: JSON.parse(text) as unknown,
          position: (p, of = 'value') => {
            const at = (of === 'key' ? keys : values).get(JSON.stringify(p));
            return at === undefined ? undefined : positionOf(text, at);
          },
        };
      }
      const array = open[open.length - 1]!;
      if (text[i] === ',') {
        i++;
        if (array) (path[path.length - 1] as number)++;
        else {
          path.pop();
          key(false);
        }
        break;
      }
      if (text[i] !== (array ? ']' : '}')) fail(array ? `',' or ']'` : `',' or '}'`);
      i++;
      open.pop();
      path.pop();
    }
  }
}

function shown(code: number): string {
  return code > 0x20 && code < 0x7f
    ? `'${String.fromCharCode(code)}'`
    : `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** CRLF, LF and a lone CR each end a line, as editors count them. */
export function positionOf(text: string, offset: number): TextPosition {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a || (c === 0x0d && text.charCodeAt(i + 1) !== 0x0a)) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}
