/**
 * Hugging Face model folders: config.json plus the weights as model.safetensors, or as shards listed
 * by model.safetensors.index.json ({"metadata": {"total_size": N}, "weight_map": {key: shard file}}).
 * Reading validates every shard's header and every index entry before any tensor is read, and can
 * read tensors one at a time (openHfModelFolder) so a large folder is never held twice. Writing
 * follows transformers' save_pretrained: the same shard split and file names, the same JSON spelling,
 * each file written atomically.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Tensor } from '../tensor/tensor';
import { writeAll } from './binary';
import { writeFileAtomic } from './atomic';
import { FileFormatError } from './errors';
import { hfJsonString, readJsonFile } from './hf_json';
import { DEFAULT_MAX_SHARD_BYTES, INDEX_FILE, planShards, SHARD_NAME_PATTERN, SINGLE_FILE } from './hf_shards';
import { DTYPE_SIZE, type RawTensor } from './safetensors_dtypes';
import { SafetensorsFile, type TensorInfo } from './safetensors_read';
import { saveSafetensors, type SaveDtype } from './safetensors_write';

export const CONFIG_FILE = 'config.json';
const CONFIG_FORMAT = 'HF config';
const INDEX_FORMAT = 'HF index';

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** config.json as an object; model_type and the rest are the model's business, not checked here. */
export function readHfConfig(file: string): Record<string, unknown> {
  const parsed = readJsonFile(file, CONFIG_FORMAT);
  if (!isPlainObject(parsed))
    throw new FileFormatError(CONFIG_FORMAT, file, `must hold a JSON object, got ${Array.isArray(parsed) ? 'an array' : JSON.stringify(parsed)}`);
  return parsed;
}

/** A shard name from an index must be a plain file name in the folder (no "../", no folders). */
function checkShardName(indexFile: string, key: string, shard: unknown): string {
  if (typeof shard !== 'string' || shard === '' || shard === '.' || shard === '..' || /[/\\\0]/.test(shard))
    throw new FileFormatError(INDEX_FORMAT, indexFile, `weight_map[${JSON.stringify(key)}] must be a file name in the folder, got ${JSON.stringify(shard)}`);
  return shard;
}

/** key -> shard file name, in the index's order. */
function readIndex(indexFile: string): Map<string, string> {
  const parsed = readJsonFile(indexFile, INDEX_FORMAT);
  if (!isPlainObject(parsed)) throw new FileFormatError(INDEX_FORMAT, indexFile, 'must hold a JSON object');
  const map = parsed.weight_map;
  if (!isPlainObject(map)) throw new FileFormatError(INDEX_FORMAT, indexFile, `"weight_map" must be an object of tensor name -> shard file, got ${JSON.stringify(map)}`);
  const out = new Map<string, string>();
  for (const [key, shard] of Object.entries(map)) out.set(key, checkShardName(indexFile, key, shard));
  return out;
}

function describeFolder(dir: string): string {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    return `cannot list the folder: ${(e as Error).message}`;
  }
  const pickles = names.filter((n) => /\.(bin|pt|pth|ckpt)$/.test(n));
  if (pickles.length > 0) return `found ${pickles.join(', ')}: PyTorch pickles are not read here (convert them to safetensors)`;
  return names.length === 0 ? 'the folder is empty' : `the folder holds ${names.slice(0, 10).join(', ')}${names.length > 10 ? ', ...' : ''}`;
}

/** The tensor's location: which file holds it, besides its dtype, shape and offsets. */
export interface HfTensorInfo extends TensorInfo {
  file: string;
}

/**
 * An open model folder: the config, the weight files (validated) and each tensor's location. Tensors
 * are read one at a time with load(); close() when done (each weight file keeps a descriptor open).
 */
export class HfModelFolderReader {
  readonly dir: string;
  readonly config: Record<string, unknown>;
  /** The weight files, relative to dir: [model.safetensors] or the shards in index order of first use. */
  readonly files: string[];
  private readonly open: Map<string, SafetensorsFile>;
  private readonly where: Map<string, string>;

  private constructor(dir: string, config: Record<string, unknown>, open: Map<string, SafetensorsFile>, where: Map<string, string>) {
    this.dir = dir;
    this.config = config;
    this.open = open;
    this.files = [...open.keys()];
    this.where = where;
  }

