/**
 * Hugging Face Hub ids for fromPretrained ('Qwen/Qwen2.5-0.5B'), resolved as huggingface_hub resolves them
 * (file_download.py): an existing local path is used as is; otherwise the id is looked up in the Hugging
 * Face cache, laid out as Python writes it, and what is missing is downloaded into that same cache.
 *
 * The cache (HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, HF_HOME defaulting to
 * $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface):
 *
 *   models--org--name/
 *     refs/<revision>                  the commit a branch or tag resolved to (40 hex digits, no newline)
 *     blobs/<etag>                     file contents, named by the Hub's etag (sha256 for LFS files)
 *     snapshots/<commit>/<file>        relative symlinks into ../../blobs/ (a copy where links fail)
 *     .no_exist/<commit>/<file>        empty: the Hub answered 404 for this optional file
 *
 * A download asks {endpoint}/{repo}/resolve/{revision}/{file} (HF_ENDPOINT, default https://huggingface.co),
 * takes the commit from X-Repo-Commit and the blob name from X-Linked-Etag (an LFS redirect) or ETag, pins
 * the following files to that commit, and writes each blob to blobs/<etag>.<random>.incomplete before
 * renaming it into place, so an interrupted download never leaves a file that passes for complete.
 * Requests go through node:http / node:https (not fetch, whose first use in a fresh process costs ~0.3 s).
 * HF_TOKEN (or the token file huggingface-cli login writes) is sent as `Authorization: Bearer`, and
 * dropped on a redirect to another host (the CDN); HF_HUB_OFFLINE=1 never touches the network.
 *
 * A snapshot that already holds every file a loader needs is used with no request at all (unlike Python,
 * which asks the Hub for the branch's newest commit each time): pass a new `revision`, or remove the
 * refs file, to pick up a newer commit.
 *
 * The loaders are synchronous, so resolveModelPath runs each download step in a child Node process
 * (spawnSync; its progress bar goes straight to stderr); resolveModelPathAsync does the same in this
 * process.
 */
import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** Which files a loader needs: a model folder, its config only, a tokenizer, a PEFT adapter. */
export type HubFileSet = 'model' | 'config' | 'tokenizer' | 'adapter';

export interface HubOptions {
  /** A branch, tag or commit hash (default 'main'). */
  revision?: string;
  /** The cache folder (default: HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** A Hub token (default: HF_TOKEN, else the token file); false sends none. */
  token?: string | false;
  /** Use the cache only (default: HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE set to 1, on, yes or true). */
  offline?: boolean;
  /** The Hub (default: HF_ENDPOINT, else https://huggingface.co). */
  endpoint?: string;
  /** A progress bar on stderr while downloading (default: on unless HF_HUB_DISABLE_PROGRESS_BARS is set). */
  progress?: boolean;
}

export interface ResolveModelPathOptions extends HubOptions {
  /** The files to have (default 'model'); a list names required files. */
  files?: HubFileSet | readonly string[];
}

const DEFAULT_ENDPOINT = 'https://huggingface.co';
const COMMIT_HASH = /^[0-9a-f]{40}$/;
const WEIGHTS = 'model.safetensors';
const WEIGHTS_INDEX = 'model.safetensors.index.json';

// ---------------------------------------------------------------------------------------------------------
// Settings from the environment, as huggingface_hub's constants.py reads them.

function env(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
}

