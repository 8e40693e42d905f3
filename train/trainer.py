"""The training story: data -> networks -> (D step, G step) x steps, with EMA, samples and checkpoints.

All randomness is drawn from numpy generators keyed by (seed, step), and the
checkpoint holds every network, optimizer moment and EMA weight, so a resumed
run computes exactly the losses the unbroken run would have.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import paddle
from PIL import Image
from tqdm import tqdm

from miaobi_core.checkpoint import save_generator
from miaobi_core.generator import GeneratorConfig, SPADEGenerator, label_onehot
from miaobi_core.palette import Palette, load_palette

from . import losses
from .config import TrainConfig, configs_to_json
from .data import BatchSampler, ProceduralLandscapes, ade20k_pairs, folder_pairs, pseudo_labelled
from .discriminator import MultiscaleDiscriminator

CHECKPOINT = "checkpoint"  # inside run_dir
SAMPLE_ROWS = 4


def build_dataset(cfg: TrainConfig, palette: Palette, split: str = "train"):
    if cfg.data == "procedural":
        return ProceduralLandscapes(palette, size=cfg.image_size, length=64, seed=cfg.seed + (split == "test"))
    if cfg.data == "pseudo":
        return pseudo_labelled(cfg.data_root, split)
    if cfg.data == "ade20k":
        return ade20k_pairs(cfg.data_root, split, palette)
    return folder_pairs(cfg.data_root, cfg.label_dir)


def to_tensors(labels: np.ndarray, photos: np.ndarray, num_classes: int):
    segmap = label_onehot(paddle.to_tensor(labels.astype(np.int64)), num_classes)
    image = paddle.to_tensor(photos.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0)
    return segmap, image


def to_uint8(image: paddle.Tensor) -> np.ndarray:
    return ((image.transpose([0, 2, 3, 1]).numpy() + 1) * 127.5).clip(0, 255).round().astype(np.uint8)


class Trainer:
    def __init__(self, gen_cfg: GeneratorConfig, cfg: TrainConfig, palette: Palette | None = None):
        self.gen_cfg, self.cfg = gen_cfg, cfg
        self.palette = palette or load_palette()
        self.run_dir = Path(cfg.run_dir)
        paddle.seed(cfg.seed)  # initial weights only; everything later draws from numpy
        self.generator = SPADEGenerator(gen_cfg)
        self.discriminator = MultiscaleDiscriminator(gen_cfg.num_classes, cfg.ndf, cfg.n_layers_d, cfg.num_d,
                                                     cfg.d_spectral_norm)
        self.ema = None
        if cfg.ema_decay > 0:
            self.ema = SPADEGenerator(gen_cfg)
            self.ema.set_state_dict(self.generator.state_dict())
            self.ema.eval()
        self.vgg = losses.load_vgg19(cfg.vgg_weights) if cfg.lambda_vgg > 0 else None
        self.opt_g = paddle.optimizer.Adam(cfg.lr_g, beta1=cfg.beta1, beta2=cfg.beta2,
                                           parameters=self.generator.parameters())
        self.opt_d = paddle.optimizer.Adam(cfg.lr_d, beta1=cfg.beta1, beta2=cfg.beta2,
                                           parameters=self.discriminator.parameters())
        self.sampler = BatchSampler(build_dataset(cfg, self.palette), cfg.batch_size, cfg.image_size, cfg.seed)
        self.step = 0

    # ------------------------------------------------------------------ one step

    def learning_rate_scale(self, step: int) -> float:
        """1 until decay_start * steps, then linearly down to 0 at the last step (SPADE's niter_decay)."""
        start = self.cfg.decay_start * self.cfg.steps
        if step < start:
            return 1.0
        return max(0.0, 1.0 - (step - start) / max(1.0, self.cfg.steps - start))

    def sample_z(self, image: paddle.Tensor, rng: np.random.Generator):
        """z from the encoder (use_vae, reparameterised) or from N(0, 1); returns (z, mu, logvar)."""
        noise = paddle.to_tensor(rng.standard_normal((image.shape[0], self.gen_cfg.z_dim)).astype(np.float32))
        if not self.gen_cfg.use_vae:
            return noise, None, None
        mu, logvar = self.generator.encode(image)
        return mu + noise * paddle.exp(0.5 * logvar), mu, logvar

    def train_step(self, step: int) -> dict[str, float]:
        cfg = self.cfg
        labels, photos = self.sampler.batch(step)
        segmap, real = to_tensors(labels, photos, self.gen_cfg.num_classes)
        rng = np.random.default_rng((cfg.seed, step, 1_000_003))
        scale = self.learning_rate_scale(step)
        self.opt_g.set_lr(cfg.lr_g * scale)
        self.opt_d.set_lr(cfg.lr_d * scale)
        self.generator.train()
        self.discriminator.train()

        # Generator step. D's weights need no gradients here, which saves a third of D's backward.
        self._freeze(self.discriminator, True)
        z, mu, logvar = self.sample_z(real, rng)
        fake = self.generator(segmap, z)
        fake_out, real_out = self._discriminate(segmap, fake, real)
        terms = {"g_gan": cfg.lambda_gan * losses.hinge_g_loss(fake_out)}
        if cfg.lambda_feat > 0:
            terms["g_feat"] = cfg.lambda_feat * losses.feature_matching_loss(real_out, fake_out)
        if self.vgg is not None:
            terms["g_vgg"] = cfg.lambda_vgg * losses.perceptual_loss(self.vgg, fake, real)
        if cfg.lambda_l1 > 0:
            terms["g_l1"] = cfg.lambda_l1 * paddle.nn.functional.l1_loss(fake, real)
        if mu is not None:
            terms["g_kld"] = cfg.lambda_kld * losses.kl_loss(mu, logvar)
        g_loss = sum(terms.values())
        g_loss.backward()
        self.opt_g.step()
        self.opt_g.clear_grad()
        self._freeze(self.discriminator, False)

        # Discriminator step on the same fake, detached from G.
        fake_out, real_out = self._discriminate(segmap, fake.detach(), real)
        d_loss = losses.hinge_d_loss(real_out, fake_out)
        d_loss.backward()
        self.opt_d.step()
        self.opt_d.clear_grad()

        self._update_ema(step)
        values = {k: float(v) for k, v in terms.items()}
        values.update(g_total=float(g_loss), d_hinge=float(d_loss), lr_scale=scale)
        return values

    def _discriminate(self, segmap, fake, real):
        # Fake and real in one batch, as SPADE does: one pass, shared instance-norm code path.
        outputs = self.discriminator(paddle.concat([segmap, segmap]), paddle.concat([fake, real]))
        batch = fake.shape[0]
        fake_out = [[f[:batch] for f in scale] for scale in outputs]
        real_out = [[f[batch:] for f in scale] for scale in outputs]
        return fake_out, real_out

    @staticmethod
    def _freeze(layer: paddle.nn.Layer, frozen: bool):
        for p in layer.parameters():
            p.stop_gradient = frozen

    @paddle.no_grad()
    def _update_ema(self, step: int):
        if self.ema is None:
            return
        # Warm-up: early on the average would mostly remember the random initial weights.
        decay = min(self.cfg.ema_decay, (1 + step) / (10 + step))
        live = dict(self.generator.named_parameters())
        for name, p in self.ema.named_parameters():
            p.set_value(decay * p + (1 - decay) * live[name])
        live_buffers = dict(self.generator.named_buffers())
        for name, b in self.ema.named_buffers():
            b.set_value(live_buffers[name])  # spectral-norm vectors and norm statistics follow the live net

    @property
    def inference_generator(self) -> SPADEGenerator:
        return self.ema if self.ema is not None else self.generator

    # ------------------------------------------------------------------ checkpoints

    def save_checkpoint(self):
        """Everything needed to resume, written to a temp folder then swapped in (a crash never corrupts it)."""
        final = self.run_dir / CHECKPOINT
        tmp = self.run_dir / (CHECKPOINT + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        paddle.save(self.generator.state_dict(), str(tmp / "generator.pdparams"))
        paddle.save(self.discriminator.state_dict(), str(tmp / "discriminator.pdparams"))
        paddle.save(_portable_optimizer_state(self.opt_g, self.generator), str(tmp / "opt_g.pdopt"))
        paddle.save(_portable_optimizer_state(self.opt_d, self.discriminator), str(tmp / "opt_d.pdopt"))
        if self.ema is not None:
            paddle.save(self.ema.state_dict(), str(tmp / "ema.pdparams"))
        (tmp / "state.json").write_text(json.dumps({"step": self.step}))
        old = self.run_dir / (CHECKPOINT + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)

    def load_checkpoint(self):
        folder = self.run_dir / CHECKPOINT
        if not (folder / "state.json").is_file():
            raise FileNotFoundError(f"--resume: no checkpoint in {folder}")
        self.generator.set_state_dict(paddle.load(str(folder / "generator.pdparams")))
        self.discriminator.set_state_dict(paddle.load(str(folder / "discriminator.pdparams")))
        self.opt_g.set_state_dict(_local_optimizer_state(paddle.load(str(folder / "opt_g.pdopt")), self.generator))
        self.opt_d.set_state_dict(_local_optimizer_state(paddle.load(str(folder / "opt_d.pdopt")), self.discriminator))
        if self.ema is not None:
            self.ema.set_state_dict(paddle.load(str(folder / "ema.pdparams")))
        self.step = json.loads((folder / "state.json").read_text())["step"]

    def export(self, directory: str | Path, half: bool = True) -> Path:
        """The EMA generator as an inference checkpoint the hub module and web app load."""
        metadata = {"image_size": self.cfg.image_size, "steps": self.step, "data": self.cfg.data,
                    "train_config": dataclasses.asdict(self.cfg)}
        return save_generator(directory, self.inference_generator, half=half, metadata=metadata)

    # ------------------------------------------------------------------ samples

    @paddle.no_grad()
    def save_samples(self):
        """label | generated (EMA) | real, one row per fixed held-out pair, so runs can be compared by eye."""
        sampler = BatchSampler(self.sampler.dataset, SAMPLE_ROWS, self.cfg.image_size, seed=12345, augment_data=False)
        labels, photos = sampler.batch(0)
        segmap, _ = to_tensors(labels, photos, self.gen_cfg.num_classes)
        z = np.random.default_rng(0).standard_normal((SAMPLE_ROWS, self.gen_cfg.z_dim)).astype(np.float32)
        generator = self.inference_generator
        generator.eval()
        fakes = to_uint8(generator(segmap, paddle.to_tensor(z)))
        rows = [np.concatenate([self.palette.colorize(l), f, p], axis=1) for l, f, p in zip(labels, fakes, photos)]
        path = self.run_dir / "samples" / f"step_{self.step:07d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.concatenate(rows, axis=0)).save(path)
        return path


def _portable_optimizer_state(optimizer, layer) -> dict:
    """Optimizer state keyed by structured parameter names ("up_0.conv_0.weight_orig|_moment1_0").

    Paddle keys moments by auto-generated tensor names ("conv2d_904.w_0") that
    depend on how many layers the process built before, so they differ
    between the run that saved and the run that resumes.
    """
    by_tensor_name = sorted(((p.name, name) for name, p in layer.named_parameters()), key=lambda x: -len(x[0]))
    portable = {}
    for key, value in optimizer.state_dict().items():
        for tensor_name, name in by_tensor_name:
            if key.startswith(tensor_name + "_"):
                key = name + "|" + key[len(tensor_name):]
                break
        portable[key] = value
    return portable


def _local_optimizer_state(portable: dict, layer) -> dict:
    tensor_names = {name: p.name for name, p in layer.named_parameters()}
    local = {}
    for key, value in portable.items():
        if "|" in key:
            name, suffix = key.split("|", 1)
            key = tensor_names[name] + suffix
        local[key] = value
    return local


class _StopRequest:
    """Ctrl-C / SIGTERM set a flag; the loop finishes its step, saves a checkpoint and stops.

    Stopping between steps (never inside one) is what keeps resumption exact.
    """

    def __init__(self):
        self.requested = False
        self._previous = {}

    def __enter__(self):
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._request)
        return self

    def _request(self, signum, frame):
        self.requested = True

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def run(gen_cfg: GeneratorConfig, cfg: TrainConfig) -> Trainer:
    """Train per the configs, resuming if asked; Ctrl-C or SIGTERM saves a checkpoint and stops."""
    run_dir = Path(cfg.run_dir)
    if (run_dir / CHECKPOINT).exists() and not cfg.resume:
        raise FileExistsError(f"{run_dir} already holds a run: pass --resume to continue it or pick another --run-dir")
    trainer = Trainer(gen_cfg, cfg)
    if cfg.resume and (run_dir / CHECKPOINT).exists():
        trainer.load_checkpoint()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(configs_to_json(gen_cfg, cfg) + "\n")

    from visualdl import LogWriter  # imported here: only training writes scalars

    bar = tqdm(total=cfg.steps, initial=trainer.step, desc="train", unit="step", dynamic_ncols=True)
    started, first_step = time.perf_counter(), trainer.step
    with _StopRequest() as stop, LogWriter(logdir=str(run_dir / "visualdl")) as writer, \
            open(run_dir / "log.jsonl", "a") as log:
        while trainer.step < cfg.steps and not stop.requested:
            values = trainer.train_step(trainer.step)
            trainer.step += 1
            bar.update(1)
            if trainer.step % cfg.log_every == 0 or trainer.step == cfg.steps:
                values["images_per_s"] = (trainer.step - first_step) * cfg.batch_size / (time.perf_counter() - started)
                log.write(json.dumps({"step": trainer.step, **values}) + "\n")
                log.flush()
                for key, value in values.items():
                    writer.add_scalar(f"train/{key}", value, trainer.step)
                bar.set_postfix(g=f"{values['g_total']:.3f}", d=f"{values['d_hinge']:.3f}",
                                img_s=f"{values['images_per_s']:.2f}")
            if trainer.step % cfg.sample_every == 0 or trainer.step == cfg.steps:
                trainer.save_samples()
            if trainer.step % cfg.checkpoint_every == 0 or trainer.step == cfg.steps or stop.requested:
                trainer.save_checkpoint()
    bar.close()
    if stop.requested:
        print(f"stopped at step {trainer.step}; checkpoint saved, continue with --resume")
    elif cfg.export:
        trainer.export(cfg.export, half=cfg.export_half)
    return trainer
