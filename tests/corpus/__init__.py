"""Inputs for the reliability tests, built in code: a small but complete data
dir cut from the demo data (:mod:`.mini`) and the corpus of bad inputs, each
with the outcome it must have (:mod:`.cases`)."""
