/**
 * Seeded mutations of file bytes and of JSON documents. Every choice is drawn from a Rng seeded by
 * (format, case index), so case i is the same file on every run and in whichever child process
 * reaches it: a crash report's case number is enough to replay it.
 */

/** mulberry32: small, fast and good enough to pick mutations; not for anything else. */
export class Rng {
  private s: number;

  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  /** Seeded from a string and a number (FNV-1a of the string, mixed with n). */
  static of(tag: string, n: number): Rng {
    let h = 0x811c9dc5;
    for (const c of `${tag}#${n}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193);
    return new Rng(h);
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** A mutated file: its new bytes and what was done, for the report. */
export interface Mutation {
  bytes: Buffer;
  what: string;
}

/** int32 values that find off-by-ones, sign errors and size overflows in header fields. */
export const INTERESTING_INT32 = [0, 1, -1, 2, 3, 7, 8, 255, 256, 4096, 65535, 1 << 24, 0x7fffffff, -0x80000000, 0x40000000, -2];

/** Where the mutations aim: most format bugs are in the header, so half of them land in its first bytes. */
function position(rng: Rng, length: number, headerBytes: number): number {
  return rng.chance(0.5) ? rng.int(Math.min(length, headerBytes)) : rng.int(length);
}

export function flipBits(rng: Rng, src: Buffer, headerBytes: number): Mutation {
  const out = Buffer.from(src);
  if (out.length === 0) return { bytes: out, what: 'flip: empty file' };
  const n = 1 + rng.int(8);
  const at: number[] = [];
  for (let k = 0; k < n; k++) {
    const i = position(rng, out.length, headerBytes);
    out[i] ^= 1 << rng.int(8);
    at.push(i);
  }
  return { bytes: out, what: `flip ${n} bit(s) at bytes ${at.join(', ')}` };
}

export function truncate(rng: Rng, src: Buffer, headerBytes: number): Mutation {
  const keep = rng.chance(0.5) ? rng.int(Math.min(src.length, headerBytes + 16)) : rng.int(src.length);
  return { bytes: src.subarray(0, keep), what: `truncate to ${keep} of ${src.length} bytes` };
}

export function extend(rng: Rng, src: Buffer): Mutation {
  const n = rng.pick([1, 3, 4, 8, 64, 1000]);
  const tail = rng.chance(0.5) ? Buffer.alloc(n) : Buffer.from(Array.from({ length: n }, () => rng.int(256)));
  return { bytes: Buffer.concat([src, tail]), what: `append ${n} ${tail[0] === 0 && tail.every((b) => b === 0) ? 'zero' : 'random'} bytes` };
}

/** Overwrites an aligned int32 in the first `fieldBytes` bytes (a header field) with an interesting value. */
export function setInt32(rng: Rng, src: Buffer, fieldBytes: number): Mutation {
  const out = Buffer.from(src);
  const slots = Math.floor(Math.min(out.length, fieldBytes) / 4);
  if (slots === 0) return { bytes: out, what: 'int32: file too short' };
  const at = 4 * rng.int(slots);
  const v = rng.chance(0.8) ? rng.pick(INTERESTING_INT32) : (rng.int(0x100000000) | 0);
  out.writeInt32LE(v, at);
  return { bytes: out, what: `int32 at byte ${at} = ${v}` };
}

/** One of the generic byte mutations. */
export function mutateBytes(rng: Rng, src: Buffer, headerBytes: number): Mutation {
  switch (rng.int(4)) {
    case 0: return flipBits(rng, src, headerBytes);
    case 1: return truncate(rng, src, headerBytes);
    case 2: return extend(rng, src);
    default: return setInt32(rng, src, headerBytes);
  }
}

// ---- JSON ----

/**
 * Values a field should never hold, or holds only at the edge. Strings starting with RAW: are
 * written as bare JSON text: numbers JSON.parse reads as Infinity or -0, and spellings (NaN) it refuses.
 */
export const ODD_VALUES: unknown[] = [
  0, -1, 1, 0.5, -0.5, 1e308, -1e308, 2 ** 53 + 2, 4294967296, 1e9, 'RAW:1e999', 'RAW:-1e999', 'RAW:-0', 'RAW:NaN',
  '', 'x', '-1', 'F32', true, false, null, [], {}, [1, 'a'], [-1], [1e30], { a: 1 }, 'a'.repeat(1000),
];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** The path to a random value in doc (object keys and array indices), at a random depth. */
function randomPath(rng: Rng, doc: Json): (string | number)[] {
  const path: (string | number)[] = [];
  let node = doc;
  while (node !== null && typeof node === 'object') {
    const keys: (string | number)[] = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
    if (keys.length === 0 || (path.length > 0 && rng.chance(0.3))) break;
    const k = rng.pick(keys);
    path.push(k);
    node = (node as Record<string | number, Json>)[k];
  }
  return path;
}

function parentOf(doc: Json, path: (string | number)[]): Record<string | number, Json> {
  let node = doc as Record<string | number, Json>;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, Json>;
  return node;
}

const RAW_MARK = '"@@RAW@@';

/** JSON text of doc, with RAW: strings written bare. */
function serialize(doc: Json): string {
  return JSON.stringify(doc, (_k, v) => (typeof v === 'string' && v.startsWith('RAW:') ? `@@RAW@@${v.slice(4)}@@` : v))
    .replace(new RegExp(`${RAW_MARK}(.*?)@@"`, 'g'), '$1');
}

/**
 * One edit of a JSON document: a value replaced by an odd one (wrong type, huge, negative, NaN), a key
 * deleted, an array emptied or a number scaled. `prefer` (keys of the format's own fields) draws half
 * the edits to the top-level keys that matter, which random paths into big vocabularies rarely reach.
 */
export function mutateJson(rng: Rng, text: string, prefer: readonly string[] = []): Mutation {
  const doc = JSON.parse(text) as Json;
  const top = doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? Object.keys(doc).filter((k) => prefer.includes(k)) : [];
  const path = top.length > 0 && rng.chance(0.5) ? [rng.pick(top)] : randomPath(rng, doc);
  if (path.length === 0) return { bytes: Buffer.from(serialize(rng.pick(ODD_VALUES) as Json)), what: 'the whole document replaced' };
  const parent = parentOf(doc, path);
  const key = path[path.length - 1];
  const where = path.map(String).join('.');
  const old = parent[key];
  let what: string;
  const op = rng.int(10);
  if (op === 0 && !Array.isArray(parent)) {
    delete parent[key];
    what = `delete ${where}`;
  } else if (op === 1 && typeof old === 'number') {
    parent[key] = old * rng.pick([-1, 2, 1000, 1e6]) + rng.pick([0, 1, 0.5]);
    what = `${where}: ${old} -> ${parent[key]}`;
  } else if (op === 2 && Array.isArray(old)) {
    parent[key] = rng.chance(0.5) ? [] : [...old, ...old];
    what = `${where}: array ${(parent[key] as Json[]).length === 0 ? 'emptied' : 'doubled'}`;
  } else {
    const v = rng.pick(ODD_VALUES) as Json;
    parent[key] = v;
    what = `${where} = ${JSON.stringify(v)?.slice(0, 40)}`;
  }
  return { bytes: Buffer.from(serialize(doc)), what };
}