function isTrue(v: string | undefined): boolean {
  return v !== undefined && ['1', 'ON', 'YES', 'TRUE'].includes(v.toUpperCase());
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

/** HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. */
export function hfHome(): string {
  const home = env('HF_HOME');
  if (home !== undefined) return expandHome(home);
  return path.join(expandHome(env('XDG_CACHE_HOME') ?? path.join(os.homedir(), '.cache')), 'huggingface');
}

/** The hub cache folder: HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub. */
export function hubCacheDir(): string {
  const dir = env('HF_HUB_CACHE') ?? env('HUGGINGFACE_HUB_CACHE');
  return dir !== undefined ? expandHome(dir) : path.join(hfHome(), 'hub');
}

export function hubOffline(): boolean {
  return isTrue(env('HF_HUB_OFFLINE') ?? env('TRANSFORMERS_OFFLINE'));
}

/** HF_TOKEN (or the legacy HUGGING_FACE_HUB_TOKEN), else the file `huggingface-cli login` writes. */
function envToken(): string | undefined {
  const t = env('HF_TOKEN') ?? env('HUGGING_FACE_HUB_TOKEN');
  if (t !== undefined) return t.trim();
  try {
    const text = fs.readFileSync(expandHome(env('HF_TOKEN_PATH') ?? path.join(hfHome(), 'token')), 'utf8').trim();
    return text === '' ? undefined : text;
  } catch {
    return undefined;
  }
}

interface Settings {
  endpoint: string;
  cacheDir: string;
  revision: string;
  token: string | undefined;
  offline: boolean;
  progress: boolean;
}

function settingsOf(o: HubOptions): Settings {
  const revision = o.revision ?? 'main';
  if (typeof revision !== 'string' || revision === '' || revision.split('/').some((s) => s === '' || s === '.' || s === '..'))
    throw new Error(`resolveModelPath: bad revision ${JSON.stringify(revision)} (a branch, tag or commit hash)`);
  return {
    endpoint: (o.endpoint ?? env('HF_ENDPOINT') ?? DEFAULT_ENDPOINT).replace(/\/+$/, ''),
    cacheDir: path.resolve(expandHome(o.cacheDir ?? hubCacheDir())),
    revision,
    token: o.token === false ? undefined : o.token ?? envToken(),
    offline: o.offline ?? hubOffline(),
    progress: o.progress ?? !isTrue(env('HF_HUB_DISABLE_PROGRESS_BARS')),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Ids and the cache layout.

/** Whether a string is a Hub repo id ('org/name' or a legacy 'name'), by huggingface_hub's validate_repo_id. */
export function isHubId(s: string): boolean {
  if (typeof s !== 'string' || s.includes('--') || s.includes('..') || s.endsWith('.git')) return false;
  const parts = s.split('/');
  return parts.length <= 2 && parts.every((p) => p.length <= 96 && /^\w(?:[\w.-]*\w)?$/.test(p));
}

/** The repo's folder in the cache: models--org--name (huggingface_hub's repo_folder_name). */
export function hubRepoFolder(repoId: string, cacheDir: string = hubCacheDir()): string {
  return path.join(cacheDir, ['models', ...repoId.split('/')].join('--'));
}

/** A file name from the Hub or an index: relative, no '..', no backslashes. */
function checkRelative(repoId: string, name: string): string {
  if (typeof name !== 'string' || name === '' || name.startsWith('/') || name.includes('\\') || name.split('/').some((s) => s === '' || s === '.' || s === '..'))
    throw new Error(`${repoId}: refusing file name ${JSON.stringify(name)} (expected a path inside the repository)`);
  return name;
}

class RepoCache {
  constructor(readonly repoId: string, readonly folder: string) {}

  refPath(revision: string): string {
    return path.join(this.folder, 'refs', ...revision.split('/'));
  }

  /** The commit a revision stands for in the cache (a commit hash stands for itself), or null. */
  commitOf(revision: string): string | null {
    if (COMMIT_HASH.test(revision)) return revision;
    try {
      const c = fs.readFileSync(this.refPath(revision), 'utf8').trim();
      return COMMIT_HASH.test(c) ? c : null;
    } catch {
      return null;
    }
  }

  snapshot(commit: string): string {
    return path.join(this.folder, 'snapshots', commit);
  }

  pointer(commit: string, file: string): string {
    return path.join(this.snapshot(commit), ...file.split('/'));
  }

  /** 'present' (a file, or a link to an existing blob), 'absent' (a .no_exist mark) or 'unknown'. */
  lookup(commit: string, file: string): 'present' | 'absent' | 'unknown' {
    if (fs.existsSync(this.pointer(commit, file))) return 'present';
    return fs.existsSync(path.join(this.folder, '.no_exist', commit, ...file.split('/'))) ? 'absent' : 'unknown';
  }

  writeRef(revision: string, commit: string): void {
    if (revision === commit) return;
    const ref = this.refPath(revision);
    try {
      if (fs.readFileSync(ref, 'utf8') === commit) return;
    } catch {
      /* not there yet */
    }
    fs.mkdirSync(path.dirname(ref), { recursive: true });
    const tmp = `${ref}.${crypto.randomBytes(4).toString('hex')}.tmp`;
    fs.writeFileSync(tmp, commit);
    fs.renameSync(tmp, ref);
  }

  markMissing(commit: string, file: string): void {
    const mark = path.join(this.folder, '.no_exist', commit, ...file.split('/'));
    try {
      fs.mkdirSync(path.dirname(mark), { recursive: true });
      fs.closeSync(fs.openSync(mark, 'a'));
    } catch {
      /* best effort, as in huggingface_hub */
    }
  }

  /** snapshots/<commit>/<file> -> ../../blobs/<etag> (relative; a copy where symlinks fail). */
  link(commit: string, file: string, etag: string): void {
    const blob = path.join(this.folder, 'blobs', etag);
    const pointer = this.pointer(commit, file);
    fs.mkdirSync(path.dirname(pointer), { recursive: true });
    try {
      fs.unlinkSync(pointer);
    } catch {
      /* not there */
    }
    try {
      fs.symlinkSync(path.relative(path.dirname(pointer), blob), pointer);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && fs.realpathSync(pointer) === fs.realpathSync(blob)) return;
      if (code !== 'EPERM' && code !== 'EACCES' && code !== 'ENOTSUP') throw e;
      fs.copyFileSync(blob, pointer);
    }
  }

  /** The shards model.safetensors.index.json names, in a snapshot. */
  shardsOf(commit: string): string[] {
    const file = this.pointer(commit, WEIGHTS_INDEX);
    let index: unknown;
    try {
      index = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      throw new Error(`${this.repoId}: cannot read ${file}: ${(e as Error).message}`);
    }
    const map = (index as { weight_map?: unknown } | null)?.weight_map;
    if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new Error(`${this.repoId}: ${file} has no weight_map object`);
    const shards = [...new Set(Object.values(map as Record<string, unknown>))];
    if (shards.some((s) => typeof s !== 'string')) throw new Error(`${this.repoId}: ${file}: weight_map values must be file names`);
    return (shards as string[]).map((s) => checkRelative(this.repoId, s)).sort();
  }
}

// ---------------------------------------------------------------------------------------------------------
// What a loader needs, checked against a snapshot.

interface CacheState {
  /** Every required file is there. */
  usable: boolean;
  /** usable, and every optional file is there or marked absent: nothing to ask the Hub. */
  complete: boolean;
  missing: string[];
}

const TOKENIZER_OPTIONAL = ['tokenizer_config.json', 'chat_template.jinja'];

function cacheState(cache: RepoCache, commit: string | null, files: HubFileSet | readonly string[]): CacheState {
  if (commit === null) return { usable: false, complete: false, missing: [] };
  const has = (f: string) => cache.lookup(commit, f) === 'present';
  const known = (f: string) => cache.lookup(commit, f) !== 'unknown';
  let required: string[] = [];
  let optional: string[] = [];
  const missing: string[] = [];
  if (files === 'model' || files === 'config') {
    required = ['config.json'];
    if (files === 'model') {
      optional = ['generation_config.json'];
      if (!has(WEIGHTS)) {
        if (!has(WEIGHTS_INDEX)) missing.push(`${WEIGHTS} (or ${WEIGHTS_INDEX} and its shards)`);
        else required.push(...cache.shardsOf(commit));
      }
    }
  } else if (files === 'tokenizer') {
    required = ['tokenizer.json'];
    optional = TOKENIZER_OPTIONAL;
  } else if (files === 'adapter') {
    required = ['adapter_config.json', 'adapter_model.safetensors'];
  } else required = [...files];
  missing.push(...required.filter((f) => !has(f)));
  const usable = missing.length === 0;
  return { usable, complete: usable && optional.every(known), missing };
}

// ---------------------------------------------------------------------------------------------------------
// Download steps: the planner below yields jobs; downloadJob runs one (in a child process, or here).

interface JobFile {
  name: string;
}

/** One run of downloads against the Hub; what downloadJob gets. */
interface Job {
  endpoint: string;
  repoId: string;
  revision: string;
  token: string | null;
  blobsDir: string;
  files: JobFile[];
  progress: boolean;
  /** Seconds a connection may stay idle: waiting for an answer, or between two pieces of a body (HF_HUB_DOWNLOAD_TIMEOUT). */
  downloadTimeout: number;
  /** Running in a child process of its own (then a signal removes the partial file before exiting). */
  child: boolean;
}

interface FileResult {
  name: string;
  /** 200: in blobs/<etag> now; 404: not in the repository at this commit. */
  status: 200 | 404;
  commit: string | null;
  etag?: string;
  size?: number;
}

interface JobResult {
  commit: string | null;
  files: FileResult[];
  error?: { name: string; url: string; message: string; status?: number; code?: string };
}

/**
 * Downloads a job's files into blobs/. Self-contained (it is also run as the source of a child process:
 * no imports from outside its body). Stops at the first error, reporting it in the result.
 */
async function downloadJob(job: Job): Promise<JobResult> {
  const fs = require('fs') as typeof import('fs');
  const path = require('path') as typeof import('path');
  const crypto = require('crypto') as typeof import('crypto');
  const result: JobResult = { commit: null, files: [] };
  let revision = job.revision;
  let partial: string | null = null;
  if (job.child) {
    const cleanUp = () => {
      if (partial !== null) try { fs.unlinkSync(partial); } catch { /* gone */ }
      process.exit(130);
    };
    process.on('SIGINT', cleanUp);
    process.on('SIGTERM', cleanUp);
  }
  const hubHost = new URL(job.endpoint).host;
  const isRedirect = (s: number) => s === 301 || s === 302 || s === 303 || s === 307 || s === 308;
  const isRelative = (loc: string) => !/^[a-z][a-z0-9+.-]*:/i.test(loc) && !loc.startsWith('//');
  const normalizeEtag = (e: string | null) => (e === null ? null : e.replace(/^W\//, '').replace(/^"+|"+$/g, ''));
  const messageOf = (e: unknown): string => {
    const err = e as { message?: string; code?: string };
    return err?.code && !String(err.message).includes(err.code) ? `${err.message} (${err.code})` : String(err?.message ?? e);
  };
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  const human = (n: number) => (n >= 2 ** 20 ? mib(n) : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);
  const duration = (s: number) => {
    if (!Number.isFinite(s) || s < 0) return '?';
    const r = Math.round(s), two = (n: number) => String(n).padStart(2, '0');
    return r >= 3600 ? `${Math.floor(r / 3600)}:${two(Math.floor((r % 3600) / 60))}:${two(r % 60)}` : `${Math.floor(r / 60)}:${two(r % 60)}`;
  };

  type Answer = import('http').IncomingMessage;
  /** A GET (node:http / node:https: they load faster than fetch in a fresh process); no redirect is followed. */
  const get = (url: string, headers: Record<string, string>) => new Promise<Answer>((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? require('https') as typeof import('https') : u.protocol === 'http:' ? require('http') as typeof import('http') : null;
    if (mod === null) return reject(new Error(`unsupported protocol ${u.protocol}`));
    const req = mod.get(u, { headers }, resolve);
    // A socket idle this long (waiting for the answer, or between two pieces of the body) is given up.
    req.setTimeout(job.downloadTimeout * 1000, () => req.destroy(new Error(`no data for ${job.downloadTimeout} s (HF_HUB_DOWNLOAD_TIMEOUT)`)));
    req.on('error', reject);
  });
  const header = (res: Answer, name: string): string | null => {
    const v = res.headers[name];
    return v === undefined ? null : Array.isArray(v) ? v[0] : v;
  };
  const discard = (res: Answer | null) => {
    if (res !== null && !res.complete) res.destroy();
  };

  for (const f of job.files) {
    const url = `${job.endpoint}/${job.repoId}/resolve/${encodeURIComponent(revision)}/${f.name.split('/').map(encodeURIComponent).join('/')}`;
    const fail = (message: string, extra: { status?: number; code?: string } = {}): JobResult => {
      result.error = { name: f.name, url, message, ...extra };
      return result;
    };
    let res: Answer | null = null;
    try {
      // The Hub's answer (a file, or an LFS redirect to the CDN) carries the metadata; relative redirects
      // (a renamed repository) are followed first, keeping the token, as huggingface_hub does.
      let current = url;
      let meta: Answer | null = null;
      let sendToken = job.token !== null;
      let skip = false;
      for (let hop = 0; ; hop++) {
        if (hop > 10) return fail('too many redirects');
        const headers: Record<string, string> = { 'user-agent': 'peftjs; hf_hub/compatible', 'accept-encoding': 'identity' };
        if (sendToken) headers.authorization = `Bearer ${job.token}`;
        res = await get(current, headers);
        const location = header(res, 'location');
        if (isRedirect(res.statusCode ?? 0) && location !== null) {
          const next = new URL(location, current);
          if (meta === null && !isRelative(location)) meta = res;
          if (next.host !== hubHost) sendToken = false;  // a signed CDN URL: the token stays with the Hub
          res.resume();
          current = next.href;
          if (meta !== null) {
            // The metadata is known: skip the body when the blob is already here.
            const etag = normalizeEtag(header(meta, 'x-linked-etag') ?? header(meta, 'etag'));
            if (etag !== null && fs.existsSync(path.join(job.blobsDir, etag))) {
              skip = true;
              break;
            }
          }
          continue;
        }
        if (meta === null) meta = res;
        break;
      }
      const status = meta!.statusCode ?? 0;
      const code = header(meta!, 'x-error-code') ?? undefined;
      const commit = header(meta!, 'x-repo-commit');
      if (status === 404 && (code === undefined || code === 'EntryNotFound')) {
        discard(res);
        result.files.push({ name: f.name, status: 404, commit: commit ?? result.commit });
        continue;
      }
      if (status >= 400) {
        discard(res);
        return fail(`HTTP ${status}${code ? ` (${code})` : ''}`, { status, code });
      }
      if (commit === null || !/^[0-9a-f]{40}$/.test(commit)) {
        discard(res);
        return fail(`the answer has no X-Repo-Commit header (is ${job.endpoint} a Hugging Face Hub?)`);
      }
      const etag = normalizeEtag(header(meta!, 'x-linked-etag') ?? header(meta!, 'etag'));
      if (etag === null || etag === '' || !/^[\w.-]+$/.test(etag)) {
        discard(res);
        return fail(`the answer has no usable ETag (${JSON.stringify(etag)})`);
      }
      if (result.commit === null) result.commit = commit;
      if (!/^[0-9a-f]{40}$/.test(revision)) revision = commit;  // the other files come from the same commit
      const blob = path.join(job.blobsDir, etag);
      if (skip || fs.existsSync(blob)) {
        discard(res);
        result.files.push({ name: f.name, status: 200, commit, etag, size: fs.statSync(blob).size });
        continue;
      }
      const body = res!;
      if (body.statusCode !== 200) {
        discard(body);
        return fail(`downloading from ${current}: HTTP ${body.statusCode}`, { status: body.statusCode });
      }
      const linkedSize = header(meta!, 'x-linked-size');
      const length = header(body, 'content-length');
      const expected = linkedSize !== null ? Number(linkedSize) : length !== null ? Number(length) : NaN;
      fs.mkdirSync(job.blobsDir, { recursive: true });
      const tmp = path.join(job.blobsDir, `${etag}.${crypto.randomBytes(4).toString('hex')}.incomplete`);
      partial = tmp;
      let fd: number | null = fs.openSync(tmp, 'w');
      let done = 0;
      const start = Date.now();
      let lastDraw = 0;
      const label = `${job.repoId}/${f.name}`;
      const tty = job.progress && process.stderr.isTTY === true;
      const draw = (final: boolean) => {
        if (!job.progress) return;
        const elapsed = (Date.now() - start) / 1000;
        if (!tty) {
          if (final) process.stderr.write(`downloaded ${label} (${human(done)} in ${elapsed.toFixed(1)}s)\n`);
          return;
        }
        const now = Date.now();
        if (!final && now - lastDraw < 100) return;
        lastDraw = now;
        const rate = elapsed > 0 ? done / elapsed : 0;
        const total = Number.isFinite(expected) && expected > 0 ? expected : NaN;
        const frac = Number.isFinite(total) ? Math.min(1, done / total) : 0;
        const width = 24, filled = Math.round(frac * width);
        const bar = Number.isFinite(total) ? `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${mib(done)}/${mib(total)}` : mib(done);
        const eta = rate > 0 && Number.isFinite(total) ? (total - done) / rate : NaN;
        process.stderr.write(`\r${label} ${bar} | ${mib(rate)}/s | ETA ${duration(final ? 0 : eta)}\x1b[K${final ? '\n' : ''}`);
      };
      try {
        if (job.progress && !tty) process.stderr.write(`downloading ${label}${Number.isFinite(expected) ? ` (${human(expected)})` : ''}\n`);
        for await (const chunk of body as AsyncIterable<Buffer>) {
          for (let off = 0; off < chunk.length;) off += fs.writeSync(fd, chunk, off, chunk.length - off);
          done += chunk.length;
          draw(false);
        }
        if (!body.complete) throw new Error('the connection closed early');
        if (Number.isFinite(expected) && done !== expected) throw new Error(`got ${done} of ${expected} bytes`);
        fs.fsyncSync(fd);
        fs.closeSync(fd);
        fd = null;
        fs.renameSync(tmp, blob);
        partial = null;
        draw(true);
      } catch (e) {
        if (tty) process.stderr.write('\n');
        return fail(`download interrupted after ${human(done)}${Number.isFinite(expected) ? ` of ${human(expected)}` : ''}: ${messageOf(e)}`);
      } finally {
        if (fd !== null) fs.closeSync(fd);
        if (partial !== null) {
          try { fs.unlinkSync(partial); } catch { /* gone */ }
          partial = null;
        }
      }
      result.files.push({ name: f.name, status: 200, commit, etag, size: done });
    } catch (e) {
      discard(res);
      return fail(messageOf(e));
    }
  }
  return result;
}

/** Runs a job in a child Node process and waits for it (the loaders are synchronous). */
function runJobSync(job: Job): JobResult {
  // downloadJob's source is compiled JavaScript here (ts-jest or tsc output), self-contained by design.
  const script = `const job = JSON.parse(require('fs').readFileSync(0, 'utf8'));\n(${downloadJob.toString()})(job).then(` +
    '(r) => process.stdout.write(JSON.stringify(r), () => process.exit(0)), ' +
    "(e) => process.stdout.write(JSON.stringify({ commit: null, files: [], error: { name: '', url: '', message: String((e && e.stack) || e) } }), () => process.exit(0)));";
  const child = spawnSync(process.execPath, ['-e', script], {
    input: JSON.stringify({ ...job, child: true }),
    stdio: ['pipe', 'pipe', job.progress ? 'inherit' : 'pipe'],
    maxBuffer: 16 * 2 ** 20,
    windowsHide: true,
  });
  if (child.error) throw new Error(`${job.repoId}: cannot start the download process: ${child.error.message}`);
  const out = child.stdout?.toString('utf8') ?? '';
  try {
    return JSON.parse(out) as JobResult;
  } catch {
    const why = child.signal ? `killed by ${child.signal}` : `exit code ${child.status}`;
    const err = child.stderr ? child.stderr.toString('utf8').trim().split('\n').slice(-5).join('\n') : '';
    throw new Error(`${job.repoId}: the download process failed (${why})${err ? `: ${err}` : ''}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// The planner.

function describeError(s: Settings, repoId: string, e: NonNullable<JobResult['error']>): string {
  const where = `${repoId} (revision ${s.revision}): ${e.name ? `${e.name}: ` : ''}`;
  if (e.status === 401 || e.status === 403 || e.code === 'RepoNotFound' || e.code === 'GatedRepo') {
    const auth = s.token === undefined
      ? 'set HF_TOKEN (or pass token) to a token with access if it is private or gated'
      : 'the token sent has no access to it';
    return `${where}${e.url} answered ${e.message}: the repository does not exist, or ${auth}`;
  }
  if (e.code === 'RevisionNotFound') return `${where}${e.url} answered ${e.message}: no revision '${s.revision}' in ${repoId}`;
  return `${where}${e.url}: ${e.message}`;
}

/** A download step of the plan: the files to ask for and which of them must exist. */
interface Step {
  files: string[];
  required: Set<string>;
}

const step = (required: string[], optional: string[] = []): Step => ({ files: [...required, ...optional], required: new Set(required) });

/** The steps for a file set; each receives what the previous one found. */
function* stepsFor(files: HubFileSet | readonly string[], cache: RepoCache, commit: () => string): Generator<Step, void, JobResult> {
  if (files === 'model') {
    const r = yield step(['config.json'], [WEIGHTS, 'generation_config.json']);
    if (r.files.find((f) => f.name === WEIGHTS)?.status === 404) {
      yield step([WEIGHTS_INDEX]);
      yield step(cache.shardsOf(commit()));
    }
  } else if (files === 'config') yield step(['config.json']);
  else if (files === 'tokenizer') yield step(['tokenizer.json'], TOKENIZER_OPTIONAL);
  else if (files === 'adapter') yield step(['adapter_config.json', 'adapter_model.safetensors']);
  else yield step([...files]);
}

/** The resolution, yielding the download jobs it needs and returning the local folder. */
function* resolveSteps(idOrPath: string, options: ResolveModelPathOptions): Generator<Job, string, JobResult> {
  if (typeof idOrPath !== 'string') throw new TypeError(`resolveModelPath: expected a path or a Hub id, got ${typeof idOrPath}`);
  if (fs.existsSync(idOrPath) || !isHubId(idOrPath)) return idOrPath;
  const files = options.files ?? 'model';
  if (typeof files !== 'string') for (const f of files) checkRelative(idOrPath, f);
  const s = settingsOf(options);
  const cache = new RepoCache(idOrPath, hubRepoFolder(idOrPath, s.cacheDir));
  const cachedCommit = cache.commitOf(s.revision);
  const state = cacheState(cache, cachedCommit, files);
  if (state.complete || (state.usable && s.offline)) return cache.snapshot(cachedCommit!);
  if (s.offline) {
    const what = cachedCommit === null ? `no snapshot of revision ${s.revision}` : `snapshot ${cachedCommit} lacks ${state.missing.join(', ')}`;
    throw new Error(`${idOrPath} (revision ${s.revision}) is not in the Hugging Face cache at ${cache.folder} (${what}), ` +
      'and HF_HUB_OFFLINE (or the offline option) is set, so nothing is downloaded; download it where the Hub is reachable, or pass a local folder');
  }

  let commit: string | null = COMMIT_HASH.test(s.revision) ? s.revision : null;
  const steps = stepsFor(files, cache, () => commit!);
  let next = steps.next(undefined as never);
  while (!next.done) {
    const want = next.value;
    const result: JobResult = yield {
      endpoint: s.endpoint, repoId: idOrPath, revision: commit ?? s.revision, token: s.token ?? null,
      blobsDir: path.join(cache.folder, 'blobs'), files: want.files.map((name) => ({ name })), progress: s.progress,
      downloadTimeout: Number(env('HF_HUB_DOWNLOAD_TIMEOUT') ?? 10) || 10, child: false,
    };
    if (commit === null && result.commit !== null) commit = result.commit;
    if (commit !== null) cache.writeRef(s.revision, commit);
    for (const f of result.files) {
      const c = f.commit ?? commit;
      if (c === null) continue;
      if (f.status === 200) cache.link(c, f.name, f.etag!);
      else if (!want.required.has(f.name)) cache.markMissing(c, f.name);
    }
    if (result.error) {
      // As huggingface_hub does when the Hub cannot be asked: a snapshot with every required file serves.
      if (state.usable) {
        process.stderr.write(`${describeError(s, idOrPath, result.error)}; using the cached snapshot ${cache.snapshot(cachedCommit!)}\n`);
        return cache.snapshot(cachedCommit!);
      }
      throw new Error(describeError(s, idOrPath, result.error));
    }
    const absent = result.files.filter((f) => f.status === 404 && want.required.has(f.name)).map((f) => f.name);
    if (absent.length > 0) {
      const hint = absent.includes(WEIGHTS_INDEX) ? ` (nor ${WEIGHTS}; peftjs reads safetensors weights only)` : '';
      throw new Error(`${idOrPath} (revision ${s.revision}) has no ${absent.join(', ')}${hint} at ${s.endpoint}/${idOrPath}`);
    }
    if (commit === null) throw new Error(`${idOrPath}: the Hub named no commit for revision ${s.revision}`);
    next = steps.next(result);
  }
  return cache.snapshot(commit!);
}

/**
 * The local folder for a path or a Hub id: an existing path (or anything that is not a repo id) is
 * returned as is; an id is looked up in the Hugging Face cache and downloaded into it when missing.
 * Synchronous: downloads run in a child process, their progress bar on stderr.
 */
export function resolveModelPath(idOrPath: string, options: ResolveModelPathOptions = {}): string {
  const it = resolveSteps(idOrPath, options);
  let r = it.next(undefined as never);
  while (!r.done) r = it.next(runJobSync(r.value));
  return r.value;
}

/** resolveModelPath with the downloads in this process. */
export async function resolveModelPathAsync(idOrPath: string, options: ResolveModelPathOptions = {}): Promise<string> {
  const it = resolveSteps(idOrPath, options);
  let r = it.next(undefined as never);
  while (!r.done) r = it.next(await downloadJob(r.value));
  return r.value;
}
