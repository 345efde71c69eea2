"""Online evaluation, simulated offline: click models, interleaving and A/B tests.

Given two systems' runs and the judgments, a click model (`click_models`: PBM, cascade, DBN)
plays users who see either an interleaved list (`interleaving`: team-draft, balanced,
probabilistic) or one system's list (`ab_sim`); `simulate` turns the clicks into preferences,
intervals and the impressions a real test would need, per dataset (`online_records`).
`click_log` and `click_fit` read a real click log and fit PBM / cascade parameters to it.

Importing this package imports nothing heavy: numpy is loaded by the modules that simulate.
"""
