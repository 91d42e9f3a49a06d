"""Snorkel's LabelModel fitted on the distinct rows of a label matrix, each weighed by
how many rows share it: the same fit, in memory that grows with the patterns rather
than with the rows.

Snorkel's ``fit`` sees the label matrix through three numbers only: the rows ``n``, the
overlap matrix ``O`` (the one-hot votes' ``L.T @ L / n``) and each source's coverage.
On 0/1 votes both are integer counts divided by ``n``, so weighing each pattern by its
count gives them bit for bit; ``fit`` on ten million rows built a dense float one-hot
matrix of them (rows x sources x classes) and two int64 copies of the votes (issue 21).
Imported where Snorkel is fitted: it pulls in torch.
"""

from __future__ import annotations

import numpy as np
import torch
from snorkel.labeling.model import LabelModel


class PatternLabelModel(LabelModel):
    """Snorkel's ``LabelModel`` whose ``fit`` takes distinct vote rows (``L_train``)
    and ``counts``, how many rows each stands for.

    Examples
    --------
    >>> patterns, _, counts = vote_patterns(codes)
    >>> model = PatternLabelModel(counts, cardinality=2, verbose=False)
    >>> model.fit(patterns.astype(np.int64), progress_bar=False)
    """

    def __init__(self, counts: np.ndarray, **config: object) -> None:
        super().__init__(**config)
        self.counts = np.asarray(counts, dtype=np.int64)

    def _generate_O(self, L: np.ndarray, higher_order: bool = False) -> None:
        # Called by ``fit`` after it set the coverages from the patterns alone; each
        # pattern's votes count as often as its rows, exactly as integers. ``n`` is
        # the patterns' until their one-hot matrix is built, the rows' from then on
        # (``fit`` later sizes the clamp of ``mu`` by it).
        L_aug = self._get_augmented_label_matrix(L, higher_order=higher_order)
        self.n = int(self.counts.sum())
        self.coverage = np.ravel((L != 0).astype(np.int64).T @ self.counts) / self.n
        self.d = L_aug.shape[1]
        overlaps = (L_aug * self.counts[:, None]).T @ L_aug
        self.O = torch.from_numpy(overlaps / self.n).float().to(self.config.device)
