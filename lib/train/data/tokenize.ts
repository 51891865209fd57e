/**
 * Raw examples to token ids with the model's tokenizer: classification examples keep their label and are
 * truncated to maxLength; causal-LM examples are one per text (truncated) or, in block mode, the texts'
 * tokens concatenated and cut into blocks of the context length (GPT-2's run_clm grouping).
 */
import type { Tokenizer } from '../../io/tokenizer';
import type { LabelledExample } from './labels';
import type { RawExample } from './records';

export interface TokenizedExample {
  inputIds: number[];
  /** Class id (classification). */
  label?: number;
  /**
   * Causal LM: the token labels, one per input id (-100 where the loss ignores the token, e.g. the prompt
   * of an SFT example); without them every token is a target.
   */
  labels?: number[];
  /** Line of the source file (the first line of a block). */
  line?: number;
}

export interface TokenizeOptions {
  /** Keep at most this many tokens per example (block length in block mode). */
  maxLength: number;
  /** Prepend BOS / append EOS (default: the tokenizer's own default). */
  bos?: boolean;
  eos?: boolean;
}

function checkMaxLength(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`tokenize: maxLength must be a positive integer, got ${String(n)}`);
}

function encode(tokenizer: Tokenizer, text: string, opts: TokenizeOptions): number[] {
  const o: { bos?: boolean; eos?: boolean } = {};
  if (opts.bos !== undefined) o.bos = opts.bos;
  if (opts.eos !== undefined) o.eos = opts.eos;
  return tokenizer.encode(text, o);
}

export function tokenizeClassification(examples: LabelledExample[], tokenizer: Tokenizer, opts: TokenizeOptions): TokenizedExample[] {
  checkMaxLength(opts.maxLength);
  return examples.map((e) => ({ inputIds: encode(tokenizer, e.text, opts).slice(0, opts.maxLength), label: e.label, line: e.line }));
}

/** One example per text, truncated; texts of fewer than 2 tokens are dropped (they have no next-token target). */
export function tokenizeCausalLM(examples: RawExample[], tokenizer: Tokenizer, opts: TokenizeOptions): TokenizedExample[] {
  checkMaxLength(opts.maxLength);
  return examples.map((e) => ({ inputIds: encode(tokenizer, e.text, opts).slice(0, opts.maxLength), line: e.line })).filter((e) => e.inputIds.length >= 2);
}

/** The texts' tokens end to end, cut into blocks of blockSize; a last block shorter than 2 tokens is dropped. */
export function tokenizeBlocks(examples: RawExample[], tokenizer: Tokenizer, opts: TokenizeOptions): TokenizedExample[] {
  checkMaxLength(opts.maxLength);
  const ids: number[] = [];
  const lineAt: number[] = [];
  for (const e of examples) {
    const t = encode(tokenizer, e.text, opts);
    for (const id of t) {
      ids.push(id);
      lineAt.push(e.line);
    }
  }
  const out: TokenizedExample[] = [];
  for (let i = 0; i < ids.length; i += opts.maxLength) {
    const block = ids.slice(i, i + opts.maxLength);
    if (block.length >= 2) out.push({ inputIds: block, line: lineAt[i] });
  }
  return out;
}
