"""Model folders written whole: into a folder beside the target, moved into its place
once every file is written, so a save that fails leaves the model trained before."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labelkit.errors import LabelkitError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def written_whole(output: Path) -> Iterator[Path]:
    """A new folder to write a model into, which takes ``output``'s place when the
    block ends; on an error, or Ctrl-C, it is removed and ``output`` stays as it was
    (trial 56c: a save that hit a full disk had deleted the last model first, and
    `predict` found none). A failed write is a ``LabelkitError`` naming ``output``.

    Examples
    --------
    >>> with written_whole(Path("models/spam/model-best")) as folder:
    ...     (folder / "meta.json").write_text("{}")
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}-", dir=output.parent))
    try:
        # mkdtemp's folder is its owner's alone; a model folder is as mkdir makes it, so
        # that a server of another user reads it (the second read).
        staging.chmod(0o777 & ~_umask())
        yield staging
        replaced = output.with_name(f"{staging.name}-replaced")
        if output.exists():
            output.rename(replaced)
        try:
            staging.rename(output)
        except OSError:
            if replaced.exists():
                replaced.rename(output)
            raise
        shutil.rmtree(replaced, ignore_errors=True)
    except OSError as error:
        raise LabelkitError(
            f"cannot write the model to {output}: {error.strerror or error}; "
            "the model there before, if any, is kept"
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
