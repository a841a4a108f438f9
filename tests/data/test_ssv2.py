"""Something-Something v2 from generated files in the official format: JSON lists and tiny .webm videos."""

from __future__ import annotations

import csv
import json
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.conftest import CONF, make_cfg
from tests.data.test_check import check_here, run_check
from tests.utils import write_video
from ucfbench.data.base import SUBSETS, DatasetError
from ucfbench.data.ssv2 import SSv2, template_class
from ucfbench.eval.run_dir import write_test_results

CONFIG_PAIRS = OmegaConf.to_container(OmegaConf.load(CONF / "dataset" / "ssv2.yaml").pairs)
PAIR_CLASSES = [c for p in CONFIG_PAIRS for c in p["classes"]]
# Classes outside the pairs, with the punctuation real SSv2 names carry and a multi-word placeholder.
EXTRA_TEMPLATES = {
    "Holding something": "Holding [something]",
    "Putting something, something and something on the table": "Putting [something], [something] and [something] on the table",
    "Touching (without moving) part of something": "Touching (without moving) [part] of [something]",
    "Stacking number of something": "Stacking [number of] [something]",
}
TRAIN, TEST = 10, 3  # videos per class in train.json / validation.json


def bracketed(name: str) -> str:
    return EXTRA_TEMPLATES.get(name) or re.sub(r"\bsomething\b", "[something]", name)


def write_ssv2(base: Path, *, train: int = TRAIN, test: int = TEST) -> tuple[Path, dict[str, dict]]:
    """``base/labels/{labels,train,validation,test}.json`` and ``base/20bn-something-something-v2/<id>.webm``
    as the download extracts; returns (the videos folder, {id: annotation}) with split in each annotation."""
    classes = sorted(PAIR_CLASSES + list(EXTRA_TEMPLATES))  # the official file is alphabetical too
    labels, videos = base / "labels", base / "20bn-something-something-v2"
    labels.mkdir(parents=True)
    videos.mkdir()
    (labels / "labels.json").write_text(json.dumps({c: str(i) for i, c in enumerate(classes)}, indent=4))
    clip = write_video(base / "clip.webm", np.random.default_rng(0).integers(0, 255, (8, 32, 48, 3), dtype=np.uint8),
                       codec="libvpx")
    annotations, next_id = {}, 1000
    for split, per_class in (("train", train), ("validation", test)):
        entries = []
        for c in classes:
            for _ in range(per_class):
                template = bracketed(c)
                entry = {"id": str(next_id), "label": template.replace("[", "").replace("]", "").replace("something", "a cup"),
                         "template": template, "placeholders": ["a cup"] * template.count("[")}
                entries.append(entry)
                annotations[entry["id"]] = {**entry, "split": split}
                shutil.copyfile(clip, videos / f"{next_id}.webm")
                next_id += 1
        (labels / f"{split}.json").write_text(json.dumps(entries, indent=4))
    (labels / "test.json").write_text(json.dumps([{"id": "99999"}]))  # no labels: never read
    return videos, annotations


@pytest.fixture(scope="module")
def ssv2(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict]]:
    return write_ssv2(tmp_path_factory.mktemp("ssv2"))


def ids(records) -> set[str]:
    return {r.relpath.removesuffix(".webm") for r in records}


def test_template_class_drops_the_brackets() -> None:
    assert template_class("Pushing [something] from left to right") == "Pushing something from left to right"
    assert template_class("Stacking [number of] [something]") == "Stacking number of something"
    assert template_class("Touching (without moving) [part] of [something]") == "Touching (without moving) part of something"


def test_indexes_the_official_files(ssv2) -> None:
    root, annotations = ssv2
    ds = SSv2(root=root, pairs=CONFIG_PAIRS, val_fraction=0.2, seed=1)
    names = json.loads((root.parent / "labels" / "labels.json").read_text())
    assert ds.classes == sorted(names, key=lambda n: int(names[n])) and ds.num_classes == len(PAIR_CLASSES) + 4
    subsets = {s: ds.subset(s) for s in SUBSETS}
    official = {s: {k for k, a in annotations.items() if a["split"] == s} for s in ("train", "validation")}
    assert ids(subsets["test"]) == official["validation"] and len(subsets["test"]) == TEST * ds.num_classes
    assert ids(subsets["train"]) | ids(subsets["val"]) == official["train"]  # val is drawn from train...
    assert not ids(subsets["train"]) & ids(subsets["val"])                    # ...and leaves it
    assert Counter(r.label for r in subsets["val"]) == {c: 2 for c in range(ds.num_classes)}  # 0.2 of 10 per class
    for r in subsets["train"] + subsets["val"] + subsets["test"]:  # label = the template's class, path = <id>.webm
        assert ds.classes[r.label] == template_class(annotations[r.relpath[:-5]]["template"]) and r.group == -1
    assert (ds.split_name, ds.leaky, ds.grouped, ds.hflip_preserves_labels) == ("official", False, False, False)
    assert ds.missing_files() == [] and ds.describe()["class_subset"] == "all"
    other = SSv2(root=root, pairs=CONFIG_PAIRS, val_fraction=0.2, seed=2)
    assert ids(other.subset("val")) != ids(subsets["val"]) and ids(other.subset("test")) == ids(subsets["test"])


