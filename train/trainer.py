"""The training story: data -> networks -> (D step, G step) x steps, with EMA, samples and checkpoints.

All randomness is drawn from numpy generators keyed by (seed, step), and the
checkpoint holds every network, optimizer moment and EMA weight, so a resumed
run computes exactly the losses the unbroken run would have.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import paddle
from PIL import Image
from tqdm import tqdm

from miaobi_core.checkpoint import CONFIG_NAME, load_generator, read_checkpoint_info, save_generator
from miaobi_core.codec import pictures_from_unit, pictures_to_unit
from miaobi_core.config import WEIGHT_FREE_SETTINGS
from miaobi_core.generator import GeneratorConfig, SPADEGenerator, label_onehot
from miaobi_core.palette import Palette, load_palette
from miaobi_core.styles import StyleBook, copy_styles

from . import diffaugment, files, losses
from .catch_up import CatchUp
from .checkpoints import StopRequest, read_checkpoint, write_checkpoint
from .config import TrainConfig, configs_to_json
from .data import BatchSampler, ProceduralLandscapes, ade20k_pairs, folder_pairs, pseudo_labelled
from .discriminator import MultiscaleDiscriminator, ProjectedDiscriminator
from .squeezenet import SQUEEZENET_STAGES, load_squeezenet, squeezenet_input
from .distill import DistillConfig, Distillation, frozen
from .parallel import Ranks
from .semantic import load_semantic_head, semantic_loss

SAMPLE_ROWS = 4
MEMORISATION_PAIRS = 64  # training and held-out pairs each that Trainer.memorisation scores
PROGRESS_KEYS = ("g_total", "d_hinge", "s_l1", "s_ssim", "s_feat", "s_gan", "images_per_s")  # shown on the progress bar


@dataclasses.dataclass
class Seen:
    """One step's label maps, pictures and photos as the discriminators see them (augmented alike), and the
    frozen SqueezeNet's stages of the pictures and photos when a loss reads them."""
    onehot_map: paddle.Tensor
    fake: paddle.Tensor
    real: paddle.Tensor
    fake_stages: list | None = None
    real_stages: list | None = None

    def detached(self) -> "Seen":
        """The same, cut from the generator's graph: what D's step trains on."""
        stages = None if self.fake_stages is None else [f.detach() for f in self.fake_stages]
        return Seen(self.onehot_map, self.fake.detach(), self.real, stages, self.real_stages)


def build_dataset(cfg: TrainConfig, palette: Palette, split: str = "train"):
    if cfg.data == "procedural":
        return ProceduralLandscapes(palette, size=cfg.image_size, length=64, seed=cfg.seed + (split == "test"))
    if cfg.data == "ade20k":
        return ade20k_pairs(cfg.data_root, split, palette)
    dataset = pseudo_labelled(cfg.data_root, split) if cfg.data == "pseudo" else folder_pairs(cfg.data_root,
                                                                                                 cfg.label_dir)
    dataset.id_lut = palette.label_lut()  # classes the palette gained after this model's are unlabelled for it
    return dataset


def to_tensors(labels: np.ndarray, photos: np.ndarray, num_classes: int):
    onehot_map = label_onehot(paddle.to_tensor(labels.astype(np.int64)), num_classes)
    return onehot_map, paddle.to_tensor(pictures_to_unit(photos))


