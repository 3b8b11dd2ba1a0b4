"""Where external files come from and what they must look like: the `FileSource` interface (live SFTP with
verified host keys, local-dir twin), the file formats, structural checks and Great Expectations suites.
No Prefect; nothing here writes to the store."""
