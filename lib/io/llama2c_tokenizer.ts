/**
 * The llama2.c tokenizer (tokenizer.bin / tok512.bin): int32 max_token_length, then per token
 * float32 score, int32 byte length, the bytes. encode and decode follow llama2.c's run.c exactly
 * (see the notes on each); pieces are compared as bytes, held as latin1 strings (one char per byte)
 * so that pieces that are not valid UTF-8 on their own still match byte for byte.
 */
import * as fs from 'fs';
import { FileFormatError } from './errors';
import { mergeByScore } from './llama2c_bpe';
import type { Tokenizer } from './tokenizer';

export const LLAMA2C_TOKENIZER_FORMAT = 'llama2.c tokenizer';
export const BOS_ID = 1;
export const EOS_ID = 2;
/** Byte b falls back to token 3 + b (<0x00> is id 3): ids 0..2 are <unk>, <s>, </s>. */
export const BYTE_FALLBACK_OFFSET = 3;

export interface EncodeOptions {
  /** Prepend BOS (id 1). Default true. */
  bos?: boolean;
  /** Append EOS (id 2). Default false. */
  eos?: boolean;
}

const latin1 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');

// C's isprint || isspace in the "C" locale: what llama2.c's safe_printf lets through as a lone byte.
const printableOrSpace = (b: number) => (b >= 0x20 && b <= 0x7e) || (b >= 0x09 && b <= 0x0d);

export class Llama2cTokenizer implements Tokenizer {
  readonly bosId = BOS_ID;
  readonly eosId = EOS_ID;
  /** llama2.c (like Llama's sentencepiece model) has no padding token. */
  readonly padId = null;
  readonly pieces: readonly Uint8Array[];
  readonly scores: Float32Array;
  readonly maxTokenLength: number;
  private readonly keys: string[];
  private readonly index = new Map<string, number>();
  private readonly longestPiece: number;

  constructor(pieces: readonly Uint8Array[], scores: ArrayLike<number>, maxTokenLength: number) {
    if (pieces.length !== scores.length) throw new RangeError(`Llama2cTokenizer: ${pieces.length} pieces but ${scores.length} scores`);
    this.pieces = pieces;
    this.scores = Float32Array.from(scores);
    this.maxTokenLength = maxTokenLength;
    this.keys = pieces.map(latin1);
    this.longestPiece = pieces.reduce((m, p) => Math.max(m, p.byteLength), 0);
    // Duplicate pieces: the lowest id wins (llama2.c's bsearch would pick any one of them).
    this.keys.forEach((k, id) => {
      if (!this.index.has(k)) this.index.set(k, id);
    });
  }

  /**
   * Reads a tokenizer file. With vocabSize, exactly that many tokens must be there and nothing after
   * them (llama2.c takes the count from the model); without it, tokens are read to the end.
   */
  static load(path: string, vocabSize?: number): Llama2cTokenizer {
    const buf = fs.readFileSync(path);
    const fail = (problem: string): never => {
      throw new FileFormatError(LLAMA2C_TOKENIZER_FORMAT, path, problem);
    };
    if (buf.byteLength < 4) fail(`file is ${buf.byteLength} bytes, shorter than the 4-byte max_token_length`);
    const maxTokenLength = buf.readInt32LE(0);
    if (maxTokenLength <= 0) fail(`max_token_length = ${maxTokenLength} must be positive`);
    const pieces: Uint8Array[] = [];
    const scores: number[] = [];
    let pos = 4;
    while (vocabSize === undefined ? pos < buf.byteLength : pieces.length < vocabSize) {
      const i = pieces.length;
      if (pos + 8 > buf.byteLength)
        fail(`truncated: token ${i} needs its score and length at bytes ${pos}..${pos + 8} but the file has ${buf.byteLength} bytes` +
          (vocabSize !== undefined ? ` (expected ${vocabSize} tokens)` : ''));
      const len = buf.readInt32LE(pos + 4);
      if (len < 0 || len > maxTokenLength) fail(`token ${i} has length ${len}, outside 0..max_token_length (${maxTokenLength})`);
      if (pos + 8 + len > buf.byteLength) fail(`truncated: token ${i} needs bytes ${pos + 8}..${pos + 8 + len} but the file has ${buf.byteLength} bytes`);
      scores.push(buf.readFloatLE(pos));
      pieces.push(Uint8Array.prototype.slice.call(buf, pos + 8, pos + 8 + len));
      pos += 8 + len;
    }
    if (pos !== buf.byteLength) fail(`${buf.byteLength - pos} bytes follow the ${vocabSize} tokens`);
    // No tokens at all (a file cut after max_token_length): nothing could be encoded or decoded.
    if (pieces.length === 0) fail('has no tokens (expected at least <unk>, <s>, </s>)');
    return new Llama2cTokenizer(pieces, scores, maxTokenLength);
  }

  get vocabSize(): number {
    return this.pieces.length;
  }

  /** The id of the token spelled exactly so (a string is taken as UTF-8), or -1. */
  lookup(piece: string | Uint8Array): number {
    return this.index.get(typeof piece === 'string' ? latin1(Buffer.from(piece, 'utf8')) : latin1(piece)) ?? -1;
  }