class Trainer:
    def __init__(self, gen_cfg: GeneratorConfig, cfg: TrainConfig, palette: Palette | None = None):
        self.gen_cfg, self.cfg = gen_cfg, cfg
        self.palette = (palette or load_palette()).first(gen_cfg.num_classes)
        self.run_dir = Path(cfg.run_dir)
        self.ranks = Ranks()
        paddle.seed(cfg.seed)  # initial weights only; everything later draws from numpy
        self.generator = SPADEGenerator(gen_cfg)
        self.discriminator = MultiscaleDiscriminator(gen_cfg.num_classes, **cfg.discriminators)
        self.ema = None
        if cfg.ema_decay > 0:
            self.ema = SPADEGenerator(gen_cfg)
            self.ema.set_state_dict(self.generator.state_dict())
            self.ema.eval()
        weights = self.weights = cfg.losses
        self.vgg = losses.load_vgg19(cfg.vgg_weights) if weights.vgg > 0 else None
        self.diffaugment = diffaugment.parse_policy(cfg.diffaugment)
        # Frozen ImageNet features for the perceptual loss, the projected discriminator and the semantic reader.
        self.squeezenet = (load_squeezenet(cfg.squeezenet_dir)
                           if weights.squeezenet or weights.projected or weights.semantic else None)
        self.semantic = (load_semantic_head(cfg.semantic_head, gen_cfg.num_classes)
                         if weights.semantic > 0 else None)
        self.projected = None
        if weights.projected > 0:
            self.projected = ProjectedDiscriminator(SQUEEZENET_STAGES, gen_cfg.num_classes,
                                                    spectral_norm=cfg.d_spectral_norm)
            self.opt_projected = paddle.optimizer.Adam(cfg.lr_d, **cfg.betas,
                                                       parameters=self.projected.parameters())
        self.opt_g = paddle.optimizer.Adam(cfg.lr_g, **cfg.betas,
                                           parameters=self.generator.parameters())
        self.opt_d = paddle.optimizer.Adam(cfg.lr_d, **cfg.betas,
                                           parameters=self.discriminator.parameters())
        self.catch_up = CatchUp(self.generator, self.palette, cfg) if cfg.catch_up_classes else None
        self.distillation = None
        if cfg.student_ngf:
            # The student imitates the network users get (the EMA): a smoother target than the live generator,
            # and the one its quality is judged against.
            self.distillation = Distillation(self.inference_generator, DistillConfig.from_train(cfg),
                                             self.discriminator)
        self.student_born = 0  # the step the student started at (later than 0 with --init-from)
        self.teacher_frozen_at = 0  # with --freeze-teacher: the training steps the teacher had when it stopped
        self.moments_born = 0  # the step the optimizers' moments started from nothing (later with --continue-from)
        self.sampler = BatchSampler(build_dataset(cfg, self.palette), cfg.batch_size, cfg.image_size, cfg.seed,
                                    label_warp=cfg.label_warp, min_crop=cfg.min_crop,
                                    wide_share=cfg.wide_share)
        # Held-out pairs, only to watch the discriminators for memorising (the folder layout has no split).
        self.heldout = build_dataset(cfg, self.palette, "test") if cfg.data in ("pseudo", "procedural") else None
        self.lecam = losses.LeCamAnchors()
        self.step = 0
        # Users' z for a frozen teacher: a seed's N(0, 1) draw, through the seeds' Gaussian of the teacher's
        # styles.json if it has one (a style-encoder teacher learnt from photo codes, not from N(0, 1)).
        self.users_seeds = StyleBook(cfg.init_from, gen_cfg.z_dim) if cfg.freeze_teacher and cfg.init_from else None

    # ------------------------------------------------------------------ one step

    def learning_rate_scale(self, step: int) -> float:
        """1 until the last decay_steps, then linearly down to 0 at the last step (SPADE's niter_decay); times a
        linear warm-up over warmup_steps from where the optimizers' moments started."""
        start = max(0, self.cfg.steps - self.cfg.decay_steps)  # a run shorter than its decay decays throughout
        scale = 1.0 if step < start else max(0.0, 1.0 - (step - start) / max(1.0, self.cfg.steps - start))
        if self.cfg.warmup_steps:
            scale *= min(1.0, (step - self.moments_born + 1) / self.cfg.warmup_steps)
        return scale

    def noise(self, rng: np.random.Generator) -> paddle.Tensor:
        """This rank's rows of the step's (batch_size, z_dim) normal draw: the same z whatever the rank count."""
        z = rng.standard_normal((self.cfg.batch_size, self.gen_cfg.z_dim)).astype(np.float32)
        return paddle.to_tensor(z[self.ranks.part(self.cfg.batch_size)])

    def users_noise(self, rng: np.random.Generator) -> paddle.Tensor:
        """This rank's rows of z as users' requests draw it (Synthesizer.generate), for the student to learn."""
        noise = self.noise(rng)
        if self.users_seeds is None:
            return noise
        return paddle.to_tensor(self.users_seeds.seed_vector(noise.numpy()))

    def sample_z(self, image: paddle.Tensor, rng: np.random.Generator):
        """z from the encoder (use_vae, reparameterised) or from N(0, 1); returns (z, mu, logvar)."""
        noise = self.noise(rng)
        if not self.gen_cfg.use_vae:
            return noise, None, None
        height, width = image.shape[2:]
        left = (width - height) // 2  # the encoder reads squares: a wide photo's style is its middle's
        mu, logvar = self.generator.encode(image[:, :, :, left:left + height])
        return mu + noise * paddle.exp(0.5 * logvar), mu, logvar

    def train_step(self, step: int) -> dict[str, float]:
        """One G step, then one D step on the same pictures; returns every loss term and the learning-rate scale."""
        cfg = self.cfg
        labels, photos = self.sampler.batch(step, self.ranks.part(cfg.batch_size))
        onehot_map, real = to_tensors(labels, photos, self.gen_cfg.num_classes)
        rng = np.random.default_rng((cfg.seed, step, 1_000_003))
        scale = self.learning_rate_scale(step)
        if cfg.freeze_teacher:
            # z as users' requests draw it (never a style encoder's), since that is what the student must serve.
            values, picture = self._distill(onehot_map, self.users_noise(rng), scale, step)
            if cfg.lambda_distill_gan > 0:
                values.update(self.discriminator_step(Seen(onehot_map, picture, real), scale))
            return {**self.ranks.mean(values), "lr_scale": scale}

        self.opt_g.set_lr(cfg.lr_g * scale)
        self.generator.train()
        self.discriminator.train()
        z, mu, logvar = self.sample_z(real, rng)
        fake = self.generator(onehot_map, z)
        seen = self.seen_by_discriminators(onehot_map, fake, real, rng)
        terms = self.generator_losses(seen, onehot_map, fake, real, labels, z, mu, logvar)
        g_loss = sum(terms.values())
        g_loss.backward()
        self.ranks.step(self.opt_g)
        if self.catch_up is not None:
            self.catch_up.step(scale)
        self.opt_g.clear_grad()

        values = {key: float(value) for key, value in terms.items()}
        values["g_total"] = float(g_loss)
        values.update(self.discriminator_step(seen.detached(), scale))
        self._update_ema(self.ema, self.generator, step)
        if self.distillation is not None:
            values.update(self._distill(onehot_map, z, scale, step)[0])
        return {**self.ranks.mean(values), "lr_scale": scale}

    def seen_by_discriminators(self, onehot_map, fake, real, rng: np.random.Generator) -> "Seen":
        """What the discriminators see: each pair's map, picture and photo changed alike (DiffAugment), and the
        frozen SqueezeNet's stages of both when a loss needs them (one pass serves them all)."""
        if self.diffaugment:
            params = diffaugment.draw(rng, onehot_map.shape[0], *onehot_map.shape[2:])
            real = diffaugment.augment(onehot_map, real, self.diffaugment, params)[1]
            onehot_map, fake = diffaugment.augment(onehot_map, fake, self.diffaugment, params)
        seen = Seen(onehot_map, fake, real)
        if self.squeezenet is not None:
            with paddle.no_grad():
                seen.real_stages = self.squeezenet.stages(squeezenet_input(real))
            seen.fake_stages = self.squeezenet.stages(squeezenet_input(fake))
        return seen

    def generator_losses(self, seen: "Seen", onehot_map, fake, real, labels: np.ndarray, z, mu, logvar
                         ) -> dict[str, paddle.Tensor]:
        """The generator's weighted loss terms. D's weights need no gradients here (a third of D's backward)."""
        weights, terms = self.weights, {}
        with frozen(self.discriminator):
            fake_out = self.discriminator(seen.onehot_map, seen.fake)
            # The real photos' features are only targets: judged without a graph, in eval mode so they reuse the
            # spectral-norm estimate the fake pass just refined (what one pass over both would have used). That
            # halves the batch G's gradient goes back through.
            self.discriminator.eval()
            with paddle.no_grad():
                real_out = self.discriminator(seen.onehot_map, seen.real)
            self.discriminator.train()
            terms["g_gan"] = weights.gan * losses.hinge_g_loss(fake_out)
            if weights.feat > 0:
                terms["g_feat"] = weights.feat * losses.feature_matching_loss(real_out, fake_out)
        if weights.squeezenet > 0:
            terms["g_squeezenet"] = weights.squeezenet * losses.feature_distance(seen.fake_stages,
                                                                                   seen.real_stages)
        if self.semantic is not None:
            # The map painted again in the next photo's style code. With its own photo's code the picture
            # is read as well as the photo is (a reader trained on photos cannot ask for more); users' dice
            # draw codes from all photos, and the light and weather of another photo are where a mountain
            # turned into sea. D never sees these pictures, but G cannot paint them apart: each is judged
            # elsewhere on codes drawn alike. Not augmented (cutout would erase what the map asks for).
            restyled = self.generator(onehot_map, paddle.roll(z.detach(), 1, axis=0))  # the codes stay the photos'
            terms["g_semantic"] = weights.semantic * semantic_loss(
                self.semantic, self.squeezenet.stages(squeezenet_input(restyled)),
                paddle.to_tensor(self.semantic_labels(labels)), self.palette.ignore_id, self.cfg.semantic_class_balanced)
        if self.projected is not None:
            with frozen(self.projected):
                terms["g_projected"] = weights.projected * losses.hinge_g_loss(
                    self.projected(seen.onehot_map, seen.fake_stages))
        if self.vgg is not None:
            terms["g_vgg"] = weights.vgg * losses.perceptual_loss(self.vgg, fake, real)
        if weights.l1 > 0:
            terms["g_l1"] = weights.l1 * paddle.nn.functional.l1_loss(fake, real)
        if weights.spectral > 0:
            terms["g_spectral"] = weights.spectral * losses.spectral_loss(fake, real)
        if mu is not None:
            terms["g_kld"] = weights.kld * losses.kl_loss(mu, logvar)
        return terms

    def semantic_labels(self, labels: np.ndarray) -> np.ndarray:
        """The label map as the reader knows it: classes added after it was trained count as unlabelled."""
        known = self.semantic.num_classes
        return np.where(labels < known, labels, self.palette.ignore_id).astype(np.int64)

    def discriminator_losses(self, seen: "Seen") -> dict[str, paddle.Tensor]:
        """The discriminators' loss terms on one step's (detached) pictures and photos."""
        fake_out, real_out = self._discriminate(seen.onehot_map, seen.fake, seen.real)
        terms = {"d_hinge": losses.hinge_d_loss(real_out, fake_out)}
        if self.projected is not None:
            projected_real = self.projected(seen.onehot_map, seen.real_stages)
            projected_fake = self.projected(seen.onehot_map, seen.fake_stages)
            terms["d_projected"] = losses.hinge_d_loss(projected_real, projected_fake)
            real_out, fake_out = real_out + projected_real, fake_out + projected_fake
        if self.weights.lecam > 0:
            means = self.ranks.mean({f"{side}{head}": float(out[-1].mean())
                                     for side, outputs in (("r", real_out), ("f", fake_out))
                                     for head, out in enumerate(outputs)})
            self.lecam.update([means[f"r{h}"] for h in range(len(real_out))],
                              [means[f"f{h}"] for h in range(len(fake_out))])
            terms["d_lecam"] = self.weights.lecam * losses.lecam_loss(real_out, fake_out, self.lecam)
        return terms

    def discriminator_step(self, seen: "Seen", lr_scale: float) -> dict[str, float]:
        """One step of D (and of the projected D) on the sum of :meth:`discriminator_losses`."""
        optimizers = [self.opt_d] + ([self.opt_projected] if self.projected is not None else [])
        for optimizer in optimizers:
            optimizer.set_lr(self.cfg.lr_d * lr_scale)
        self.discriminator.train()
        terms = self.discriminator_losses(seen)
        sum(terms.values()).backward()
        for optimizer in optimizers:
            self.ranks.step(optimizer)
            optimizer.clear_grad()
        return {key: float(value) for key, value in terms.items()}

    def _distill(self, onehot_map, z, lr_scale: float, step: int) -> tuple[dict[str, float], paddle.Tensor]:
        """One student step towards the picture of the network users get, on the teacher's label map and z."""
        with paddle.no_grad():
            picture = self.inference_generator(onehot_map, z)  # also leaves its block activations in the taps
        values, student_picture = self.distillation.step(onehot_map, z, picture, self.cfg.lr_student * lr_scale)
        # The student's average warms up from its own birth, not from the teacher's step count.
        self._update_ema(self.distillation.ema, self.distillation.student, step - self.student_born)
        return values, student_picture

    def _discriminate(self, onehot_map, fake, real):
        # Fake and real in one batch, as SPADE does: one pass, shared instance-norm code path.
        outputs = self.discriminator(paddle.concat([onehot_map, onehot_map]), paddle.concat([fake, real]))
        # split, not two slices: its backward is one concat, where each slice's writes a full-size zero tensor.
        halves = [[paddle.split(f, 2) for f in scale] for scale in outputs]
        return [[f for f, _ in scale] for scale in halves], [[r for _, r in scale] for scale in halves]

    @paddle.no_grad()
    def _update_ema(self, ema: SPADEGenerator | None, generator: SPADEGenerator, step: int):
        if ema is None:
            return
        # Warm-up: early on the average would mostly remember the random initial weights.
        decay = min(self.cfg.ema_decay, (1 + step) / (10 + step))
        live = dict(generator.named_parameters())
        for name, p in ema.named_parameters():
            p.set_value(decay * p + (1 - decay) * live[name])
        live_buffers = dict(generator.named_buffers())
        for name, b in ema.named_buffers():
            b.set_value(live_buffers[name])  # spectral-norm vectors and norm statistics follow the live net

    @property
    def inference_generator(self) -> SPADEGenerator:
        return self.ema if self.ema is not None else self.generator

    # ------------------------------------------------------------------ checkpoints

    def _checkpoint_parts(self, teacher_only: bool = False) -> list[tuple[str, paddle.nn.Layer, tuple | None]]:
        """(weights file, layer, (optimizer file, optimizer) or None) for everything a checkpoint holds."""
        parts = [(files.GENERATOR, self.generator, (files.OPT_G, self.opt_g)),
                 (files.DISCRIMINATOR, self.discriminator, (files.OPT_D, self.opt_d))]
        if self.catch_up is not None:
            parts.append((None, self.generator, (files.OPT_CATCH_UP, self.catch_up.optimizer)))
        if self.projected is not None:
            parts.append((files.PROJECTED, self.projected, (files.OPT_PROJECTED, self.opt_projected)))
        if self.ema is not None:
            parts.append((files.EMA, self.ema, None))
        if self.distillation is not None and not teacher_only:
            d = self.distillation
            parts.append((files.STUDENT, d.trainable, (files.OPT_STUDENT, d.optimizer)))
            if d.ema is not None:
                parts.append((files.STUDENT_EMA, d.ema, None))
        return parts

    def save_checkpoint(self):
        """Everything needed to resume (checkpoints.write_checkpoint: a crash never corrupts it)."""
        write_checkpoint(self.run_dir / files.CHECKPOINT, self._checkpoint_parts(), self.state())

    def state(self) -> dict:
        """The step counters a checkpoint's state.json holds (and an export's metadata is made from)."""
        return {"step": self.step, "student_born": self.student_born, "teacher_frozen_at": self.teacher_frozen_at,
                "moments_born": self.moments_born, "lecam": self.lecam.state()}

    def load_checkpoint(self, folder: str | Path | None = None, teacher_only: bool = False):
        """Resume from run_dir's checkpoint, or with ``teacher_only`` start a new student beside another run's teacher."""
        folder = Path(folder) if folder is not None else self.run_dir / files.CHECKPOINT
        state = read_checkpoint(folder, self._checkpoint_parts(teacher_only))
        self.step = state["step"]
        self.student_born = self.step if teacher_only else state.get("student_born", 0)
        self.teacher_frozen_at = self.step if teacher_only else state.get("teacher_frozen_at", self.student_born)
        self.moments_born = state.get("moments_born", 0)
        self.lecam = losses.LeCamAnchors(**state.get("lecam", {}))

    def continue_from(self, folder: Path):
        """Go on from a committed continuation state (:mod:`train.continuation`): its networks and step,
        fresh optimizer moments. A network it lacks (say, a discriminator added since) starts anew."""
        from .continuation import grow_classes, read_networks

        saved = GeneratorConfig.from_dict(json.loads((folder / files.CONFIG).read_text())["generator"])
        old_classes = saved.num_classes
        if old_classes > self.gen_cfg.num_classes:
            raise ValueError(f"--continue-from {folder} paints {old_classes} classes; train with --num-classes "
                             f"{old_classes}")
        saved = dataclasses.replace(saved, num_classes=self.gen_cfg.num_classes)  # more classes: grown below
        differences = self.gen_cfg.differences(saved)
        if set(differences) - set(WEIGHT_FREE_SETTINGS):
            raise ValueError(f"--continue-from {folder} holds a generator with other settings; train with {differences}")
        if differences:
            now = {k: getattr(self.gen_cfg, k) for k in differences}
            print(f"--continue-from {folder}: its generator had {differences}, settings that hold no weights; "
                  f"it goes on with {now}")
        networks = read_networks(folder)
        if old_classes < self.gen_cfg.num_classes:
            print(f"--continue-from {folder}: its networks knew {old_classes} classes; each added one starts as "
                  "their average")
        for weights_file, layer, _ in self._checkpoint_parts(teacher_only=True):
            if weights_file is None:
                continue  # a second optimizer: no weights of its own
            if weights_file in networks:
                layer.set_state_dict(grow_classes(networks[weights_file], layer.state_dict(), old_classes,
                                                  self.gen_cfg.num_classes, weights_file == files.PROJECTED))
            elif weights_file in (files.GENERATOR, files.EMA):
                raise FileNotFoundError(f"{folder} has no {weights_file}")
            else:
                print(f"--continue-from {folder}: no {weights_file}, so that network starts from scratch")
        state = json.loads((folder / files.STATE).read_text())
        self.step = self.moments_born = state["step"]
        self.lecam = losses.LeCamAnchors(**state.get("lecam", {}))

    def start_teacher_from(self, folder: Path):
        """Begin from another run's teacher (its checkpoint), or from an exported generator as a frozen teacher.

        An export holds only the weight average users get: no discriminator, no optimizer state, no live
        weights. That is all a frozen teacher needs, and it lets a student be distilled from the shipped model
        when its training run is gone; the discriminator then learns from scratch as the student's adversary.
        """
        if not (folder / CONFIG_NAME).is_file():
            self.load_checkpoint(folder / files.CHECKPOINT, teacher_only=True)
            return
        if not self.cfg.freeze_teacher:
            raise ValueError(f"--init-from {folder} is an exported generator (no discriminator or optimizer state): "
                             "it can only be a frozen teacher; add --freeze-teacher")
        info = read_checkpoint_info(folder)
        exported = GeneratorConfig.from_dict(info["generator"])
        if exported != self.gen_cfg:
            raise ValueError(f"--init-from {folder} holds a generator with other settings; "
                             f"train with {self.gen_cfg.differences(exported)}")
        teacher = load_generator(folder).state_dict()
        self.generator.set_state_dict(teacher)
        self.inference_generator.set_state_dict(teacher)
        self.teacher_frozen_at = info["metadata"].get("steps", 0)

    def export(self, directory: str | Path, half: bool = True, student: bool = False) -> Path:
        """The EMA generator (or the distilled student's EMA) as an inference checkpoint the hub module loads."""
        if student and self.distillation is None:
            raise ValueError("this run trains no student (--student-ngf 0)")
        network = self.distillation.inference_generator if student else self.inference_generator
        folder = save_generator(directory, network, half=half,
                                metadata=export_metadata(self.gen_cfg, self.cfg, self.state(), student))
        if student and self.users_seeds is not None:
            copy_styles(Path(self.cfg.init_from), folder)  # it learnt the teacher's pictures of those codes
        return folder

    # ------------------------------------------------------------------ samples

    @paddle.no_grad()
    def memorisation(self) -> dict[str, float]:
        """The discriminators' mean score on fixed training pairs and on held-out ones, and the gap between them.

        A discriminator that generalises scores photos it never saw as it scores its training photos; one that
        learns its training photos by heart (ours did past step ~18,500 on 9,461 photos) scores them higher,
        and the generator then chases those photos instead of photographs. Empty without a held-out split."""
        if self.heldout is None:
            return {}
        scores = []
        self.discriminator.eval()
        for dataset in (self.sampler.dataset, self.heldout):
            labels, photos = BatchSampler(dataset, MEMORISATION_PAIRS, self.cfg.image_size, seed=54321,
                                          augment_data=False).batch(0)
            onehot_map, real = to_tensors(labels, photos, self.gen_cfg.num_classes)
            outputs = self.discriminator(onehot_map, real)
            scores.append(float(sum(out[-1].mean() for out in outputs)) / len(outputs))
        self.discriminator.train()
        return {"d_train": scores[0], "d_heldout": scores[1], "d_gap": scores[0] - scores[1]}

    @paddle.no_grad()
    def save_samples(self):
        """label | generated (EMA) | [student (EMA)] | [from the photo's code] | real, one row per fixed held-out
        pair, to compare by eye."""
        sampler = BatchSampler(self.sampler.dataset, SAMPLE_ROWS, self.cfg.image_size, seed=12345, augment_data=False)
        labels, photos = sampler.batch(0)
        onehot_map, real = to_tensors(labels, photos, self.gen_cfg.num_classes)
        z = paddle.to_tensor(np.random.default_rng(0).standard_normal((SAMPLE_ROWS, self.gen_cfg.z_dim)).astype(np.float32))
        generators = [self.inference_generator]
        if self.distillation is not None:
            generators.append(self.distillation.inference_generator)
        columns = [[self.palette.colorize(l) for l in labels]]
        for generator in generators:
            generator.eval()
            columns.append(list(pictures_from_unit(generator(onehot_map, z).numpy())))
        if self.gen_cfg.use_vae:
            # A style encoder's generator trains on photos' codes, which N(0, 1) draws only roughly resemble
            # (users' seeds draw from the codes' Gaussian, fitted after training): this column shows its pictures
            # at their best, and how far the seeds column is from them.
            teacher = self.inference_generator
            columns.append(list(pictures_from_unit(teacher(onehot_map, teacher.encode(real)[0]).numpy())))
        columns.append(list(photos))
        path = self.run_dir / "samples" / f"step_{self.step:07d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.concatenate([np.concatenate(row, axis=1) for row in zip(*columns)], axis=0)).save(path)
        return path


