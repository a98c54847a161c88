"""Reports over a results store: BD-rates, tables, RD plots, visual grids, HTML/Markdown, CI regression.

Everything here reads only the results store (rdpbench.results.store) and the converted
published curves under results/published/; nothing re-runs a codec except `regress`.
"""
