"""HTTP and pacing: the client, its pure retry policy, the rate limiter, configuration.

Internal. ``BrazeClient`` (and ``ClientStats``) are public through ``braze_frames``. Nothing
here imports a dataframe library, the verbs or storage: data flows from here to
``endpoints`` (parsing) and on to ``fetch``.
"""