def export_metadata(gen_cfg: GeneratorConfig, cfg: TrainConfig, state: dict, student: bool) -> dict:
    """What an export says about its training; ``state`` is a checkpoint's state.json."""
    # Each network's own training steps: a student's count from its birth, a frozen teacher's stop there.
    steps = state["step"] - state.get("student_born", 0) if student else (
        state.get("teacher_frozen_at", state["step"]) if cfg.freeze_teacher else state["step"])
    metadata = {"image_size": cfg.image_size, "steps": steps, "data": cfg.data, "train_config": dataclasses.asdict(cfg)}
    if student:
        metadata["distilled_from"] = gen_cfg.to_dict()
    return metadata


def run(gen_cfg: GeneratorConfig, cfg: TrainConfig) -> Trainer:
    """Train per the configs, resuming if asked; Ctrl-C or SIGTERM saves a checkpoint and stops.

    In a data-parallel run every rank calls this; rank 0 alone writes to run_dir.
    """
    run_dir = Path(cfg.run_dir)
    if (run_dir / files.CHECKPOINT).exists() and not cfg.resume:
        raise FileExistsError(f"{run_dir} already holds a run: pass --resume to continue it or pick another --run-dir")
    trainer = Trainer(gen_cfg, cfg)
    ranks = trainer.ranks
    if cfg.resume and (run_dir / files.CHECKPOINT).exists():
        trainer.load_checkpoint()
    elif cfg.continue_from:
        trainer.continue_from(Path(cfg.continue_from))
    elif cfg.init_from:
        trainer.start_teacher_from(Path(cfg.init_from))
        if cfg.prune_student:
            trainer.distillation.start_from(trainer.inference_generator)
        elif cfg.init_student_from:
            # Counted as born that many steps ago: its exports go on counting, its average needs no warm-up.
            trainer.student_born = trainer.step - trainer.distillation.continue_from(Path(cfg.init_student_from))
    if ranks.leader:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / files.CONFIG).write_text(configs_to_json(gen_cfg, cfg) + "\n")

    from visualdl import LogWriter  # imported here: only training writes scalars

    bar = tqdm(total=cfg.steps, initial=trainer.step, desc="train", unit="step", dynamic_ncols=True,
               disable=not ranks.leader)
    started, first_step = time.perf_counter(), trainer.step
    with StopRequest() as stop, contextlib.ExitStack() as outputs:
        if ranks.leader:
            writer = outputs.enter_context(LogWriter(logdir=str(run_dir / "visualdl")))
            log = outputs.enter_context(open(run_dir / "log.jsonl", "a"))
        stopping = False
        while trainer.step < cfg.steps and not stopping:
            values = trainer.train_step(trainer.step)
            trainer.step += 1
            stopping = ranks.any(stop.requested)
            if not ranks.leader:
                continue
            bar.update(1)
            sampling = trainer.step % cfg.sample_every == 0 or trainer.step == cfg.steps
            if trainer.step % cfg.log_every == 0 or trainer.step == cfg.steps or sampling:
                values["images_per_s"] = (trainer.step - first_step) * cfg.batch_size / (time.perf_counter() - started)
                if sampling:  # the rate above is the training's own, without the samples' time
                    trainer.save_samples()
                    values.update(trainer.memorisation())
                log.write(json.dumps({"step": trainer.step, **values}) + "\n")
                log.flush()
                for key, value in values.items():
                    writer.add_scalar(f"train/{key}", value, trainer.step)
                bar.set_postfix({key: f"{values[key]:.3f}" for key in PROGRESS_KEYS if key in values})
            if trainer.step % cfg.checkpoint_every == 0 or trainer.step == cfg.steps or stopping:
                trainer.save_checkpoint()
    bar.close()
    if stopping:
        if ranks.leader:
            print(f"stopped at step {trainer.step}; checkpoint saved, continue with --resume")
    elif ranks.leader:
        if cfg.export:
            trainer.export(cfg.export, half=cfg.export_half)
        if cfg.export_student:
            trainer.export(cfg.export_student, half=cfg.export_half, student=True)
    return trainer


def run_rank(gen_cfg: GeneratorConfig, cfg: TrainConfig) -> None:
    """One data-parallel rank's :func:`run` (``paddle.distributed.spawn`` would try to send the Trainer back)."""
    run(gen_cfg, cfg)
