"""Every core of one machine: ``weir serve --workers N``.

* ``supervisor`` — the parent process: runs the one-time start-up work (sweep, bootstrap
  credential), binds one ``SO_REUSEPORT`` listening socket per worker slot on the one port, spawns
  the workers, restarts a worker that dies (logged, with back-off), and on SIGTERM/SIGINT drains
  every worker within ``server.shutdown_timeout``.
* ``worker`` — a worker process: the whole application on its slot's socket, over the same data
  directory as its siblings (LMDB is multi-process safe; the caches follow
  ``KVStore.generation``, docs/decisions/0012).
* ``peers`` — how one worker answers ``/_metrics`` for all: each worker serves a snapshot of its
  figures on a Unix socket in the supervisor's run directory; the worker that is scraped gathers
  them and labels each series with ``worker="<slot>"``.

See docs/decisions/0018-worker-processes.md.
"""
