"""Zero-copy imports: bring a prefix of any bucket under version control as one commit, without
copying or re-reading the bytes (docs/decisions/0022-zero-copy-import.md).

``service`` runs the jobs (list, stage, commit; resume, cancel), ``source`` lists and reads the
external objects; the records and their transactions are ``gateway.core.imports``.
"""
