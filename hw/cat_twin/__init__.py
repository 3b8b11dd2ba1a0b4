"""A twin of FINRA CAT's SFTP intake: accepts data files then metadata, answers with CAT-style feedback.

`CatTwin` holds CAT's side of the exchange on a directory (`upload/` in, `feedback/` out); `sftp.py`
serves that directory over real SFTP (paramiko) so the live submitter can be exercised end to end.
Errors can be injected per firmROEID to drive the repair path.
"""

from hw.cat_twin.twin import CatTwin

__all__ = ["CatTwin"]
