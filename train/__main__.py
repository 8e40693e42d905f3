"""``python -m train [options]``: train the generator; ``python -m train --help`` lists every option."""
import sys

from miaobi_core.palette import load_palette
from miaobi_core.runtime import configure_cpu

from .config import configs_to_json, parse_configs


def main(argv=None) -> int:
    gen_cfg, cfg = parse_configs(argv, load_palette().num_classes)
    if cfg.dry_run:
        print(configs_to_json(gen_cfg, cfg))
        return 0
    configure_cpu(cfg.threads)  # before paddle loads: MKL reads its CPU-type switch once
    from .trainer import run

    run(gen_cfg, cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