  /**
   * Reads config.json and opens the weights: model.safetensors if present (transformers prefers it too),
   * else the shards of model.safetensors.index.json. Every shard's header is validated and every index
   * key must be in its shard; tensors a shard holds beyond the index are ignored, as transformers does.
   */
  static open(dir: string): HfModelFolderReader {
    if (typeof dir !== 'string') throw new TypeError(`openHfModelFolder: dir must be a path string, got ${typeof dir}`);
    const config = readHfConfig(path.join(dir, CONFIG_FILE));
    const opened = new Map<string, SafetensorsFile>();
    const where = new Map<string, string>();
    try {
      const single = path.join(dir, SINGLE_FILE);
      const indexFile = path.join(dir, INDEX_FILE);
      if (fs.existsSync(single)) {
        const file = SafetensorsFile.open(single);
        opened.set(SINGLE_FILE, file);
        for (const name of file.names()) where.set(name, SINGLE_FILE);
      } else if (fs.existsSync(indexFile)) {
        for (const [key, shard] of readIndex(indexFile)) {
          let file = opened.get(shard);
          if (file === undefined) {
            const shardPath = path.join(dir, shard);
            if (!fs.existsSync(shardPath))
              throw new FileFormatError(INDEX_FORMAT, indexFile, `tensor ${JSON.stringify(key)} is in shard ${shard}, which is not in the folder (${shardPath})`);
            file = SafetensorsFile.open(shardPath);
            opened.set(shard, file);
          }
          if (!file.has(key))
            throw new FileFormatError('safetensors', file.path, `has no tensor ${JSON.stringify(key)}, which ${INDEX_FILE} places in it`);
          where.set(key, shard);
        }
      } else {
        throw new Error(`openHfModelFolder: ${dir} has no ${SINGLE_FILE} and no ${INDEX_FILE} (${describeFolder(dir)})`);
      }
    } catch (e) {
      for (const f of opened.values()) f.close();
      throw e;
    }
    return new HfModelFolderReader(dir, config, opened, where);
  }

  /** Every tensor name, in file order (one file) or index order (shards). */
  keys(): string[] {
    return [...this.where.keys()];
  }

  has(key: string): boolean {
    return this.where.has(key);
  }

  info(key: string): HfTensorInfo {
    const file = this.fileOf(key);
    return { ...this.open.get(file)!.info(key), file };
  }

  /** The tensor as float32 on the active backend (F16/BF16 and the rest widened, see SafetensorsFile.load). */
  load(key: string): Tensor {
    return this.open.get(this.fileOf(key))!.load(key);
  }

  /** The tensor in its file dtype (F16/BF16 as bit patterns), see SafetensorsFile.loadRaw. */
  loadRaw(key: string): RawTensor {
    return this.open.get(this.fileOf(key))!.loadRaw(key);
  }

  close(): void {
    for (const f of this.open.values()) f.close();
  }

  private fileOf(key: string): string {
    const file = this.where.get(key);
    if (file === undefined) throw new Error(`HfModelFolderReader: ${this.dir} has no tensor named ${JSON.stringify(key)}`);
    return file;
  }
}

/** Opens a model folder for reading tensors one at a time (see HfModelFolderReader). */
export function openHfModelFolder(dir: string): HfModelFolderReader {
  return HfModelFolderReader.open(dir);
}

export interface LoadHfModelFolderOptions {
  /** Only these tensors (each must exist), or those the predicate accepts. Default: all. */
  onlyKeys?: readonly string[] | ((key: string) => boolean);
}

export interface HfModelFolder {
  config: Record<string, unknown>;
  /** float32 tensors on the active backend, by HF parameter name. */
  tensors: Map<string, Tensor>;
  /** The weight files read, relative to the folder. */
  files: string[];
}

/** Reads a model folder's config and (a selection of) its tensors; on an error nothing stays allocated. */
export function loadHfModelFolder(dir: string, opts: LoadHfModelFolderOptions = {}): HfModelFolder {
  const reader = HfModelFolderReader.open(dir);
  const tensors = new Map<string, Tensor>();
  try {
    const only = opts.onlyKeys;
    let keys: string[];
    if (only === undefined) keys = reader.keys();
    else if (typeof only === 'function') keys = reader.keys().filter((k) => only(k));
    else {
      if (!Array.isArray(only)) throw new TypeError('loadHfModelFolder: onlyKeys must be an array of names or a predicate');
      const missing = only.filter((k) => !reader.has(k));
      if (missing.length > 0)
        throw new Error(`loadHfModelFolder: ${dir} has no tensor named ${missing.slice(0, 5).map((k) => JSON.stringify(k)).join(', ')}${missing.length > 5 ? ` (and ${missing.length - 5} more)` : ''}`);
      keys = [...only];
    }
    for (const k of keys) tensors.set(k, reader.load(k));
    return { config: reader.config, tensors, files: reader.files };
  } catch (e) {
    for (const t of tensors.values()) t.dispose();
    throw e;
  } finally {
    reader.close();
  }
}

