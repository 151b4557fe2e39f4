/**
 * The subset of Go's text/template that prometheus-adapter's rule templates use, with the adapter's
 * `<<` `>>` delimiters: field references (`<<.Series>>`, `<<.GroupBy>>`), `index` on a map
 * (`<<index .LabelValuesByName "pod">>`) and the trim markers `<<-` / `->>`. Values print as Go's
 * fmt %v prints them ("[a b]" for a slice, "map[k:v]" with sorted keys for a map). Anything else is
 * an error naming the action, rather than a silently different query.
 *
 * Upstream: kubernetes-sigs/prometheus-adapter pkg/naming/metrics_query.go (NewMetricsQuery parses
 * with `template.New("metrics-query").Delims("<<", ">>")`) and resource_converter.go.
 */

export type TemplateValue = string | readonly string[] | Readonly<Record<string, string>>;
export type TemplateData = Readonly<Record<string, TemplateValue>>;

const ACTION = /<<(-\s)?([\s\S]*?)(\s-)?>>/g;

/** Go's %v of a template value. */
export function formatGoValue(value: TemplateValue | undefined): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return `[${value.join(' ')}]`;
  const map = value as Readonly<Record<string, string>>;
  const keys = Object.keys(map).sort();
  return `map[${keys.map((k) => `${k}:${map[k]}`).join(' ')}]`;
}

function field(data: TemplateData, ref: string, action: string): TemplateValue {
  const name = ref.slice(1);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new Error(`template action <<${action}>>: unsupported field reference ${JSON.stringify(ref)}`);
  }
  if (!(name in data)) {
    throw new Error(
      `template action <<${action}>>: can't evaluate field ${name} (available: ${Object.keys(data).join(', ')})`,
    );
  }
  return data[name];
}

function evaluate(data: TemplateData, action: string): string {
  const trimmed = action.trim();
  if (/^\.[A-Za-z_][A-Za-z0-9_]*$/.test(trimmed)) return formatGoValue(field(data, trimmed, action));
  const index = /^index\s+(\.[A-Za-z_][A-Za-z0-9_]*)\s+"((?:[^"\\]|\\.)*)"$/.exec(trimmed);
  if (index) {
    const collection = field(data, index[1], action);
    if (typeof collection === 'string' || Array.isArray(collection)) {
      throw new Error(`template action <<${action}>>: index of ${index[1]} needs a map`);
    }
    // Go's index on a map returns the zero value for a missing key.
    return (collection as Readonly<Record<string, string>>)[JSON.parse(`"${index[2]}"`) as string] ?? '';
  }
  throw new Error(
    `template action <<${action}>> is not supported here (supported: <<.Field>> and <<index .Map "key">>)`,
  );
}

/** Execute a `<<` `>>` template against the data. */
export function executeTemplate(template: string, data: TemplateData): string {
  let out = '';
  let last = 0;
  for (const match of template.matchAll(ACTION)) {
    let text = template.slice(last, match.index);
    if (match[1]) text = text.replace(/\s+$/, '');
    out += text + evaluate(data, match[2]);
    last = match.index + match[0].length;
    if (match[3]) {
      const rest = template.slice(last);
      last += rest.length - rest.replace(/^\s+/, '').length;
    }
  }
  const tail = template.slice(last);
  if (tail.includes('<<') || tail.includes('>>')) {
    throw new Error(`template ${JSON.stringify(template)}: unclosed action`);
  }
  return out + tail;
}