def test_pairs_subset_relabels_in_pair_order(ssv2) -> None:
    root, annotations = ssv2
    ds = SSv2(root=root, classes="pairs", pairs=CONFIG_PAIRS)
    assert ds.classes == PAIR_CLASSES and ds.split_name == "official_pairs"
    assert ds.pairs == CONFIG_PAIRS and {p["kind"] for p in ds.pairs} == {"reversed", "mirrored"}
    records = [r for s in SUBSETS for r in ds.subset(s)]
    assert {r.label for r in records} == set(range(len(PAIR_CLASSES)))
    assert len(ds.subset("test")) == TEST * len(PAIR_CLASSES)
    for r in records:
        assert ds.classes[r.label] == template_class(annotations[r.relpath[:-5]]["template"])
    assert not {"Holding something", "Stacking number of something"} & set(ds.classes)


def test_pairs_may_keep_the_brackets(ssv2) -> None:
    pairs = [{"kind": "reversed", "classes": ["Opening [something]", "Closing [something]"]}]
    ds = SSv2(root=ssv2[0], classes="pairs", pairs=pairs)
    assert ds.classes == ["Opening something", "Closing something"] and ds.num_classes == 2


def test_within_pair_accuracy_and_csv_files_on_ssv2(ssv2, tmp_path: Path) -> None:
    """Pair accuracies land in metrics.json; names with commas and brackets survive the CSV files."""
    ds = SSv2(root=ssv2[0], pairs=CONFIG_PAIRS)
    test = ds.subset("test")
    labels = torch.tensor([r.label for r in test])
    pred = labels.clone()
    index = {c: i for i, c in enumerate(ds.classes)}
    push_lr, push_rl = index["Pushing something from left to right"], index["Pushing something from right to left"]
    pred[labels == push_lr], pred[labels == push_rl] = push_rl, push_lr  # one mirrored pair swapped
    probs = torch.nn.functional.one_hot(pred, ds.num_classes).float() * 0.9 + 0.1 / ds.num_classes
    metrics = write_test_results(tmp_path, probs=probs, labels=labels, records=test, classes=ds.classes,
                            pairs=ds.pairs, info=ds.describe()).metrics
    assert metrics["within_pair_reversed"] == 1.0 and metrics["within_pair_mirrored"] == 0.5
    assert metrics["within_pair"]["Pushing something from left to right/Pushing something from right to left"] == {
        "kind": "mirrored", "acc": 0.0, "videos": 2 * TEST}
    assert len(metrics["within_pair"]) == len(CONFIG_PAIRS) and metrics["protocol"] == "official"
    rows = list(csv.DictReader((tmp_path / "per_class.csv").open()))
    assert [r["class"] for r in rows] == ds.classes
    assert next(csv.reader((tmp_path / "confusion.csv").open()))[1:] == ds.classes


def test_labels_dir_and_20bn_file_names(ssv2, tmp_path: Path) -> None:
    root, _ = ssv2
    labels = tmp_path / "annotations"
    labels.mkdir()
    for name in ("labels", "train", "validation"):
        shutil.copyfile(root.parent / "labels" / f"{name}.json", labels / f"something-something-v2-{name}.json")
    ds = SSv2(root=root, labels_dir=labels, pairs=CONFIG_PAIRS)
    assert len(ds.subset("test")) == TEST * ds.num_classes


# -- errors --------------------------------------------------------------------------------
def test_missing_labels_json_names_the_places_looked(tmp_path: Path) -> None:
    (tmp_path / "videos").mkdir()
    with pytest.raises(DatasetError, match=r"no SSv2 labels.json found; looked in:(.|\n)*videos/labels"):
        SSv2(root=tmp_path / "videos").subset("test")
    with pytest.raises(DatasetError, match="does not exist"):
        SSv2(root=tmp_path / "nowhere").subset("test")


def test_unknown_pair_class_names_the_key_and_the_file(ssv2) -> None:
    pairs = CONFIG_PAIRS + [{"kind": "reversed", "classes": ["Opening something", "Clsoing something"]}]
    with pytest.raises(DatasetError) as info:
        SSv2(root=ssv2[0], pairs=pairs).subset("test")
    message = str(info.value)
    assert f"dataset.pairs[{len(CONFIG_PAIRS)}].classes[1]" in message and "conf/dataset/ssv2.yaml" in message
    assert "'Clsoing something'" in message and "did you mean 'Closing something'" in message
    with pytest.raises(DatasetError, match=r"dataset.pairs\[0\].classes in .*two class names"):
        SSv2(root=ssv2[0], pairs=[{"kind": "reversed", "classes": ["Opening something"]}]).subset("test")
    with pytest.raises(ValueError, match="dataset.classes=pairs needs dataset.pairs"):
        SSv2(root=ssv2[0], classes="pairs")