export interface SaveHfModelFolderOptions {
  /** Largest shard in bytes of tensor data (transformers' max_shard_size). Default 5 GB = 5e9. */
  maxShardSize?: number;
  /** safetensors metadata of every weight file. Default {"format": "pt"}, which transformers expects. */
  metadata?: Record<string, string>;
  /** Stored dtype of the tensors. Default 'F32'. */
  dtype?: SaveDtype;
}

function tensorEntries(tensors: Map<string, Tensor> | Record<string, Tensor>): [string, Tensor][] {
  if (typeof tensors !== 'object' || tensors === null) throw new TypeError('saveHfModelFolder: tensors must be a Map or an object of name -> Tensor');
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  for (const [name, t] of entries) {
    if (!(t instanceof Tensor)) throw new TypeError(`saveHfModelFolder: tensor ${JSON.stringify(name)}: expected a Tensor, got ${t === null ? 'null' : typeof t}`);
    if (t.isDisposed) throw new TypeError(`saveHfModelFolder: tensor ${JSON.stringify(name)}: was disposed`);
  }
  return entries;
}

function writeTextAtomic(file: string, text: string): void {
  writeFileAtomic(file, (fd) => writeAll(fd, Buffer.from(text, 'utf8')));
}

function removeIfPresent(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/**
 * Writes config.json and the weights into dir (created if needed): model.safetensors, or, when the
 * tensors are over maxShardSize, shards and model.safetensors.index.json (see hf_shards.ts). Each
 * file is written atomically; weights go first and config.json last. Weight files of an earlier save
 * that the new layout does not use are removed afterwards (shards as transformers does, and also a
 * stale model.safetensors or index, which a reader would otherwise prefer or follow).
 */
export function saveHfModelFolder(dir: string, config: Record<string, unknown>, tensors: Map<string, Tensor> | Record<string, Tensor>,
  opts: SaveHfModelFolderOptions = {}): void {
  if (typeof dir !== 'string' || dir === '') throw new TypeError('saveHfModelFolder: dir must be a non-empty path string');
  if (!isPlainObject(config)) throw new TypeError(`saveHfModelFolder: config must be an object, got ${Array.isArray(config) ? 'an array' : String(config)}`);
  const maxShard = opts.maxShardSize ?? DEFAULT_MAX_SHARD_BYTES;
  if (typeof maxShard !== 'number' || !(maxShard > 0) || !Number.isFinite(maxShard))
    throw new RangeError(`saveHfModelFolder: maxShardSize must be a positive number of bytes, got ${String(maxShard)}`);
  const dtype = opts.dtype ?? 'F32';
  if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') throw new TypeError(`saveHfModelFolder: dtype must be 'F32', 'F16' or 'BF16', got ${JSON.stringify(dtype)}`);
  const metadata = { format: 'pt', ...(opts.metadata ?? {}) };
  const configText = hfJsonString(config, 'saveHfModelFolder: config');  // refuse a bad config before writing anything
  const entries = tensorEntries(tensors);
  const byName = new Map(entries);
  if (byName.size !== entries.length) throw new TypeError('saveHfModelFolder: duplicate tensor names');
  const plan = planShards(entries.map(([name, t]) => [name, t.size * DTYPE_SIZE[dtype]] as const), maxShard);

  fs.mkdirSync(dir, { recursive: true });
  plan.shards.forEach((names, i) => {
    const shard: Record<string, Tensor> = {};
    for (const n of names) Object.defineProperty(shard, n, { value: byName.get(n)!, enumerable: true });
    saveSafetensors(path.join(dir, plan.files[i]), shard, metadata, { dtype });
  });
  if (plan.files.length > 1) {
    const weightMap: Record<string, string> = {};
    plan.shards.forEach((names, i) => names.forEach((n) => Object.defineProperty(weightMap, n, { value: plan.files[i], enumerable: true })));
    writeTextAtomic(path.join(dir, INDEX_FILE), hfJsonString({ metadata: { total_size: plan.totalSize }, weight_map: weightMap }, 'saveHfModelFolder: index'));
  }
  writeTextAtomic(path.join(dir, CONFIG_FILE), configText);

  const keep = new Set(plan.files);
  if (plan.files.length > 1) removeIfPresent(path.join(dir, SINGLE_FILE));
  else removeIfPresent(path.join(dir, INDEX_FILE));
  for (const name of fs.readdirSync(dir))
    if (SHARD_NAME_PATTERN.test(name) && !keep.has(name)) removeIfPresent(path.join(dir, name));
}
