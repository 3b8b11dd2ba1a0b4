"""The clearing firm's FIX 4.4 drop copy on the ops side: a QuickFIX initiator (`session`), the report parser
(`parse`), a booking process that parses and stores in batches, idempotently (`booker`, `store`), metrics,
and the long-running service (`service`, started as `opsctl fix-dropcopy`). No Prefect here.

Invariants:
- An execution is stored once by ExecID (unique constraint); resends, duplicates and restarts add nothing.
- A bust (150=H) or correction (150=G) is stored as its own row and applied to the trade it references;
  a replayed older change never overwrites a newer one (`applied_ns`).
- The inbound sequence number committed with each batch is where a restart resumes (gap -> ResendRequest).
- A report that cannot be booked is rejected whole (35=3 naming the tag) and kept in `rejects.jsonl`.
"""
