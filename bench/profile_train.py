"""Where a training step's time goes: ``python -m bench.profile_train [train options] [--bench-steps N]``.

Takes the same options as ``python -m train`` (default: the shipped model's settings, as
``python -m bench.train``), runs N full steps on procedural data under paddle's profiler and
prints two tables: the step's parts (data, generator, discriminator, backward, optimizers, EMA)
by wall clock, and paddle's operator summary.
"""
from __future__ import annotations

import sys
import time
from collections import defaultdict

from .train import bench_steps, warm_trainer


def timed(clock: dict, name: str, function):
    """``function`` that also adds its wall-clock seconds to clock[name]."""
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            clock[name] += time.perf_counter() - started
    return wrapper


def instrument(trainer, clock: dict):
    """Time the step's parts where Trainer.train_step calls them; the rest (losses, Python) is what remains.
    Returns the (owner, attribute, original) patched beyond this trainer (``Tensor.backward``, the DiffAugment
    module), to put back afterwards."""
    import paddle

    from train import diffaugment

    parts = [("data", trainer.sampler, "batch"),
             ("generator forward", trainer.generator, "forward"),
             ("discriminator forwards (G and D steps)", trainer.discriminator, "forward"),
             ("G optimizer", trainer.opt_g, "step"), ("D optimizer", trainer.opt_d, "step"),
             ("EMA", trainer, "_update_ema")]
    if trainer.gen_cfg.use_vae:
        parts.append(("VAE encoder forward", trainer.generator, "encode"))
    if trainer.diffaugment:
        parts.append(("DiffAugment", diffaugment, "augment"))
    if trainer.squeezenet is not None:
        parts.append(("SqueezeNet forwards", trainer.squeezenet, "stages"))
    if trainer.projected is not None:
        parts.append(("projected D heads", trainer.projected, "forward"))
    parts.append(("backward (G through D, then D)", paddle.Tensor, "backward"))
    shared = []
    for name, owner, attribute in parts:
        if owner in (paddle.Tensor, diffaugment):
            shared.append((owner, attribute, getattr(owner, attribute)))
        setattr(owner, attribute, timed(clock, name, getattr(owner, attribute)))
    return shared


def main(argv=None) -> int:
    argv, steps = bench_steps(sys.argv[1:] if argv is None else argv, 3)
    with warm_trainer(argv) as trainer:
        import paddle.profiler as profiler

        gen_cfg, cfg = trainer.gen_cfg, trainer.cfg

        clock = defaultdict(float)
        patched = instrument(trainer, clock)
        try:
            started = time.perf_counter()
            # No trace files: only the summary is wanted (the default writes ./profiler_log/).
            with profiler.Profiler(targets=[profiler.ProfilerTarget.CPU], on_trace_ready=lambda _: None) as prof:
                for step in range(1, steps + 1):
                    trainer.train_step(step)
                    prof.step()
            total = time.perf_counter() - started
        finally:
            for owner, attribute, original in patched:
                setattr(owner, attribute, original)
    clock["the rest (losses, Python, profiler)"] = total - sum(clock.values())
    print(f"{steps} steps, batch {cfg.batch_size}, {cfg.image_size} px, norm {gen_cfg.norm}, ngf {gen_cfg.ngf}: "
          f"{total / steps:.3f} s a step (profiled)\n")
    print("| part | s / step | share |\n|---|---:|---:|")
    for name, seconds in clock.items():
        print(f"| {name} | {seconds / steps:.3f} | {100 * seconds / total:.1f}% |")
    print()
    prof.summary(sorted_by=profiler.SortedKeys.CPUTotal, op_detail=False, thread_sep=False, time_unit="ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
