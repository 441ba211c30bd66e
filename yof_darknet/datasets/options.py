"""``DatasetsOptions``: every option of the dataset stage, shared by ``datasets`` and
``reproduce`` (their click options are generated from these fields by ``cli/params.py``)."""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yof_darknet.core.errors import DatasetError
from yof_darknet.core.options import option
from yof_darknet.datasets.balance import DEFAULT_CAP, parse_balance
from yof_darknet.datasets.split import (
    AUTO,
    FALLBACK_TEST_FRACTION,
    MAX_HELD_OUT_SHARE,
    SPLIT_BY,
    VAL_AUTO_FRACTION,
    VAL_AUTO_MAX,
    parse_val_size,
)
from yof_darknet.datasets.unannotated import UNANNOTATED, DetectorSettings, UnannotatedOptions

if TYPE_CHECKING:
    from yof_darknet.datasets.affwild2 import AffWild2Options
    from yof_darknet.datasets.build import BuildSummary
    from yof_darknet.datasets.jobs import DatasetJob

HELD_OUT = ("official", "drawn")
# What ``--hygiene`` turns on together (issue 13): the paper's defaults are "keep" and "none".
HYGIENE = {"unannotated": "mask", "balance": "oversample"}
TEST_PER_DATASET = 2500  # the paper's held-out images per dataset
# The embedded sample holds out more: ~490 test faces keep the permuted-label control's AP near
# chance (1/7), where a few faces per class would round it up (a random ranking of 15 faces: ~0.2).
# That is 40 % of its 1,000 ExpW images, past split.MAX_HELD_OUT_SHARE: reproduce holds it out on
# purpose (a --test-per-dataset given by hand is limited as anywhere else).
SAMPLE_TEST_IMAGES = 400


