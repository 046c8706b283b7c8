"""``trustlane demo``: a three-node federation on loopback and the story it exists for.

:mod:`node.tls_pilot` makes the throwaway certificate authority, :mod:`node.demo.nodes` runs
one node as real processes (``trustlane node init`` / ``node serve``), and
:mod:`node.demo.story` walks the steps and collects the summary.
"""
