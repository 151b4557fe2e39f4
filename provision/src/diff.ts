import { createTwoFilesPatch, FILE_HEADERS_ONLY } from 'diff';

/**
 * Unified diff of a file edit, as `diff -u` prints it (jsdiff), with 3 lines of context; '' when
 * the texts are equal. A missing trailing newline shows as `\ No newline at end of file`, so an
 * edit that only adds or removes the final newline is visible instead of an empty diff.
 */
export function unifiedDiff(path: string, before: string | null, after: string, context = 3): string {
  if (before === after) return '';
  return createTwoFilesPatch(
    before === null ? '/dev/null' : path,
    path,
    before ?? '',
    after,
    undefined,
    undefined,
    {
      context,
      headerOptions: FILE_HEADERS_ONLY,
    },
  );
}
