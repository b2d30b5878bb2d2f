"""sweeplab's own search: a promotion-based asynchronous successive-halving scheduler and a
searcher that learns per fidelity (they import Ray), and ``factories``, which names the
schedulers and searchers and builds them (light to import: it imports Ray only when it builds;
the names are options.py's)."""