def test_bad_annotation_files(ssv2, tmp_path: Path) -> None:
    root, _ = ssv2
    labels = shutil.copytree(root.parent / "labels", tmp_path / "labels")
    train = json.loads((labels / "train.json").read_text())
    train[3]["template"] = "Juggling [something]"
    (labels / "train.json").write_text(json.dumps(train))
    with pytest.raises(DatasetError, match=r"train.json: entry 3 \(id \d+\): template 'Juggling \[something\]' is not"):
        SSv2(root=root, labels_dir=labels).subset("test")
    (labels / "train.json").write_text("[{\"id\": ")
    with pytest.raises(DatasetError, match="train.json is not valid JSON"):
        SSv2(root=root, labels_dir=labels).subset("test")
    (labels / "train.json").unlink()
    with pytest.raises(DatasetError, match="train.json is missing"):
        SSv2(root=root, labels_dir=labels).subset("test")


def test_root_one_level_too_high(ssv2) -> None:
    with pytest.raises(DatasetError, match="one level too high; set dataset.root=.*20bn-something-something-v2"):
        SSv2(root=ssv2[0].parent).subset("test")


def test_a_missing_video_is_named(ssv2, tmp_path: Path) -> None:
    root = shutil.copytree(ssv2[0].parent, tmp_path / "ssv2") / "20bn-something-something-v2"
    victim = sorted(root.iterdir())[5]
    victim.unlink()
    ds = SSv2(root=root)
    assert ds.missing_files() == [victim.name]
    with pytest.raises(DatasetError, match=rf"1 video\(s\) named by the ssv2 split lists are not on disk(.|\n)*{victim.name}"):
        ds.prepare()
    result, status, out = check_here(tmp_path, "dataset=ssv2", f"dataset.root={root}")
    assert status == 1 and result["missing_files"] == [victim.name] and victim.name in out


# -- config and the check command ------------------------------------------------------------
def test_config_composes(ssv2, tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path, ["dataset=ssv2"])
    default = instantiate(cfg.dataset)
    assert isinstance(default, SSv2) and default.root == tmp_path / "data" / "ssv2" / "20bn-something-something-v2"
    assert default.configured_pairs == CONFIG_PAIRS and default.class_subset == "all"
    cfg = make_cfg(tmp_path, ["dataset=ssv2", f"dataset.root={ssv2[0]}", "dataset.classes=pairs"])
    assert instantiate(cfg.dataset).classes == PAIR_CLASSES


def test_check_in_process(ssv2, tmp_path: Path) -> None:
    result, status, out = check_here(tmp_path, "dataset=ssv2", f"dataset.root={ssv2[0]}", "dataset.classes=pairs")
    assert status == 0 and (result["dataset"], result["split"], result["leaky"]) == ("ssv2", "official_pairs", False)
    n = len(PAIR_CLASSES)
    assert result["classes"] == n and result["test"] == TEST * n and result["train"] + result["val"] == TRAIN * n
    assert result["missing"] == 0 and result["folds"] == [] and result["pairs"] == [
        "/".join(p["classes"]) for p in CONFIG_PAIRS]
    assert "leaky: not guarded (disjoint by video only" in out and "Opening something / Closing something (reversed)" in out
    bad = "dataset.pairs=[{kind:reversed,classes:[Opening something,Clsoing something]}]"
    result, status, out = check_here(tmp_path, "dataset=ssv2", f"dataset.root={ssv2[0]}", bad)
    assert status == 2 and "dataset.pairs[0].classes[1]" in result["error"] and "Clsoing" in out
    result, status, _ = check_here(tmp_path, "dataset=ssv2", f"dataset.root={tmp_path}")
    assert status == 2 and "no SSv2 labels.json found" in result["error"]


def test_check_command_probes_webm(ssv2, tmp_path: Path) -> None:
    status, result, out = run_check(tmp_path, "dataset=ssv2", f"dataset.root={ssv2[0]}", "probe=true")
    n = len(PAIR_CLASSES) + len(EXTRA_TEMPLATES)
    assert status == 0 and result["classes"] == n and result["test"] == TEST * n
    assert result["probed"] and result["unreadable"] == 0
    assert result["stats"]["frames"]["min"] == 8 and result["stats"]["resolution"] == {"48x32": (TRAIN + TEST) * n}
    assert "Putting something, something and something on the table" not in result["pairs"]
