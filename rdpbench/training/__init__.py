"""Training recipe for the small learned codec shipped with rdpbench (see train.py and rdpbench/training/conf/)."""
