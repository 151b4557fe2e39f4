/**
 * Values written into configuration files, quoted for each file's own syntax. The inventory
 * validation already refuses anything unusual; these are the second line of defence, so that a
 * value that slipped through can never end a string and start a directive run as root.
 */

/**
 * An apt.conf string. apt's parser has no escape for `"` inside a quoted value (the quote always
 * ends it), and a newline or control character would start a new statement, so such a value
 * cannot be written at all: refused instead of mangled.
 */
export function aptConfString(value: string): string {
  // eslint-disable-next-line no-control-regex
  const bad = /["\\\u0000-\u001f\u007f]/.exec(value);
  if (bad)
    throw new Error(
      `cannot write ${JSON.stringify(value)} into apt.conf: ${JSON.stringify(bad[0])} has no quoting there`,
    );
  return `"${value}"`;
}

/**
 * A systemd `Environment="NAME=value"` assignment: inside double quotes systemd unescapes C-style
 * sequences (systemd.syntax(7)) and expands `%` specifiers (systemd.unit(5)), so `\`, `"` and `%`
 * are escaped and every control character (a newline would start a new directive) becomes `\xNN`.
 */
export function systemdEnvironment(name: string, value: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`invalid environment variable name ${name}`);
  const escaped = `${name}=${value}`
    .replace(/[\\"]/g, (c) => `\\${c}`)
    .replace(/%/g, '%%')
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return `Environment="${escaped}"`;
}
