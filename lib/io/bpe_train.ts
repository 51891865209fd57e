/**
 * Training a byte-level BPE tokenizer (GPT-2's scheme) from texts, written as a Hugging Face
 * tokenizer.json that HfTokenizer (and HF's own libraries) read: ids 0..255 are the 256 bytes (in
 * GPT-2's printable-character alphabet), then one id per learned merge, then the special tokens.
 *
 * Training is plain BPE: split each text with GPT-2's regex into words, count the distinct words, and
 * repeatedly merge the most frequent adjacent pair (ties: the smaller pair, comparing the two token
 * strings) until the vocabulary is full or no pair occurs minFrequency times. Pair counts are kept
 * up to date incrementally (only the words holding the merged pair are revisited) and the best pair
 * comes from a max-heap with stale entries skipped, so a few thousand merges over a few MB of text
 * take seconds.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from './atomic';
import { writeAll } from './binary';

/** GPT-2's map from bytes to printable characters (so every token is a visible string). */
export function bytesToUnicode(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCharCode(printable(b) ? b : 256 + n++);
  return out;
}

/** The ByteLevel pre-tokenizer's split (HF tokenizers, use_regex: true). */
export const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

export interface TrainBpeOptions {
  /** Final vocabulary size, the 256 byte tokens and the special tokens included. */
  vocabSize: number;
  /** Added after the merges, in this order (e.g. ['<s>', '</s>', '<pad>']). */
  specialTokens?: string[];
  bosToken?: string;
  eosToken?: string;
  padToken?: string;
  /** A pair seen fewer times than this is never merged (default 2). */
  minFrequency?: number;
}

export interface TrainedBpe {
  /** The tokenizer.json object. */
  tokenizer: Record<string, unknown>;
  /** The tokenizer_config.json object (special tokens; BOS added by default when there is one). */
  config: Record<string, unknown>;
  /** The merges learned, in rank order (token strings). */
  merges: [string, string][];
}

/** Distinct words of the texts (in the byte alphabet) and how often each occurs. */
function countWords(texts: Iterable<string>, alphabet: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const text of texts) {
    if (typeof text !== 'string') throw new TypeError(`trainByteLevelBpe: expected texts to be strings, got ${typeof text}`);
    for (const m of text.matchAll(GPT2_SPLIT)) counts.set(m[0], (counts.get(m[0]) ?? 0) + 1);
  }
  const out = new Map<string, number>();
  for (const [w, c] of counts) {
    let mapped = '';
    for (const b of Buffer.from(w, 'utf8')) mapped += alphabet[b];
    out.set(mapped, c);  // the byte map is one-to-one, so distinct words stay distinct
  }
  return out;
}

