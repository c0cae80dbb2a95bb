// Walking the (N, H·W) positions of one channel with a stride of WG threads, for the batch-norm
// reductions. The includer declares `const WG` and `params` with fields HW and C.

// Thread t visits j = begin + t, j + WG, ... ; (n, s) of j are tracked by adding WG = q·HW + r
// instead of dividing per element (integer division is scalarised and slow on CPU adapters).
struct Walk { n: u32, s: u32, q: u32, r: u32 }

fn walk_start(j: u32) -> Walk {
  let n = j / params.HW;
  let q = WG / params.HW;
  return Walk(n, j - n * params.HW, q, WG - q * params.HW);
}

fn walk_next(w: ptr<function, Walk>) {
  (*w).n += (*w).q;
  (*w).s += (*w).r;
  if ((*w).s >= params.HW) {
    (*w).s -= params.HW;
    (*w).n += 1u;
  }
}

fn at(w: Walk, c: u32) -> u32 {
  return (w.n * params.C + c) * params.HW + w.s;
}
