"""Core tokens: a lone picture takes every free core, busy workers one each, and a full house waits its turn."""
import threading
import time

import numpy as np

from miaobi_core.cores import ENV, CoreTokens, make_tokens


def test_a_caller_takes_every_free_token_and_waits_when_none_is(tmp_path):
    tokens = CoreTokens(make_tokens(2))
    with tokens.take() as cores:
        assert cores == 2
    held, release, waited = threading.Event(), threading.Event(), []

    def holder():
        with CoreTokens(tokens.paths[0].parent).take() as cores:
            assert cores == 2
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)

    def waiter():
        started = time.monotonic()
        with tokens.take() as cores:
            waited.append((cores, time.monotonic() - started))

    second = threading.Thread(target=waiter)
    second.start()
    time.sleep(0.3)
    assert not waited  # every core is busy: it waits
    release.set()
    thread.join(10)
    second.join(10)
    assert waited[0][0] >= 1 and waited[0][1] >= 0.25


def test_an_upscaler_runs_on_every_free_core_and_paints_the_same(monkeypatch, tmp_path, palette, label_map):
    from miaobi_core.upscale import Upscaler
    from miaobi_core.variants import UPSCALER_FOLDER
    from tests.helpers import SHIPPED

    picture = palette.colorize(label_map)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # a worker's share of the cores
    alone = Upscaler(SHIPPED / UPSCALER_FOLDER / "x4")
    monkeypatch.setenv(ENV, str(make_tokens(2)))
    shared = Upscaler(SHIPPED / UPSCALER_FOLDER / "x4")
    assert np.abs(shared(picture).astype(int) - alone(picture).astype(int)).max() <= 1
    assert sorted(shared._nets) == [1, 2]  # its own share at start, both cores for the lone picture
