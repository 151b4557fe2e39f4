/**
 * Unified diff of two texts (line based, LCS), as `diff -u` prints it, with 3 lines of context.
 * Small inputs only (config files): O(n*m) memory is fine here.
 */
export function unifiedDiff(path: string, before: string | null, after: string, context = 3): string {
  const a = before === null ? [] : splitLines(before);
  const b = splitLines(after);
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  type Line = { op: ' ' | '-' | '+'; text: string; ai: number; bi: number };
  const lines: Line[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) lines.push({ op: ' ', text: a[i++]!, ai: i, bi: ++j });
    else if (i < n && (j >= m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!))
      lines.push({ op: '-', text: a[i++]!, ai: i, bi: j });
    else lines.push({ op: '+', text: b[j++]!, ai: i, bi: j });
  }
  const changed = lines.map((l, k) => (l.op !== ' ' ? k : -1)).filter((k) => k >= 0);
  if (changed.length === 0) return '';
  const out = [`--- ${before === null ? '/dev/null' : path}`, `+++ ${path}`];
  let k = 0;
  while (k < changed.length) {
    const start = Math.max(0, changed[k]! - context);
    let end = Math.min(lines.length - 1, changed[k]! + context);
    while (k + 1 < changed.length && changed[k + 1]! - context <= end + 1) {
      k++;
      end = Math.min(lines.length - 1, changed[k]! + context);
    }
    k++;
    const hunk = lines.slice(start, end + 1);
    const aStart = countBefore(lines, start, '+');
    const bStart = countBefore(lines, start, '-');
    const aLen = hunk.filter((l) => l.op !== '+').length;
    const bLen = hunk.filter((l) => l.op !== '-').length;
    out.push(`@@ -${aLen ? aStart + 1 : aStart},${aLen} +${bLen ? bStart + 1 : bStart},${bLen} @@`);
    for (const l of hunk) out.push(`${l.op}${l.text}`);
  }
  return out.join('\n') + '\n';
}

function countBefore(lines: { op: string }[], upto: number, skip: string): number {
  let c = 0;
  for (let x = 0; x < upto; x++) if (lines[x]!.op !== skip) c++;
  return c;
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  const parts = text.split('\n');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts;
}
