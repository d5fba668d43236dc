"""Signal vectors: the numbers calibration fits and the engine's `probability` reads.

The engine owns the definition (`engine.feature_values`): fit signals that fired count 1.0,
engagement signals their decayed points (a type's cap shared pro rata), `inactivity` 1.0 while
the penalty applies. Calibration must use exactly these, or fitted coefficients would mean
something else in the engine; this module only adds the matrix view.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from qualification.criteria import Criteria
from qualification.engine import Qualification, feature_values

__all__ = ["matrix", "signal_vector"]


def signal_vector(q: Qualification, criteria: Criteria) -> dict[str, float]:
    """The features behind `q.probability` (criteria: the ones `q` was computed with)."""
    return feature_values(q, criteria)


def matrix(
    vectors: Sequence[Mapping[str, float]], columns: Sequence[str]
) -> npt.NDArray[np.float64]:
    """One row per vector, one column per signal name (absent signals are 0)."""
    out = np.zeros((len(vectors), len(columns)), dtype=np.float64)
    index = {name: j for j, name in enumerate(columns)}
    for i, vector in enumerate(vectors):
        for name, value in vector.items():
            j = index.get(name)
            if j is not None:
                out[i, j] = value
    return out
