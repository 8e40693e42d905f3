"""Near-duplicates: copies of a photo are found however they were re-saved; plain horizons are not copies."""
import io

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

from train import duplicates


def seascape(seed, horizon=0.45, size=150):
    """A plain horizon: smooth sky over a sea with waves, each photo its own waves and haze."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, size)[:, None, None]
    light = rng.uniform(-60, 60, 3)  # each day its own light
    sky = np.array([150, 190, 235]) + light - 60 * y
    sea = np.array([30, 70, 120]) + light / 2 + gaussian_filter(rng.normal(0, 25, (size, size, 1)), (0.7, 2.0, 0))
    photo = np.where(y < horizon, sky + rng.normal(0, 1.5, (size, size, 3)), sea)
    return np.clip(photo, 0, 255).astype(np.uint8)


def resaved(photo, quality=60, crop=4, mirror=False, letterbox=0):
    image = Image.fromarray(photo)
    image = image.crop((crop, crop // 2, 150 - crop // 2, 150 - crop)).resize((150, 150), Image.BICUBIC)
    if mirror:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    if letterbox:
        boxed = Image.new("RGB", (150, 150), "black")
        boxed.paste(image.resize((150, 150 - 2 * letterbox)), (0, letterbox))
        image = boxed
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def rocky_shore(seed, size=150):
    """A photo with corners: rocks of random shapes on a shore under a plain sky."""
    rng = np.random.default_rng(seed)
    photo = seascape(seed, horizon=0.4, size=size)
    for _ in range(40):
        y, x, r = rng.integers(70, size), rng.integers(0, size), rng.integers(3, 9)
        photo[max(0, y - r): y + r, max(0, x - r): x + r // 2] = rng.integers(40, 200, 3)
    return photo


def test_a_resaved_cropped_mirrored_copy_is_a_duplicate():
    for photo in (rocky_shore(1), seascape(1)):  # by its corners; a plain horizon by its thumbnails
        original = duplicates.signature(photo)
        for copy in (resaved(photo), resaved(photo, mirror=True), resaved(photo, letterbox=12)):
            [match] = duplicates.closest_matches([duplicates.signature(copy)], [original])
            assert match.duplicate, match


def test_plain_horizons_share_a_layout_but_are_not_duplicates():
    held_out = [duplicates.signature(seascape(seed)) for seed in range(6)]
    for seed in range(10, 16):
        [match] = duplicates.closest_matches([duplicates.signature(seascape(seed))], held_out)
        assert match.layout > 0.9 and not match.duplicate, match


def test_two_letterboxed_photos_are_not_alike_for_their_bars():
    a = resaved(seascape(1, horizon=0.3), letterbox=15, crop=0)
    b = resaved(seascape(2, horizon=0.7), letterbox=15, crop=0)
    [match] = duplicates.closest_matches([duplicates.signature(a)], [duplicates.signature(b)])
    assert not match.duplicate, match


def test_each_training_photo_is_matched_with_its_closest_held_out_photo():
    held_out = [duplicates.signature(seascape(seed, horizon=h)) for seed, h in ((1, 0.3), (2, 0.5), (3, 0.7))]
    training = [duplicates.signature(resaved(seascape(s, horizon=h))) for s, h in ((3, 0.7), (1, 0.3))]
    assert [(m.train, m.test) for m in duplicates.closest_matches(training, held_out)] == [(0, 2), (1, 0)]
    assert [(m.train, m.test) for m in duplicates.closest_matches(training, held_out, range(1, 2))] == [(1, 0)]
