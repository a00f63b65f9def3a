"""Isolated, recorded runs (``weir run``): a private branch, snapshot reads, a read log.

``service.RunService`` starts and finishes runs; ``mapping`` and ``lake`` are the ref mapping
applied to a run credential's requests right after authentication, in both APIs; ``readlog``
records what a run reads; ``inputs`` turns that log into the commit's inputs.
"""