/** Max-heap of (count, pair) with ties to the smaller pair; entries may be stale (checked on pop). */
class PairHeap {
  private readonly counts: number[] = [];
  private readonly pairs: number[] = [];
  constructor(private readonly before: (p: number, q: number) => boolean) {}
  get size(): number { return this.counts.length; }
  private above(i: number, j: number): boolean {
    return this.counts[i] > this.counts[j] || (this.counts[i] === this.counts[j] && this.before(this.pairs[i], this.pairs[j]));
  }
  private swap(i: number, j: number): void {
    [this.counts[i], this.counts[j]] = [this.counts[j], this.counts[i]];
    [this.pairs[i], this.pairs[j]] = [this.pairs[j], this.pairs[i]];
  }
  push(count: number, pair: number): void {
    this.counts.push(count);
    this.pairs.push(pair);
    for (let i = this.counts.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (!this.above(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  pop(): { count: number; pair: number } {
    const top = { count: this.counts[0], pair: this.pairs[0] };
    const last = this.counts.length - 1;
    this.swap(0, last);
    this.counts.pop();
    this.pairs.pop();
    for (let i = 0; ;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < last && this.above(l, m)) m = l;
      if (r < last && this.above(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }
}

const PAIR_BASE = 1 << 20;  // token ids stay below 2^20, so a pair packs into one safe integer

export function trainByteLevelBpe(texts: Iterable<string>, opts: TrainBpeOptions): TrainedBpe {
  const specials = opts.specialTokens ?? [];
  const minFrequency = opts.minFrequency ?? 2;
  if (!Number.isInteger(opts.vocabSize) || opts.vocabSize < 256 + specials.length || opts.vocabSize >= PAIR_BASE)
    throw new RangeError(`trainByteLevelBpe: vocabSize must be an integer in [${256 + specials.length}, ${PAIR_BASE}) (256 bytes + ${specials.length} special tokens), got ${opts.vocabSize}`);
  if (new Set(specials).size !== specials.length) throw new Error(`trainByteLevelBpe: specialTokens has duplicates: ${specials.join(', ')}`);
  for (const key of ['bosToken', 'eosToken', 'padToken'] as const) {
    const t = opts[key];
    if (t !== undefined && !specials.includes(t)) throw new Error(`trainByteLevelBpe: ${key} ${JSON.stringify(t)} is not one of specialTokens`);
  }
  const alphabet = bytesToUnicode();
  const tokens = [...alphabet];
  const idOfChar = new Map(alphabet.map((c, b) => [c, b]));
  const counts = countWords(texts, alphabet);
  const words: number[][] = [];
  const freq: number[] = [];
  for (const [w, c] of counts) {
    words.push([...w].map((ch) => idOfChar.get(ch) as number));
    freq.push(c);
  }

  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addPairs = (wi: number, sign: number, touched: Set<number> | null) => {
    const s = words[wi];
    for (let i = 0; i + 1 < s.length; i++) {
      const key = s[i] * PAIR_BASE + s[i + 1];
      pairCount.set(key, (pairCount.get(key) ?? 0) + sign * freq[wi]);
      if (sign > 0) {
        let set = pairWords.get(key);
        if (!set) pairWords.set(key, (set = new Set()));
        set.add(wi);
      }
      touched?.add(key);
    }
  };
  for (let wi = 0; wi < words.length; wi++) addPairs(wi, 1, null);
  const before = (p: number, q: number) => {
    const pa = tokens[Math.floor(p / PAIR_BASE)], qa = tokens[Math.floor(q / PAIR_BASE)];
    if (pa !== qa) return pa < qa;
    return tokens[p % PAIR_BASE] < tokens[q % PAIR_BASE];
  };
  const heap = new PairHeap(before);
  for (const [key, c] of pairCount) heap.push(c, key);

  const merges: [string, string][] = [];
  const mergesWanted = opts.vocabSize - 256 - specials.length;
  while (merges.length < mergesWanted && heap.size > 0) {
    const { count, pair } = heap.pop();
    if (pairCount.get(pair) !== count) continue;  // stale entry: the count changed since it was pushed
    if (count < minFrequency) break;
    const a = Math.floor(pair / PAIR_BASE), b = pair % PAIR_BASE;
    const merged = tokens.length;
    tokens.push(tokens[a] + tokens[b]);
    merges.push([tokens[a], tokens[b]]);
    const touched = new Set<number>();
    for (const wi of pairWords.get(pair) ?? []) {
      const s = words[wi];
      let holds = false;
      for (let i = 0; i + 1 < s.length && !holds; i++) holds = s[i] === a && s[i + 1] === b;
      if (!holds) continue;  // the set keeps words whose pair an earlier merge consumed
      addPairs(wi, -1, touched);
      const out: number[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(merged);
          i++;
        } else out.push(s[i]);
      }
      words[wi] = out;
      addPairs(wi, 1, touched);
    }
    pairWords.delete(pair);
    pairCount.delete(pair);
    for (const key of touched) {
      const c = pairCount.get(key);
      if (c === undefined) continue;
      if (c <= 0) {
        pairCount.delete(key);
        pairWords.delete(key);
      } else heap.push(c, key);
    }
  }
  return { tokenizer: tokenizerJson(tokens, merges, specials), config: tokenizerConfig(opts), merges };
}

function tokenizerJson(tokens: string[], merges: [string, string][], specials: string[]): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => { vocab[t] = i; });
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: specials.map((content, i) => ({ id: tokens.length + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false,
      vocab, merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}

function tokenizerConfig(opts: TrainBpeOptions): Record<string, unknown> {
  const config: Record<string, unknown> = { tokenizer_class: 'PreTrainedTokenizerFast', add_bos_token: opts.bosToken !== undefined, add_eos_token: false };
  if (opts.bosToken !== undefined) config.bos_token = opts.bosToken;
  if (opts.eosToken !== undefined) config.eos_token = opts.eosToken;
  if (opts.padToken !== undefined) config.pad_token = opts.padToken;
  return config;
}

/** Writes tokenizer.json and tokenizer_config.json into dir (each atomically). */
export function saveTrainedBpe(trained: TrainedBpe, dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, obj] of [['tokenizer.json', trained.tokenizer], ['tokenizer_config.json', trained.config]] as const)
    writeFileAtomic(path.join(dir, name), (fd) => writeAll(fd, Buffer.from(JSON.stringify(obj, null, 2) + '\n', 'utf8')));
}
