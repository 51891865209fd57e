/**
 * A small Hugging Face Hub on 127.0.0.1 for tests of Hub ids (test/io/hub.test.ts, test/cli/hub-flags.test.ts):
 * an HTTP server (node:http, in a worker thread, since the synchronous loaders block the test's thread while a
 * child process downloads) serving the Hub's URL layout, {repo}/resolve/{revision}/{file}, from fixture
 * folders: X-Repo-Commit and ETag headers, LFS files (*.safetensors) as a 302 to a CDN path with X-Linked-Etag /
 * X-Linked-Size, 404 with X-Error-Code for a missing file or revision, 401 for a private repo without its token,
 * and (for the repos named in interruptOnce) a CDN answer that closes the connection half way once. Every
 * request is logged (method, url, Authorization header) to a file the test reads.
 */
import * as fs from 'fs';
import { Worker } from 'worker_threads';

/** The Hub: workerData.repos[id] = { token?, refs: {branch: commit}, commits: {commit: {file: absolute path}} }. */
const SERVER = String.raw`
const http = require('http');
const fs = require('fs');
const crypto = require('crypto');
const { parentPort, workerData } = require('worker_threads');
const { repos, logFile, interruptOnce } = workerData;
const interrupted = new Set();
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');
const gitSha1 = (b) => crypto.createHash('sha1').update('blob ' + b.length + '\0').update(b).digest('hex');
const server = http.createServer((req, res) => {
  fs.appendFileSync(logFile, JSON.stringify({ method: req.method, url: req.url, auth: req.headers.authorization || null }) + '\n');
  const u = new URL(req.url, 'http://127.0.0.1');
  const cdn = u.pathname.match(/^\/cdn-lfs\/(.+)\/([0-9a-f]{64})$/);
  if (cdn) {
    const repo = repos[cdn[1]];
    const file = repo && Object.values(repo.commits).flatMap((c) => Object.values(c)).find((f) => sha256(fs.readFileSync(f)) === cdn[2]);
    if (!file) { res.writeHead(404); return res.end(); }
    const body = fs.readFileSync(file);
    res.writeHead(200, { 'Content-Length': body.length, 'Content-Type': 'application/octet-stream' });
    const key = cdn[1] + '/' + cdn[2];
    if (interruptOnce.includes(cdn[1]) && !interrupted.has(key)) {
      interrupted.add(key);
      return res.write(body.subarray(0, body.length >> 1), () => setTimeout(() => res.socket.destroy(), 20));
    }
    return res.end(body);
  }
  const m = u.pathname.match(/^\/(.+?)\/resolve\/([^/]+)\/(.+)$/);
  if (!m) { res.writeHead(400); return res.end(); }
  const id = m[1], rev = decodeURIComponent(m[2]), name = m[3].split('/').map(decodeURIComponent).join('/');
  const repo = repos[id];
  if (!repo || (repo.token && req.headers.authorization !== 'Bearer ' + repo.token)) {
    res.writeHead(401, { 'X-Error-Code': 'RepoNotFound', 'Content-Type': 'application/json' });
    return res.end(JSON.stringify({ error: 'Repository not found' }));
  }
  const commit = repo.refs[rev] || (repo.commits[rev] ? rev : null);
  if (!commit) { res.writeHead(404, { 'X-Error-Code': 'RevisionNotFound' }); return res.end('Invalid rev id: ' + rev); }
  const file = repo.commits[commit][name];
  if (!file) { res.writeHead(404, { 'X-Error-Code': 'EntryNotFound', 'X-Repo-Commit': commit }); return res.end('Entry not found'); }
  const body = fs.readFileSync(file);
  if (name.endsWith('.safetensors')) {
    const sha = sha256(body);
    res.writeHead(302, {
      Location: 'http://127.0.0.1:' + server.address().port + '/cdn-lfs/' + id + '/' + sha, 'X-Repo-Commit': commit,
      'X-Linked-Etag': '"' + sha + '"', 'X-Linked-Size': String(body.length), ETag: 'W/"redirect-' + sha.slice(0, 8) + '"',
    });
    return res.end();
  }
  res.writeHead(200, { 'X-Repo-Commit': commit, ETag: '"' + gitSha1(body) + '"', 'Content-Length': body.length });
  res.end(req.method === 'HEAD' ? undefined : body);
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
parentPort.on('message', (m) => { if (m === 'close') server.close(() => parentPort.close()); });
`;

/** A repository: its token (private when set), refs (branch or tag -> commit) and each commit's files. */
export interface HubRepo {
  token?: string;
  refs: Record<string, string>;
  commits: Record<string, Record<string, string>>;
}

export interface LoggedRequest {
  method: string;
  url: string;
  auth: string | null;
}

export class LocalHub {
  private constructor(private readonly worker: Worker, readonly endpoint: string, private readonly logFile: string) {}

  /** Starts the server over `repos` (id -> HubRepo), logging requests to logFile. */
  static async start(repos: Record<string, HubRepo>, logFile: string, interruptOnce: string[] = []): Promise<LocalHub> {
    const worker = new Worker(SERVER, { eval: true, workerData: { repos, logFile, interruptOnce } });
    const port = await new Promise<number>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    return new LocalHub(worker, `http://127.0.0.1:${port}`, logFile);
  }

  /** The requests since the last clearLog. */
  requests(): LoggedRequest[] {
    const text = fs.existsSync(this.logFile) ? fs.readFileSync(this.logFile, 'utf8') : '';
    return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as LoggedRequest);
  }

  clearLog(): void {
    fs.writeFileSync(this.logFile, '');
  }

  async close(): Promise<void> {
    this.worker.postMessage('close');
    await this.worker.terminate();
  }
}
