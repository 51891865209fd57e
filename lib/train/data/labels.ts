/**
 * Class ids from labels as files hold them. With label names given, a name maps to its index (and an
 * integer in range is taken as the id); without, integers are ids and names get ids in sorted order.
 */
import { BadRows, type BadRowPolicy, type SkippedRow } from './data_error';
import type { RawExample } from './records';

export interface LabelledExample {
  text: string;
  label: number;
  line: number;
}

export interface LabelResult {
  examples: LabelledExample[];
  /** Names by id when labels were names (given or found), else null. */
  labelNames: string[] | null;
  skipped: SkippedRow[];
}

export function assignLabels(examples: RawExample[], file: string, opts: { labelNames?: string[]; badRows?: BadRowPolicy } = {}): LabelResult {
  const bad = new BadRows(file, opts.badRows ?? 'error');
  const asInt = (v: number | string | undefined): number | null => {
    if (typeof v === 'number') return Number.isInteger(v) ? v : null;
    if (typeof v === 'string' && /^\s*\d+\s*$/.test(v)) return Number(v);
    return null;
  };
  let names = opts.labelNames ?? null;
  if (names === null) {
    const found = new Set<string>();
    for (const e of examples) if (typeof e.label === 'string' && asInt(e.label) === null) found.add(e.label);
    if (found.size > 0) names = [...found].sort();
  }
  const out: LabelledExample[] = [];
  for (const e of examples) {
    if (e.label === undefined) {
      bad.report(e.line, 'missing label');
      continue;
    }
    let id: number | null = null;
    if (names !== null && typeof e.label === 'string' && names.includes(e.label)) id = names.indexOf(e.label);
    else {
      id = asInt(e.label);
      if (id !== null && names !== null && id >= names.length) id = null;
    }
    if (id === null || id < 0) {
      bad.report(e.line, `label ${JSON.stringify(e.label)} is not ${names ? `one of ${JSON.stringify(names)} or an id below ${names.length}` : 'a non-negative integer or a class name'}`);
      continue;
    }
    out.push({ text: e.text, label: id, line: e.line });
  }
  return { examples: out, labelNames: names, skipped: bad.skipped };
}
