"""``python -m train [options]``: train the generator; ``python -m train --help`` lists every option."""
import os
import signal
import sys

from miaobi_core.palette import load_palette
from miaobi_core.runtime import configure_cpu

from .config import configs_to_json, parse_configs


def main(argv=None) -> int:
    gen_cfg, cfg = parse_configs(argv, load_palette().num_classes)
    if cfg.dry_run:
        print(configs_to_json(gen_cfg, cfg))
        return 0
    from .parallel import launched, processes_for

    # Under paddle.distributed.launch this process is one rank already; otherwise the ranks start here.
    cores = os.cpu_count() or 1
    processes = 1 if launched() else cfg.processes or processes_for(cfg.batch_size, cores)
    sharing = int(os.environ.get("PADDLE_LOCAL_SIZE", 1)) if launched() else processes  # ranks on this machine
    # Before paddle loads (OpenMP reads its thread count then, MKL its CPU-type switch); the ranks inherit it.
    configure_cpu(cfg.threads or max(1, cores // sharing))
    import paddle

    gpus = paddle.device.cuda.device_count() if paddle.is_compiled_with_cuda() else 0
    if not (cfg.processes or launched()) and gpus > 0:
        processes = processes_for(cfg.batch_size, gpus)
    from .trainer import run, run_rank

    if processes == 1:
        run(gen_cfg, cfg)
    else:
        print(f"training in {processes} data-parallel processes, {cfg.batch_size // processes} pairs each per step")
        ranks = paddle.distributed.spawn(run_rank, args=(gen_cfg, cfg), nprocs=processes, join=False)

        def forward(signum, frame):
            # A stop sent to this process alone (kill, a job scheduler) must reach the ranks, which then save.
            for rank in ranks.processes:
                if rank.is_alive():
                    os.kill(rank.pid, signum)

        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, forward)
        try:
            while not ranks.join():
                pass
        except BaseException:
            # One rank failed: the others would wait for it forever inside a collective.
            for rank in ranks.processes:
                if rank.is_alive():
                    rank.kill()
            raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
