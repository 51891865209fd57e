/**
 * Hub ids (lib/io/hub.ts) against a small Hub on 127.0.0.1 (test/helpers/hub_server.ts): an HTTP server
 * (node:http, in a worker thread, since the synchronous loaders block this thread while a child process
 * downloads) serving the Hub's URL
 * layout, {repo}/resolve/{revision}/{file}, from fixture folders: X-Repo-Commit and ETag headers, LFS files
 * (*.safetensors) as a 302 to a CDN path with X-Linked-Etag / X-Linked-Size, 404 with X-Error-Code for a
 * missing file or revision, 401 for a private repo without its token, and a CDN answer that closes the
 * connection half way once. Nothing of the download code is mocked: HF_ENDPOINT points at the server and
 * HF_HUB_CACHE at a temporary folder.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  AutoConfig, AutoModelForCausalLM, loadHfModelFolder, loadPretrained, loadTokenizer, noGrad, PeftModel, resolveModelPath,
  resolveModelPathAsync, saveHfModelFolder,
} from '../../lib';
import { loadModelFlag, loadTokenizerFlag } from '../../lib/cli/model_files';
import { LocalHub } from '../helpers/hub_server';

const FIXTURES = path.join(__dirname, '..', 'fixtures');
const LLAMA = path.join(FIXTURES, 'models', 'llama');
const TOKENIZER = path.join(FIXTURES, 'io', 'tokenizers', 'llama');
const LORA = path.join(FIXTURES, 'peft', 'lora_llama');
const COMMIT_A = 'a'.repeat(40);
const COMMIT_B = 'b'.repeat(39) + '1';
const COMMIT_P = 'c'.repeat(40);
const COMMIT_F = 'd'.repeat(40);
const COMMIT_L = 'e'.repeat(40);
const TOKEN = 'hf_secret_token';

let tmp: string;
let cacheDir: string;
let logFile: string;
let hub: LocalHub;
let endpoint: string;
const saved: Record<string, string | undefined> = {};
const ENV = ['HF_ENDPOINT', 'HF_HUB_CACHE', 'HF_HOME', 'HF_TOKEN', 'HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE', 'HF_HUB_DISABLE_PROGRESS_BARS', 'HUGGING_FACE_HUB_TOKEN'];

const requests = () => hub.requests();
const clearLog = () => hub.clearLog();

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-hub-'));
  cacheDir = path.join(tmp, 'cache');
  logFile = path.join(tmp, 'requests.jsonl');
  // Revision v2 of org/tiny: the same weights in two shards, and a generation_config.json.
  const sharded = path.join(tmp, 'sharded');
  const folder = loadHfModelFolder(LLAMA);
  saveHfModelFolder(sharded, folder.config, folder.tensors, { maxShardSize: 40_000 });
  for (const t of folder.tensors.values()) t.dispose();
  fs.writeFileSync(path.join(sharded, 'generation_config.json'), JSON.stringify({ bos_token_id: 1, eos_token_id: 2 }));
  const shardFiles = fs.readdirSync(sharded).filter((f) => /^model-\d+-of-\d+\.safetensors$/.test(f));
  expect(shardFiles.length).toBeGreaterThan(1);
  const tiny = {
    'config.json': path.join(LLAMA, 'config.json'), 'model.safetensors': path.join(LLAMA, 'model.safetensors'),
    'tokenizer.json': path.join(TOKENIZER, 'tokenizer.json'), 'tokenizer_config.json': path.join(TOKENIZER, 'tokenizer_config.json'),
  };
  const repos = {
    'org/tiny': {
      refs: { main: COMMIT_A, v2: COMMIT_B },
      commits: {
        [COMMIT_A]: tiny,
        [COMMIT_B]: Object.fromEntries(fs.readdirSync(sharded).map((f) => [f, path.join(sharded, f)])),
      },
    },
    'org/private': { token: TOKEN, refs: { main: COMMIT_P }, commits: { [COMMIT_P]: tiny } },
    'org/flaky': { refs: { main: COMMIT_F }, commits: { [COMMIT_F]: tiny } },
    'org/tiny-lora': {
      refs: { main: COMMIT_L },
      commits: { [COMMIT_L]: { 'adapter_config.json': path.join(LORA, 'adapter_config.json'), 'adapter_model.safetensors': path.join(LORA, 'adapter_model.safetensors') } },
    },
  };
  hub = await LocalHub.start(repos, logFile, ['org/flaky']);
  endpoint = hub.endpoint;
  for (const k of ENV) saved[k] = process.env[k];
  for (const k of ENV) delete process.env[k];
  process.env.HF_ENDPOINT = endpoint;
  process.env.HF_HUB_CACHE = cacheDir;
  process.env.HF_HOME = path.join(tmp, 'hf-home');  // no token file of the user's
  process.env.HF_HUB_DISABLE_PROGRESS_BARS = '1';
});

afterAll(async () => {
  for (const k of ENV) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  if (hub) await hub.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

beforeEach(() => {
  clearLog();
  delete process.env.HF_HUB_OFFLINE;
  delete process.env.HF_TOKEN;
});

const INPUT = { data: Int32Array.from([1, 5, 9, 3, 40, 17, 2, 60]), shape: [2, 4] };

function logitsOf(model: { forward(b: { inputIds: typeof INPUT }): { logits: { toFloat32Array(): Float32Array } }; dispose(): void }): Float32Array {
  const out = noGrad(() => model.forward({ inputIds: INPUT }).logits.toFloat32Array());
  model.dispose();
  return out;
}

let localLogits: Float32Array;
beforeAll(() => (localLogits = logitsOf(AutoModelForCausalLM.fromPretrained(LLAMA))));

const repoFolder = (id: string) => path.join(cacheDir, `models--${id.replace('/', '--')}`);
const sha256 = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

function leftovers(id: string): string[] {
  const blobs = path.join(repoFolder(id), 'blobs');
  return fs.existsSync(blobs) ? fs.readdirSync(blobs).filter((f) => f.includes('incomplete')) : [];
}

describe('Hub ids in fromPretrained', () => {
  it('an existing path, or a string that is no repo id, is returned as is', () => {
    expect(resolveModelPath(LLAMA)).toBe(LLAMA);
    expect(resolveModelPath('/no/such/folder')).toBe('/no/such/folder');
    expect(requests()).toHaveLength(0);
  });

  it('downloads org/tiny into the cache laid out as huggingface_hub does, giving the local folder\'s logits', () => {
    expect(logitsOf(AutoModelForCausalLM.fromPretrained('org/tiny'))).toEqual(localLogits);
    const repo = repoFolder('org/tiny');
    expect(fs.readFileSync(path.join(repo, 'refs', 'main'), 'utf8')).toBe(COMMIT_A);
    const snap = path.join(repo, 'snapshots', COMMIT_A);
    const config = path.join(snap, 'config.json');
    expect(fs.lstatSync(config).isSymbolicLink()).toBe(true);
    const gitSha = crypto.createHash('sha1').update(`blob ${fs.statSync(path.join(LLAMA, 'config.json')).size}\0`).update(fs.readFileSync(path.join(LLAMA, 'config.json'))).digest('hex');
    expect(fs.readlinkSync(config)).toBe(path.join('..', '..', 'blobs', gitSha));
    expect(fs.readFileSync(config)).toEqual(fs.readFileSync(path.join(LLAMA, 'config.json')));
    // the LFS file's blob is named by its sha256 (X-Linked-Etag)
    expect(fs.readlinkSync(path.join(snap, 'model.safetensors'))).toBe(path.join('..', '..', 'blobs', sha256(path.join(LLAMA, 'model.safetensors'))));
    // a 404 for an optional file is remembered as Python remembers it
    expect(fs.existsSync(path.join(repo, '.no_exist', COMMIT_A, 'generation_config.json'))).toBe(true);
    expect(leftovers('org/tiny')).toEqual([]);
    // the first file asked for the branch, the rest for the commit it named
    const asked = requests().filter((r) => r.url.includes('/resolve/')).map((r) => r.url);
    expect(asked[0]).toBe('/org/tiny/resolve/main/config.json');
    expect(asked.slice(1)).toEqual([`/org/tiny/resolve/${COMMIT_A}/model.safetensors`, `/org/tiny/resolve/${COMMIT_A}/generation_config.json`]);
    expect(requests().some((r) => r.url.startsWith('/cdn-lfs/org/tiny/'))).toBe(true);
  });

  it('a second load (model, config, loadPretrained) makes no request', () => {
    expect(logitsOf(AutoModelForCausalLM.fromPretrained('org/tiny'))).toEqual(localLogits);
    expect(AutoConfig.fromPretrained('org/tiny').modelType).toBe('llama');
    logitsOf(loadPretrained('org/tiny') as never);
    expect(requests()).toHaveLength(0);
  });

  it('HF_HUB_OFFLINE=1 loads from the cache; an id not in it is an error naming the id and the cache path', () => {
    process.env.HF_HUB_OFFLINE = '1';
    expect(logitsOf(AutoModelForCausalLM.fromPretrained('org/tiny'))).toEqual(localLogits);
    expect(() => AutoModelForCausalLM.fromPretrained('org/elsewhere')).toThrow(new RegExp(`org/elsewhere.*${repoFolder('org/elsewhere').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}.*HF_HUB_OFFLINE`));
    expect(requests()).toHaveLength(0);
    // without it, the same id goes to the Hub (which has no such repo)
    delete process.env.HF_HUB_OFFLINE;
    expect(() => AutoModelForCausalLM.fromPretrained('org/elsewhere')).toThrow(/org\/elsewhere.*401.*HF_TOKEN/);
    expect(requests()).toHaveLength(1);
  });

  it('a revision other than main: a branch with sharded weights, then its commit hash', () => {
    expect(logitsOf(AutoModelForCausalLM.fromPretrained('org/tiny', { revision: 'v2' }))).toEqual(localLogits);
    const repo = repoFolder('org/tiny');
    expect(fs.readFileSync(path.join(repo, 'refs', 'v2'), 'utf8')).toBe(COMMIT_B);
    expect(fs.readFileSync(path.join(repo, 'refs', 'main'), 'utf8')).toBe(COMMIT_A);
    const snap = fs.readdirSync(path.join(repo, 'snapshots', COMMIT_B)).sort();
    const shards = fs.readdirSync(path.join(tmp, 'sharded')).filter((f) => f.startsWith('model-'));
    expect(snap).toEqual(['config.json', 'generation_config.json', ...shards, 'model.safetensors.index.json'].sort());
    // model.safetensors was asked for first; its 404 is remembered as transformers' lookup remembers it
    expect(fs.existsSync(path.join(repo, '.no_exist', COMMIT_B, 'model.safetensors'))).toBe(true);
    clearLog();
    expect(logitsOf(AutoModelForCausalLM.fromPretrained('org/tiny', { revision: COMMIT_B }))).toEqual(localLogits);
    expect(requests()).toHaveLength(0);
    expect(() => AutoModelForCausalLM.fromPretrained('org/tiny', { revision: 'nope' })).toThrow(/org\/tiny \(revision nope\).*RevisionNotFound.*no revision 'nope'/);
  });

  it('a private repo needs its token (HF_TOKEN or the option), sent as a Bearer token', () => {
    expect(() => AutoModelForCausalLM.fromPretrained('org/private')).toThrow(/org\/private.*401.*set HF_TOKEN/);
    expect(() => AutoModelForCausalLM.fromPretrained('org/private', { token: 'hf_wrong' })).toThrow(/org\/private.*401.*token sent has no access/);
    process.env.HF_TOKEN = TOKEN;
    expect(logitsOf(AutoModelForCausalLM.fromPretrained('org/private'))).toEqual(localLogits);
    const resolves = requests().filter((r) => r.url.startsWith('/org/private/resolve/'));
    expect(resolves.at(-1)!.auth).toBe(`Bearer ${TOKEN}`);
    delete process.env.HF_TOKEN;
    fs.rmSync(repoFolder('org/private'), { recursive: true });
    expect(resolveModelPath('org/private', { token: TOKEN })).toBe(path.join(repoFolder('org/private'), 'snapshots', COMMIT_P));
  });

  it('an interrupted download leaves no file that passes for complete, and the next call succeeds', () => {
    expect(() => AutoModelForCausalLM.fromPretrained('org/flaky')).toThrow(/org\/flaky.*model\.safetensors.*interrupted after/);
    const repo = repoFolder('org/flaky');
    const sha = sha256(path.join(LLAMA, 'model.safetensors'));
    expect(fs.existsSync(path.join(repo, 'blobs', sha))).toBe(false);
    expect(fs.existsSync(path.join(repo, 'snapshots', COMMIT_F, 'model.safetensors'))).toBe(false);
    expect(leftovers('org/flaky')).toEqual([]);
    // offline, the cache does not pass for complete either
    expect(() => AutoModelForCausalLM.fromPretrained('org/flaky', { offline: true })).toThrow(/snapshot d+ lacks model\.safetensors/);
    expect(logitsOf(AutoModelForCausalLM.fromPretrained('org/flaky'))).toEqual(localLogits);
    expect(fs.readFileSync(path.join(repo, 'blobs', sha))).toEqual(fs.readFileSync(path.join(LLAMA, 'model.safetensors')));
  });

  it('tokenizers and PeftModel adapters take ids too', () => {
    const local = loadTokenizer(TOKENIZER);
    const hub = loadTokenizer('org/tiny');
    expect(hub.encode('hello world, again')).toEqual(local.encode('hello world, again'));
    const snap = path.join(repoFolder('org/tiny'), 'snapshots', COMMIT_A);
    expect(fs.lstatSync(path.join(snap, 'tokenizer.json')).isSymbolicLink()).toBe(true);
    expect(fs.existsSync(path.join(repoFolder('org/tiny'), '.no_exist', COMMIT_A, 'chat_template.jinja'))).toBe(true);

    const expected = logitsOf(PeftModel.fromPretrained(AutoModelForCausalLM.fromPretrained(LLAMA), LORA) as never);
    expect(expected).not.toEqual(localLogits);
    clearLog();
    expect(logitsOf(PeftModel.fromPretrained(AutoModelForCausalLM.fromPretrained('org/tiny'), 'org/tiny-lora') as never)).toEqual(expected);
    expect(requests().every((r) => r.url.includes('tiny-lora'))).toBe(true);
  });

  it('the CLI\'s --model takes an id, and its tokenizer comes from the same repo', () => {
    const model = loadModelFlag('generate', 'org/tiny');
    const tok = loadTokenizerFlag('generate', 'org/tiny', undefined, model.config.vocabSize);
    expect(tok.encode('abc')).toEqual(loadTokenizer(TOKENIZER).encode('abc'));
    expect(logitsOf(model as never)).toEqual(localLogits);
    expect(requests()).toHaveLength(0);
  });

  it('reads a cache written by Python (no .no_exist marks) with no network, and resolves in-process too', async () => {
    // huggingface_hub's snapshot_download layout, written by hand
    const repo = path.join(tmp, 'py-cache', 'models--someone--tiny');
    const commit = '0123456789abcdef0123456789abcdef01234567';
    fs.mkdirSync(path.join(repo, 'refs'), { recursive: true });
    fs.mkdirSync(path.join(repo, 'blobs'));
    fs.mkdirSync(path.join(repo, 'snapshots', commit), { recursive: true });
    fs.writeFileSync(path.join(repo, 'refs', 'main'), commit);
    for (const f of ['config.json', 'model.safetensors']) {
      const blob = sha256(path.join(LLAMA, f));
      fs.copyFileSync(path.join(LLAMA, f), path.join(repo, 'blobs', blob));
      fs.symlinkSync(`../../blobs/${blob}`, path.join(repo, 'snapshots', commit, f));
    }
    const opts = { cacheDir: path.join(tmp, 'py-cache'), offline: true };
    expect(logitsOf(AutoModelForCausalLM.fromPretrained('someone/tiny', opts))).toEqual(localLogits);
    expect(await resolveModelPathAsync('someone/tiny', opts)).toBe(path.join(repo, 'snapshots', commit));
    expect(requests()).toHaveLength(0);
    // the async path downloads in this process, with its progress lines on stderr (plain lines off a terminal)
    const written: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (written.push(String(s)), true));
    let dir: string;
    try {
      dir = await resolveModelPathAsync('org/tiny-lora', { cacheDir: path.join(tmp, 'async-cache'), files: 'adapter', progress: true });
    } finally {
      spy.mockRestore();
    }
    expect(written.join('')).toMatch(/downloaded org\/tiny-lora\/adapter_model\.safetensors \(6\.3 KiB in/);
    expect(dir).toBe(path.join(tmp, 'async-cache', 'models--org--tiny-lora', 'snapshots', COMMIT_L));
    expect(fs.readFileSync(path.join(dir, 'adapter_config.json'))).toEqual(fs.readFileSync(path.join(LORA, 'adapter_config.json')));
  });
});
