"""The web demo end to end in headless Chromium: open it, upload a generated video, see the label."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.app_driver import CHROMIUM_HELP, chromium_page, find_chromium, running_app, upload_and_wait
from ucfbench.inference.predictor import load_predictor


@pytest.mark.slow
@pytest.mark.browser
def test_demo_in_a_real_browser(tiny_run: Path, held_out_videos, bad_videos, tmp_path: Path) -> None:
    chromium = find_chromium()
    if chromium is None:
        pytest.fail(CHROMIUM_HELP)
    from playwright.sync_api import expect

    predictor = load_predictor(tiny_run)
    expected = {name: predictor.predict(video).top(5) for name, video in held_out_videos.items()}
    with running_app(tiny_run, log=tmp_path / "app.log") as url, chromium_page(chromium) as page:
        page.goto(url, wait_until="domcontentloaded")
        expect(page.get_by_text("What is happening in this video?")).to_be_visible(timeout=60_000)

        video = held_out_videos["Shrink"]
        top = expected["Shrink"]
        status = upload_and_wait(page, video)
        assert f"Predicted {top[0]['label']} ({100 * top[0]['prob']:.1f}%)" in status
        shown = page.locator("#top5").inner_text()
        assert all(row["label"] in shown for row in top), shown  # every class of the top 5 has its bar
        expect(page.locator("#frames img")).to_have_count(8)  # the sampled frames
        expect(page.locator("#attention")).to_be_hidden()  # a GRU has no temporal attention
        page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)
        if os.environ.get("UCFBENCH_DEMO_SCREENSHOT"):
            shutil.copy(tmp_path / "demo.png", os.environ["UCFBENCH_DEMO_SCREENSHOT"])

        # An example: the run's own dataset is on this machine, one video per class.
        page.get_by_text("v_BlinkFast_g01_c01.avi").first.click()
        expect(page.locator("#status")).to_contain_text("v_BlinkFast_g01_c01.avi", timeout=180_000)

        # A file that is not a video: a message naming it, the previous prediction cleared.
        page.locator("#video-input button[aria-label='Clear']").first.click()
        page.locator("#video-input input[type=file]").set_input_files(str(bad_videos["garbage"]))
        expect(page.locator("#status")).to_contain_text("garbage.avi is not a readable video", timeout=180_000)
        expect(page.locator("#frames img")).to_have_count(0)
        assert "BlinkFast" not in page.locator("#top5").inner_text()


@pytest.mark.slow
@pytest.mark.browser
def test_demo_plots_a_cnn_rnns_attention_over_its_frames(cnn_rnn_run: Path, held_out_videos, tmp_path: Path) -> None:
    chromium = find_chromium()
    if chromium is None:
        pytest.fail(CHROMIUM_HELP)
    from playwright.sync_api import expect

    video = held_out_videos["Grow"]
    top = load_predictor(cnn_rnn_run).predict(video).top(1)[0]
    with running_app(cnn_rnn_run, log=tmp_path / "app.log") as url, chromium_page(chromium) as page:
        page.goto(url, wait_until="domcontentloaded")
        expect(page.get_by_text("What is happening in this video?")).to_be_visible(timeout=60_000)
        status = upload_and_wait(page, video)
        assert f"Predicted {top['label']} ({100 * top['prob']:.1f}%)" in status
        expect(page.locator("#frames img")).to_have_count(4)  # data.sampler.num_frames of the run
        expect(page.locator("#attention")).to_be_visible()  # its temporal attention, one bar per frame


def test_default_examples_one_per_class(tiny_run: Path, tmp_path: Path) -> None:
    """From the run's dataset when present; generated held-out clips when a synthetic dataset is gone."""
    from ucfbench.app import build_demo, default_examples
    from ucfbench.data.video import probe

    predictor = load_predictor(tiny_run)
    found = default_examples(predictor)
    assert [p.parent.name for p in found] == predictor.class_names
    assert all(p.name.endswith("_g01_c01.avi") for p in found)
    predictor.trained.config.dataset.root = str(tmp_path / "moved-away")
    generated = default_examples(predictor)
    assert [p.name for p in generated] == [f"{name}_example.avi" for name in predictor.class_names]
    assert all(probe(p).num_frames == 8 for p in generated)
    assert predictor.predict(generated[0]).frames.shape == (8, 32, 32, 3)
    build_demo(predictor, generated)  # the page builds without launching
