/** Embedding lookup: rows of a table gathered by integer ids; the backward scatter-adds into the table. */
import { record } from '../../tensor/autograd';
import { empty, zeros } from '../../tensor/creation';
import type { IntTensor } from '../../tensor/int_tensor';
import { kernel } from '../../tensor/kernel_lookup';
import { formatShape } from '../../tensor/shape';
import { backendFor, type Tensor } from '../../tensor/tensor';

/** out[..., :] = table[ids[...], :] for table [vocab, dim]; out has shape [...ids.shape, dim]. */
export function embedding(ids: IntTensor, table: Tensor): Tensor {
  const op = 'embedding';
  const be = backendFor(table, op);
  if (table.rank !== 2 || !table.isContiguous())
    throw new RangeError(`${op}: table must be a contiguous [vocab, dim] matrix, got ${formatShape(table.shape)}`);
  const [vocab, dim] = table.shape;
  const n = ids.data.length;
  for (let i = 0; i < n; i++) {
    const id = ids.data[i];
    if (id < 0 || id >= vocab) throw new RangeError(`${op}: id ${id} at position ${i} is outside the vocabulary [0, ${vocab})`);
  }
  const out = empty([...ids.shape, dim]);
  kernel(be, 'embeddingForward', op)({ n, dim, vocab, ids: ids.data, table: table.buf(), out: out.buf() });
  return record(out, op, [table], (g) => {
    const gc = g.isContiguous() ? g : g.copyPacked();
    const dtable = zeros([vocab, dim]);
    kernel(be, 'embeddingBackward', op)({ n, dim, vocab, ids: ids.data, dy: gc.buf(), dtable: dtable.buf() });
    if (gc !== g) gc.dispose();
    return [dtable];
  });
}
