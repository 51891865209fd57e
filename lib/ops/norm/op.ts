/** RMSNorm and LayerNorm over the last dimension, on the backend's fused kernels, with their backward. */
import { record } from '../../tensor/autograd';
import { empty } from '../../tensor/creation';
import { kernel } from '../../tensor/kernel_lookup';
import { formatShape } from '../../tensor/shape';
import { backendFor, type Tensor } from '../../tensor/tensor';

function normShapes(op: string, x: Tensor, weight: Tensor | null, bias: Tensor | null) {
  if (x.rank < 1) throw new RangeError(`${op}: expected x of rank >= 1, got a scalar`);
  const cols = x.shape[x.rank - 1];
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    if (t === null) continue;
    backendFor(t, op);
    if (t.size !== cols || !t.isContiguous())
      throw new RangeError(`${op}: ${name} must be a contiguous [${cols}] (x's last dimension), got ${formatShape(t.shape)}`);
  }
  return { cols, rows: cols === 0 ? 0 : x.size / cols };
}

function checkEps(op: string, eps: number): void {
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new RangeError(`${op}: eps must be a finite number >= 0, got ${eps}`);
}

/** y = x / sqrt(mean(x^2) + eps) * weight over the last dimension (HF's LlamaRMSNorm). */
export function rmsNorm(x: Tensor, weight: Tensor | null, eps: number): Tensor {
  const op = 'rmsNorm';
  const be = backendFor(x, op);
  const { rows, cols } = normShapes(op, x, weight, null);
  checkEps(op, eps);
  const xc = x.isContiguous() ? x : x.copyPacked();
  const y = empty(x.shape), rstd = empty([rows]);
  kernel(be, 'rmsNormForward', op)({ rows, cols, x: xc.buf(), weight: weight ? weight.buf() : null, eps, y: y.buf(), rstd: rstd.buf() });
  const out = record(y, op, [x, weight], (g, [xs, ws, rs], needs) => {
    const gc = g.isContiguous() ? g : g.copyPacked();
    const dx = empty(x.shape);
    const dw = needs[1] ? empty([cols]) : null;
    kernel(be, 'rmsNormBackward', op)({ rows, cols, x: xs.buf(), weight: ws ? ws.buf() : null, eps, rstd: rs.buf(), dy: gc.buf(), dx: dx.buf(), dweight: dw ? dw.buf() : null });
    if (gc !== g) gc.dispose();
    return [needs[0] ? dx : (dx.dispose(), null), dw];
  }, [xc, weight, rstd]);
  if (xc !== x) xc.dispose();
  rstd.dispose();
  return out;
}

/** y = (x - mean) / sqrt(var + eps) * weight + bias over the last dimension (torch.nn.LayerNorm). */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): Tensor {
  const op = 'layerNorm';
  const be = backendFor(x, op);
  const { rows, cols } = normShapes(op, x, weight, bias);
  checkEps(op, eps);
  const xc = x.isContiguous() ? x : x.copyPacked();
  const y = empty(x.shape), mean = empty([rows]), rstd = empty([rows]);
  kernel(be, 'layerNormForward', op)({ rows, cols, x: xc.buf(), weight: weight ? weight.buf() : null, bias: bias ? bias.buf() : null,
    eps, y: y.buf(), mean: mean.buf(), rstd: rstd.buf() });
  const out = record(y, op, [x, weight, bias], (g, [xs, ws, ms, rs], needs) => {
    const gc = g.isContiguous() ? g : g.copyPacked();
    const dx = empty(x.shape);
    const dw = needs[1] ? empty([cols]) : null, db = needs[2] ? empty([cols]) : null;
    kernel(be, 'layerNormBackward', op)({ rows, cols, x: xs.buf(), weight: ws ? ws.buf() : null, eps, mean: ms.buf(), rstd: rs.buf(),
      dy: gc.buf(), dx: dx.buf(), dweight: dw ? dw.buf() : null, dbias: db ? db.buf() : null });
    if (gc !== g) gc.dispose();
    return [needs[0] ? dx : (dx.dispose(), null), dw, db];
  }, [xc, weight, mean, rstd]);
  if (xc !== x) xc.dispose();
  mean.dispose();
  rstd.dispose();
  return out;
}
