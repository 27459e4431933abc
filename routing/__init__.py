"""Pure routing rules: plain data in, decisions out.

Nothing in this package imports Temporal or touches I/O. Every function takes the instant it
reasons about as an argument (the workflow passes ``workflow.now()``), so each rule can be tested
directly and property-tested with hypothesis.
"""
