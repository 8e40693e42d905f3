"""The sun a child places: checked input, drawn on the sky only, with a glow that follows it."""
import numpy as np
import pytest

from miaobi_core.codec import InputError
from miaobi_core.sun import SUN_COLOUR, Sun, add_sun, parse_sun


def test_a_sun_is_checked_clearly():
    assert parse_sun(None) is None
    assert parse_sun({"x": 0.2, "y": 0.1}) == Sun(0.2, 0.1, 0.07)
    assert parse_sun({"x": 1, "y": 0, "radius": 0.25}) == Sun(1.0, 0.0, 0.25)
    for bad, words in (({"x": 0.5}, "must be"), ([0.5, 0.5], "must be"), ({"x": 0.5, "y": 0.5, "r": 1}, "must be"),
                       ({"x": "left", "y": 0.5}, "numbers"), ({"x": True, "y": 0.5}, "numbers"),
                       ({"x": 1.5, "y": 0.5}, "0..1"), ({"x": 0.5, "y": 0.5, "radius": 0.5}, "radius")):
        with pytest.raises(InputError, match=words):
            parse_sun(bad)


def test_the_sun_shines_on_the_sky_and_hides_behind_a_mountain(palette):
    sky, cloud, mountain = (palette.id_of(n) for n in ("sky", "cloud", "mountain"))
    ids = np.full((64, 64), sky, np.uint8)
    ids[40:] = mountain
    picture = np.full((256, 256, 3), 90, np.uint8)
    lit = add_sun(picture, ids, [sky, cloud], Sun(0.25, 0.2, 0.06)).astype(int)
    assert np.abs(lit[51, 64] / 255 - SUN_COLOUR).max() < 0.02  # the disc, where it was placed
    assert lit[51, 110].mean() > picture[51, 110].mean() + 20  # the glow beside it
    assert lit[51, 110].mean() > lit[51, 240].mean() > picture[0, 0].mean()  # fading with distance, warm sky
    assert lit[51, 110, 0] > lit[51, 110, 2]  # golden, not grey
    assert (lit[200:] == 90).all()  # the mountain in front stays as painted
    hidden = add_sun(picture, ids, [sky, cloud], Sun(0.5, 0.9, 0.06))
    assert (hidden[200:] == 90).all()  # a sun set behind the mountain is not drawn over it
