/** ModuleList: children named 0, 1, 2, ... (HF's `layers.0`, `h.0`, `layer.0`). */
import { Module } from '../module';

export class ModuleList<M extends Module> extends Module {
  private readonly items: M[] = [];

  constructor(items: M[] = []) {
    super();
    for (const m of items) this.push(m);
  }

  push(m: M): void {
    this.registerModule(String(this.items.length), m);
    this.items.push(m);
  }

  get length(): number {
    return this.items.length;
  }

  at(i: number): M {
    const m = this.items[i];
    if (m === undefined) throw new RangeError(`ModuleList: index ${i} is out of range [0, ${this.items.length})`);
    return m;
  }

  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }

  protected override onChildReplaced(name: string, m: Module): void {
    this.items[Number(name)] = m as M;
  }
}