  /**
   * llama2.c's encode: optional BOS; a " " token when the text is non-empty (sentencepiece's dummy
   * prefix); each UTF-8 character as its token if the vocab has it, else its bytes as <0xXX> tokens
   * (llama2.c's grouping: a lead byte plus following continuation bytes, at most 4 bytes a group);
   * then merges (see llama2c_bpe.ts); optional EOS. Bytes may be passed to encode invalid UTF-8.
   * One difference: a NUL byte ends the text in C; here it is encoded like any other byte.
   */
  encode(text: string | Uint8Array, opts: EncodeOptions = {}): number[] {
    const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
    const tokens: number[] = [];
    if (opts.bos ?? true) tokens.push(BOS_ID);
    if (bytes.byteLength > 0) {
      const space = this.index.get(' ');
      if (space === undefined) throw new Error('Llama2cTokenizer.encode: the vocab has no " " token for the dummy prefix');
      tokens.push(space);
    }
    let len = 0;
    for (let i = 0; i < bytes.byteLength; i++) {
      if ((bytes[i] & 0xc0) !== 0x80) len = 0;  // a lead or ASCII byte starts a new character
      len++;
      const nextIsContinuation = i + 1 < bytes.byteLength && (bytes[i + 1] & 0xc0) === 0x80;
      if (nextIsContinuation && len < 4) continue;
      const group = bytes.subarray(i + 1 - len, i + 1);
      const id = this.index.get(latin1(group));
      if (id !== undefined) tokens.push(id);
      else for (const b of group) tokens.push(this.byteToken(b));
      len = 0;
    }
    const merged = mergeByScore(tokens, (a, b) => this.pairId(a, b), this.scores);
    if (opts.eos ?? false) merged.push(EOS_ID);
    return merged;
  }

  /**
   * llama2.c's decode: the piece's bytes, without its leading space right after BOS (sentencepiece
   * drops the dummy prefix), and a "<0xXX>" piece as the raw byte XX (like C's sscanf "<0x%02hhX>",
   * the prefix "<0x" and one or two hex digits are what count).
   */
  piece(prevToken: number, token: number): Uint8Array {
    this.checkId(token, 'piece');
    let p = this.pieces[token];
    if (prevToken === BOS_ID && p[0] === 0x20) p = p.subarray(1);
    const m = /^<0x([0-9A-Fa-f]{1,2})/.exec(latin1(p));
    return m ? Uint8Array.of(parseInt(m[1], 16)) : p;
  }

  /**
   * decode(ids): the text of ids, as decodeAll(ids) (the Tokenizer interface).
   * decode(prevToken, token): what llama2.c prints for `token` after `prevToken`, as decodeToken.
   */
  decode(ids: readonly number[]): string;
  decode(prevToken: number, token: number): string;
  decode(a: readonly number[] | number, token?: number): string {
    if (Array.isArray(a)) return this.decodeAll(a);
    if (typeof a !== 'number' || typeof token !== 'number')
      throw new TypeError('Llama2cTokenizer.decode: expected (ids: number[]) or (prevToken: number, token: number)');
    return this.decodeToken(a, token);
  }

  /**
   * What llama2.c prints for `token` after `prevToken` (its safe_printf): the piece, but a lone byte
   * that is neither printable ASCII nor whitespace prints nothing. A character split over byte
   * tokens therefore prints nothing here, as in llama2.c; use decode(ids) for text.
   */
  decodeToken(prevToken: number, token: number): string {
    const p = this.piece(prevToken, token);
    if (p.byteLength === 0 || (p.byteLength === 1 && !printableOrSpace(p[0]))) return '';
    return Buffer.from(p).toString('utf8');
  }

  /**
   * The text that ids stand for: the pieces' bytes joined, then read as UTF-8 (so characters split
   * over byte tokens come back whole). The start counts as following BOS, so the dummy-prefix space
   * is dropped with or without a BOS; BOS and EOS themselves are skipped unless keepSpecial.
   * decodeAll(encode(text)) === text.
   */
  decodeAll(ids: readonly number[], opts: { keepSpecial?: boolean } = {}): string {
    const parts: Uint8Array[] = [];
    let prev = BOS_ID;
    for (const id of ids) {
      if (opts.keepSpecial || (id !== BOS_ID && id !== EOS_ID)) parts.push(this.piece(prev, id));
      prev = id;
    }
    return Buffer.concat(parts).toString('utf8');
  }

  private pairId(a: number, b: number): number {
    const ka = this.keys[a], kb = this.keys[b];
    if (ka.length + kb.length > this.longestPiece) return -1;  // cannot be a piece: skip building the string
    return this.index.get(ka + kb) ?? -1;
  }

  private byteToken(b: number): number {
    const id = b + BYTE_FALLBACK_OFFSET;
    if (id >= this.vocabSize) throw new Error(`Llama2cTokenizer.encode: byte 0x${b.toString(16)} needs fallback token ${id} but the vocab has ${this.vocabSize}`);
    return id;
  }

  private checkId(token: number, op: string): void {
    if (!Number.isInteger(token) || token < 0 || token >= this.vocabSize)
      throw new RangeError(`Llama2cTokenizer.${op}: token ${token} is outside 0..${this.vocabSize - 1}`);
  }
}

/** Reads a llama2.c tokenizer file (see Llama2cTokenizer.load). */
export function loadLlama2cTokenizer(path: string, vocabSize?: number): Llama2cTokenizer {
  return Llama2cTokenizer.load(path, vocabSize);
}