@dataclass(frozen=True)
class DatasetsOptions:
    """How the datasets are converted and split (the CLI option of each field: its name)."""

    affectnet: Path | None = option(
        None,
        "AffectNet folder, original release (Manually_Annotated_file_lists/training.csv and "
        "validation.csv + Manually_Annotated_Images/).",
        path="dir",
    )
    rafdb: Path | None = option(
        None,
        "RAF-DB folder (basic/: EmoLabel/list_patition_label.txt, Image/original/, "
        "Annotation/boundingbox/; compound/ is counted, not converted).",
        path="dir",
    )
    images: Path | None = option(
        None, "Your own labelled photos: their folder (with --labels).", path="dir"
    )
    labels: Path | None = option(
        None,
        "With --images: a CSV (.csv: image,x1,y1,x2,y2,label, label a class name or index) or "
        "a YOLO names file (obj.names, classes.txt: YOLO .txt labels beside the images).",
        path="file",
    )
    classes: Path | None = option(
        None,
        "With --images: your own class list (one name a line) for a detector of other classes "
        "[default: the 7 expressions, labels matched by name].",
        path="file",
    )
    held_out: str = option(
        "official",
        "AffectNet and RAF-DB: official: their own held-out set (validation.csv, the test_ "
        "images) is the test list; drawn: --test-per-dataset drawn from all their images.",
        choices=HELD_OUT,
    )
    min_face_score: float = option(
        50.0, "ExpW: keep faces whose detector confidence is strictly above this."
    )
    drop_mixed_images: bool = option(
        False, "ExpW: drop a whole image when any of its faces fails --min-face-score."
    )
    copy: bool = option(False, "Copy images instead of symlinking them.")
    max_side: int = option(
        0,
        "Write images whose long side exceeds N as copies shrunk to N (once; labels are "
        "normalised, so they do not change; the raw files are never touched). 0: off.",
        min=0,
        metavar="N",
    )
    test_per_dataset: int | None = option(
        None,
        f"Images (or frames) held out for test per dataset [default: {TEST_PER_DATASET}; "
        f"reproduce on the embedded sample: {SAMPLE_TEST_IMAGES}].",
        min=0,
    )
    force_test_size: bool = option(
        False,
        "Hold out --test-per-dataset images even where that is more than "
        f"{MAX_HELD_OUT_SHARE:.0%} of a dataset (default: hold out {FALLBACK_TEST_FRACTION:.0%} "
        "of it instead, and say so).",
    )
    val_per_dataset: str | None = option(
        None,
        "Validation images (or frames) per dataset, drawn from its training images after the "
        "test split (the test lists stay the same), whole images or videos as the test: a count "
        "N, a fraction of the training images (0.1 or 10%), auto, or 0 (no validation) "
        f"[default: auto = {VAL_AUTO_FRACTION:.0%} of the training images, rounded down, at "
        f"most {VAL_AUTO_MAX}; reproduce --profile paper: 0, the paper's split]. A count above "
        f"{MAX_HELD_OUT_SHARE:.0%} of a dataset's training images is replaced by auto, with a "
        "note; a fraction is taken as given.",
        metavar="N|FRACTION|auto",
    )
    seed: int = option(0, "Seed of the test and validation split (and of the embedded sample).")
    unannotated: str = option(
        "keep",
        "Faces RetinaFace finds that no row annotates (ExpW, AffectNet, RAF-DB, --images) or "
        "beyond a video's annotated people (Aff-Wild2): keep them (the paper), report (count "
        "only), mask (fill them; images: in a PNG copy) or drop the image/frame.",
        choices=UNANNOTATED,
    )
    balance: str = option(
        "none",
        "Repeat training images of rare classes in train.txt (never test): none, or "
        f"oversample[:CAP] (each image at most CAP times; default {DEFAULT_CAP}).",
        metavar="none|oversample[:CAP]",
    )
    hygiene: bool = option(
        False,
        "Data hygiene in one flag (not the paper's configuration): --unannotated mask and "
        "--balance oversample (give --balance oversample:CAP to set the cap).",
    )
    face_threshold: float = option(
        0.8, "Minimum RetinaFace score of a face (Aff-Wild2, --unannotated).", min=0, max=1
    )
    face_max_side: int = option(
        640,
        "The face detector sees images shrunk to this long side (0: full size; Aff-Wild2, "
        "--unannotated).",
        min=0,
    )
    frame_stride: int = option(1, "Aff-Wild2: use every N-th frame.", min=1)
    max_frames_per_video: int = option(
        0, "Aff-Wild2: stop a video after this many labelled frames (0: no limit).", min=0
    )
    videos_list: Path | None = option(
        None, "Aff-Wild2: convert only the videos named in this file (one per line).", path="file"
    )
    drop_crowded_frames: bool = option(
        False, "Aff-Wild2: drop frames with more faces than labelled people (default: keep them)."
    )
    split_by: str = option(
        "frames",
        "Aff-Wild2: hold out random frames (the paper) or whole videos (no leak).",
        choices=SPLIT_BY,
    )
    workers: int = option(
        1,
        "Aff-Wild2 videos (ExpW --unannotated: chunks of images) converted in parallel "
        "processes (auto: one per CPU of the task; never more than its CPUs).",
        kind="workers",
        metavar="N|auto",
    )

    def __post_init__(self) -> None:
        if (self.images is None) != (self.labels is None):
            raise DatasetError("--images DIR and --labels FILE go together: give both")
        if self.classes is not None and self.images is None:
            raise DatasetError("--classes names the classes of --images DIR --labels FILE")
        if self.val_per_dataset is not None:
            parse_val_size(self.val_per_dataset)  # a bad value stops before any conversion
        if not self.hygiene:
            return
        for name, value in HYGIENE.items():
            given = getattr(self, name)
            if given == type(self).__dataclass_fields__[name].default:  # the paper's
                object.__setattr__(self, name, value)
            elif given.split(":")[0] != value:  # oversample:CAP keeps its cap
                raise DatasetError(
                    f"--hygiene sets --{name} {value}; it cannot apply with --{name} {given} "
                    "(give one or the other)"
                )

    def affwild2(self, shard: tuple[int, int] | None = None) -> AffWild2Options:
        """The Aff-Wild2 converter's options (``shard``: only that share of the videos)."""
        from yof_darknet.datasets.affwild2 import AffWild2Options

        return AffWild2Options(
            face_threshold=self.face_threshold,
            face_max_side=self.face_max_side,
            frame_stride=self.frame_stride,
            max_frames_per_video=self.max_frames_per_video,
            drop_crowded_frames=self.drop_crowded_frames,
            unannotated=self.unannotated,
            split_by=self.split_by,
            videos_list=self.videos_list,
            workers=self.workers,
            shard=shard,
            max_side=self.max_side,
        )

    def unannotated_options(self, shard: tuple[int, int] | None = None) -> UnannotatedOptions:
        """``--unannotated`` with the face detector's settings (``shard``: its share of the
        ExpW images' face detection)."""
        detector = DetectorSettings(threshold=self.face_threshold, max_side=self.face_max_side)
        return UnannotatedOptions(self.unannotated, detector, workers=self.workers, shard=shard)

    @property
    def given(self) -> bool:
        """Whether a dataset of this dataclass's own (not ExpW or Aff-Wild2) is given."""
        return any(p is not None for p in (self.affectnet, self.rafdb, self.images))

    def class_names(self) -> tuple[str, ...]:
        """The classes of the detector: ``--classes FILE``'s, else the 7 expressions."""
        from yof_darknet.core.expressions import CLASSES
        from yof_darknet.datasets.own_labels import read_names

        return CLASSES if self.classes is None else read_names(self.classes)

    def jobs(self, expw: Path | None, affwild2: Path | None) -> list[DatasetJob]:
        """One bound converter per dataset folder given."""
        from yof_darknet.datasets.jobs import (
            affectnet_job,
            affwild2_job,
            expw_job,
            own_job,
            rafdb_job,
        )

        jobs = []
        images: dict[str, Any] = {  # what every still-image conversion takes
            "copy": self.copy,
            "unannotated": self.unannotated_options(),
            "max_side": self.max_side,
        }
        if expw is not None:
            jobs.append(
                expw_job(
                    expw,
                    min_face_score=self.min_face_score,
                    drop_mixed_images=self.drop_mixed_images,
                    copy=self.copy,
                    unannotated=self.unannotated_options(),
                    max_side=self.max_side,
                )
            )
        if affwild2 is not None:
            jobs.append(affwild2_job(affwild2, self.affwild2()))
        if self.affectnet is not None:
            jobs.append(affectnet_job(self.affectnet, held_out=self.held_out, **images))
        if self.rafdb is not None:
            jobs.append(rafdb_job(self.rafdb, held_out=self.held_out, **images))
        if self.images is not None and self.labels is not None:
            jobs.append(own_job(self.images, self.labels, classes=self.class_names(), **images))
        return jobs

    def build(
        self,
        expw: Path | None,
        affwild2: Path | None,
        out: Path,
        *,
        test_default: int = TEST_PER_DATASET,
        force_test_default: bool = False,
        val_default: str = AUTO,
        progress: bool = True,
        recorded: dict | None = None,
    ) -> BuildSummary:
        """Convert the datasets given into ``out``: lists, obj.data and stats.json (whose
        ``options`` are these, plus ``recorded``). The caller's defaults apply where an option
        was not given: ``test_default`` held-out images (``force_test_default``: even past the
        share limit, for a default sized on purpose) and ``val_default`` validation images."""
        from yof_darknet.datasets.build import build_datasets

        test = test_default if self.test_per_dataset is None else self.test_per_dataset
        force = self.force_test_size or (self.test_per_dataset is None and force_test_default)
        val = parse_val_size(val_default if self.val_per_dataset is None else self.val_per_dataset)
        given = {"expw": expw, "affwild2": affwild2, "out": out, **asdict(self)}
        given.update(test_per_dataset=test, force_test_size=force, val_per_dataset=val.text)
        given.update(recorded or {})
        return build_datasets(
            self.jobs(expw, affwild2),
            out,
            test_per_dataset=test,
            seed=self.seed,
            force_test_size=force,
            val=val,
            balance_cap=parse_balance(self.balance),
            options={k: str(v) if isinstance(v, Path) else v for k, v in given.items()},
            progress=progress,
        )


@dataclass(frozen=True)
class CropsOptions:
    """Every option of ``yof-darknet crops`` (face crops for the cascade's classifier)."""

    data: Path = option(MISSING, "obj.data of `yof-darknet datasets`.", path="file")
    out: Path = option(MISSING, "Crops folder (labels.txt, train/test lists).", path="out")
    margin: float = option(
        0.2,
        "Grow each face box by this fraction of its width (height) on every side.",
        min=0,
        max=2,
    )
    crop_size: int = option(64, "Crop side in pixels.", min=32, renamed=("--size",))
