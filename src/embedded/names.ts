/** The names a template declares, known only once it is parsed (on first use of `.name`). */
import { Lowerer, nameOf } from './lower.js';
import { recordOf } from './record.js';
import { RuntimeReader, type Recorded } from './runtime.js';

export function declaredNames(record: Recorded): string[] {
  const l = new Lowerer().lower(new RuntimeReader(recordOf).decl(record));
  if (record.keyword !== 'file') return [nameOf(l) ?? ''];
  return l.declarations.map((d) => d.name);
}
