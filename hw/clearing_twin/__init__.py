"""The clearing firm's twin: its books derived from what the twin core traded, its files byte-exact to
docs/clearing_formats.md, the short-sale lists, the CNS fails file (`ftd.py`), and an embedded read-only SFTP
server serving them."""
