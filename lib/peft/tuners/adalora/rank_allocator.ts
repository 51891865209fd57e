/**
 * AdaLoRA's budget allocation, HF's RankAllocator (src/peft/tuners/adalora/layer.py, peft 5d602fd). Every
 * lora_A / lora_B / lora_E entry of the trained adapter gets a sensitivity |p * grad| smoothed by beta1
 * (exp_avg_ipt) and an uncertainty |ipt - exp_avg_ipt| smoothed by beta2 (exp_avg_unc); a triplet i of a
 * layer (row i of A, E[i], column i of B) scores s(E_i) + mean_row s(A_i) + mean_col s(B_i), s =
 * exp_avg_ipt * exp_avg_unc. The budget (total rank) falls from init_bgt (the sum of initial ranks) to
 * target_bgt (target_r per layer) on a cubic schedule between tinit and total_step - tfinal; every deltaT
 * steps the init_bgt - budget lowest-scoring triplets get E = 0 (kthvalue threshold, ties masked too).
 *
 * The state lives on the host. Element-wise updates are rounded to float32 as torch's float32 tensors
 * round them (Math.fround after each operation), so the scores are torch's up to the order of the row and
 * column sums of the means.
 */
import { copyInto, type Module } from '../../../nn/module';
import { noGrad } from '../../../tensor/autograd';
import { fromArray } from '../../../tensor/creation';
import type { Tensor } from '../../../tensor/tensor';
import type { AdaLoraConfig, AdaLoraRankPattern } from './config';

const f = Math.fround;

interface Scores {
  ipt: Float32Array;
  expAvgIpt: Float32Array;
  expAvgUnc: Float32Array;
}

/** The kind of an AdaLoRA parameter of adapter `name` by its path (`...q_proj.lora_E.default`), or null. */
export function factorOf(path: string, name: string): 'A' | 'B' | 'E' | null {
  const m = /(?:^|\.)lora_([ABE])\.([^.]+)$/.exec(path);
  return m && m[2] === name ? (m[1] as 'A' | 'B' | 'E') : null;
}

/** The path with `lora_X` replaced, HF's `n.replace("lora_A", "%s") % "lora_E"` (the last occurrence here). */
function sibling(path: string, factor: 'A' | 'B' | 'E'): string {
  return path.replace(/lora_[ABE](\.[^.]+)$/, `lora_${factor}$1`);
}

export class RankAllocator {
  readonly beta1: number;
  readonly beta2: number;
  /** The sum of the layers' initial ranks. */
  readonly initBgt: number;
  /** target_r times the number of adapted layers. */
  readonly targetBgt: number;
  private scores = new Map<string, Scores>();

  constructor(model: Module, readonly config: AdaLoraConfig, readonly adapterName: string) {
    this.beta1 = config.beta1;
    this.beta2 = config.beta2;
    // HF asserts these (0 < beta < 1) when the allocator is made, i.e. for a trainable adapter only.
    for (const [field, v] of [['beta1', this.beta1], ['beta2', this.beta2]] as const)
      if (!(v > 0 && v < 1)) throw new RangeError(`AdaLoraConfig: ${field} must be in (0, 1) to train, got ${v}`);
    // _set_budget_scheduler
    let init = 0;
    const layers = new Set<string>();
    for (const [p, t] of model.namedParameters()) {
      if (factorOf(p, adapterName) !== 'A') continue;
      init += t.shape[0];
      layers.add(p);
    }
    this.initBgt = init;
    this.targetBgt = config.targetR * layers.size;
  }

  /** HF's set_total_step. */
  setTotalStep(totalStep: number): void {
    this.config.totalStep = totalStep;
  }

  resetIpt(): void {
    this.scores = new Map();
  }

  /** The budget at `step` and whether to mask then (HF's budget_schedule). */
  budgetSchedule(step: number): { budget: number; maskInd: boolean } {
    const { tinit, tfinal, deltaT } = this.config;
    const total = this.config.totalStep!;
    if (step <= tinit) return { budget: this.initBgt, maskInd: false };
    if (step > total - tfinal) return { budget: this.targetBgt, maskInd: true };
    const mulCoeff = 1 - (step - tinit) / (total - tfinal - tinit);
    // Python's int(): truncation toward zero.
    const budget = Math.trunc((this.initBgt - this.targetBgt) * mulCoeff ** 3 + this.targetBgt);
    return { budget, maskInd: step % deltaT === 0 };
  }

