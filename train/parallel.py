"""Data parallelism with paddle's own engine: N processes, one global batch split among them.

Every process (rank) holds the same networks, trains on its own slice of each
global batch and averages its gradients with the others before each optimizer
step, so N processes with a global batch B compute what one process with
batch B would (up to the order of float sums: every normalisation in these
networks is per sample). Rank 0 alone writes logs, samples, checkpoints and
exports; a checkpoint holds no trace of the rank count, so any count resumes it.

Start it either way:
- ``python -m train --processes N``: N processes on this machine (gloo on a CPU,
  NCCL on GPUs), started with ``paddle.distributed.spawn``;
- ``python -m paddle.distributed.launch ... -m train``: one process per device
  on one or several machines; each finds its rank in launch's environment.

On a CPU this is also the fast path: most of paddle's CPU kernels (im2col,
elementwise ops, the Python between them) run on one thread, so two
single-threaded processes on two cores train faster than one process with two
threads (measured in docs/performance.md).
"""
from __future__ import annotations

import os

import paddle
import paddle.distributed as dist


def launched() -> bool:
    """True inside a process started by ``paddle.distributed.launch`` or ``spawn`` for more than one rank."""
    return int(os.environ.get("PADDLE_TRAINERS_NUM", "1")) > 1


def processes_for(batch_size: int, devices: int) -> int:
    """One process per device (GPU, or CPU core), lowered until the batch splits evenly."""
    count = max(1, devices)
    while batch_size % count:
        count -= 1
    return count


class Ranks:
    """This process's place among the ranks; a single process is rank 0 of 1 and never communicates."""

    def __init__(self):
        self.size = 1
        self.rank = 0
        if launched():
            if not dist.is_initialized():
                dist.init_parallel_env()
            self.size, self.rank = dist.get_world_size(), dist.get_rank()

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def part(self, batch: int) -> slice:
        """This rank's slots of a global batch."""
        if batch % self.size:
            raise ValueError(f"a batch of {batch} does not split over {self.size} processes; "
                             f"pick a batch size that is a multiple of {self.size}")
        share = batch // self.size
        return slice(self.rank * share, (self.rank + 1) * share)

    def step(self, optimizer: paddle.optimizer.Optimizer):
        """The optimizer's step on gradients averaged over the ranks (one all-reduce of one flat buffer)."""
        if self.size > 1:
            # The optimizer's own list, so the averaged set is exactly the one it updates.
            with_grad = [p for p in optimizer._parameter_list if p.grad is not None]
            if with_grad:
                flat = paddle.concat([p.grad.flatten() for p in with_grad])
                dist.all_reduce(flat)
                flat = flat / self.size
                offset = 0
                for p in with_grad:
                    p.grad.set_value(flat[offset:offset + p.grad.size].reshape(p.grad.shape))
                    offset += p.grad.size
        optimizer.step()

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Each loss value averaged over the ranks (each rank saw its own slice of the batch)."""
        if self.size == 1 or not values:
            return values
        keys = sorted(values)
        tensor = paddle.to_tensor([float(values[k]) for k in keys], dtype="float64")
        dist.all_reduce(tensor)
        return dict(zip(keys, (tensor / self.size).tolist()))

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on one (a stop request must stop all ranks at the same step)."""
        if self.size == 1:
            return flag
        tensor = paddle.to_tensor([int(flag)], dtype="int64")
        dist.all_reduce(tensor)
        return bool(tensor.item())
