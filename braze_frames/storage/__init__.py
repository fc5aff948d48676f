"""Where the data lives: one Arrow schema, atomic Parquet files, hive datasets, the sync store.

Internal; public as ``write_parquet``, ``read_parquet``, ``sync`` and ``read_store``.
``arrow`` casts any frame to its fixed schema, ``files`` writes whole or not at all,
``dataset`` lays out hive partitions, ``parquet`` is the public read/write, and ``store``
keeps an incremental store up to date: ``tables`` says what it holds, ``plan`` which days
a sync fetches, ``writer`` how they are written, ``read`` reads them back, with
``manifest``, ``lock``, ``discover``, ``fs`` (object stores) and ``delta``.
"""
