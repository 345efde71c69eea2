"""Measures (pytrec_eval with trec_eval semantics) and statistics."""
