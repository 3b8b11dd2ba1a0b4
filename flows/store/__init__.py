"""The ops store: SQLAlchemy 2 models, Alembic migrations, engines and sessions, the journal loader.

    from flows.store.db import make_engine, upgrade, session_scope
    engine = make_engine(url); upgrade(engine)
    with session_scope(engine) as s: ...

Models live in `flows.store.models`; `flows.store.loader.load_events` / `load_sealed_segments` bulk-load
drop-copy records (idempotent by epoch, seq); `flows.store.reader.read_events` reads them back as arrays.
"""
