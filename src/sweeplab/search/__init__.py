"""sweeplab's own search: a promotion-based asynchronous successive-halving scheduler and a
searcher that learns per fidelity (imports Ray; only tuning imports it)."""
