"""Model folders written whole: a failed save leaves the model trained before."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from labelkit.train.folders import written_whole

# A save cut off by a limit on file size, as on a full disk (trial 56c: `ulimit -f`).
FAILING_SAVE = """
import resource, signal, sys
from pathlib import Path
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, 10_000))
from labelkit.errors import LabelkitError
from labelkit.train.folders import written_whole
try:
    with written_whole(Path(sys.argv[1])) as folder:
        (folder / "meta.json").write_text("new")
        (folder / "weights.npz").write_bytes(bytes(20_000))
except LabelkitError as error:
    print(error)
"""


def test_a_save_that_fails_or_is_cut_short_leaves_the_model_before(tmp_path: Path) -> None:
    # Trial 56c: the n-grams' save deleted model-best first; a full disk then left a
    # truncated features.json, and predict found no model.
    output = tmp_path / "model-best"
    output.mkdir()
    (output / "meta.json").write_text("old")
    done = subprocess.run(
        [sys.executable, "-c", FAILING_SAVE, str(output)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"cannot write the model to {output}: File too large;")
    assert (output / "meta.json").read_text() == "old"
    assert [path.name for path in tmp_path.iterdir()] == ["model-best"], "staging removed"
    with pytest.raises(KeyboardInterrupt), written_whole(output) as folder:
        (folder / "meta.json").write_text("new")
        raise KeyboardInterrupt
    assert (output / "meta.json").read_text() == "old"
    with written_whole(output) as folder:
        (folder / "weights.npz").write_bytes(b"weights")
    assert [path.name for path in output.iterdir()] == ["weights.npz"]
    # As mkdir makes it, not mkdtemp's owner-only folder (the second read).
    (tmp_path / "plain").mkdir()
    assert output.stat().st_mode == (tmp_path / "plain").stat().st_mode
    (tmp_path / "plain").rmdir()
    assert [path.name for path in tmp_path.iterdir()] == ["model-best"]