  /** HF's update_ipt: this step's sensitivities (|p * grad|) folded into the two moving averages. */
  updateIpt(model: Module): void {
    const b1 = f(this.beta1), c1 = f(1 - this.beta1), b2 = f(this.beta2), c2 = f(1 - this.beta2);
    for (const [p, t] of model.namedParameters()) {
      if (factorOf(p, this.adapterName) === null) continue;
      let s = this.scores.get(p);
      if (!s) {
        s = { ipt: new Float32Array(t.size), expAvgIpt: new Float32Array(t.size), expAvgUnc: new Float32Array(t.size) };
        this.scores.set(p, s);
      }
      const values = t.toFloat32Array();
      // A parameter no loss reached has no gradient: zero, as torch's would be after zero_grad(set_to_none=False).
      const grad = t.grad ? t.grad.toFloat32Array() : new Float32Array(t.size);
      for (let i = 0; i < values.length; i++) {
        const ipt = Math.abs(f(values[i] * grad[i]));
        s.ipt[i] = ipt;
        const avg = f(f(b1 * s.expAvgIpt[i]) + f(c1 * ipt));
        s.expAvgIpt[i] = avg;
        s.expAvgUnc[i] = f(f(b2 * s.expAvgUnc[i]) + f(c2 * Math.abs(f(ipt - avg))));
      }
    }
  }

  /** s = exp_avg_ipt * exp_avg_unc of one parameter (HF's _element_score). */
  private elementScore(path: string): Float32Array {
    const s = this.scores.get(path);
    if (!s) throw new Error(`RankAllocator: no importance scores for '${path}' (updateAndAllocate must run at a training step, after backward)`);
    return s.expAvgIpt.map((v, i) => f(v * s.expAvgUnc[i]));
  }

  /**
   * HF's mask_to_budget: scores every triplet, zeroes lora_E where the score is <= the (init_bgt -
   * budget)-th smallest, and returns the pattern of kept triplets by lora_E path.
   */
  maskToBudget(model: Module, budget: number): AdaLoraRankPattern {
    const params = model.namedParameters();
    const triplets = new Map<string, Float32Array>();
    for (const [p, t] of params) {
      if (factorOf(p, this.adapterName) !== 'E') continue;
      const r = t.shape[0];
      const e = this.elementScore(p);
      const a = this.elementScore(sibling(p, 'A'));
      const b = this.elementScore(sibling(p, 'B'));
      const inF = r === 0 ? 0 : a.length / r, out = r === 0 ? 0 : b.length / r;
      const sum = new Float32Array(r);
      for (let i = 0; i < r; i++) {
        let sa = 0, sb = 0;
        for (let k = 0; k < inF; k++) sa += a[i * inF + k];
        for (let o = 0; o < out; o++) sb += b[o * r + i];
        // mean over A's row and B's column, their sum (_combine_ipt), plus E's own
        sum[i] = f(e[i] + f(f(sa / inF) + f(sb / out)));
      }
      triplets.set(p, sum);
    }
    const all = Float32Array.from([...triplets.values()].flatMap((s) => [...s])).sort();
    const k = this.initBgt - budget;
    if (!(k >= 1 && k <= all.length))
      throw new RangeError(`AdaLoraConfig: targetR ${this.config.targetR} and initR ${this.config.initR} give a budget of ${budget} at this step from ${this.initBgt}: ` +
        `${k} triplets to prune out of ${all.length} (torch.kthvalue needs 1 <= k <= ${all.length}); targetR must be below initR`);
    const threshold = all[k - 1];
    const pattern: AdaLoraRankPattern = {};
    noGrad(() => {
      for (const [p, t] of params) {
        const score = triplets.get(p);
        if (!score) continue;
        const keep = [...score].map((v) => !(v <= threshold));
        writeMasked(t, keep);
        pattern[p] = keep;
      }
    });
    return pattern;
  }

