"""The babbling label vocabulary, defined once: what was tried (primitives), what happened (outcomes).

The controllers (`primitives.py`), the outcome labeller and coverage (`coverage.py`), the data
set's label names (`run.py`), the model's head sizes (`nsca.model.config`) and the synthetic
data set all read these tuples; an index into them is what a data set stores. Plain constants:
importing this module imports nothing else.
"""

PRIMITIVES = ("reach", "grasp", "lift", "shake", "drop", "strike", "push")
OUTCOMES = ("lifted", "held", "bounced", "fell", "toppled", "rolled", "slid", "impact", "touched", "missed")
