"""Garbage collection with retention: give back the space no retained commit, staged entry or
upload in progress needs, while the server keeps serving.

Modules: ``rules`` (retention rules per repository), ``roots`` (what keeps things alive; where a
new kind of reference is added), ``mark`` (following references, each subtree once), ``markset``
(the on-disk mark set), ``sweep`` (barrier-checked deletion), ``lease`` (one collection at a
time), ``collector`` (the service: runs, progress, schedule), ``report`` (a run's report).
The engine's side (the write barrier, young content, the ref log) is ``gateway.core.gcrefs``.
See docs/decisions/, "Garbage collection".
"""