  /**
   * The moving averages, by `<parameter path>.exp_avg_ipt` and `.exp_avg_unc` (HF keeps them in memory only; a
   * Trainer checkpoint saves them, so a resumed run scores and masks as the uninterrupted one). This step's
   * ipt is not state: update_ipt overwrites it before reading it.
   */
  state(): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const [p, s] of this.scores) {
      out.set(`${p}.exp_avg_ipt`, s.expAvgIpt);
      out.set(`${p}.exp_avg_unc`, s.expAvgUnc);
    }
    return out;
  }

  /** Restores state() into this allocator; `where` (a file) names the source in errors. */
  loadState(entries: Map<string, Float32Array>, model: Module, where: string): void {
    const sizes = new Map(model.namedParameters().filter(([p]) => factorOf(p, this.adapterName) !== null).map(([p, t]) => [p, t.size]));
    const scores = new Map<string, Scores>();
    for (const [key, values] of entries) {
      const m = /^(.*)\.(exp_avg_ipt|exp_avg_unc)$/.exec(key);
      const size = m ? sizes.get(m[1]) : undefined;
      if (!m || size === undefined) throw new Error(`RankAllocator: ${where}: '${key}' is not an importance average of an AdaLoRA parameter of adapter '${this.adapterName}'`);
      if (values.length !== size) throw new Error(`RankAllocator: ${where}: '${key}' has ${values.length} values, the parameter has ${size}`);
      let s = scores.get(m[1]);
      if (!s) scores.set(m[1], (s = { ipt: new Float32Array(size), expAvgIpt: new Float32Array(0), expAvgUnc: new Float32Array(0) }));
      if (m[2] === 'exp_avg_ipt') s.expAvgIpt = Float32Array.from(values);
      else s.expAvgUnc = Float32Array.from(values);
    }
    for (const [p, s] of scores)
      if (s.expAvgIpt.length === 0 || s.expAvgUnc.length === 0) throw new Error(`RankAllocator: ${where}: '${p}' has ${s.expAvgIpt.length === 0 ? 'no exp_avg_ipt' : 'no exp_avg_unc'}`);
    this.scores = scores;
  }

  /** HF's RankAllocator.update_and_allocate: the budget at `globalStep` and the new pattern, if it masked. */
  updateAndAllocate(model: Module, globalStep: number, forceMask = false): { budget: number; rankPattern: AdaLoraRankPattern | null } {
    if (globalStep < this.config.totalStep! - this.config.tfinal) this.updateIpt(model);
    const { budget, maskInd } = this.budgetSchedule(globalStep);
    return { budget, rankPattern: maskInd || forceMask ? this.maskToBudget(model, budget) : null };
  }

  /** HF's mask_using_rank_pattern: E = 0 where the pattern (keys with or without the adapter name) says pruned. */
  maskUsingRankPattern(model: Module, pattern: AdaLoraRankPattern): void {
    const first = Object.keys(pattern)[0];
    const truncated = first !== undefined && !first.endsWith(`.${this.adapterName}`);
    noGrad(() => {
      for (const [p, t] of model.namedParameters()) {
        if (factorOf(p, this.adapterName) !== 'E') continue;
        const key = truncated ? p.slice(0, -(this.adapterName.length + 1)) : p;
        const keep = pattern[key];
        if (!keep || keep.length !== t.shape[0])
          throw new Error(`updateAndAllocate: the rank pattern has ${keep ? `${keep.length} entries` : 'no entry'} for '${key}', whose lora_E has ${t.shape[0]} rows`);
        writeMasked(t, keep);
      }
    });
  }
}

/** E[i] = 0 where keep[i] is false, in place (torch's masked_fill_). */
function writeMasked(e: Tensor, keep: readonly boolean[]): void {
  const values = e.toFloat32Array();
  if (keep.every((k, i) => k || values[i] === 0)) return;
  keep.forEach((k, i) => {
    if (!k) values[i] = 0;
  });
  const src = fromArray(values, e.shape);
  copyInto(e, src);
  src.dispose();
}
