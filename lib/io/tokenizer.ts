/**
 * One tokenizer interface over the formats peftjs reads: llama2.c's tokenizer.bin (Llama2cTokenizer)
 * and Hugging Face's tokenizer.json (HfTokenizer). loadTokenizer picks by file or folder contents.
 */
import * as fs from 'fs';
import * as path from 'path';
import { BYTE_TOKENIZER_FILE, ByteTokenizer } from './byte_tokenizer';
import type { ChatTemplate } from './chat_template';
import { HfTokenizer } from './hf_tokenizer';
import { type HubOptions, resolveModelPath } from './hub';
import { Llama2cTokenizer } from './llama2c_tokenizer';

export interface TokenizerEncodeOptions {
  /** Prepend the BOS token. Default: what the tokenizer does by default (llama2.c and Llama: yes; GPT-2: no). */
  bos?: boolean;
  /** Append the EOS token. Default: what the tokenizer does by default (usually no). */
  eos?: boolean;
}

export interface Tokenizer {
  /** Number of ids (the embedding rows a model needs): the largest id + 1. */
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly padId: number | null;
  encode(text: string, opts?: TokenizerEncodeOptions): number[];
  /** The text of ids, special tokens (BOS, EOS, pad, ...) left out. decode(encode(text)) === text. */
  decode(ids: readonly number[]): string;
  /** The text to print for `id` when it follows `prev`, for streaming generation (llama2.c style). */
  decodeToken?(prev: number, id: number): string;
  /** The tokenizer's chat template (HF tokenizers with one; see HfTokenizer.chatTemplate). */
  chatTemplate?(name?: string): ChatTemplate | null;
}

/** A Hub id ('org/name') is read from the Hugging Face cache or downloaded into it (HubOptions; lib/io/hub.ts). */
export interface LoadTokenizerOptions extends HubOptions {
  /** llama2.c files: the number of tokens the model expects (see Llama2cTokenizer.load). */
  vocabSize?: number;
}

const unsupportedSentencepiece = (file: string) =>
  new Error(`loadTokenizer: ${file} is a sentencepiece model (tokenizer.model), which is not supported; ` +
    "use the model's tokenizer.json (transformers writes one with tokenizer.save_pretrained on a fast tokenizer)");

function fromFolder(dir: string, opts: LoadTokenizerOptions): Tokenizer {
  const names = fs.readdirSync(dir);
  if (names.includes('tokenizer.json')) return HfTokenizer.load(path.join(dir, 'tokenizer.json'));
  if (names.includes(BYTE_TOKENIZER_FILE)) return ByteTokenizer.load(path.join(dir, BYTE_TOKENIZER_FILE));
  const llama2c = names.filter((n) => /^tok.*\.bin$/.test(n)).sort();
  if (llama2c.length === 1) return Llama2cTokenizer.load(path.join(dir, llama2c[0]), opts.vocabSize);
  if (llama2c.length > 1) throw new Error(`loadTokenizer: ${dir} holds several llama2.c tokenizers (${llama2c.join(', ')}); pass the file`);
  if (names.includes('tokenizer.model')) throw unsupportedSentencepiece(path.join(dir, 'tokenizer.model'));
  throw new Error(`loadTokenizer: ${dir} has no tokenizer.json and no llama2.c tok*.bin`);
}

/**
 * Reads a tokenizer: a tokenizer.json (tokenizer_config.json beside it supplies the special tokens),
 * a llama2.c tok*.bin, a folder holding one of them, or a Hub id. A sentencepiece tokenizer.model is refused with
 * a message saying so. Files other than these are told apart by their first byte ("{" is JSON).
 */
export function loadTokenizer(idOrFile: string, opts: LoadTokenizerOptions = {}): Tokenizer {
  if (typeof idOrFile !== 'string') throw new TypeError(`loadTokenizer: expected a path string, got ${typeof idOrFile}`);
  const file = resolveModelPath(idOrFile, { ...opts, files: 'tokenizer' });
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (e) {
    throw new Error(`loadTokenizer: cannot read ${file}: ${(e as Error).message}`);
  }
  if (stat.isDirectory()) return fromFolder(file, opts);
  const base = path.basename(file);
  if (base === BYTE_TOKENIZER_FILE) return ByteTokenizer.load(file);
  if (base.endsWith('.json')) return HfTokenizer.load(file);
  if (base.endsWith('.model')) throw unsupportedSentencepiece(file);
  if (base.endsWith('.bin')) return Llama2cTokenizer.load(file, opts.vocabSize);
  const head = Buffer.alloc(64);
  const fd = fs.openSync(file, 'r');
  let n: number;
  try {
    n = fs.readSync(fd, head, 0, head.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  const first = head.subarray(0, n).toString('latin1').trimStart()[0];
  return first === '{' ? HfTokenizer.load(file) : Llama2cTokenizer.load(file, opts.vocabSize);
}
