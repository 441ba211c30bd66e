"""Which videos ``evaluate-video`` scores (and which of their frames), and which tune the
Viterbi penalty."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from yof_darknet.core.fileio import read_lines
from yof_darknet.datasets.affwild2_files import VideoJob, read_videos_list
from yof_darknet.datasets.affwild2_video import (
    folder_name,
)
from yof_darknet.formats.objdata import read_obj_data
from yof_darknet.workflows.videoeval.options import (
    TRAIN_SPLITS,
    VALIDATION_SPLIT,
    VideoEvalError,
    VideoEvalOptions,
)


@dataclass(frozen=True)
class Selection:
    """Videos to score and to tune on; ``excluded[stem]``: frames never scored (trained on)."""

    evaluated: list[VideoJob]
    tuning: list[VideoJob]
    excluded: dict[str, set[int]] = field(default_factory=dict)
    how: str = ""


def _split_of(job: VideoJob) -> str:
    return next(iter(job.persons.values())).path.parent.name


def _list_frames(list_path: Path) -> dict[str, set[int]]:
    """Aff-Wild2 frames of a Darknet image list: video folder → frame indices (``00007.jpg`` is
    data line 7, decoded frame 6)."""
    frames: dict[str, set[int]] = {}
    for line in read_lines(list_path):
        image = Path(line)
        if image.parent.parent.name == "affwild2" and image.stem.isdigit():
            frames.setdefault(image.parent.name, set()).add(int(image.stem) - 1)
    return frames


def select_videos(jobs: Sequence[VideoJob], options: VideoEvalOptions) -> Selection:
    """Which videos are scored (and which frames of them), and which tune the Viterbi penalty."""
    jobs = [job for job in jobs if job.persons and job.video is not None]
    if options.split_from is not None:
        data = read_obj_data(options.split_from)
        if data.valid is None:
            raise VideoEvalError(
                f"{options.split_from}: no valid= line, so no test list to take the split "
                "from; give the obj.data that `yof-darknet datasets` wrote"
            )
        test, train = _list_frames(data.valid), _list_frames(data.train)
        evaluated = [job for job in jobs if folder_name(job.stem) in test]
        excluded = {job.stem: train.get(folder_name(job.stem), set()) for job in evaluated}
        tuning = [job for job in jobs if folder_name(job.stem) in train and job not in evaluated]
        how = f"videos with test frames in {data.valid}; their training frames are not scored"
    else:
        if options.videos_list is not None:
            names = read_videos_list(options.videos_list)
            evaluated = [job for job in jobs if job.stem in names]
            how = f"videos named in {options.videos_list}"
        else:
            evaluated = [job for job in jobs if _split_of(job) == VALIDATION_SPLIT]
            how = f"videos annotated in {VALIDATION_SPLIT}"
        excluded = {}
        tuning = [job for job in jobs if _split_of(job) in TRAIN_SPLITS and job not in evaluated]
    if options.tune_on is not None:
        names = read_videos_list(options.tune_on)
        tuning = [job for job in jobs if job.stem in names]
        clash = sorted(job.stem for job in tuning if job in evaluated)
        if clash:
            raise VideoEvalError(
                f"{options.tune_on}: {', '.join(clash)} would be both tuned on and evaluated; "
                "tune on training videos only"
            )
    if not evaluated:
        raise VideoEvalError(f"{options.affwild2}: no video to evaluate ({how}, with a video file)")
    return Selection(evaluated, tuning, excluded, how)
