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


def long_video(path: Path, seconds: int) -> Path:
    """A tiny file whose container says it lasts ``seconds`` (three frames far apart)."""
    from fractions import Fraction

    import av
    import numpy as np

    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, 25)
        for pts in (0, 25 * seconds // 2, 25 * seconds):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24").reformat(format="yuv420p")
            frame.pts = pts
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_a_two_hour_video_is_refused_from_its_header(tmp_path: Path, held_out_videos) -> None:
    from ucfbench.app import VideoRefused, check_limits, header_seconds

    two_hours = long_video(tmp_path / "lecture.mp4", 7200)
    assert two_hours.stat().st_size < 100_000 and header_seconds(two_hours) == pytest.approx(7200, abs=1)
    with pytest.raises(VideoRefused, match=r"lecture.mp4 is 120.0 min long; this demo decodes videos up to 600 s "
                                           r"\(max_video_seconds\)"):
        check_limits(two_hours, max_bytes=2**30, max_seconds=600)
    check_limits(held_out_videos["Grow"], max_bytes=2**30, max_seconds=600)  # a short clip passes
    check_limits(tmp_path / "lecture.mp4", max_bytes=2**30, max_seconds=8000)


def test_a_large_upload_is_refused_with_the_limit(held_out_videos) -> None:
    from ucfbench.app import VideoRefused, check_limits

    with pytest.raises(VideoRefused, match=r"Grow.avi is 0 MB; this demo takes videos up to 0 MB \(max_upload_mb\)"):
        check_limits(held_out_videos["Grow"], max_bytes=100, max_seconds=600)


def test_the_player_gets_an_h264_copy(held_out_videos, tmp_path: Path) -> None:
    import av

    from ucfbench.app import playable_copy

    copy = playable_copy(held_out_videos["Grow"], tmp_path / "Grow.mp4", max_seconds=600)
    with av.open(str(copy)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.frames == 8
    assert playable_copy(tmp_path / "missing.avi", tmp_path / "x.mp4", max_seconds=600) is None


@pytest.mark.parametrize(("argv", "message"), [
    (["checkpoint=x", "max_upload_mb=0"], "max_upload_mb must be > 0"),
    (["checkpoint=x", "max_video_seconds=ten"], "max_video_seconds must be a number"),
])
def test_limit_keys_are_checked_before_loading(argv: list[str], message: str, capsys) -> None:
    from ucfbench.app import main

    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_app_listens_on_localhost_by_default() -> None:
    from ucfbench.app import COMMAND

    assert COMMAND.keys["host"].default == "127.0.0.1"
