"""The verbs on tidy frames: validate, pivot, rates, reconcile. Written once, in narwhals.

Internal; the verbs are public as ``braze_frames.pivot``... and as ``df.braze.*``. Every verb
takes and returns the caller's frame type (pandas, polars, polars lazy, DuckDB...).
``_common`` holds what they share; ``_fast`` every numpy fast path, behind one contract
(the result, or ``None`` to run the narwhals plan). Verbs never import ``http``, ``fetch``
or ``storage``.
"""
