/**
 * A byte-level tokenizer: ids 0..255 are the UTF-8 bytes of the text, then BOS, EOS and PAD. Needs no
 * training and no vocabulary file, so a model pretrained from scratch (peftjs compare) can use it; its
 * description is a small JSON file (byte_tokenizer.json) that loadTokenizer recognises in a model folder.
 */
import * as fs from 'fs';
import type { Tokenizer, TokenizerEncodeOptions } from './tokenizer';

export const BYTE_TOKENIZER_FILE = 'byte_tokenizer.json';

export class ByteTokenizer implements Tokenizer {
  readonly vocabSize = 259;
  readonly bosId = 256;
  readonly eosId = 257;
  readonly padId = 258;

  /** BOS by default (as llama's tokenizer), no EOS. */
  encode(text: string, opts: TokenizerEncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new TypeError(`ByteTokenizer.encode: expected a string, got ${typeof text}`);
    const ids = Array.from(Buffer.from(text, 'utf8'));
    if (opts.bos ?? true) ids.unshift(this.bosId);
    if (opts.eos ?? false) ids.push(this.eosId);
    return ids;
  }

  decode(ids: readonly number[]): string {
    const bytes: number[] = [];
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new RangeError(`ByteTokenizer.decode: id ${String(id)} is outside [0, ${this.vocabSize})`);
      if (id < 256) bytes.push(id);
    }
    return Buffer.from(bytes).toString('utf8');
  }

  /** The JSON description written beside a model (what load() reads back). */
  toJSON(): Record<string, unknown> {
    return { type: 'byte', vocab_size: this.vocabSize, bos_token_id: this.bosId, eos_token_id: this.eosId, pad_token_id: this.padId };
  }

  save(file: string): void {
    fs.writeFileSync(file, JSON.stringify(this.toJSON(), null, 2) + '\n');
  }

  static load(file: string): ByteTokenizer {
    let d: Record<string, unknown>;
    try {
      d = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`ByteTokenizer.load: cannot read ${file}: ${(e as Error).message}`);
    }
    const t = new ByteTokenizer();
    const expected = t.toJSON();
    for (const [k, v] of Object.entries(expected))
      if (d[k] !== v) throw new Error(`ByteTokenizer.load: ${file}: ${k} is ${JSON.stringify(d[k])}, expected ${JSON.stringify(v)}`);
    return t;
  }
}
