/**
 * One rank of nccl.test.ts, started by `mpirun -np N` (through `sh -c`, which sets per-rank variables):
 *
 * - 'agree': ncclInit's answer (twice: the second repeats the first without communicating), ncclInfo, the
 *   one-time warning, and an all-reduce of CPU tensors (which never involves NCCL). The test disables NCCL
 *   on rank 1 (PEFTJS_NCCL_LIB=off), so every rank must answer "no NCCL", naming rank 1, in every build.
 * - 'cuda': on a machine with GPUs and NCCL (each rank on its own GPU through CUDA_VISIBLE_DEVICES), the raw
 *   cudaAllReduce / cudaBroadcast entries on device buffers, with no host wait while queuing them, and
 *   lib/dist's tensor collectives on the cuda backend going through NCCL.
 *
 * Each rank writes its observations as JSON to `${out}.${rank}`; the test checks them.
 *
 *   node -r test/dist/register_ts.js test/dist/nccl_rank.ts '<json {mode, out}>'
 */
import * as fs from 'fs';
import { fromArray, setBackend } from '../../lib';
import { loadAddon } from '../../lib/backend/native/addon';
import { allReduceTensors, broadcastTensors, collectivePath, initDistributed, ncclEnabled, ncclInfo, setNcclWarningHandler } from '../../lib/dist';
import { mpi } from '../../lib/dist/mpi';

export interface NcclRankSpec {
  mode: 'agree' | 'cuda';
  out: string;
}

function agree(spec: NcclRankSpec): void {
  const w = initDistributed();
  const warnings: string[] = [];
  setNcclWarningHandler((m) => warnings.push(m));
  const first = mpi().ncclInit();
  const second = mpi().ncclInit();
  const enabled = [ncclEnabled(), ncclEnabled()];
  const t = fromArray([w.rank + 1, 10 * (w.rank + 1)]);
  const path = collectivePath(t);
  allReduceTensors([t], 'sum');
  fs.writeFileSync(`${spec.out}.${w.rank}`, JSON.stringify({ rank: w.rank, size: w.size, first, second, enabled, warnings, info: ncclInfo(), path, sum: Array.from(t.toFloat32Array()) }));
}

function cuda(spec: NcclRankSpec): void {
  setBackend('cuda');
  const w = initDistributed();
  const addon = loadAddon()!;
  const outcome = mpi().ncclInit();
  if (!outcome.nccl) {
    fs.writeFileSync(`${spec.out}.${w.rank}`, JSON.stringify({ rank: w.rank, size: w.size, outcome }));
    return;
  }
  const r = w.rank + 1;
  // a: 5 values summed; b: 3 values at offset 1 of a 4-float block, averaged; c: 4 values from the last rank.
  const a = addon.cudaAlloc(5);
  const b = addon.cudaAlloc(4);
  const c = addon.cudaAlloc(4);
  addon.cudaUpload([a, 0], Float32Array.from([1, 2, 3, 4, 5], (x) => x * r), 5);
  addon.cudaUpload([b, 0], Float32Array.from([-7, r, 2 * r, -0]), 4);
  addon.cudaUpload([c, 0], Float32Array.from([r, r, r, r]), 4);
  const waitsBefore = addon.cudaHostWaits();
  mpi().cudaAllReduce([[a, 0]], [5], 'sum');
  mpi().cudaAllReduce([[b, 1]], [3], 'mean');
  mpi().cudaBroadcast([[c, 0]], [4], w.size - 1);
  const waitsQueued = addon.cudaHostWaits() - waitsBefore;
  const read = (h: unknown, n: number) => {
    const out = new Float32Array(n);
    addon.cudaDownload(out, [h, 0], n);
    return Array.from(out);
  };
  const raw = { a: read(a, 5), b: read(b, 4), c: read(c, 4) };
  // The same through lib/dist's tensors (NCCL path), several in one group.
  const t1 = fromArray([r, 2 * r, 3 * r]);
  const t2 = fromArray([[r, -r], [0.5 * r, 4]]);
  const paths = [collectivePath(t1), collectivePath(t2)];
  allReduceTensors([t1, t2], 'mean');
  const t3 = fromArray([r, r + 1]);
  broadcastTensors([t3], 0);
  const tensors = { t1: Array.from(t1.toFloat32Array()), t2: Array.from(t2.toFloat32Array()), t3: Array.from(t3.toFloat32Array()) };
  // Two views of one block that overlap are refused before anything is queued.
  let overlap = '';
  try {
    mpi().cudaAllReduce([[a, 0], [a, 2]], [3, 3], 'sum');
  } catch (e) {
    overlap = (e as Error).message;
  }
  fs.writeFileSync(`${spec.out}.${w.rank}`, JSON.stringify({ rank: w.rank, size: w.size, outcome, waitsQueued, raw, paths, tensors, overlap }));
}

const spec = JSON.parse(process.argv[2]) as NcclRankSpec;
if (spec.mode === 'agree') agree(spec);
else cuda(spec);
