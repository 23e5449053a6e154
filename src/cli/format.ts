// --format for berth's listing and inspect commands, as Docker's: "json" (one object a line),
// "table ..." (a header and aligned columns), or any Go template run once per item.
import { GoTemplate, renderFormat, TemplateError } from './go-template.js';
import { jsonLines } from './output.js';

function compileError(err: unknown): never {
  if (err instanceof TemplateError) throw new Error(`template parsing error: ${err.message}`);
  throw err;
}

/** Output of a list command for --format; headers are the column titles of the row fields. */
export function formatList(format: string, rows: Array<Record<string, unknown>>, headers: Record<string, string>): string {
  if (format === 'json') return jsonLines(rows);
  try {
    return renderFormat(format, rows, headers);
  } catch (err) {
    compileError(err);
  }
}

/** inspect -f: the template once per object, a line each. */
export function formatEach(format: string, items: unknown[]): string {
  let tpl: GoTemplate;
  try {
    tpl = new GoTemplate(format === 'json' ? '{{json .}}' : format);
  } catch (err) {
    compileError(err);
  }
  return items.map((i) => tpl.execute(i) + '\n').join('');
}
