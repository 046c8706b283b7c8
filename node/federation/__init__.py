"""Federation at the node: peers, sync, MRAs, recognition, pushes and the scheduler."""
