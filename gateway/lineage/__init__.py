"""Lineage: what a commit was built from and what was built from it, across repositories.

* ``inputs`` parses the inputs a caller names (``REPO@REF[:PATH]``) into ``InputRef``s;
* ``graph`` builds the upstream and downstream graphs from commits' recorded inputs and the
  ``K/`` downstream index;
* ``render`` draws a graph (its JSON form) as a tree, Graphviz dot or Mermaid; it imports
  nothing of the engine, so the CLI uses it too;
* ``openlineage`` emits OpenLineage run events for commits, merges and runs.

This ``__init__`` imports nothing, so that importing ``gateway.lineage.render`` stays light.
"""
